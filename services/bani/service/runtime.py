"""Per-service state shared by the Flight server, its middleware and its lifecycle.

:class:`ServiceRuntime` knows whether the service is stopping (new calls are
refused) or past its grace period (running streams must stop), counts the
calls in flight so shutdown can wait for them, and writes each call's one
summary event and metrics.  Handlers call :meth:`ServiceRuntime.check` between
batches: it raises :class:`~bani.wire.errors.CallCancelled` when the client
went away or shutdown's grace period is over, which ends the stream and rolls
back the chunk being written.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from typing import Any

from pyarrow import flight

from bani.errors import BaniError
from bani.logging import get_logger
from bani.service.auth import CallState
from bani.service.metrics import ServiceMetrics
from bani.service.settings import ServiceSettings
from bani.wire.errors import CallCancelled

__all__ = ["ServiceRuntime"]

log = get_logger("bani.service")

_STREAMING = frozenset({"do_get", "do_put", "do_exchange"})


class ServiceRuntime:
    """Shutdown state, call accounting, summary events and metrics of one service."""

    def __init__(self, settings: ServiceSettings, metrics: ServiceMetrics | None) -> None:
        self.settings = settings
        self.service: str = settings.service
        self.metrics = metrics
        self._stopping = threading.Event()
        self._cancelled = threading.Event()
        self._idle = threading.Condition()
        self._active = 0
        self._scopes: dict[int, list[AbstractContextManager[Any]]] = {}

    # -- shutdown state ---------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def begin_shutdown(self) -> None:
        """Refuse new calls from now on."""
        self._stopping.set()

    def cancel_running(self) -> None:
        """Tell every running stream to stop at its next batch."""
        self._cancelled.set()

    @property
    def active_calls(self) -> int:
        with self._idle:
            return self._active

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no call runs; False if ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def check(self, context: flight.ServerCallContext | None, what: str = "call") -> None:
        """Raise :class:`CallCancelled` if the client left or shutdown cancelled the call."""
        if self._cancelled.is_set():
            raise CallCancelled(f"the {self.service} is shutting down: the {what} was cancelled")
        if context is not None and context.is_cancelled():
            raise CallCancelled(f"the client cancelled the {what}")

    # -- call accounting (CallTracker) ----------------------------------------------

    def call_started(self, state: CallState) -> None:
        scopes: list[AbstractContextManager[Any]] = []
        if self.metrics is not None:
            scopes.append(self.metrics.observe_call(state.method))
            if state.method in _STREAMING:
                scopes.append(self.metrics.track_stream())
            for scope in scopes:
                scope.__enter__()
        with self._idle:
            self._active += 1
            self._scopes[id(state)] = scopes

    def call_finished(self, state: CallState, exception: BaseException | None) -> None:
        seconds = time.monotonic() - state.started
        if exception is not None and state.error_code is None:
            state.error_code = type(exception).__name__
        with self._idle:
            self._active -= 1
            scopes = self._scopes.pop(id(state), [])
            self._idle.notify_all()
        failure = state.error if state.error is not None else exception
        for scope in reversed(scopes):
            # A metrics scope records the failure and re-raises it into the
            # generator; __exit__ then returns False without raising here.
            scope.__exit__(type(failure) if failure else None, failure, None)
        log.info(
            "rpc_finished",
            service=self.service,
            method=state.method,
            request_id=state.request_id,
            peer=state.peer,
            client=state.identity or None,
            status=state.error_code or "ok",
            seconds=round(seconds, 4),
            **state.fields,
        )

    def call_refused(self, method: str, request_id: str, error: BaniError) -> None:
        log.warning(
            "call_refused",
            service=self.service,
            method=method,
            request_id=request_id,
            code=error.code,
            reason=error.message,
        )
        if self.metrics is not None:
            self.metrics.count_error(method, error.code)

    def count_batch(self, table: str, direction: str, rows: int, nbytes: int) -> None:
        if self.metrics is not None:
            self.metrics.count_batch(table, direction, rows, nbytes)
