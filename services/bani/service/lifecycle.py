"""Starting, running and stopping a service: in-process or as a process.

In-process (the client's embedded mode, tests)::

    handle = ReaderService.start(settings)      # or start_service(ReaderServer, settings)
    client = flight.connect(handle.location)
    ...
    handle.stop()                                # graceful, with the grace period

As a process (``bani-reader`` / ``bani-writer``), :func:`run_main` parses the
settings, configures logging once, starts the service, prints **one JSON
line** on stdout with the bound ports once everything listens (so tests and
scripts never guess ports), and waits for SIGTERM or SIGINT.

Shutdown (:meth:`RunningService.stop`) enforces a deadline, because pyarrow's
``shutdown()`` has none of its own:

1. readiness goes NOT_SERVING and new calls are refused;
2. running calls get ``grace_period`` seconds to finish;
3. then every stream is told to stop at its next batch (a put in progress is
   rolled back) and gets a few more seconds;
4. whatever still runs then (a call blocked inside the database or on a
   silent client) is abandoned: :func:`run_main` exits the process with
   ``os._exit``, and the database rolls back the open transaction.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Final, Self

from bani.errors import BaniError
from bani.logging import configure, get_logger
from bani.service.auth import TokenSet
from bani.service.health import HealthService
from bani.service.metrics import ServiceMetrics
from bani.service.runtime import ServiceRuntime
from bani.service.server import BaniFlightServer, connect_location
from bani.service.settings import ServiceName, ServiceSettings, parse_args

__all__ = ["CANCEL_WAIT", "RunningService", "run_main", "start_service"]

#: Seconds streams get to notice cancellation after the grace period.
CANCEL_WAIT: Final = 5.0

log = get_logger("bani.service")

ServerFactory = Callable[[ServiceSettings, ServiceRuntime, TokenSet | None], BaniFlightServer]


class RunningService:
    """A started reader or writer: where it listens, and how to stop it."""

    def __init__(
        self,
        server: BaniFlightServer,
        runtime: ServiceRuntime,
        health: HealthService | None,
        metrics: ServiceMetrics | None,
        metrics_port: int | None,
    ) -> None:
        self.server = server
        self.runtime = runtime
        self.settings = runtime.settings
        self.health = health
        self.metrics = metrics
        self.flight_port: int = server.port
        self.health_port: int | None = health.port if health is not None else None
        self.metrics_port = metrics_port
        self.location = connect_location(self.settings, self.flight_port)
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._clean: bool | None = None
        self._ready: bool | None = None
        self._monitor = threading.Thread(
            target=self._watch_readiness, name=f"bani-{runtime.service}-readiness", daemon=True
        )

    # -- readiness -------------------------------------------------------------------

    def check_readiness(self) -> bool:
        """Probe the database now and publish the result to the health service."""
        ready = (not self.runtime.stopping) and self.server.probe()
        if ready != self._ready:
            if ready:
                log.info("readiness_changed", service=self.runtime.service, ready=True)
            else:
                log.warning(
                    "readiness_changed",
                    service=self.runtime.service,
                    ready=False,
                    reason=self.server.probe_error or ("stopping" if self.runtime.stopping else ""),
                )
            self._ready = ready
        if self.health is not None and not self.runtime.stopping:
            self.health.set_ready(ready)
        return ready

    def _watch_readiness(self) -> None:
        interval = self.settings.readiness_interval
        while not self._stopped.wait(interval):
            if self.runtime.stopping:
                return
            try:
                self.check_readiness()
            except Exception:  # a probe must never kill the monitor
                log.exception("readiness_probe_failed")

    # -- reporting ---------------------------------------------------------------------

    def ready_event(self) -> dict[str, object]:
        """The JSON object printed once the service listens."""
        return {
            "event": "ready",
            "service": self.runtime.service,
            "flight_port": self.flight_port,
            "health_port": self.health_port,
            "metrics_port": self.metrics_port,
            "location": self.location,
            "pid": os.getpid(),
        }

    # -- stopping ------------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self, grace: float | None = None) -> bool:
        """Shut down within ``grace`` (default: the grace-period setting) plus CANCEL_WAIT.

        Returns True when every call ended; False when some were abandoned
        (a process should then exit without waiting for them).
        """
        with self._stop_lock:
            if self._clean is not None:
                return self._clean
            grace = self.settings.grace_period if grace is None else grace
            started = time.monotonic()
            self.runtime.begin_shutdown()
            if self.health is not None:
                self.health.set_ready(False)
            log.info(
                "shutdown_started",
                service=self.runtime.service,
                active_calls=self.runtime.active_calls,
                grace_period=grace,
            )
            stopper = threading.Thread(
                target=self.server.shutdown, name="bani-flight-shutdown", daemon=True
            )
            stopper.start()
            if not self.runtime.wait_idle(grace):
                log.warning(
                    "grace_period_over",
                    service=self.runtime.service,
                    active_calls=self.runtime.active_calls,
                )
                self.runtime.cancel_running()
                self.runtime.wait_idle(CANCEL_WAIT)
            # With calls still running, gRPC's shutdown will not return: don't wait for it.
            stopper.join(CANCEL_WAIT / 2 if self.runtime.active_calls == 0 else 0.2)
            clean = not stopper.is_alive() and self.runtime.active_calls == 0
            self._stopped.set()
            if self.health is not None:
                self.health.stop(grace=0)
            if self.metrics is not None:
                self.metrics.stop()
            if clean:
                self.server.close()
            log.info(
                "shutdown_finished",
                service=self.runtime.service,
                clean=clean,
                seconds=round(time.monotonic() - started, 3),
                abandoned_calls=self.runtime.active_calls,
            )
            self._clean = clean
            return clean

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the service is stopped (True) or ``timeout`` passes (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_service(factory: ServerFactory, settings: ServiceSettings) -> RunningService:
    """Start a service in this process: Flight, health and metrics ports, readiness.

    Settings are validated first; a bad setting or an unreachable database is
    a :class:`~bani.errors.BaniError` and nothing is left running.
    """
    settings.validate()
    tokens = TokenSet.from_reference(settings.auth_tokens)
    metrics_tokens = TokenSet.from_reference(settings.metrics_token, setting="--metrics-token")
    metrics = ServiceMetrics(settings.service) if settings.metrics_port >= 0 else None
    runtime = ServiceRuntime(settings, metrics)
    server = factory(settings, runtime, tokens)
    health: HealthService | None = None
    metrics_port: int | None = None
    try:
        if settings.health_port >= 0:
            health = HealthService(
                settings.health_host or settings.host,
                settings.health_port,
                f"bani.{settings.service}",
            )
            health.start()
        if metrics is not None:
            metrics_port = metrics.start_http(
                settings.metrics_host or settings.host, settings.metrics_port, metrics_tokens
            )
        running = RunningService(server, runtime, health, metrics, metrics_port)
        running.check_readiness()
        running._monitor.start()
    except BaseException:
        if health is not None:
            health.stop(grace=0)
        if metrics is not None:
            metrics.stop()
        server.shutdown()
        server.close()
        raise
    ports = {k: v for k, v in running.ready_event().items() if k != "event"}
    log.info("service_started", **ports, settings=settings.describe())
    return running


def run_main(service: ServiceName, factory: ServerFactory, argv: Sequence[str] | None) -> int:
    """The body of ``bani-reader`` / ``bani-writer``; returns the exit status.

    Exit status: 0 after a clean shutdown, 2 for bad settings, 1 when the
    service could not start.  A shutdown that had to abandon calls ends the
    process at once with status 0 after logging it (see the module docstring).
    """
    try:
        settings = parse_args(service, argv)
    except BaniError as exc:
        print(f"bani-{service}: error: {exc}", file=sys.stderr)
        return 2
    configure(fmt=settings.log_format, level=settings.log_level)  # type: ignore[arg-type]
    try:
        running = start_service(factory, settings)
    except BaniError as exc:
        log.error("start_failed", service=service, code=exc.code, error=str(exc))
        print(f"bani-{service}: error: {exc}", file=sys.stderr)
        return 1

    requested = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(json.dumps(running.ready_event()), flush=True)
    while not requested.wait(0.5):
        pass
    clean = running.stop()
    if not clean:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
