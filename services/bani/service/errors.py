"""The one place where a service turns exceptions into what a client receives.

Every Flight handler of the reader and the writer runs inside
:func:`flight_boundary` (and every streamed iterator inside
:func:`guard_stream`).  There:

* a :class:`~bani.errors.BaniError` becomes its typed Flight error with the
  ``ErrorDetail`` in ``extra_info`` (:func:`bani.wire.errors.to_flight_error`),
  logged once as ``call_failed`` at warning level;
* any other exception is a bug: it is logged with its traceback (no frame
  locals; the logging pipeline redacts secrets) and the client gets a
  ``FlightInternalError`` that names the request id, never the traceback
  pyarrow would otherwise forward;
* a ``FlightError`` raised on purpose passes through unchanged.

Error texts leave the process through :func:`scrub`, which masks DSN
passwords and bearer tokens a driver may have put in a message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

from pyarrow import flight

from bani.errors import BaniError, ErrorContext
from bani.logging import get_logger, redact_secrets
from bani.wire.errors import InternalError, to_flight_error

if TYPE_CHECKING:
    from bani.service.auth import CallState

__all__ = ["CallOwner", "flight_boundary", "guard_stream", "scrub", "translate"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class CallOwner(Protocol):
    """What :func:`flight_boundary` needs from the server it decorates."""

    service_name: str

    def begin_call(self, context: flight.ServerCallContext, method: str) -> CallState | None:
        """Bind the per-call log context and return the call's state."""
        ...


S = TypeVar("S", bound=CallOwner)

log = get_logger("bani.service")


def scrub(text: str) -> str:
    """``text`` with DSN passwords, tokens and similar secrets masked."""
    cleaned = redact_secrets(None, "scrub", {"message": text})
    value = cleaned.get("message", text)
    return value if isinstance(value, str) else text


def _clean(error: BaniError) -> BaniError:
    scrubbed = scrub(error.message)
    if scrubbed != error.message:
        error.message = scrubbed
        error.args = (str(error),)
    return error


def translate(exc: BaseException, state: CallState | None, service: str) -> BaseException:
    """The exception to raise to pyarrow for ``exc`` (logged here, exactly once)."""
    request_id = state.request_id if state is not None else ""
    if isinstance(exc, flight.FlightError):
        if state is not None and state.error_code is None:
            state.error_code = type(exc).__name__
        passed: BaseException = exc
        return passed
    if isinstance(exc, BaniError):
        error = _clean(exc)
        if state is not None:
            state.error_code = error.code
            state.error = error
        log.warning("call_failed", code=error.code, error=str(error), **error.context.as_dict())
        return to_flight_error(error, request_id=request_id, service=service)
    if not isinstance(exc, Exception):
        return exc  # KeyboardInterrupt, SystemExit: not ours to hide
    log.error("unexpected_error", error_type=type(exc).__name__, exc_info=exc)
    internal = InternalError(
        f"internal error in the {service}; its log has the details under request id "
        f"{request_id or 'unknown'}",
        ErrorContext(),
    )
    if state is not None:
        state.error_code = internal.code
        state.error = internal
    return to_flight_error(internal, request_id=request_id, service=service)


Handler = Callable[Concatenate[S, flight.ServerCallContext, P], R]


def flight_boundary(method: str) -> Callable[[Handler[S, P, R]], Handler[S, P, R]]:
    """Decorate a server's RPC method: per-call log context, then error translation.

    The decorated method's object must provide ``service_name`` and
    ``begin_call(context, method)`` (the servers' base class does).
    """

    def decorate(fn: Handler[S, P, R]) -> Handler[S, P, R]:
        @functools.wraps(fn)
        def wrapper(
            self: S, context: flight.ServerCallContext, /, *args: P.args, **kwargs: P.kwargs
        ) -> R:
            state = self.begin_call(context, method)
            try:
                return fn(self, context, *args, **kwargs)
            except BaseException as exc:
                raise translate(exc, state, self.service_name) from None

        return wrapper

    return decorate


def guard_stream(batches: Iterator[T], state: CallState | None, service: str) -> Iterator[T]:
    """Iterate ``batches``, translating any failure; the source is closed however it ends.

    Closing matters: the connector's generator holds a cursor and a
    transaction that must end when the client goes away.
    """
    try:
        yield from batches
    except BaseException as exc:
        raise translate(exc, state, service) from None
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
