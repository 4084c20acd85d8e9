"""The settings of one migration, whichever way they arrive (CLI, TOML file, Python).

Three frozen dataclasses hold everything a command needs besides the table
selection (:mod:`bani_flight.selection`):

* :class:`ServiceSpec` -- how to reach a running reader or writer: a Flight
  URI plus token and TLS settings (paths and variable names, never values);
* :class:`DatabaseSpec` -- a database DSN for the embedded mode, where the
  client starts the services itself; a password comes from ``password_env``
  (or, discouraged, inside the DSN, where it is held as a ``Secret``);
* :class:`TransferOptions` -- parallelism, chunk and batch sizes, the
  if-exists policy, retries and whether to verify.

An :class:`Endpoint` is one side of a migration: either a service or a
database, never both.  Validation happens in ``__post_init__`` so a bad value
is refused where it is built, naming the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from bani.domain.project import ConnectionConfig
from bani.errors import ConfigurationError

__all__ = [
    "COMPRESSIONS",
    "IF_EXISTS_POLICIES",
    "Compression",
    "DatabaseSpec",
    "Endpoint",
    "IfExists",
    "ServiceSpec",
    "TransferOptions",
]

IfExists = Literal["fail", "drop", "truncate", "append"]
IF_EXISTS_POLICIES: Final[tuple[str, ...]] = get_args(IfExists)
Compression = Literal["zstd", "lz4", "none"]
COMPRESSIONS: Final[tuple[str, ...]] = get_args(Compression)


@dataclass(frozen=True)
class ServiceSpec:
    """A running reader or writer service and how to authenticate to it.

    ``token_file`` / ``token_env`` name where the bearer token lives (the
    file's trailing newline is dropped).  ``tls_roots`` is a PEM bundle of CAs
    to trust; ``cert`` / ``key`` are the client's certificate and key for
    mutual TLS.  ``insecure`` allows a plaintext ``grpc://`` URI to a
    non-loopback host, which is otherwise refused.
    """

    uri: str
    token_file: str | None = None
    token_env: str | None = None
    tls_roots: str | None = None
    cert: str | None = None
    key: str | None = None
    override_hostname: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if not self.uri:
            raise ConfigurationError("a service needs a Flight URI", setting="uri")
        if (self.cert is None) != (self.key is None):
            raise ConfigurationError(
                "mutual TLS needs both a client certificate and its key", setting="cert"
            )
        if self.token_file and self.token_env:
            raise ConfigurationError(
                "give the token either as a file or as an environment variable, not both",
                setting="token_file",
            )


@dataclass(frozen=True)
class DatabaseSpec:
    """A database the client reaches through services it starts in-process."""

    dsn: str
    password_env: str | None = None

    def connection_config(self) -> ConnectionConfig:
        """The parsed DSN; errors name the DSN without its password."""
        reference = self.password_env
        if reference and not reference.startswith("${"):
            reference = f"${{env:{reference}}}"
        return ConnectionConfig.from_url(self.dsn, password_env=reference)

    def describe(self) -> str:
        """Where this points, safe for logs (never the password)."""
        return self.connection_config().describe()

    def __repr__(self) -> str:
        return f"DatabaseSpec({self.describe()!r})"


@dataclass(frozen=True)
class Endpoint:
    """One side of a migration: a running service or a database (embedded mode)."""

    service: ServiceSpec | None = None
    database: DatabaseSpec | None = None

    def __post_init__(self) -> None:
        if (self.service is None) == (self.database is None):
            raise ConfigurationError(
                "each side needs either a service URI or a database DSN, not both",
                setting="endpoint",
            )

    @property
    def embedded(self) -> bool:
        return self.database is not None


@dataclass(frozen=True)
class TransferOptions:
    """How the data moves.

    ``chunk_rows`` and ``batch_rows`` of None leave the reader's defaults.
    ``retries`` is how many times one chunk is tried again after a transient
    failure (unavailable, deadline, a transient database error), waiting
    ``backoff_seconds`` doubled each time, capped at ``max_backoff_seconds``.
    ``compression`` is the IPC compression of the client's puts to the writer
    (the reader compresses its own streams by its setting): the writer may be
    in another data center.
    """

    parallel: int = 4
    chunk_rows: int | None = None
    batch_rows: int | None = None
    if_exists: IfExists = "fail"
    retries: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 15.0
    verify: bool = True
    call_timeout_seconds: float = 300.0
    compression: Compression = "zstd"

    def __post_init__(self) -> None:
        if self.parallel < 1 or self.parallel > 64:
            raise ConfigurationError(
                f"parallel must be between 1 and 64, got {self.parallel}", setting="parallel"
            )
        for name in ("chunk_rows", "batch_rows"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigurationError(f"{name} must be positive, got {value}", setting=name)
        if self.if_exists not in IF_EXISTS_POLICIES:
            raise ConfigurationError(
                f"if_exists must be one of {', '.join(IF_EXISTS_POLICIES)}, "
                f"got {self.if_exists!r}",
                setting="if_exists",
            )
        if self.retries < 0:
            raise ConfigurationError(
                f"retries cannot be negative, got {self.retries}", setting="retries"
            )
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ConfigurationError("backoff cannot be negative", setting="backoff_seconds")
        if self.compression not in COMPRESSIONS:
            raise ConfigurationError(
                f"compression must be one of {', '.join(COMPRESSIONS)}, got {self.compression!r}",
                setting="compression",
            )
        if self.call_timeout_seconds <= 0:
            raise ConfigurationError(
                "the call timeout must be positive", setting="call_timeout_seconds"
            )
