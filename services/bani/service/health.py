"""Kubernetes health probes: ``grpc.health.v1`` on its own plaintext port.

pyarrow's Flight server cannot host a second gRPC service, so the probes get
a small grpcio server of their own.  Two services answer:

- ``""`` (liveness): SERVING from :meth:`HealthService.start` until
  :meth:`HealthService.stop`; a kubelet restarts the pod when it stops
  answering.
- ``service_name`` (readiness, e.g. ``bani.reader``): NOT_SERVING until the
  owner calls ``set_ready(True)`` (after the database answered), and again as
  soon as shutdown begins, so no new work is routed to a pod that is leaving.

The port is plaintext by design: kubelet's gRPC probe does not do TLS, and
the probes reveal nothing but two statuses.
"""

from __future__ import annotations

import threading
from concurrent import futures
from types import TracebackType
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bani.errors import ConfigurationError
from bani.logging import get_logger

__all__ = ["LIVENESS", "HealthService"]

LIVENESS: Final = ""
"""The service name kubelet's liveness probe asks for (the server as a whole)."""

_SERVING: Final = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING: Final = health_pb2.HealthCheckResponse.NOT_SERVING

log = get_logger(__name__)


def grpc_address(host: str, port: int) -> str:
    """``host:port`` as grpc wants it (IPv6 literals in brackets)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


class HealthService:
    """A ``grpc.health.v1`` server for one Flight service's liveness and readiness."""

    def __init__(self, host: str, port: int, service_name: str) -> None:
        if not service_name:
            raise ConfigurationError(
                "the readiness service needs a name (e.g. bani.reader)", setting="service"
            )
        self.host = host
        self.service_name = service_name
        self._requested_port = port
        self._port: int | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self._servicer: health.HealthServicer | None = None
        self._watch_pool: futures.ThreadPoolExecutor | None = None

    @property
    def port(self) -> int:
        """The bound port; only known after :meth:`start`."""
        if self._port is None:
            raise RuntimeError("HealthService.port is known only after start()")
        return self._port

    @property
    def ready(self) -> bool:
        return self._ready

    def start(self) -> int:
        """Bind, start serving and return the bound port (``port=0`` picks a free one)."""
        with self._lock:
            if self._server is not None:
                return self.port
            server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="bani-health"),
                options=[("grpc.so_reuseport", 0)],
            )
            watch_pool = futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="bani-health-watch"
            )
            servicer = health.HealthServicer(
                experimental_non_blocking=True, experimental_thread_pool=watch_pool
            )
            health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
            address = grpc_address(self.host, self._requested_port)
            try:
                port = int(server.add_insecure_port(address))
            except RuntimeError as exc:
                port = 0
                cause: BaseException | None = exc
            else:
                cause = None
            if port == 0:
                watch_pool.shutdown(wait=False)
                raise ConfigurationError(
                    f"cannot listen for health checks on {address}"
                    " (address in use or not available on this host)",
                    setting="--health-port",
                ) from cause
            servicer.set(LIVENESS, _SERVING)
            servicer.set(self.service_name, _SERVING if self._ready else _NOT_SERVING)
            server.start()
            self._server, self._servicer, self._port = server, servicer, port
            self._watch_pool = watch_pool
        log.info("health_started", address=grpc_address(self.host, port), service=self.service_name)
        return port

    def set_ready(self, ready: bool) -> None:
        """Readiness of ``service_name``: SERVING when ``ready``, else NOT_SERVING."""
        with self._lock:
            changed = ready != self._ready
            self._ready = ready
            if self._servicer is not None:
                self._servicer.set(self.service_name, _SERVING if ready else _NOT_SERVING)
        if changed:
            log.info("readiness_changed", service=self.service_name, ready=ready)

    def stop(self, grace: float | None = None) -> None:
        """Answer NOT_SERVING to everything, then stop the server (idempotent).

        ``grace`` seconds are given to probes in flight; the call returns once
        the server has stopped.
        """
        with self._lock:
            server, servicer, pool = self._server, self._servicer, self._watch_pool
            self._server = self._servicer = self._watch_pool = None
            self._ready = False
        if server is None or servicer is None:
            return
        servicer.enter_graceful_shutdown()
        server.stop(grace).wait()
        if pool is not None:
            pool.shutdown(wait=False)
        log.info("health_stopped", service=self.service_name)

    def __enter__(self) -> HealthService:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
