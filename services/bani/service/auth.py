"""Server middleware: bearer-token authentication and per-call state.

Every Flight call passes :class:`CallMiddlewareFactory.start_call` before a
handler runs, so handlers never re-check authentication:

* while the service shuts down, new calls are refused (``shutting_down``,
  a transient error: the client retries elsewhere or later);
* with tokens configured, the call must carry ``authorization: Bearer <token>``
  matching one of them, compared in constant time; a missing or wrong token is
  ``FlightUnauthenticatedError`` with an ``ErrorDetail`` (code ``auth_failed``);
* the call gets a request id, from the client's ``x-request-id`` header or a
  new one, sent back in the response headers and carried into every log line
  of the call.

The middleware instance (:class:`CallState`) lives for the whole call,
including a ``do_get`` stream, so it collects the facts of the call's one
summary event (``rpc_finished``), logged when pyarrow reports the call done.
Several tokens may be valid at once so they can be rotated without downtime.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from pyarrow import flight

from bani.domain.project import resolve_credential
from bani.errors import AuthFailed, BaniError, ConfigurationError
from bani.logging import get_logger
from bani.wire.errors import ServiceShuttingDown, to_flight_error
from bani.wire.protocol import AUTHORIZATION_HEADER, REQUEST_ID_HEADER

__all__ = [
    "MIDDLEWARE_KEY",
    "CallMiddlewareFactory",
    "CallState",
    "CallTracker",
    "TokenSet",
]

#: The key the middleware is registered under (``context.get_middleware(MIDDLEWARE_KEY)``).
MIDDLEWARE_KEY: Final = "bani"
MIN_TOKEN_LENGTH: Final = 16
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = get_logger("bani.service.auth")


class TokenSet:
    """The bearer tokens a service accepts; never printed."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: Sequence[str], *, setting: str = "--auth-tokens") -> None:
        cleaned = [t.strip() for t in tokens if t.strip()]
        if not cleaned:
            raise ConfigurationError(f"no bearer token given in {setting}", setting=setting)
        for token in cleaned:
            if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
                raise ConfigurationError(
                    f"bearer tokens ({setting}) must be at least {MIN_TOKEN_LENGTH} characters "
                    "without spaces",
                    setting=setting,
                )
        self._tokens = tuple(t.encode("utf-8") for t in cleaned)

    @classmethod
    def from_reference(cls, reference: str, *, setting: str = "--auth-tokens") -> TokenSet | None:
        """Tokens from ``${env:VAR}`` / ``${file:/path}``: one per line or comma-separated."""
        if not reference:
            return None
        text = resolve_credential(reference, setting=setting) or ""
        return cls(re.split(r"[\n,]", text), setting=setting)

    def accepts(self, presented: str) -> bool:
        """Constant-time check against every token (no early exit on a match)."""
        candidate = presented.encode("utf-8")
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(candidate, token)
        return matched

    def __repr__(self) -> str:
        return f"TokenSet({len(self._tokens)} tokens)"


class CallTracker(Protocol):
    """What the middleware reports calls to (the service runtime)."""

    service: str

    @property
    def stopping(self) -> bool:
        """True once shutdown has begun."""
        ...

    def call_started(self, state: CallState) -> None:
        """A call passed authentication."""
        ...

    def call_finished(self, state: CallState, exception: BaseException | None) -> None:
        """A call (and its stream) ended."""
        ...

    def call_refused(self, method: str, request_id: str, error: BaniError) -> None:
        """A call was refused before any handler ran."""
        ...


class CallState(flight.ServerMiddleware):  # type: ignore[misc]
    """One call: its request id, peer, client identity and summary facts."""

    def __init__(self, tracker: CallTracker, method: str, request_id: str) -> None:
        super().__init__()
        self.tracker = tracker
        self.method = method
        self.request_id = request_id
        self.started = time.monotonic()
        self.peer = ""
        self.identity = ""
        self.error: BaniError | None = None
        self.error_code: str | None = None
        self.fields: dict[str, Any] = {}

    def note(self, **fields: Any) -> None:
        """Facts for the call's summary event (table, chunk, rows …)."""
        self.fields.update(fields)

    def add(self, **counts: int) -> None:
        """Add to counters of the summary event (rows, bytes, batches)."""
        for name, value in counts.items():
            self.fields[name] = int(self.fields.get(name, 0)) + value

    def sending_headers(self) -> dict[str, str]:
        return {REQUEST_ID_HEADER: self.request_id}

    def call_completed(self, exception: BaseException | None) -> None:
        self.tracker.call_finished(self, exception)


def _first(headers: Mapping[str, Sequence[str | bytes]], name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class CallMiddlewareFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """Authenticates each call and creates its :class:`CallState`."""

    def __init__(self, tracker: CallTracker, tokens: TokenSet | None) -> None:
        super().__init__()
        self._tracker = tracker
        self._tokens = tokens

    def start_call(
        self, info: flight.CallInfo, headers: Mapping[str, Sequence[str | bytes]]
    ) -> CallState:
        method = info.method.name.lower()
        presented_id = _first(headers, REQUEST_ID_HEADER)
        request_id = (
            presented_id if presented_id and _REQUEST_ID.match(presented_id) else uuid.uuid4().hex
        )
        if self._tracker.stopping:
            self._refuse(
                method,
                request_id,
                ServiceShuttingDown(
                    f"the {self._tracker.service} is shutting down and takes no new calls"
                ),
            )
        if self._tokens is not None:
            header = _first(headers, AUTHORIZATION_HEADER)
            if header is None:
                self._refuse(
                    method,
                    request_id,
                    AuthFailed(
                        "this call carries no bearer token (header 'authorization: Bearer …')"
                    ),
                )
            scheme, _, token = (header or "").strip().partition(" ")
            if scheme.lower() != "bearer" or not self._tokens.accepts(token.strip()):
                self._refuse(method, request_id, AuthFailed("the bearer token is not valid"))
        state = CallState(self._tracker, method, request_id)
        self._tracker.call_started(state)
        return state

    def _refuse(self, method: str, request_id: str, error: BaniError) -> None:
        self._tracker.call_refused(method, request_id, error)
        raise to_flight_error(error, request_id=request_id, service=self._tracker.service)
