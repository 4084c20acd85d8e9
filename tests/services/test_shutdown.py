"""SIGTERM while chunks are being written: readiness drops, the deadline holds,
and the target keeps only whole chunks."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import flight

from bani.domain.arrow_fields import arrow_schema_for_table
from bani.domain.schema import ColumnDefinition, TableDefinition
from bani.service.lifecycle import CANCEL_WAIT
from bani.wire import CreateTablesRequest, IfExists, PutAck
from bani.wire.codec import table_to_proto
from bani.wire.errors import ServiceShuttingDown, from_flight_error
from tests.services._harness import Security, action, connect, health_status, put_batches
from tests.services.conftest import StartService

pytestmark = pytest.mark.slow

GRACE = 1.0
TABLE = TableDefinition(
    schema_name="main",
    table_name="events",
    columns=(
        ColumnDefinition("id", "INTEGER", "int64", nullable=False, ordinal_position=1),
        ColumnDefinition("payload", "TEXT", "string", ordinal_position=2),
    ),
    primary_key=("id",),
)
SCHEMA = arrow_schema_for_table(TABLE)


def _batch(start: int, rows: int = 50) -> pa.RecordBatch:
    ids = list(range(start, start + rows))
    return pa.record_batch([pa.array(ids, pa.int64()), pa.array([f"p{i}" for i in ids])],
                           schema=SCHEMA)


def test_sigterm_during_transfers(
    start_service: StartService, security: Security, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    writer_proc = start_service("writer", "--target", f"sqlite:///{target}",
                                "--grace-period", str(GRACE), *security.service_args())
    client = connect(writer_proc.location, security)
    token = security.token
    action(client, "create-tables", CreateTablesRequest(
        tables=[table_to_proto(TABLE)], if_exists=IfExists.IF_EXISTS_DROP).SerializeToString(),
        token)
    done = put_batches(client, token, "run-term", "events", "c1", SCHEMA,
                       [_batch(1, 100), _batch(101, 100)])
    assert done is not None and done.status == PutAck.COMMITTED

    release = threading.Event()
    slow_started = threading.Event()
    stalled_started = threading.Event()
    outcomes: dict[str, BaseException | PutAck | None] = {}

    def slow_batches() -> Iterator[pa.RecordBatch]:
        for i in range(200):  # 20 s of data: far longer than the grace period
            if i == 3:
                slow_started.set()
            yield _batch(10_000 + i * 50)
            time.sleep(0.1)

    def stalled_batches() -> Iterator[pa.RecordBatch]:
        yield _batch(50_000)
        yield _batch(50_050)
        stalled_started.set()
        release.wait(60)  # a client that goes silent mid-chunk
        yield _batch(50_100)

    def run(name: str, batches: Iterator[pa.RecordBatch]) -> None:
        try:
            outcomes[name] = put_batches(connect(writer_proc.location, security), token,
                                         "run-term", "events", name, SCHEMA, batches)
        except BaseException as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=("c2", slow_batches())),
               threading.Thread(target=run, args=("c3", stalled_batches()))]
    for thread in threads:
        thread.start()
    try:
        assert slow_started.wait(20) and stalled_started.wait(20)
        time.sleep(0.2)
        started = time.monotonic()
        writer_proc.terminate()
        deadline = time.monotonic() + 3
        while health_status(writer_proc.health_port, "bani.writer") != "NOT_SERVING":
            assert time.monotonic() < deadline, "readiness did not drop on SIGTERM"
            time.sleep(0.05)
        assert health_status(writer_proc.health_port, "") == "SERVING"
        with pytest.raises(flight.FlightError) as caught:
            action(client, "health", b"", token)
        if caught.value.extra_info:
            assert isinstance(from_flight_error(caught.value), ServiceShuttingDown)

        status = writer_proc.wait(GRACE + CANCEL_WAIT + 10)
        elapsed = time.monotonic() - started
        assert status == 0
        assert elapsed < GRACE + CANCEL_WAIT + 4, f"shutdown took {elapsed:.1f} s"
    finally:
        release.set()
        for thread in threads:
            thread.join(30)

    assert isinstance(outcomes["c2"], flight.FlightError)  # cancelled, rolled back
    assert isinstance(outcomes["c3"], flight.FlightError)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*), min(id), max(id) FROM events").fetchall() == [
            (200, 1, 200)
        ]
        assert conn.execute(
            "SELECT chunk_id, rows FROM _bani_flight_chunks WHERE run_id = 'run-term'"
        ).fetchall() == [("c1", 200)]
    events = [e.get("event") for e in writer_proc.events()]
    assert "grace_period_over" in events
    assert "shutdown_finished" in events
