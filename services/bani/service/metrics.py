"""Prometheus metrics of one Flight service, on their own HTTP port.

Each :class:`ServiceMetrics` owns a ``CollectorRegistry`` (not the global
one), so an embedded reader and writer in one process, or many servers in one
test run, never collide on metric names.  The series:

=================================  =============================  ==========================
``bani_rows_total``                service, table, direction      rows streamed
``bani_bytes_total``               service, table, direction      Arrow bytes streamed
``bani_batches_total``             service, table, direction      record batches streamed
``bani_errors_total``              service, method, code          calls failed, by error code
``bani_call_duration_seconds``     service, method                call latency (histogram)
``bani_active_streams``            service                        do_get/do_put in progress
=================================  =============================  ==========================

``direction`` is ``out`` for rows leaving a service (reader ``do_get``) and
``in`` for rows arriving (writer ``do_put``).  ``code`` is the
:class:`~bani.errors.BaniError` code, the Flight status for Flight errors, or
``internal`` for anything else.  Process metrics (CPU, memory, open files) are
in the same registry.  ``table`` is a label: migrations have at most some
thousands of tables, which Prometheus handles; rows and chunks are never labels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bani.errors import BaniError, ConfigurationError
from bani.logging import get_logger

__all__ = ["CALL_BUCKETS", "ServiceMetrics", "error_code"]

CALL_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    float("inf"),
)
"""Seconds: from a health-like action (ms) to a large chunk's stream (tens of minutes)."""

log = get_logger(__name__)


def error_code(exc: BaseException) -> str:
    """The ``code`` label for a failed call."""
    if isinstance(exc, BaniError):
        return exc.code
    try:
        from pyarrow import flight
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return "internal"
    flight_codes: tuple[tuple[type[BaseException], str], ...] = (
        (flight.FlightUnauthenticatedError, "unauthenticated"),
        (flight.FlightUnauthorizedError, "unauthorized"),
        (flight.FlightCancelledError, "cancelled"),
        (flight.FlightTimedOutError, "timed_out"),
        (flight.FlightUnavailableError, "unavailable"),
        (flight.FlightInternalError, "flight_internal"),
        (flight.FlightServerError, "flight_server"),
        (flight.FlightError, "flight"),
    )
    for cls, code in flight_codes:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, NotImplementedError):
        return "not_implemented"
    return "internal"


class ServiceMetrics:
    """The counters, histogram and gauge of one service, and their HTTP endpoint."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("service", "table", "direction")
        self.rows = Counter("bani_rows", "Rows streamed.", labels, registry=self.registry)
        self.bytes = Counter("bani_bytes", "Arrow bytes streamed.", labels, registry=self.registry)
        self.batches = Counter(
            "bani_batches", "Record batches streamed.", labels, registry=self.registry
        )
        self.errors = Counter(
            "bani_errors",
            "Failed calls by method and error code.",
            ("service", "method", "code"),
            registry=self.registry,
        )
        self.call_duration = Histogram(
            "bani_call_duration_seconds",
            "Duration of Flight calls.",
            ("service", "method"),
            buckets=CALL_BUCKETS,
            registry=self.registry,
        )
        self.active_streams = Gauge(
            "bani_active_streams",
            "Streams (do_get / do_put) in progress.",
            ("service",),
            registry=self.registry,
        )
        self.active_streams.labels(service).set(0)
        prometheus_client.ProcessCollector(registry=self.registry)
        prometheus_client.PlatformCollector(registry=self.registry)
        self._http: tuple[WSGIServer, threading.Thread] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def observe_call(self, method: str) -> Iterator[None]:
        """Time the block as one ``method`` call; count it as an error if it raises."""
        start = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                self.count_error(method, error_code(exc))
            raise
        finally:
            self.call_duration.labels(self.service, method).observe(time.perf_counter() - start)

    @contextmanager
    def track_stream(self) -> Iterator[None]:
        """Count the block as one active stream."""
        gauge = self.active_streams.labels(self.service)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def count_batch(self, table: str, direction: str, rows: int, nbytes: int) -> None:
        """Add one record batch of ``rows`` rows and ``nbytes`` bytes."""
        self.rows.labels(self.service, table, direction).inc(rows)
        self.bytes.labels(self.service, table, direction).inc(nbytes)
        self.batches.labels(self.service, table, direction).inc()

    def count_error(self, method: str, code: str) -> None:
        self.errors.labels(self.service, method, code).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (what the endpoint serves)."""
        return bytes(prometheus_client.generate_latest(self.registry))

    # -- HTTP endpoint ----------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The bound metrics port, or None when the endpoint is not running."""
        return int(self._http[0].server_port) if self._http is not None else None

    def start_http(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = a free port); returns the bound port."""
        with self._lock:
            if self._http is not None:
                return int(self._http[0].server_port)
            try:
                server, thread = prometheus_client.start_http_server(
                    port, addr=host, registry=self.registry
                )
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                    setting="--metrics-port",
                ) from exc
            self._http = (server, thread)
            bound = int(server.server_port)
        log.info("metrics_started", host=host, port=bound, service=self.service)
        return bound

    def stop(self) -> None:
        """Stop the HTTP endpoint (idempotent); the metrics themselves stay readable."""
        with self._lock:
            http, self._http = self._http, None
        if http is None:
            return
        server, thread = http
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
