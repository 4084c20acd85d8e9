"""The MySQL connector's options, read once from ``ConnectionConfig.options``.

Every option is text (they come from DSN query strings and config files);
a value the connector does not understand is a
:class:`~bani.errors.ConfigurationError` naming the option, so a typo in
``zero_date=nul`` fails at ``connect`` rather than halfway through a table.

=======================  ============================================================
``zero_date``            ``null`` (default: zero dates read as NULL, counted and
                         logged per column) or ``error``
``tinyint1``             ``bool`` (default: ``tinyint(1)`` reads as bool, values other
                         than 0/1 are an error) or ``int`` (reads as int8)
``time_as``              ``duration`` (default: ``duration[us]``) or ``time``
                         (``time64[us]``, values outside a day are an error)
``local_infile``         ``true`` (default) or ``false``: whether the client offers
                         ``LOAD DATA LOCAL``; without it writes use multi-row INSERTs
``read_driver``          ``auto`` (default: connectorx when installed and no TLS option
                         is set, else pymysql), ``connectorx`` or ``pymysql``
``schemas``              comma-separated databases to introspect (default: the
                         connected database)
``ssl_mode``             ``disabled``, ``required``, ``verify_ca`` or ``verify_identity``
                         (default: ``verify_identity`` when ``ssl_ca`` is set,
                         ``required`` when another ``ssl_*`` option is, else disabled)
``ssl_ca`` / ``ssl_cert`` / ``ssl_key``   file paths; ``ssl_verify=false`` is
                         ``ssl_mode=required``
``connect_timeout``      seconds (default 10)
``net_timeout``          seconds the server waits on a slow reader/writer before
                         dropping a streaming query (default 3600)
``pool_timeout``         seconds a call waits for a free pooled connection (default 300)
``tmp_dir``              where ``LOAD DATA`` batch files are written (default: the
                         system temp directory)
``statement_timeout_ms`` milliseconds a statement may run (MariaDB ``max_statement_time``,
                         MySQL ``max_execution_time``); set by the reader for filtered
                         reads, which then use the pymysql path (connectorx opens
                         sessions of its own that cannot carry the limit)
``read_only``            accepted for the reader's filtered source: reads are always
                         in a read-only transaction
=======================  ============================================================
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bani.errors import ConfigurationError

__all__ = ["KNOWN_OPTIONS", "MySQLOptions", "parse_options"]

KNOWN_OPTIONS: Final = frozenset(
    {
        "zero_date",
        "tinyint1",
        "time_as",
        "local_infile",
        "read_driver",
        "schemas",
        "schema",
        "ssl_mode",
        "ssl_ca",
        "ssl_cert",
        "ssl_key",
        "ssl_verify",
        "connect_timeout",
        "net_timeout",
        "pool_timeout",
        "tmp_dir",
        "charset",
        "statement_timeout_ms",
        "read_only",
    }
)

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_SSL_MODES: Final = ("disabled", "required", "verify_ca", "verify_identity")


@dataclass(frozen=True)
class MySQLOptions:
    zero_date: str = "null"
    tinyint1: str = "bool"
    time_as: str = "duration"
    local_infile: bool = True
    read_driver: str = "auto"
    schemas: tuple[str, ...] = ()
    ssl_mode: str = "disabled"
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    connect_timeout: int = 10
    net_timeout: int = 3600
    pool_timeout: float = 300.0
    tmp_dir: str | None = None
    statement_timeout_ms: int | None = None

    @property
    def uses_tls(self) -> bool:
        return self.ssl_mode != "disabled"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for pymysql, or None when TLS is off.

        ``required`` encrypts without verifying the server (MySQL's
        ``--ssl-mode=REQUIRED``); ``verify_ca`` checks the chain;
        ``verify_identity`` also checks the host name.
        """
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ssl_ca)
            if self.ssl_mode == "required":
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif self.ssl_mode == "verify_ca":
                context.check_hostname = False
                context.verify_mode = ssl.CERT_REQUIRED
            else:
                context.check_hostname = True
                context.verify_mode = ssl.CERT_REQUIRED
            if self.ssl_cert:
                context.load_cert_chain(self.ssl_cert, self.ssl_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"cannot set up TLS from ssl_ca/ssl_cert/ssl_key: {exc}", setting="ssl_ca"
            ) from None
        return context


def _choice(options: Mapping[str, str], key: str, allowed: tuple[str, ...], default: str) -> str:
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value not in allowed:
        raise ConfigurationError(
            f"option {key}={raw!r} is not one of {', '.join(allowed)}", setting=key
        )
    return value


def _flag(options: Mapping[str, str], key: str, default: bool) -> bool:
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"option {key}={raw!r} is not true or false", setting=key)


def _number(options: Mapping[str, str], key: str, default: float) -> float:
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigurationError(f"option {key}={raw!r} is not a positive number", setting=key)
    return value


def parse_options(options: Mapping[str, str]) -> MySQLOptions:
    """Validate ``options``; unknown keys are returned untouched for the caller to log."""
    charset = options.get("charset")
    if charset and charset.lower() != "utf8mb4":
        raise ConfigurationError(
            f"option charset={charset!r}: the MySQL connector always speaks utf8mb4",
            setting="charset",
        )
    ssl_ca = options.get("ssl_ca") or None
    ssl_cert = options.get("ssl_cert") or None
    ssl_key = options.get("ssl_key") or None
    if "ssl_verify" in options:
        default_mode = "verify_identity" if _flag(options, "ssl_verify", True) else "required"
    elif ssl_ca:
        default_mode = "verify_identity"
    elif ssl_cert or ssl_key:
        default_mode = "required"
    else:
        default_mode = "disabled"
    # verify_ca / verify_identity without ssl_ca verify against the system trust store.
    ssl_mode = _choice(options, "ssl_mode", _SSL_MODES, default_mode)
    if ssl_key and not ssl_cert:
        raise ConfigurationError("option ssl_key needs ssl_cert", setting="ssl_cert")
    schemas_raw = options.get("schemas") or options.get("schema") or ""
    schemas = tuple(s.strip() for s in schemas_raw.split(",") if s.strip())
    return MySQLOptions(
        zero_date=_choice(options, "zero_date", ("null", "error"), "null"),
        tinyint1=_choice(options, "tinyint1", ("bool", "int"), "bool"),
        time_as=_choice(options, "time_as", ("duration", "time"), "duration"),
        local_infile=_flag(options, "local_infile", True),
        read_driver=_choice(options, "read_driver", ("auto", "connectorx", "pymysql"), "auto"),
        schemas=schemas,
        ssl_mode=ssl_mode,
        ssl_ca=ssl_ca,
        ssl_cert=ssl_cert,
        ssl_key=ssl_key,
        connect_timeout=int(_number(options, "connect_timeout", 10)),
        net_timeout=int(_number(options, "net_timeout", 3600)),
        pool_timeout=_number(options, "pool_timeout", 300.0),
        tmp_dir=options.get("tmp_dir") or None,
        statement_timeout_ms=(
            int(_number(options, "statement_timeout_ms", 1))
            if options.get("statement_timeout_ms")
            else None
        ),
    )
