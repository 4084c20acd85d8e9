"""Service processes for the deploy tests, and the kubelet's view of their health.

A reader or writer started with port 0 prints one JSON line with its bound
ports once it listens (``bani.service.lifecycle``); :class:`ServiceProcess`
waits for that line, so no port is guessed.  :func:`health_check` is what a
kubelet ``grpc`` probe does: a ``grpc.health.v1.Health/Check`` call for one
service name on the plaintext health port.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

STARTUP_TIMEOUT = 60.0


class ServiceProcess:
    """A started service process; ``ready`` is the JSON line it printed."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self.ready: dict[str, Any] = self._read_ready()

    def _read_ready(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                break
        if not line:
            self.kill()
            raise AssertionError(
                f"{self.argv[0]} did not report ready (exit {self.proc.returncode}):\n{self.logs()}"
            )
        event = json.loads(line)
        assert event["event"] == "ready", event
        return dict(event)

    @property
    def flight_port(self) -> int:
        return int(self.ready["flight_port"])

    @property
    def health_port(self) -> int:
        return int(self.ready["health_port"])

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.logs().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def terminate(self, timeout: float) -> int:
        """SIGTERM, as the kubelet sends it; the exit status, within ``timeout`` seconds."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def health_check(port: int, service: str, timeout: float = 3.0) -> str:
    """The status name a kubelet gRPC probe would get, or ``error:<code>``."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return f"error:{exc.code().name}"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
