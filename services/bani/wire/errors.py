"""Errors across the wire: ``BaniError`` <-> ``ErrorDetail`` <-> typed ``FlightError``.

A service never lets an exception reach pyarrow untranslated: pyarrow would
forward a Python traceback to the client.  :func:`to_flight_error` turns a
:class:`~bani.errors.BaniError` into the matching ``pyarrow.flight`` error
class, with the message (table and what went wrong) as its text and an
``ErrorDetail`` proto (code, context, retryable, request id) as its
``extra_info``.  :func:`from_flight_error` is the client's half: it rebuilds
the same ``BaniError`` subclass with :func:`bani.errors.lookup`.

The Flight class says how gRPC should treat the failure:

======================================  ==================================
BaniError                               FlightError
======================================  ==================================
AuthFailed                              FlightUnauthenticatedError
SchemaNotAllowed (an AuthFailed)        FlightUnauthorizedError
any Transient (retry may help)          FlightUnavailableError
everything else (terminal)              FlightServerError
an unexpected non-BaniError             FlightInternalError (code ``internal``)
======================================  ==================================

This module also defines the errors that only exist because there is a wire
(invalid requests and tickets, a refused schema, shutdown, cancellation, an
unconfirmed chunk); importing :mod:`bani.wire` registers their codes.

A cancelled call is deliberately *not* sent as ``FlightCancelledError``: a
pyarrow client turns a CANCELLED status into ``KeyboardInterrupt`` in its
main thread.  It goes out as ``FlightUnavailableError`` with code
``cancelled``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

from google.protobuf.message import DecodeError
from pyarrow import flight

from bani.errors import (
    AuthFailed,
    BaniError,
    ConnectionFailed,
    ErrorContext,
    InvalidRequest,
    Terminal,
    Transient,
    TransientWriteFailed,
    lookup,
)
from bani.wire._generated import common_pb2

__all__ = [
    "CallCancelled",
    "ChunkNotConfirmed",
    "InternalError",
    "InvalidRequest",
    "InvalidTicket",
    "SchemaNotAllowed",
    "ServiceBusy",
    "ServiceShuttingDown",
    "StreamIdle",
    "TicketExpired",
    "detail_from_error",
    "error_from_detail",
    "from_flight_error",
    "to_flight_error",
]


class InvalidTicket(InvalidRequest, code="invalid_ticket"):
    """A ticket that this reader did not issue, was altered, or cannot be parsed."""


class TicketExpired(InvalidTicket, code="ticket_expired"):
    """A ticket past its expiry; ask the reader for a fresh one (get_flight_info)."""


class SchemaNotAllowed(AuthFailed, code="schema_not_allowed"):
    """A write into a schema outside the writer's allowed set."""


class ServiceShuttingDown(Transient, BaniError, code="shutting_down"):
    """The service is draining for shutdown; retry against another replica or later."""


class CallCancelled(Transient, BaniError, code="cancelled"):
    """The call was cancelled (by the client, or by shutdown past its grace period)."""


class ChunkNotConfirmed(TransientWriteFailed, code="chunk_not_confirmed"):
    """A put ended without the client's commit for the rows it sent; the chunk was rolled back."""


class StreamIdle(ChunkNotConfirmed, code="stream_idle"):
    """A put sent nothing for longer than the writer's --stream-idle-timeout; rolled back."""


class ServiceBusy(Transient, BaniError, code="busy"):
    """A bounded resource of the service (plan or stream slots) stayed taken; retry later."""


class InternalError(Terminal, BaniError, code="internal"):
    """An unexpected failure inside a service; its log has the details under the request id."""


#: Largest error text sent, in bytes as gRPC percent-encodes them.  gRPC carries the
#: status text percent-encoded in ``grpc-message``; Arrow repeats it base64-encoded and
#: adds the ErrorDetail (which repeats the message) in binary trailers.  gRPC rejects
#: trailers above 8 KiB *at random* (certainly above 16 KiB), so a long non-ASCII name
#: echoed into an error must be cut by its encoded size, not its character count:
#: 1000 + 4/3 x 1000 + 4/3 x (1000 + context) stays well under 8 KiB.
_MAX_TEXT: Final = 1000


def _encoded_cost(byte: int) -> int:
    """What one UTF-8 byte costs in ``grpc-message`` (printable ASCII but ``%`` is kept)."""
    return 1 if 0x20 <= byte <= 0x7E and byte != 0x25 else 3


def _clip_text(text: str, limit: int = _MAX_TEXT) -> str:
    """``text`` cut (on a character boundary) so that its percent-encoded form fits ``limit``."""
    raw = text.encode("utf-8")
    if sum(map(_encoded_cost, raw)) <= limit:
        return text
    budget, kept = limit - 4, 0  # room for the " …" marker (an ASCII space and 3 bytes)
    for byte in raw:
        budget -= _encoded_cost(byte)
        if budget < 0:
            break
        kept += 1
    return raw[:kept].decode("utf-8", errors="ignore") + " …"


#: Largest context value sent (a name, a setting), in percent-encoded bytes as above.
_MAX_CONTEXT_VALUE: Final = 128


def _clipped(context: ErrorContext) -> ErrorContext:
    """``context`` with every value cut to :data:`_MAX_CONTEXT_VALUE` encoded bytes."""
    changes = {
        name: clipped
        for name, value in context.as_dict().items()
        if (clipped := _clip_text(value, _MAX_CONTEXT_VALUE)) != value
    }
    return dataclasses.replace(context, **changes) if changes else context


def detail_from_error(
    error: BaniError, *, request_id: str = "", service: str = ""
) -> common_pb2.ErrorDetail:
    """The ``ErrorDetail`` proto of an error (message capped at a few KB)."""
    from bani.wire.codec import context_to_proto  # codec imports this module

    return common_pb2.ErrorDetail(
        code=error.code,
        message=_clip_text(error.message),
        context=context_to_proto(_clipped(error.context)),
        retryable=bool(getattr(error, "retryable", False)),
        request_id=request_id,
        service=service,
    )


def error_from_detail(detail: common_pb2.ErrorDetail) -> BaniError:
    """Rebuild the ``BaniError`` subclass an ``ErrorDetail`` describes."""
    from bani.wire.codec import context_from_proto

    cls = lookup(detail.code)
    error = cls(detail.message, context_from_proto(detail.context))
    error.request_id = detail.request_id  # type: ignore[attr-defined]
    error.service = detail.service  # type: ignore[attr-defined]
    return error


def _flight_class(error: BaniError) -> Callable[[str, bytes], Exception]:
    chosen: Callable[[str, bytes], Exception] = flight.FlightServerError
    if isinstance(error, SchemaNotAllowed):
        chosen = flight.FlightUnauthorizedError
    elif isinstance(error, AuthFailed):
        chosen = flight.FlightUnauthenticatedError
    elif isinstance(error, Transient):
        chosen = flight.FlightUnavailableError
    elif isinstance(error, InternalError):
        chosen = flight.FlightInternalError
    return chosen


def to_flight_error(error: BaniError, *, request_id: str = "", service: str = "") -> Exception:
    """The typed Flight error for ``error``: its text is ``str(error)``, its detail the proto."""
    detail = detail_from_error(error, request_id=request_id, service=service)
    where = _clipped(error.context).describe()
    text = _clip_text(f"{error.message} ({where})" if where else error.message)
    return _flight_class(error)(text, detail.SerializeToString())


def _fallback(exc: Exception) -> BaniError:
    """An error from a peer that sent no ErrorDetail (a proxy, another Flight server)."""
    text = str(exc)
    if isinstance(exc, flight.FlightUnauthenticatedError):
        return AuthFailed(text)
    if isinstance(exc, flight.FlightUnauthorizedError):
        return AuthFailed(text)
    if isinstance(exc, flight.FlightCancelledError):
        return CallCancelled(text)
    if isinstance(exc, flight.FlightUnavailableError | flight.FlightTimedOutError):
        return ConnectionFailed(text)
    return InternalError(text, ErrorContext())


def from_flight_error(exc: Exception) -> BaniError:
    """The ``BaniError`` a Flight error carries (the client's half of the boundary).

    With an ``ErrorDetail`` in ``extra_info`` the same class comes back, with
    context, ``request_id`` and ``service`` attributes; without one, a class
    chosen by the Flight error type.
    """
    extra = getattr(exc, "extra_info", None) or b""
    if extra:
        detail = common_pb2.ErrorDetail()
        try:
            detail.ParseFromString(bytes(extra))
        except (DecodeError, ValueError):
            return _fallback(exc)
        if detail.code:
            return error_from_detail(detail)
    return _fallback(exc)
