"""pymysql connections: opening them, pooling them, and translating their errors.

Every connection gets the same session on open, so every statement the
connector runs means the same thing whichever pooled connection runs it:

* ``time_zone = '+00:00'``: TIMESTAMP values are read and written as UTC, so
  they mean what ``timestamp[us, tz=UTC]`` says;
* a strict ``sql_mode`` (:data:`SESSION_SQL_MODE`): nothing is truncated or
  zero-dated silently on a plain INSERT, ``0`` stays ``0`` in an
  AUTO_INCREMENT column, and backslash escaping stays on because pymysql's
  parameter quoting relies on it;
* ``net_read_timeout``/``net_write_timeout`` long enough that a reader held
  back by a slow Flight consumer is not cut off by the server mid-stream;
* ``explicit_defaults_for_timestamp = 1`` so a TIMESTAMP column is created
  exactly as declared (MariaDB before 10.10 would otherwise add defaults);
* on MySQL 8, ``information_schema_stats_expiry = 0`` so row estimates and
  AUTO_INCREMENT counters are current rather than a day old.

Driver errors are translated in one place, :func:`translate_error`, into
the :mod:`bani.errors` classes by MySQL error number (deadlock, lock wait and
lost connection are transient; access denied is an auth failure; an unknown
database is a configuration error naming ``database``), with a message that
names ``host:port/database`` and never the password.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from bani.connectors.mysql._options import MySQLOptions
from bani.domain.project import ConnectionConfig
from bani.errors import (
    AuthFailed,
    BaniError,
    ConfigurationError,
    ConnectionFailed,
    DriverMissing,
    ErrorContext,
    PoolBusy,
    ReadFailed,
    SchemaError,
    TableNotFound,
    TransientReadFailed,
    TransientWriteFailed,
    WriteFailed,
)

if TYPE_CHECKING:
    import pymysql

__all__ = [
    "CONNECTOR",
    "LOCAL_INFILE_REFUSED",
    "SESSION_SQL_MODE",
    "ConnectionPool",
    "ServerInfo",
    "driver_errors",
    "import_pymysql",
    "translate_error",
]

CONNECTOR: Final = "mysql"

#: Session sql_mode on every connection (valid on MariaDB 10.x and MySQL 5.7/8).
SESSION_SQL_MODE: Final = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"
)

Action = Literal["connect", "read", "write", "schema", "ddl"]

#: MySQL/MariaDB error numbers worth retrying: the same call may succeed later.
TRANSIENT_CODES: Final = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1158,
        1159,
        1160,
        1161,  # network read/write errors and timeouts
        1205,  # lock wait timeout
        1213,  # deadlock
        1317,  # query interrupted
        1927,  # MariaDB: connection killed
        2002,
        2003,
        2005,
        2006,
        2013,
        2055,  # cannot connect / server gone / lost connection
        4031,  # MySQL 8: disconnected by the server for inactivity
    }
)
AUTH_CODES: Final = frozenset({1044, 1045, 1698, 1251, 2059})
UNKNOWN_DATABASE: Final = 1049
NO_SUCH_TABLE: Final = 1146
#: ``LOAD DATA LOCAL`` refused by the server or the client capability
#: (MySQL 1148 / 3948, MariaDB 4166, libmysqlclient 2068).
LOCAL_INFILE_REFUSED: Final = frozenset({1148, 2068, 3948, 4166})


def import_pymysql() -> Any:
    """Import pymysql, or say which extra installs it."""
    try:
        import pymysql
    except ImportError:
        raise DriverMissing(
            "the MySQL connector needs pymysql: pip install 'bani-flight[mysql]'",
            connector=CONNECTOR,
        ) from None
    return pymysql


@dataclass(frozen=True)
class ServerInfo:
    """What the server is, from the handshake (no query needed)."""

    version_text: str
    is_mariadb: bool
    version: tuple[int, int, int]

    @classmethod
    def from_handshake(cls, text: str) -> ServerInfo:
        is_mariadb = "mariadb" in text.lower()
        # MariaDB prefixes its handshake version with "5.5.5-" for old clients.
        cleaned = text[6:] if is_mariadb and text.startswith("5.5.5-") else text
        match = re.match(r"(\d+)\.(\d+)\.(\d+)", cleaned)
        version = (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)
        return cls(version_text=cleaned, is_mariadb=is_mariadb, version=version)

    @property
    def is_mysql8(self) -> bool:
        return not self.is_mariadb and self.version >= (8, 0, 0)

    @property
    def has_check_constraints(self) -> bool:
        """CHECK constraints are recorded: MariaDB 10.2+, MySQL 8.0.16+."""
        if self.is_mariadb:
            return self.version >= (10, 2, 0)
        return self.version >= (8, 0, 16)


def _where(config: ConnectionConfig) -> str:
    host = config.host or "localhost"
    port = config.port or 3306
    return f"{host}:{port}/{config.database or ''}"


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def error_code(exc: BaseException) -> int | None:
    """The MySQL error number of a pymysql error (or one named in a message)."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    match = re.search(r"\b(?:ERROR|error|code:?)\s*(\d{4})\b", str(exc))
    return int(match[1]) if match else None


def translate_error(
    exc: BaseException,
    action: Action,
    config: ConnectionConfig,
    *,
    secrets: tuple[str, ...] = (),
    schema: str | None = None,
    table: str | None = None,
    column: str | None = None,
    chunk_id: str | None = None,
) -> BaniError:
    """The :class:`BaniError` for a driver error, by error number and action."""
    code = error_code(exc)
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    detail = str(args[1]) if len(args) > 1 else str(exc)
    detail = _scrub(detail, secrets)
    where = _where(config)
    prefix = f"MySQL error {code}: " if code is not None else ""
    verb = {
        "connect": "connecting to",
        "read": "reading from",
        "write": "writing to",
        "schema": "reading the schema of",
        "ddl": "changing the schema of",
    }[action]
    message = f"{verb} {where} failed: {prefix}{detail}"
    sqlstate = getattr(exc, "sqlstate", None)
    context = ErrorContext(
        connector=CONNECTOR,
        schema=schema,
        table=table,
        column=column,
        chunk_id=chunk_id,
        sqlstate=str(sqlstate) if sqlstate else None,
    )
    error_class: type[BaniError]
    if code in AUTH_CODES:
        error_class = AuthFailed
    elif code == UNKNOWN_DATABASE:
        return ConfigurationError(message, context, setting="database")
    elif code in TRANSIENT_CODES or (code is None and action == "connect"):
        if action == "connect":
            error_class = ConnectionFailed
        elif action in ("read", "schema"):
            error_class = TransientReadFailed
        else:
            error_class = TransientWriteFailed
    elif code == NO_SUCH_TABLE:
        error_class = TableNotFound
    else:
        error_class = {
            "connect": ConnectionFailed,
            "read": ReadFailed,
            "schema": SchemaError,
            "ddl": SchemaError,
            "write": WriteFailed,
        }[action]
    return error_class(message, context)


@contextmanager
def driver_errors(
    action: Action,
    config: ConnectionConfig,
    *,
    secrets: tuple[str, ...] = (),
    schema: str | None = None,
    table: str | None = None,
    chunk_id: str | None = None,
) -> Iterator[None]:
    """The one boundary where pymysql errors become :class:`BaniError`.

    Only driver errors are translated; a BaniError raised inside gets the
    table and schema filled in; anything else (a bug) propagates untouched.
    """
    pymysql = import_pymysql()
    try:
        yield
    except BaniError as exc:
        raise exc.with_context(
            connector=CONNECTOR, schema=schema, table=table, chunk_id=chunk_id
        ) from exc.__cause__
    except pymysql.err.Error as exc:
        raise translate_error(
            exc, action, config, secrets=secrets, schema=schema, table=table, chunk_id=chunk_id
        ) from None


class ConnectionPool:
    """At most ``size`` pymysql connections, opened on demand and reused.

    ``lease()`` hands out one connection for the duration of a ``with``
    block.  A connection that failed, or that a caller abandoned mid-result
    (``lease.discard()``), is closed instead of returned.  An idle connection
    is pinged before reuse when it sat unused for a while, since servers
    close idle sessions (``wait_timeout``).
    """

    _PING_AFTER: Final = 30.0

    def __init__(
        self,
        config: ConnectionConfig,
        options: MySQLOptions,
        size: int,
        *,
        password: str | None,
        username: str | None,
    ) -> None:
        self._config = config
        self._options = options
        self._size = max(1, size)
        self._password = password
        self._username = username
        self._idle: list[tuple[Any, float]] = []
        self._open = 0
        self._closed = False
        self._lock = threading.Condition()
        self.server: ServerInfo | None = None
        self.max_allowed_packet = 16 * 1024 * 1024

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._password,) if self._password else ()

    def _connect(self) -> Any:
        pymysql = import_pymysql()
        config, options = self._config, self._options
        kwargs: dict[str, Any] = {
            "host": config.host or "localhost",
            "port": config.port or 3306,
            "user": self._username or "",
            "password": self._password or "",
            "database": config.database or None,
            "charset": "utf8mb4",
            "autocommit": True,
            "local_infile": options.local_infile,
            "connect_timeout": options.connect_timeout,
            "program_name": "bani-flight",
        }
        context = options.ssl_context()
        if context is not None:
            kwargs["ssl"] = context
        with driver_errors("connect", config, secrets=self.secrets):
            conn = pymysql.connect(**kwargs)
            try:
                server = ServerInfo.from_handshake(conn.get_server_info())
                settings = [
                    "SESSION time_zone = '+00:00'",
                    f"SESSION sql_mode = '{SESSION_SQL_MODE}'",
                    f"SESSION net_read_timeout = {int(options.net_timeout)}",
                    f"SESSION net_write_timeout = {int(options.net_timeout)}",
                    "SESSION explicit_defaults_for_timestamp = 1",
                ]
                if server.is_mysql8:
                    settings.append("SESSION information_schema_stats_expiry = 0")
                timeout_ms = options.statement_timeout_ms
                if timeout_ms is not None:
                    # MySQL 8 limits SELECTs in ms; MariaDB limits every statement in s.
                    settings.append(
                        f"SESSION max_execution_time = {int(timeout_ms)}"
                        if server.is_mysql8
                        else f"SESSION max_statement_time = {timeout_ms / 1000:.3f}"
                    )
                with conn.cursor() as cur:
                    cur.execute("SET " + ", ".join(settings))
                    if self.server is None:
                        cur.execute("SELECT @@max_allowed_packet")
                        row = cur.fetchone()
                        self.max_allowed_packet = int(row[0]) if row else self.max_allowed_packet
                self.server = server
            except BaseException:
                conn.close()
                raise
        return conn

    def open_first(self) -> None:
        """Open one connection now so bad settings fail at ``connect``."""
        with self.lease():
            pass

    def _acquire(self) -> Any:
        deadline = time.monotonic() + self._options.pool_timeout
        with self._lock:
            while True:
                if self._closed:
                    raise ConnectionFailed(
                        "the MySQL connector is disconnected", connector=CONNECTOR
                    )
                if self._idle:
                    conn, last_used = self._idle.pop()
                    break
                if self._open < self._size:
                    self._open += 1
                    conn, last_used = None, 0.0
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolBusy(
                        f"all {self._size} MySQL connections stayed busy for "
                        f"{self._options.pool_timeout:g} s (pool_size={self._size}); retry "
                        "later, or raise --pool-size / --pool-wait-timeout (DSN option "
                        "pool_timeout)",
                        connector=CONNECTOR,
                        setting="pool_timeout",
                    )
                self._lock.wait(remaining)
        if conn is None:
            try:
                return self._connect()
            except BaseException:
                with self._lock:
                    self._open -= 1
                    self._lock.notify()
                raise
        if time.monotonic() - last_used > self._PING_AFTER:
            try:
                conn.ping(reconnect=False)
            except Exception:
                self._close_quietly(conn)
                try:
                    return self._connect()
                except BaseException:
                    with self._lock:
                        self._open -= 1
                        self._lock.notify()
                    raise
        return conn

    def _release(self, conn: Any, reuse: bool) -> None:
        if reuse and getattr(conn, "open", False):
            with self._lock:
                if not self._closed:
                    self._idle.append((conn, time.monotonic()))
                    self._lock.notify()
                    return
        self._close_quietly(conn)
        with self._lock:
            self._open -= 1
            self._lock.notify()

    @staticmethod
    def _close_quietly(conn: Any) -> None:
        with suppress(Exception):
            conn.close()

    @contextmanager
    def lease(self) -> Iterator[Lease]:
        """One connection for the ``with`` block; returned (or closed) at exit."""
        conn = self._acquire()
        lease = Lease(conn)
        reuse = False
        try:
            yield lease
            reuse = not lease.discarded
        except BaseException:
            # After a failed statement the session is still sound; after a
            # broken socket or an abandoned result it is not.  Roll back and
            # keep it only when that works.
            if not lease.discarded:
                try:
                    conn.rollback()
                    reuse = True
                except Exception:
                    reuse = False
            raise
        finally:
            self._release(conn, reuse)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._lock.notify_all()
        for conn, _ in idle:
            self._close_quietly(conn)


class Lease:
    """A pooled connection lent to one ``with`` block."""

    __slots__ = ("conn", "discarded")

    def __init__(self, conn: pymysql.connections.Connection) -> None:
        self.conn = conn
        self.discarded = False

    def discard(self) -> None:
        """Close the connection at the end of the block instead of reusing it."""
        self.discarded = True
