"""Real reader/writer processes and a plain pyarrow.flight client for the wire tests.

:class:`ServiceProcess` starts ``python -m bani.reader`` / ``bani.writer`` on
port 0 and reads the one JSON line the service prints once it listens, so no
port is ever guessed.  Its stderr (the service's JSON logs) goes to a file the
tests can inspect.  :class:`Security` holds the PKI and the token every
process and client of a test uses.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyarrow import flight

from bani.wire import (
    ChunkInfo,
    PutAck,
    ReadRequest,
    TableStatsRequest,
    TableStatsResult,
)
from bani.wire.codec import arrow_schema_to_bytes, decode, table_ref
from bani.wire.protocol import (
    bearer_headers,
    chunk_info,
    parse_put_ack,
    put_commit,
    read_descriptor,
    write_descriptor,
)
from tests._certs import TestPKI

STARTUP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Security:
    """TLS material and the bearer token of one test's services."""

    pki: TestPKI
    token: str
    tokens_file: Path
    ticket_secret_file: Path

    def service_args(self, *, mutual: bool = True) -> list[str]:
        args = [
            "--tls-cert", str(self.pki.server_cert),
            "--tls-key", str(self.pki.server_key),
            "--auth-tokens", f"${{file:{self.tokens_file}}}",
        ]  # fmt: skip
        if mutual:
            args += ["--tls-client-ca", str(self.pki.ca_cert)]
        return args


def make_security(pki: TestPKI, directory: Path) -> Security:
    token = secrets.token_urlsafe(32)
    tokens_file = directory / "tokens"
    tokens_file.write_text(f"{secrets.token_urlsafe(32)}\n{token}\n", encoding="utf-8")
    secret_file = directory / "ticket-secret"
    secret_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    return Security(pki, token, tokens_file, secret_file)


@dataclass
class ServiceProcess:
    """One reader or writer subprocess, ready once constructed."""

    service: str
    args: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    ready: dict[str, Any] = field(default_factory=dict)

    def start(self) -> ServiceProcess:
        env = {**os.environ, "BANI_LOG_FORMAT": "json", **self.env}
        command = [
            sys.executable, "-m", f"bani.{self.service}",
            "--port", "0", "--health-port", "0", "--metrics-port", "0", *self.args,
        ]  # fmt: skip
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, env=env, start_new_session=True
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line:
            self.kill()
            raise RuntimeError(
                f"{self.service} did not start: {self.log_path.read_text(errors='replace')[-3000:]}"
            )
        self.ready = json.loads(line)
        return self

    @property
    def location(self) -> str:
        return str(self.ready["location"]).replace("grpc+tls://127.0.0.1", "grpc+tls://localhost")

    @property
    def health_port(self) -> int:
        return int(self.ready["health_port"])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        if hasattr(self, "_log"):
            self._log.close()

    def stop(self) -> None:
        self.terminate()
        try:
            if self.proc is not None:
                self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The service's JSON log events so far (lines that are not JSON are skipped)."""
        found: list[dict[str, Any]] = []
        for line in self.logs().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                found.append(event)
        return found


def connect(
    location: str, security: Security, *, client_cert: bool = True, rogue: bool = False
) -> flight.FlightClient:
    kwargs: dict[str, Any] = {"tls_root_certs": security.pki.ca_cert.read_bytes()}
    if client_cert:
        cert, key = (
            (security.pki.rogue_cert, security.pki.rogue_key)
            if rogue
            else (security.pki.client_cert, security.pki.client_key)
        )
        kwargs["cert_chain"] = cert.read_bytes()
        kwargs["private_key"] = key.read_bytes()
    return flight.connect(location, **kwargs)


def options(token: str | None, timeout: float = 60.0) -> flight.FlightCallOptions:
    headers = bearer_headers(token) if token is not None else []
    return flight.FlightCallOptions(headers=headers, timeout=timeout)


def action(
    client: flight.FlightClient, name: str, body: bytes, token: str | None
) -> bytes:
    results = list(client.do_action(flight.Action(name, body), options(token)))
    assert len(results) == 1
    return bytes(results[0].body.to_pybytes())


def flight_info(
    client: flight.FlightClient, token: str, table: str, **request: Any
) -> flight.FlightInfo:
    message = ReadRequest(table=table_ref("main", table), **request)
    return client.get_flight_info(read_descriptor(message), options(token))


def chunks(info: flight.FlightInfo) -> list[tuple[flight.FlightEndpoint, ChunkInfo]]:
    return [(endpoint, chunk_info(endpoint)) for endpoint in info.endpoints]


def put_batches(
    writer_client: flight.FlightClient,
    token: str,
    run_id: str,
    table: str,
    chunk_id: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    commit: bool = True,
    commit_rows: int | None = None,
    target_schema: str = "main",
) -> PutAck | None:
    """Put one chunk; with ``commit`` send the final PutCommit and return the ack."""
    writer, ack_reader = writer_client.do_put(
        write_descriptor(run_id, target_schema, table, chunk_id), schema, options(token)
    )
    rows = 0
    count = 0
    for batch in batches:
        writer.write_batch(batch)
        rows += batch.num_rows
        count += 1
    if commit:
        writer.write_metadata(put_commit(rows if commit_rows is None else commit_rows, count))
    writer.done_writing()
    try:
        buffer = ack_reader.read()
        return parse_put_ack(buffer) if commit else None
    finally:
        writer.close()


def stream(reader_client: flight.FlightClient, token: str,
           endpoint: flight.FlightEndpoint) -> Iterator[pa.RecordBatch]:
    for chunk in reader_client.do_get(endpoint.ticket, options(token)):
        yield chunk.data


def copy_chunk(
    reader_client: flight.FlightClient,
    writer_client: flight.FlightClient,
    token: str,
    run_id: str,
    table: str,
    schema: pa.Schema,
    endpoint: flight.FlightEndpoint,
    info: ChunkInfo,
) -> PutAck:
    ack = put_batches(writer_client, token, run_id, table, info.chunk_id, schema,
                      stream(reader_client, token, endpoint))
    assert ack is not None
    return ack


def stats(client: flight.FlightClient, token: str, table: str,
          arrow_schema: pa.Schema | None = None) -> tuple[int, int]:
    request = TableStatsRequest(table=table_ref("main", table))
    if arrow_schema is not None:
        request.arrow_schema = arrow_schema_to_bytes(arrow_schema)
    result = decode(TableStatsResult, action(client, "table-stats",
                                              request.SerializeToString(), token), "stats")
    return result.stats.rows, result.stats.checksum


def health_status(port: int, service: str) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        except grpc.RpcError as exc:
            return f"error:{exc.code().name}"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
