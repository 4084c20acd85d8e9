"""Real ``bani-reader`` / ``bani-writer`` / ``bani-flight`` processes for the client tests.

A service is started with port 0 and its one ready JSON line is read from its
stdout, so no port is ever guessed; its log goes to a file next to the test's
data for reading when a test fails.  :func:`run_cli` runs the ``bani-flight``
console script the way a user does.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests._certs import TestPKI

BIN = Path(sys.executable).parent
TOKEN = "client-test-token-0123456789abcdef"
TOKEN_ENV = "BANI_TEST_SERVICE_TOKEN"


@dataclass
class ServiceProcess:
    """A running service process and the URI a client reaches it at."""

    role: str
    process: subprocess.Popen[str]
    uri: str
    port: int
    log_path: Path

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a killed pod)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _read_line(stream: IO[str], timeout: float) -> str | None:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def start_service(
    role: str,
    dsn: str,
    workdir: Path,
    *,
    token: str | None = TOKEN,
    pki: TestPKI | None = None,
    extra: Sequence[str] = (),
) -> ServiceProcess:
    """Start ``bani-<role>`` for ``dsn`` on a free loopback port; waits for its ready line."""
    option = "--source" if role == "reader" else "--target"
    args = [
        str(BIN / f"bani-{role}"), option, dsn,
        "--host", "127.0.0.1", "--port", "0", "--health-port", "-1", "--metrics-port", "-1",
        "--log-format", "json", "--grace-period", "2", *extra,
    ]  # fmt: skip
    env = dict(os.environ)
    if token is not None:
        env[TOKEN_ENV] = token
        args += ["--auth-tokens", f"${{env:{TOKEN_ENV}}}"]
    if pki is not None:
        args += [
            "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
            "--tls-client-ca", str(pki.ca_cert),
        ]  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{role}-{len(list(workdir.glob(f'{role}-*.log')))}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=workdir
        )
    assert process.stdout is not None
    line = _read_line(process.stdout, timeout=60)
    if not line:
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise AssertionError(f"bani-{role} did not start: {log_path.read_text()[-3000:]}")
    ready = json.loads(line)
    assert ready["event"] == "ready", ready
    port = int(ready["flight_port"])
    scheme = "grpc+tls" if pki is not None else "grpc"
    host = "localhost" if pki is not None else "127.0.0.1"
    return ServiceProcess(role, process, f"{scheme}://{host}:{port}", port, log_path)


@dataclass(frozen=True)
class CliResult:
    """What a ``bani-flight`` run printed and returned."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_lines(self) -> list[str]:
        """stderr lines that are not structured log events (JSON objects)."""
        return [
            line for line in self.stderr.splitlines() if line.strip() and not line.startswith("{")
        ]


def cli_env(token: str | None = TOKEN, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANI_FLIGHT_")}
    if token is not None:
        env["BANI_FLIGHT_TOKEN"] = token
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str],
    cwd: Path,
    *,
    token: str | None = TOKEN,
    env: Mapping[str, str] | None = None,
    timeout: float = 150,
) -> CliResult:
    """Run ``bani-flight ARGS`` in ``cwd`` (where its run files go) and wait for it."""
    try:
        result = subprocess.run(
            [str(BIN / "bani-flight"), *args],
            cwd=cwd,
            env=cli_env(token, env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        # A hang is a failure with the output so far, not a stuck test run.
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return CliResult(-1, out, f"{err}\n(bani-flight did not finish in {timeout:.0f} s)")
    return CliResult(result.returncode, result.stdout, result.stderr)


def start_cli(
    args: Sequence[str], cwd: Path, *, token: str | None = TOKEN
) -> subprocess.Popen[str]:
    """Start ``bani-flight ARGS`` without waiting (stderr piped, line by line)."""
    return subprocess.Popen(
        [str(BIN / "bani-flight"), *args],
        cwd=cwd,
        env=cli_env(token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
