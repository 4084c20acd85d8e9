"""Connection settings and a small pool of psycopg connections.

(Imported only once the driver is known to be installed: see ``connector``.)

The services call ``read_table`` / ``write_chunk`` from up to ``pool_size``
threads at once; each call checks out one connection for its duration.  The
pool is deliberately small and simple: connections are opened lazily up to
the limit, a connection that broke or was left inside a transaction is
closed rather than reused, and opening one raises the connector's own error
naming ``host:port/database`` (never the password).

Connections are in autocommit mode; every unit of work that needs a
transaction opens one explicitly with ``conn.transaction()``, so what is
atomic is visible in the code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import psycopg

from bani.connectors.postgresql._errors import translating
from bani.connectors.postgresql._single_statement import SingleStatementCursor
from bani.domain.project import ConnectionConfig
from bani.errors import ConfigurationError, ConnectionFailed, ErrorContext, PoolBusy

__all__ = ["BANI_OPTIONS", "ConnectionSettings", "Pool", "settings_from_config"]

#: Options with a meaning to bani rather than to libpq; everything else in
#: ``ConnectionConfig.options`` is passed to libpq as a connection parameter.
BANI_OPTIONS: Final = frozenset(
    {"schema", "schemas", "statement_timeout", "statement_timeout_ms", "read_only", "pool_timeout"}
)

_DEFAULT_PORT: Final = 5432
#: Seconds a call waits for a pooled connection (option ``pool_timeout``) before PoolBusy.
DEFAULT_POOL_TIMEOUT: Final = 30.0
_APPLICATION_NAME: Final = "bani-flight"


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to open a connection; the password is excluded from ``repr``."""

    host: str
    port: int
    database: str
    user: str | None
    libpq_options: Mapping[str, str]
    target_schema: str
    source_schemas: tuple[str, ...] | None
    statement_timeout: str | None
    read_only: bool = False
    pool_timeout: float = DEFAULT_POOL_TIMEOUT
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """``host:port/database`` for messages."""
        return f"{self.host}:{self.port}/{self.database}"


def settings_from_config(config: ConnectionConfig) -> ConnectionSettings:
    """Resolve credentials and split bani options from libpq parameters."""
    options = dict(config.options)
    schemas_text = options.get("schemas", "")
    schemas = tuple(s.strip() for s in schemas_text.split(",") if s.strip()) or None
    target_schema = options.get("schema", "").strip() or "public"
    libpq = {k: v for k, v in options.items() if k not in BANI_OPTIONS}
    for reserved in ("password", "passfile_contents"):
        if reserved in libpq:
            raise ConfigurationError(
                "a password is never given as a connection option; use password_env "
                "(${env:VAR} or ${file:/path})",
                setting=reserved,
            )
    libpq.setdefault("application_name", _APPLICATION_NAME)
    return ConnectionSettings(
        host=config.host or "localhost",
        port=config.port or _DEFAULT_PORT,
        database=config.database or "postgres",
        user=config.resolve_username(),
        libpq_options=MappingProxyType(libpq),
        target_schema=target_schema,
        source_schemas=schemas,
        statement_timeout=_statement_timeout(options),
        read_only=_flag(options, "read_only"),
        pool_timeout=_pool_timeout(options),
        password=config.resolve_password(),
    )


def _pool_timeout(options: Mapping[str, str]) -> float:
    raw = options.get("pool_timeout", "").strip()
    if not raw:
        return DEFAULT_POOL_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigurationError(
            f"pool_timeout must be a positive number of seconds, got {raw!r}",
            setting="pool_timeout",
        )
    return value


def _statement_timeout(options: Mapping[str, str]) -> str | None:
    """``statement_timeout`` as PostgreSQL spells it, or ``statement_timeout_ms`` in ms."""
    millis = options.get("statement_timeout_ms", "").strip()
    if millis:
        if not millis.isdigit():
            raise ConfigurationError(
                f"statement_timeout_ms must be a whole number of milliseconds, got {millis!r}",
                setting="statement_timeout_ms",
            )
        return millis
    return options.get("statement_timeout") or None


def _flag(options: Mapping[str, str], key: str) -> bool:
    raw = options.get(key, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"option {key}={raw!r} is not true or false", setting=key)


class Pool:
    """At most ``size`` open connections, handed out one per call."""

    def __init__(self, settings: ConnectionSettings, size: int) -> None:
        if size < 1:
            raise ConfigurationError(
                f"pool_size must be at least 1, got {size}", setting="pool_size"
            )
        self._settings = settings
        self._size = size
        self._idle: list[psycopg.Connection[Any]] = []
        self._open = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def settings(self) -> ConnectionSettings:
        return self._settings

    def _context(self) -> ErrorContext:
        return ErrorContext(connector="postgresql")

    def open_connection(self) -> psycopg.Connection[Any]:
        """A new autocommit connection, configured; errors name host:port/database."""
        s = self._settings
        what = f"connecting to PostgreSQL at {s.describe()}" + (f" as {s.user}" if s.user else "")
        with translating("connect", self._context(), what=what, password=s.password):
            params: dict[str, Any] = {
                **s.libpq_options,
                "host": s.host,
                "port": s.port,
                "dbname": s.database,
                "user": s.user,
                "password": s.password,
            }
            conn = psycopg.connect(
                autocommit=True, cursor_factory=SingleStatementCursor, **params
            )
        try:
            with translating("connect", self._context(), what=what, password=s.password):
                # Literals rendered by bani.sqlguard are standard strings:
                # backslashes are never escapes on this session.
                conn.execute(
                    "SELECT pg_catalog.set_config('standard_conforming_strings', 'on', false)"
                )
                if s.statement_timeout:
                    conn.execute(
                        "SELECT pg_catalog.set_config('statement_timeout', %s, false)",
                        (s.statement_timeout,),
                    )
                if s.read_only:
                    conn.execute(
                        "SELECT pg_catalog.set_config('default_transaction_read_only', 'on', false)"
                    )
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Check a connection out for the duration of the ``with`` block."""
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    def _acquire(self) -> psycopg.Connection[Any]:
        wait = self._settings.pool_timeout
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                if self._closed:
                    raise ConnectionFailed(
                        "the PostgreSQL connector is disconnected", connector="postgresql"
                    )
                if self._idle:
                    conn = self._idle.pop()
                    if conn.closed or conn.broken:
                        self._open -= 1
                        continue
                    return conn
                if self._open < self._size:
                    self._open += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolBusy(
                        f"all {self._size} PostgreSQL connections to {self._settings.describe()} "
                        f"stayed busy for {wait:g} s (pool_size={self._size}); retry later, or "
                        "raise --pool-size / --pool-wait-timeout (DSN option pool_timeout)",
                        connector="postgresql",
                        setting="pool_timeout",
                    )
                self._cond.wait(remaining)
        try:
            return self.open_connection()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _release(self, conn: psycopg.Connection[Any]) -> None:
        reusable = (
            not conn.closed
            and not conn.broken
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        )
        with self._cond:
            if reusable and not self._closed:
                self._idle.append(conn)
            else:
                self._open -= 1
                conn.close()
            self._cond.notify()

    def close(self) -> None:
        """Close idle connections now; checked-out ones close when returned."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()
