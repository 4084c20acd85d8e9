"""One error hierarchy for every part of bani-flight.

Every failure a user can meet is a :class:`BaniError`.  Subclasses are named
for what went wrong in a migration (a connection, a schema, a type mapping, a
read, a write, a configuration setting, a chunk conflict), and each carries an
:class:`ErrorContext` with the connector, schema, table, column, chunk and
setting at fault, so a message never has to be parsed to know *where*.

Whether a failure is worth retrying is decided by type, not by message: every
class also derives from :class:`Transient` or :class:`Terminal`.  A chunk is
retried only when ``isinstance(error, Transient)``.

Each class registers a stable ``code`` string; :func:`lookup` maps a code back
to its class, which is how a typed error crosses the Flight wire and is rebuilt
on the client side.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AuthFailed",
    "BaniError",
    "ChunkAtomicityUnsupported",
    "ChunkConflict",
    "ConfigurationError",
    "ConnectionFailed",
    "ConnectorNotFound",
    "DriverMissing",
    "ErrorContext",
    "ReadFailed",
    "SchemaError",
    "SchemaMismatch",
    "TableNotFound",
    "InvalidRequest",
    "PoolBusy",
    "Terminal",
    "Transient",
    "TransientReadFailed",
    "TransientWriteFailed",
    "TypeMappingError",
    "TypeNotRepresentable",
    "WriteFailed",
    "closest_match",
    "lookup",
]


@dataclass(frozen=True)
class ErrorContext:
    """Where a failure happened; every field is optional."""

    connector: str | None = None
    schema: str | None = None
    table: str | None = None
    column: str | None = None
    chunk_id: str | None = None
    setting: str | None = None
    sqlstate: str | None = None
    constraint: str | None = None

    def merged(self, **changes: str | None) -> ErrorContext:
        """Return a copy where the given non-None fields replace ours."""
        present = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **present)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def describe(self) -> str:
        """Short human form, e.g. ``table "public"."orders", column "price"``."""
        parts: list[str] = []
        if self.connector:
            parts.append(f"connector {self.connector}")
        if self.table:
            qualified = f'"{self.schema}"."{self.table}"' if self.schema else f'"{self.table}"'
            parts.append(f"table {qualified}")
        elif self.schema:
            parts.append(f'schema "{self.schema}"')
        if self.column:
            parts.append(f'column "{self.column}"')
        if self.chunk_id:
            parts.append(f"chunk {self.chunk_id}")
        if self.setting:
            parts.append(f"setting {self.setting}")
        if self.constraint:
            parts.append(f'constraint "{self.constraint}"')
        if self.sqlstate:
            parts.append(f"sqlstate {self.sqlstate}")
        return ", ".join(parts)


_REGISTRY: dict[str, type[BaniError]] = {}


class Transient:
    """Mixin: the same call may succeed if tried again (network, lock, failover)."""

    retryable: ClassVar[bool] = True


class Terminal:
    """Mixin: trying again cannot help until something is changed."""

    retryable: ClassVar[bool] = False


class BaniError(Exception):
    """Root of every bani-flight error.

    ``message`` says what went wrong in words; ``context`` says where.  ``str()``
    of the error joins the two so a log line or a CLI error is complete.
    """

    code: ClassVar[str] = "bani_error"
    retryable: ClassVar[bool] = False

    def __init_subclass__(cls, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            if code in _REGISTRY:
                raise RuntimeError(f"error code {code!r} registered twice")
            cls.code = code
            _REGISTRY[code] = cls

    def __init__(self, message: str, context: ErrorContext | None = None, **where: str | None):
        self.message = message
        base = context if context is not None else ErrorContext()
        self.context = base.merged(**where)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.context.describe()
        return f"{self.message} ({where})" if where else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.code, self.message, self.context))

    def with_context(self, **where: str | None) -> BaniError:
        """Fill context fields that are still empty (outer layers know the table)."""
        missing = {k: v for k, v in where.items() if getattr(self.context, k) is None}
        self.context = self.context.merged(**missing)
        self.args = (self.__str__(),)
        return self


_REGISTRY[BaniError.code] = BaniError


def _rebuild(code: str, message: str, context: ErrorContext) -> BaniError:
    return lookup(code)(message, context)


def lookup(code: str) -> type[BaniError]:
    """The error class registered under ``code``; :class:`BaniError` if unknown."""
    return _REGISTRY.get(code, BaniError)


def closest_match(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name``, for "did you mean" hints."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


# -- configuration -----------------------------------------------------------


class ConfigurationError(Terminal, BaniError, code="configuration"):
    """A setting, option, file or DSN is wrong; the message names the setting."""


class ConnectorNotFound(ConfigurationError, code="connector_not_found"):
    """No connector is registered for a dialect."""


class DriverMissing(ConfigurationError, code="driver_missing"):
    """A connector's database driver is not installed; the message names the extra."""


class AuthFailed(Terminal, BaniError, code="auth_failed"):
    """A call was not authenticated or not authorised."""


# -- connection ----------------------------------------------------------------


class ConnectionFailed(Transient, BaniError, code="connection_failed"):
    """The database could not be reached or dropped the connection."""


class PoolBusy(ConnectionFailed, code="pool_busy"):
    """Every pooled database connection stayed in use for the whole bounded wait; retry later."""


# -- schema and types ----------------------------------------------------------


class InvalidRequest(Terminal, BaniError, code="invalid_request"):
    """A request, descriptor or definition is malformed, unsafe or asks for something impossible.

    It lives here, not in :mod:`bani.wire.errors`, because connectors raise it
    too: a definition whose SQL text the connector will not render (see
    :mod:`bani.sqlguard`) is refused the same way as a malformed message.
    """


class SchemaError(Terminal, BaniError, code="schema"):
    """The schema could not be read or does not allow the operation."""


class TableNotFound(SchemaError, code="table_not_found"):
    """A named table does not exist; the message lists what does."""


class SchemaMismatch(SchemaError, code="schema_mismatch"):
    """Incoming data does not match the target table; the message names the columns."""


class TypeMappingError(Terminal, BaniError, code="type_mapping"):
    """A type could not be mapped between a database and Arrow."""


class TypeNotRepresentable(TypeMappingError, code="type_not_representable"):
    """A value or type cannot be represented on the other side without loss."""


# -- data path -------------------------------------------------------------------


class ReadFailed(BaniError, code="read_failed"):
    """Reading rows from the source failed; terminal unless it is the transient subclass."""


class TransientReadFailed(Transient, ReadFailed, code="read_failed_transient"):
    """Reading rows failed for a passing reason (lost connection, serialization)."""


class WriteFailed(BaniError, code="write_failed"):
    """Writing rows into the target failed and the chunk was rolled back.

    Terminal unless it is the transient subclass.
    """


class TransientWriteFailed(Transient, WriteFailed, code="write_failed_transient"):
    """Writing failed for a passing reason (deadlock, lost connection); rolled back."""


class ChunkConflict(Terminal, BaniError, code="chunk_conflict"):
    """A chunk's marker disagrees with what is being written (e.g. other row count)."""


class ChunkAtomicityUnsupported(Terminal, BaniError, code="chunk_atomicity_unsupported"):
    """The sink cannot write a chunk and its marker in one transaction."""
