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

Table names and row counts are not for everyone: the endpoint listens on its
own address (``--metrics-host``, loopback by default, never implied by the
Flight port's ``--host``) and, with ``--metrics-token``, answers only requests
carrying ``Authorization: Bearer <token>`` (401 otherwise).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any, Final, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bani.errors import BaniError, ConfigurationError
from bani.logging import get_logger
from bani.service.settings import is_loopback

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


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per scrape; threads never outlive the process."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


class Tokens(Protocol):
    """What the endpoint asks of a bearer-token set (a :class:`~bani.service.auth.TokenSet`)."""

    def accepts(self, presented: str) -> bool:
        """Whether ``presented`` is one of the tokens (constant time)."""
        ...


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _guarded(app: WsgiApp, tokens: Tokens) -> WsgiApp:
    """``app`` answering 401 unless the request carries one of ``tokens``."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = str(environ.get("HTTP_AUTHORIZATION", "")).strip()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not tokens.accepts(token.strip()):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain; charset=utf-8"),
                 ("WWW-Authenticate", 'Bearer realm="bani-metrics"')],
            )
            return [b"a bearer token is required (Authorization: Bearer <token>)\n"]
        return app(environ, start_response)

    return guarded


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

    def start_http(self, host: str, port: int, tokens: Tokens | None = None) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = a free port); returns the bound port.

        With ``tokens`` (a :class:`~bani.service.auth.TokenSet`) every request
        must carry one of them as a bearer token.
        """
        with self._lock:
            if self._http is not None:
                return int(self._http[0].server_port)
            app: WsgiApp = prometheus_client.make_wsgi_app(self.registry)
            if tokens is not None:
                app = _guarded(app, tokens)
            try:
                infos = socket.getaddrinfo(
                    host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
                )
                family, _, _, _, address = infos[0]

                class Server(_Server):
                    address_family = family

                server = make_server(
                    str(address[0]), port, app, Server, handler_class=_QuietHandler
                )
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                    setting="--metrics-port",
                ) from exc
            thread = threading.Thread(
                target=server.serve_forever, name=f"bani-{self.service}-metrics", daemon=True
            )
            thread.start()
            self._http = (server, thread)
            bound = int(server.server_port)
        if tokens is None and not is_loopback(host):
            log.warning(
                "metrics_without_token",
                host=host,
                reason="table names and row counts are served to anyone who can reach "
                "this address; set --metrics-token",
            )
        log.info(
            "metrics_started", host=host, port=bound, service=self.service, token=tokens is not None
        )
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
