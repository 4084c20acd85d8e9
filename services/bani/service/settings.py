"""Every setting of the reader and the writer, in one table.

Each setting is a command-line flag *and* an environment variable (what a pod
spec sets); a flag wins over the variable, the variable over the default.
:data:`SETTINGS` is the single source: argument parsing, ``--help``, the
documentation table (:func:`settings_markdown`) and validation messages all
come from it, so they cannot drift apart.

Secrets never appear as values: database passwords, bearer tokens and the
ticket secret are *references* (``${env:VAR}`` or ``${file:/path}``, see
:func:`bani.domain.project.resolve_credential`), resolved when the service
starts.  A DSN given on the command line or in the environment may not carry
a password; in-process callers (the client's embedded mode) may pass a
:class:`~bani.domain.project.ConnectionConfig` whose password is a
:class:`~bani.domain.project.Secret`.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from bani.domain.project import ConnectionConfig
from bani.errors import ConfigurationError

__all__ = [
    "SETTINGS",
    "ServiceName",
    "ServiceSettings",
    "Setting",
    "is_loopback",
    "parse_args",
    "settings_markdown",
    "settings_table",
]

ServiceName = Literal["reader", "writer"]
BOTH: Final = ("reader", "writer")
READER: Final = ("reader",)
WRITER: Final = ("writer",)
COMPRESSIONS: Final = ("zstd", "lz4", "none")
LOG_FORMATS: Final = ("auto", "json", "console")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true/false)")


def _schemas(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_SIZE_UNITS: Final = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
}


class _BadValue(ValueError, argparse.ArgumentTypeError):
    """A value that does not parse; argparse shows its message as it is."""


def _size(text: str) -> int:
    """A byte count: ``67108864``, ``64MiB``, ``512KiB``, ``1GiB`` (``MB`` = 10^6)."""
    problem = f"not a size: {text!r} (use bytes, or a number with KiB, MiB or GiB)"
    cleaned = text.strip().replace("_", "").replace(" ", "")
    number = cleaned.rstrip("kKmMgGiIbB")
    unit = cleaned[len(number):].lower()
    if unit not in _SIZE_UNITS or not number:
        raise _BadValue(problem)
    try:
        value = float(number)
    except ValueError:
        raise _BadValue(problem) from None
    if not math.isfinite(value):
        raise _BadValue(problem)
    return int(value * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str  # the ServiceSettings field
    flag: str
    env: str
    default: Any
    help: str
    services: tuple[str, ...]
    parse: Callable[[str], Any] = str
    switch: bool = False  # a boolean flag that takes no value

    def shown_default(self) -> str:
        if isinstance(self.default, tuple):
            return ",".join(self.default) or '""'
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if self.default == "":
            return '""'
        return str(self.default)

    def where(self) -> str:
        """``--flag / BANI_ENV``, the way errors name a setting."""
        return f"{self.flag} / {self.env}"


SETTINGS: Final[tuple[Setting, ...]] = (
    # -- the database --------------------------------------------------------------
    Setting(
        "source",
        "--source",
        "BANI_SOURCE",
        "",
        "source database DSN (sqlite:///rel.db, postgresql://user@host:5432/db, "
        "mysql://user@host:3306/db); no password inside",
        READER,
    ),
    Setting(
        "source_username",
        "--source-username",
        "BANI_SOURCE_USERNAME",
        "",
        "source user name as ${env:VAR} or ${file:/path} (overrides the DSN's)",
        READER,
    ),
    Setting(
        "source_password",
        "--source-password",
        "BANI_SOURCE_PASSWORD",
        "",
        "source password as ${env:VAR} or ${file:/path}",
        READER,
    ),
    Setting(
        "target",
        "--target",
        "BANI_TARGET",
        "",
        "target database DSN (same forms as --source); no password inside",
        WRITER,
    ),
    Setting(
        "target_username",
        "--target-username",
        "BANI_TARGET_USERNAME",
        "",
        "target user name as ${env:VAR} or ${file:/path} (overrides the DSN's)",
        WRITER,
    ),
    Setting(
        "target_password",
        "--target-password",
        "BANI_TARGET_PASSWORD",
        "",
        "target password as ${env:VAR} or ${file:/path}",
        WRITER,
    ),
    Setting(
        "pool_size",
        "--pool-size",
        "BANI_POOL_SIZE",
        8,
        "database connections, which is also the number of concurrent streams",
        BOTH,
        int,
    ),
    Setting(
        "pool_wait_timeout",
        "--pool-wait-timeout",
        "BANI_POOL_WAIT_TIMEOUT",
        30.0,
        "seconds a call waits for a free database connection (SQLite: for the write lock; "
        "the reader: also for a stream or plan slot) before a transient 'busy' error; a DSN "
        "option pool_timeout (SQLite: busy_timeout) overrides it",
        BOTH,
        float,
    ),
    # -- network --------------------------------------------------------------------
    Setting(
        "host",
        "--host",
        "BANI_HOST",
        "127.0.0.1",
        "address the Flight port listens on; off loopback it needs TLS and tokens "
        "unless --insecure",
        BOTH,
    ),
    Setting("port", "--port", "BANI_PORT", 8815, "Flight port (0: any free port)", BOTH, int),
    Setting(
        "advertise_uri",
        "--advertise-uri",
        "BANI_ADVERTISE_URI",
        "",
        "URI put in FlightEndpoints; empty: clients reuse their connection",
        READER,
    ),
    Setting(
        "health_host",
        "--health-host",
        "BANI_HEALTH_HOST",
        "",
        "address of the grpc.health.v1 port (plaintext, for kubelet probes); empty: --host",
        BOTH,
    ),
    Setting(
        "health_port",
        "--health-port",
        "BANI_HEALTH_PORT",
        8816,
        "grpc.health.v1 port (0: any free port, -1: off)",
        BOTH,
        int,
    ),
    Setting(
        "metrics_host",
        "--metrics-host",
        "BANI_METRICS_HOST",
        "127.0.0.1",
        "address of the Prometheus /metrics port (loopback by default: metrics name tables "
        "and row counts; to scrape from elsewhere set an address and --metrics-token); "
        "empty: --host",
        BOTH,
    ),
    Setting(
        "metrics_port",
        "--metrics-port",
        "BANI_METRICS_PORT",
        9464,
        "Prometheus metrics port (0: any free port, -1: off)",
        BOTH,
        int,
    ),
    # -- security -------------------------------------------------------------------
    Setting(
        "tls_cert",
        "--tls-cert",
        "BANI_TLS_CERT",
        "",
        "server certificate chain (PEM file); with --tls-key turns TLS on",
        BOTH,
    ),
    Setting("tls_key", "--tls-key", "BANI_TLS_KEY", "", "server private key (PEM file)", BOTH),
    Setting(
        "tls_client_ca",
        "--tls-client-ca",
        "BANI_TLS_CLIENT_CA",
        "",
        "CA bundle (PEM file) that client certificates must chain to: mutual TLS",
        BOTH,
    ),
    Setting(
        "auth_tokens",
        "--auth-tokens",
        "BANI_AUTH_TOKENS",
        "",
        "bearer tokens as ${env:VAR} or ${file:/path}: one per line or comma-separated; "
        "empty: no authentication",
        BOTH,
    ),
    Setting(
        "metrics_token",
        "--metrics-token",
        "BANI_METRICS_TOKEN",
        "",
        "bearer token(s) /metrics requires, as ${env:VAR} or ${file:/path}: one per line or "
        "comma-separated (at least 16 characters each); empty: no token",
        BOTH,
    ),
    Setting(
        "insecure",
        "--insecure",
        "BANI_INSECURE",
        False,
        "allow a non-loopback Flight address without TLS or without tokens",
        BOTH,
        _bool,
        switch=True,
    ),
    Setting(
        "ticket_secret",
        "--ticket-secret",
        "BANI_TICKET_SECRET",
        "",
        "HMAC key for tickets as ${env:VAR} or ${file:/path}, at least 32 bytes, the same "
        "on every replica; required off loopback (random per process on loopback)",
        READER,
    ),
    Setting(
        "ticket_ttl",
        "--ticket-ttl",
        "BANI_TICKET_TTL",
        14400.0,
        "seconds a ticket stays redeemable",
        READER,
        float,
    ),
    # -- data path ------------------------------------------------------------------
    Setting(
        "chunk_rows",
        "--chunk-rows",
        "BANI_CHUNK_ROWS",
        250_000,
        "rows per chunk when splitting a table on its integer key (a client may ask "
        "for another size)",
        READER,
        int,
    ),
    Setting(
        "batch_rows",
        "--batch-rows",
        "BANI_BATCH_ROWS",
        65_536,
        "most rows per record batch",
        READER,
        int,
    ),
    Setting(
        "batch_bytes",
        "--batch-bytes",
        "BANI_BATCH_BYTES",
        64 * 1024 * 1024,
        "most bytes per record batch (larger batches are sliced; gRPC's limit is 2 GiB)",
        READER,
        int,
    ),
    Setting(
        "max_batch_bytes",
        "--max-batch-bytes",
        "BANI_MAX_BATCH_BYTES",
        64 * 1024 * 1024,
        "most bytes (uncompressed Arrow buffers) of one incoming record batch; a put sending "
        "a larger one is refused (invalid_request) and its chunk rolled back; bytes or "
        "KiB/MiB/GiB, 64 KiB to 2 GiB",
        WRITER,
        _size,
    ),
    Setting(
        "stream_idle_timeout",
        "--stream-idle-timeout",
        "BANI_STREAM_IDLE_TIMEOUT",
        60.0,
        "seconds a put may go without sending its next batch or its commit; then its chunk "
        "is rolled back, its database connection freed, and (if it stays silent as long "
        "again) its client connection closed",
        WRITER,
        float,
    ),
    Setting(
        "max_plan_ranges",
        "--max-plan-ranges",
        "BANI_MAX_PLAN_RANGES",
        10_000,
        "most key ranges (chunks) one get_flight_info request may name, or the reader plans "
        "for one table (larger tables get larger chunks); 1 to 100000",
        READER,
        int,
    ),
    Setting(
        "max_plan_tables",
        "--max-plan-tables",
        "BANI_MAX_PLAN_TABLES",
        10_000,
        "most tables one request may name (the schema action)",
        READER,
        int,
    ),
    Setting(
        "max_plan_columns",
        "--max-plan-columns",
        "BANI_MAX_PLAN_COLUMNS",
        4096,
        "most columns one request may name for a table (get_flight_info, get_schema, "
        "table-stats)",
        READER,
        int,
    ),
    Setting(
        "max_concurrent_plans",
        "--max-concurrent-plans",
        "BANI_MAX_CONCURRENT_PLANS",
        4,
        "plan requests (get_flight_info, list_flights, the schema action) answered at once; "
        "more wait up to --pool-wait-timeout, then get a transient 'busy' error",
        READER,
        int,
    ),
    Setting(
        "compression",
        "--compression",
        "BANI_COMPRESSION",
        "zstd",
        "IPC compression of do_get streams: zstd, lz4 or none",
        READER,
    ),
    Setting(
        "enable_filters",
        "--enable-filters",
        "BANI_ENABLE_FILTERS",
        False,
        "accept raw SQL WHERE filters in read requests",
        READER,
        _bool,
        switch=True,
    ),
    Setting(
        "filter_timeout",
        "--filter-timeout",
        "BANI_FILTER_TIMEOUT",
        300.0,
        "statement timeout in seconds for filtered reads",
        READER,
        float,
    ),
    Setting(
        "allowed_schemas",
        "--allowed-schemas",
        "BANI_ALLOWED_SCHEMAS",
        (),
        "comma-separated schemas the writer may write into; the first is the default "
        "for clients; empty: only the target's default schema",
        WRITER,
        _schemas,
    ),
    # -- operations -----------------------------------------------------------------
    Setting(
        "grace_period",
        "--grace-period",
        "BANI_GRACE_PERIOD",
        30.0,
        "seconds running streams get after SIGTERM before they are cancelled and rolled back",
        BOTH,
        float,
    ),
    Setting(
        "readiness_interval",
        "--readiness-interval",
        "BANI_READINESS_INTERVAL",
        5.0,
        "seconds between database readiness probes",
        BOTH,
        float,
    ),
    Setting(
        "log_format",
        "--log-format",
        "BANI_LOG_FORMAT",
        "auto",
        "auto (console on a terminal, JSON otherwise), json or console",
        BOTH,
    ),
    Setting(
        "log_level", "--log-level", "BANI_LOG_LEVEL", "info", "debug, info, warning or error", BOTH
    ),
)

_BY_NAME: Final = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The row for a ServiceSettings field."""
    return _BY_NAME[name]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceSettings:
    """The resolved settings of one reader or writer (see :data:`SETTINGS`).

    ``connection`` is for in-process callers only: when given it replaces the
    DSN and credential settings (its password may be a
    :class:`~bani.domain.project.Secret` from a DSN).
    """

    service: ServiceName = "reader"
    source: str = ""
    source_username: str = ""
    source_password: str = ""
    target: str = ""
    target_username: str = ""
    target_password: str = ""
    pool_size: int = 8
    pool_wait_timeout: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8815
    advertise_uri: str = ""
    health_host: str = ""
    health_port: int = 8816
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    metrics_token: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    auth_tokens: str = ""
    insecure: bool = False
    ticket_secret: str = ""
    ticket_ttl: float = 14400.0
    chunk_rows: int = 250_000
    batch_rows: int = 65_536
    batch_bytes: int = 64 * 1024 * 1024
    max_batch_bytes: int = 64 * 1024 * 1024
    stream_idle_timeout: float = 60.0
    max_plan_ranges: int = 10_000
    max_plan_tables: int = 10_000
    max_plan_columns: int = 4096
    max_concurrent_plans: int = 4
    compression: str = "zstd"
    enable_filters: bool = False
    filter_timeout: float = 300.0
    allowed_schemas: tuple[str, ...] = ()
    grace_period: float = 30.0
    readiness_interval: float = 5.0
    log_format: str = "auto"
    log_level: str = "info"
    connection: ConnectionConfig | None = field(default=None, compare=False)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def mutual_tls(self) -> bool:
        return bool(self.tls_client_ca)

    @property
    def dsn(self) -> str:
        return self.source if self.service == "reader" else self.target

    def replace(self, **changes: Any) -> ServiceSettings:
        return dataclasses.replace(self, **changes)

    def connection_config(self) -> ConnectionConfig:
        """The database this service serves, with credential references attached."""
        if self.connection is not None:
            return self.connection
        prefix = "source" if self.service == "reader" else "target"
        dsn_setting = setting(prefix)
        if not self.dsn:
            raise ConfigurationError(
                f"the {self.service} needs a database: set {dsn_setting.where()}",
                setting=dsn_setting.flag,
            )
        config = ConnectionConfig.from_url(
            self.dsn, password_env=getattr(self, f"{prefix}_password") or None
        )
        username = getattr(self, f"{prefix}_username") or None
        if username:
            config = dataclasses.replace(config, username_env=username)
        return config

    def validate(self) -> None:
        """Refuse contradictory or unsafe settings; the error names the setting."""
        if self.service not in BOTH:
            raise ConfigurationError(f"unknown service {self.service!r}", setting="service")
        if self.connection is None:
            self.connection_config()  # a DSN is present and parses
        if not 0 <= self.port <= 65535:
            _bad("port", f"{self.port} is not a port")
        for name in ("health_port", "metrics_port"):
            if not -1 <= getattr(self, name) <= 65535:
                _bad(name, f"{getattr(self, name)} is not a port (or -1 for off)")
        if bool(self.tls_cert) != bool(self.tls_key):
            _bad(
                "tls_key" if self.tls_cert else "tls_cert", "TLS needs both a certificate and a key"
            )
        if self.tls_client_ca and not self.tls:
            _bad("tls_client_ca", "mutual TLS needs the server's own TLS (--tls-cert, --tls-key)")
        if not is_loopback(self.host) and not self.insecure:
            if not self.tls:
                _bad(
                    "tls_cert",
                    f"the Flight port on non-loopback address {self.host} needs TLS "
                    "(or --insecure)",
                )
            if not self.auth_tokens:
                _bad(
                    "auth_tokens",
                    f"the Flight port on non-loopback address {self.host} needs "
                    "bearer tokens (or --insecure)",
                )
        if self.service == "reader":
            if not is_loopback(self.host) and not self.ticket_secret:
                _bad(
                    "ticket_secret",
                    "a reader off loopback needs a ticket secret shared by all its replicas",
                )
            if self.ticket_ttl <= 0:
                _bad("ticket_ttl", "must be positive")
            if self.compression not in COMPRESSIONS:
                _bad("compression", f"{self.compression!r} is not one of {', '.join(COMPRESSIONS)}")
            if self.chunk_rows < 1 or self.batch_rows < 1:
                _bad("chunk_rows" if self.chunk_rows < 1 else "batch_rows", "must be at least 1")
            if not 1024 * 1024 <= self.batch_bytes <= 1024 * 1024 * 1024:
                _bad("batch_bytes", "must be between 1 MiB and 1 GiB")
            if self.filter_timeout <= 0:
                _bad("filter_timeout", "must be positive")
            if not 1 <= self.max_plan_ranges <= 100_000:
                _bad("max_plan_ranges", f"{self.max_plan_ranges} is not between 1 and 100000")
            for name in ("max_plan_tables", "max_plan_columns", "max_concurrent_plans"):
                if getattr(self, name) < 1:
                    _bad(name, f"{getattr(self, name)} is not at least 1")
        if self.service == "writer":
            if not 64 * 1024 <= self.max_batch_bytes <= 2 * 1024**3:
                _bad("max_batch_bytes", f"{self.max_batch_bytes} is not between 64 KiB and 2 GiB")
            if not self.stream_idle_timeout > 0:
                _bad("stream_idle_timeout", f"{self.stream_idle_timeout} is not positive")
        if not self.pool_wait_timeout > 0:
            _bad("pool_wait_timeout", f"{self.pool_wait_timeout} is not positive")
        if self.metrics_token.strip() and not self.metrics_token.strip().startswith("${"):
            _bad(
                "metrics_token",
                "give the token as a reference, ${env:VAR} or ${file:/path}, not as the value",
            )
        if self.pool_size < 1:
            _bad("pool_size", "must be at least 1")
        if self.grace_period < 0 or self.readiness_interval <= 0:
            _bad(
                "grace_period" if self.grace_period < 0 else "readiness_interval",
                "must not be negative" if self.grace_period < 0 else "must be positive",
            )
        if self.log_format not in LOG_FORMATS:
            _bad("log_format", f"{self.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
        if self.log_level.lower() not in LOG_LEVELS:
            _bad("log_level", f"{self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")

    def describe(self) -> dict[str, object]:
        """What the service runs with, safe to log: references and paths, never secrets."""
        shown: dict[str, object] = {"service": self.service}
        for row in SETTINGS:
            if self.service not in row.services:
                continue
            value = getattr(self, row.name)
            if row.name in ("source", "target"):
                value = self.connection_config().describe()
            shown[row.name] = list(value) if isinstance(value, tuple) else value
        return shown


def _bad(name: str, problem: str) -> None:
    row = setting(name)
    raise ConfigurationError(f"{row.where()}: {problem}", setting=row.flag)


def _check_dsn_has_no_password(settings: ServiceSettings) -> None:
    dsn = settings.dsn
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    if password:
        row = setting("source" if settings.service == "reader" else "target")
        pw_row = setting(f"{row.name}_password")
        raise ConfigurationError(
            f"{row.where()} carries a password; pass it as a reference in {pw_row.where()} "
            "(${env:VAR} or ${file:/path}) instead",
            setting=row.flag,
        )


def settings_table(service: ServiceName) -> str:
    """The settings of ``service`` as a plain-text table (``--help``)."""
    rows = [s for s in SETTINGS if service in s.services]
    flag_w = max(len(s.flag) for s in rows)
    env_w = max(len(s.env) for s in rows)
    default_w = min(max(len(s.shown_default()) for s in rows), 12)
    lines = [f"{'flag':<{flag_w}}  {'environment':<{env_w}}  {'default':<{default_w}}  meaning"]
    for row in rows:
        lines.append(
            f"{row.flag:<{flag_w}}  {row.env:<{env_w}}  {row.shown_default():<{default_w}}  "
            f"{row.help}"
        )
    return "\n".join(lines)


def settings_markdown() -> str:
    """The whole table as Markdown, for docs/architecture.md."""
    lines = [
        "| flag | environment | default | reader | writer | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in SETTINGS:
        reader = "✓" if "reader" in row.services else ""
        writer = "✓" if "writer" in row.services else ""
        meaning = row.help.replace("|", "\\|")
        lines.append(
            f"| `{row.flag}` | `{row.env}` | `{row.shown_default()}` | {reader} | {writer} "
            f"| {meaning} |"
        )
    return "\n".join(lines)


def _parser(service: ServiceName, environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"bani-{service}",
        description=(
            f"The bani-flight {service}: an Arrow Flight service in front of the "
            f"{'source' if service == 'reader' else 'target'} database.  Every setting is a "
            "flag and an environment variable; a flag wins."
        ),
        epilog="settings:\n" + settings_table(service),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for row in SETTINGS:
        if service not in row.services:
            continue
        default = row.default
        if row.env in environ:
            try:
                default = row.parse(environ[row.env])
            except ValueError as exc:
                raise ConfigurationError(f"{row.env}: {exc}", setting=row.env) from None
        if row.switch:
            parser.add_argument(
                row.flag,
                dest=row.name,
                action="store_true",
                default=default,
                help=f"{row.help} [{row.env}]",
            )
        else:
            parser.add_argument(
                row.flag,
                dest=row.name,
                type=row.parse,
                default=default,
                metavar=row.name.upper(),
                help=f"{row.help} [{row.env}]",
            )
    return parser


def parse_args(
    service: ServiceName,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServiceSettings:
    """Settings from flags and environment, validated; a ConfigurationError names the setting.

    ``--help`` prints the settings table and exits (argparse's SystemExit).
    """
    env = os.environ if environ is None else environ
    namespace = _parser(service, env).parse_args(argv)
    settings = ServiceSettings(service=service, **vars(namespace))
    _check_dsn_has_no_password(settings)
    settings.validate()
    return settings
