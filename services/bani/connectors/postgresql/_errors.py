"""The one boundary where psycopg errors become bani errors.

Every call into psycopg made by the connector runs inside :func:`translating`,
which turns a :class:`psycopg.Error` into the :class:`~bani.errors.BaniError`
subclass that says what failed (connection, read, write, schema) and whether
trying again can help, copying the server's diagnostics (sqlstate, table,
column, constraint) into the error's context.  Only driver errors are
translated: a bug in our own code still crashes with its own traceback.

Messages never contain the password: libpq does not echo it, and
:func:`scrub` removes it anyway should a message ever quote a conninfo.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, Literal

from bani.errors import (
    AuthFailed,
    BaniError,
    ConfigurationError,
    ConnectionFailed,
    ErrorContext,
    ReadFailed,
    SchemaError,
    TableNotFound,
    TransientReadFailed,
    TransientWriteFailed,
    TypeNotRepresentable,
    WriteFailed,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["Operation", "scrub", "translate", "translating"]

Operation = Literal["connect", "read", "write", "schema"]

#: Sqlstates (or their two-character classes) worth retrying: the same
#: statement can succeed once the conflict, failover or overload has passed.
_TRANSIENT_STATES: Final = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "53300",  # too_many_connections
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "58000",  # system_error (I/O)
    }
)
_TRANSIENT_CLASSES: Final = frozenset({"08"})  # connection exceptions
_AUTH_STATES: Final = frozenset({"28000", "28P01", "42501"})
_UNDEFINED_TABLE: Final = "42P01"
#: Out-of-range answers while reading: the value exists in PostgreSQL but not
#: in Arrow (``±infinity`` dates and timestamps, a timestamp past Arrow's range).
_UNREPRESENTABLE_ON_READ: Final = frozenset({"22003", "22008"})

_MIN_SCRUB_LENGTH: Final = 3

#: A failed connection attempt has no sqlstate (libpq reports it as text), so
#: the few server answers that no retry can fix are recognised by their
#: (English) text.  Anything else is a transient :class:`ConnectionFailed`.
_CONNECT_TERMINAL: Final = (
    ("password authentication failed", AuthFailed),
    ("no pg_hba.conf entry", AuthFailed),
    ('role "', AuthFailed),
    ("does not exist", ConfigurationError),
    ("invalid connection option", ConfigurationError),
    ("invalid sslmode value", ConfigurationError),
    ("invalid integer value", ConfigurationError),
)


def scrub(message: str, password: str | None) -> str:
    """``message`` with any occurrence of the password replaced by ``***``."""
    if password and len(password) >= _MIN_SCRUB_LENGTH and password in message:
        return message.replace(password, "***")
    return message


def _is_transient(exc: psycopg.Error) -> bool:
    import psycopg

    state = exc.sqlstate
    if state is None:
        # No server answer at all: the connection broke or never opened.
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return state in _TRANSIENT_STATES or state[:2] in _TRANSIENT_CLASSES


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = (diag.message_primary or str(exc)).strip()
    if diag.message_detail:
        text += f"; {diag.message_detail.strip()}"
    if diag.message_hint:
        text += f" (hint: {diag.message_hint.strip()})"
    return text


def translate(
    exc: psycopg.Error,
    op: Operation,
    context: ErrorContext,
    *,
    what: str,
    password: str | None = None,
) -> BaniError:
    """The bani error for a psycopg error raised while doing ``what``."""
    diag = exc.diag
    where = context.merged(
        sqlstate=exc.sqlstate,
        table=diag.table_name,
        column=diag.column_name,
        constraint=diag.constraint_name,
        schema=diag.schema_name,
    )
    message = scrub(f"{what} failed: {_describe(exc)}", password)
    state = exc.sqlstate or ""
    if state in _AUTH_STATES:
        return AuthFailed(message, where)
    if op == "connect":
        if state and not _is_transient(exc):
            return ConfigurationError(message, where)
        text = str(exc)
        for needle, error_class in _CONNECT_TERMINAL:
            if needle in text:
                return error_class(message, where)
        return ConnectionFailed(message, where)
    if state == _UNDEFINED_TABLE:
        return TableNotFound(message, where)
    transient = _is_transient(exc)
    if op == "read" and state in _UNREPRESENTABLE_ON_READ:
        return TypeNotRepresentable(
            f"{message} -- a value (such as a date or timestamp of +/-infinity) "
            "has no Arrow representation",
            where,
        )
    if op == "read":
        return (TransientReadFailed if transient else ReadFailed)(message, where)
    if op == "write":
        return (TransientWriteFailed if transient else WriteFailed)(message, where)
    if transient:
        return ConnectionFailed(message, where)
    return SchemaError(message, where)


@contextmanager
def translating(
    op: Operation,
    context: ErrorContext,
    *,
    what: str,
    password: str | None = None,
) -> Iterator[None]:
    """Run a block, re-raising any psycopg error as its bani error (chained)."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, op, context, what=what, password=password) from exc
