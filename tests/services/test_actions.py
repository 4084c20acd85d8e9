"""The writer's migration steps, against a writer started in-process (the embedded API)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import flight

from bani.domain.arrow_fields import arrow_schema_for_table
from bani.domain.schema import (
    ColumnDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import ChunkConflict, SchemaError
from bani.service.lifecycle import RunningService
from bani.service.settings import ServiceSettings
from bani.wire import (
    BeginRunRequest,
    BeginRunResult,
    ChunksDoneRequest,
    ChunksDoneResult,
    CreateForeignKeysRequest,
    CreateTablesRequest,
    CreateTablesResult,
    DoneResult,
    HealthResult,
    IfExists,
    PlannedChunk,
    PlannedTable,
    PlanTablesRequest,
    PlanTablesResult,
    PutAck,
    RunPlan,
    TableOutcome,
    TablesRequest,
)
from bani.wire.codec import decode, foreign_key_to_proto, table_ref, table_to_proto
from bani.wire.errors import InvalidRequest, from_flight_error
from bani.writer import WriterService
from tests.services._harness import put_batches

PARENT = TableDefinition(
    "main", "parent",
    (ColumnDefinition("id", "INTEGER", "int64", nullable=False, ordinal_position=1),
     ColumnDefinition("name", "VARCHAR(20)", "string", char_length=20, ordinal_position=2)),
    primary_key=("id",),
    indexes=(IndexDefinition("ix_parent_name", ("name",), is_unique=True),),
    identity_counter=1000,
)  # fmt: skip
CHILD_FK = ForeignKeyDefinition("fk_child_parent", "main", "child", ("parent_id",), "main",
                                "parent", ("id",), on_delete="CASCADE")
CHILD = TableDefinition(
    "main", "child",
    (ColumnDefinition("id", "INTEGER", "int64", nullable=False, ordinal_position=1),
     ColumnDefinition("parent_id", "INTEGER", "int64", ordinal_position=2)),
    primary_key=("id",),
    foreign_keys=(CHILD_FK,),
)  # fmt: skip


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[RunningService, flight.FlightClient, Path]]:
    target = tmp_path / "target.db"
    settings = ServiceSettings(service="writer", target=f"sqlite:///{target}", port=0,
                               health_port=-1, metrics_port=-1)
    with WriterService.start(settings) as running:
        client = flight.connect(running.location)
        yield running, client, target
        client.close()


def _call(client: flight.FlightClient, name: str, body: bytes) -> bytes:
    (result,) = list(client.do_action(flight.Action(name, body)))
    return bytes(result.body.to_pybytes())


def _create(client: flight.FlightClient, policy: IfExists, *tables: TableDefinition,
            run_id: str = "") -> list[tuple[str, str]]:
    request = CreateTablesRequest(tables=[table_to_proto(t) for t in tables], if_exists=policy,
                                  run_id=run_id)
    result = decode(CreateTablesResult, _call(client, "create-tables",
                                              request.SerializeToString()), "result")
    return [(o.table.table, TableOutcome.Action.Name(o.action)) for o in result.tables]


def _fail(exc: pytest.ExceptionInfo[BaseException]) -> Exception:
    return from_flight_error(exc.value)  # type: ignore[arg-type]


def test_in_process_writer_reports_its_schema(
    writer: tuple[RunningService, flight.FlightClient, Path]
) -> None:
    running, client, _ = writer
    assert running.location.startswith("grpc+tcp://127.0.0.1:")
    health = decode(HealthResult, _call(client, "health", b""), "health")
    assert (health.service, health.ready, health.default_schema) == ("writer", True, "main")
    assert list(health.allowed_schemas) == ["main"] and not health.auth and not health.tls
    names = [a.type for a in client.list_actions()]
    assert names == ["plan-tables", "begin-run", "create-tables", "create-indexes",
                     "create-foreign-keys", "finalize", "chunks-done", "table-stats", "health"]


def test_plan_executes_nothing_and_refuses_duplicate_targets(
    writer: tuple[RunningService, flight.FlightClient, Path]
) -> None:
    _, client, target = writer
    reply = _call(client, "plan-tables",
                  PlanTablesRequest(tables=[table_to_proto(PARENT)]).SerializeToString())
    plans = decode(PlanTablesResult, reply, "plan").plans
    assert plans[0].table == table_ref("main", "parent")
    assert any("CREATE TABLE" in s for s in plans[0].statements)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'parent'"
                            ).fetchone() == (0,)
    twice = PlanTablesRequest(tables=[table_to_proto(PARENT), table_to_proto(PARENT)])
    with pytest.raises(flight.FlightServerError) as caught:
        _call(client, "plan-tables", twice.SerializeToString())
    assert isinstance(_fail(caught), InvalidRequest)


def test_create_tables_policies_and_resume(
    writer: tuple[RunningService, flight.FlightClient, Path]
) -> None:
    _, client, target = writer
    assert _create(client, IfExists.IF_EXISTS_FAIL, PARENT, CHILD) == [
        ("parent", "CREATED"), ("child", "CREATED")]
    with pytest.raises(flight.FlightServerError) as caught:
        _create(client, IfExists.IF_EXISTS_FAIL, PARENT)
    assert isinstance(_fail(caught), SchemaError)

    schema = arrow_schema_for_table(PARENT)
    rows = pa.record_batch([pa.array([1, 2], pa.int64()), pa.array(["a", "b"])], schema=schema)
    ack = put_batches(client, "", "run-1", "parent", "main.parent:all", schema, [rows])
    assert ack is not None and ack.status == PutAck.COMMITTED
    assert _create(client, IfExists.IF_EXISTS_APPEND, PARENT) == [("parent", "APPENDED")]
    # a resumed run keeps the table whatever the policy
    assert _create(client, IfExists.IF_EXISTS_DROP, PARENT, run_id="run-1") == [
        ("parent", "RESUMED")]
    done = decode(ChunksDoneResult, _call(client, "chunks-done", ChunksDoneRequest(
        run_id="run-1").SerializeToString()), "done")
    assert [(c.table.table, c.chunk_id, c.rows) for c in done.chunks] == [
        ("parent", "main.parent:all", 2)]
    # truncate empties the table and forgets its markers in the same transaction
    assert _create(client, IfExists.IF_EXISTS_TRUNCATE, PARENT) == [("parent", "TRUNCATED")]
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM parent").fetchone() == (0,)
    done = decode(ChunksDoneResult, _call(client, "chunks-done", ChunksDoneRequest(
        run_id="run-1").SerializeToString()), "done")
    assert list(done.chunks) == []

    ack = put_batches(client, "", "run-2", "parent", "main.parent:all", schema, [rows])
    assert ack is not None and ack.status == PutAck.COMMITTED
    child_rows = pa.record_batch([pa.array([10], pa.int64()), pa.array([1], pa.int64())],
                                 schema=arrow_schema_for_table(CHILD))
    put_batches(client, "", "run-2", "child", "main.child:all", arrow_schema_for_table(CHILD),
                [child_rows])
    indexes = decode(DoneResult, _call(client, "create-indexes", TablesRequest(
        tables=[table_to_proto(PARENT)]).SerializeToString()), "done")
    fks = decode(DoneResult, _call(client, "create-foreign-keys", CreateForeignKeysRequest(
        foreign_keys=[foreign_key_to_proto(CHILD_FK)]).SerializeToString()), "done")
    final = decode(DoneResult, _call(client, "finalize", TablesRequest(
        tables=[table_to_proto(PARENT)]).SerializeToString()), "done")
    assert (indexes.count, fks.count, final.count) == (1, 1, 1)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                            "name = 'ix_parent_name'").fetchall() == [("ix_parent_name",)]
        assert conn.execute("SELECT \"table\" FROM pragma_foreign_key_list('child')"
                            ).fetchall() == [("parent",)]


def test_begin_run_stores_resumes_and_refuses_another_plan(
    writer: tuple[RunningService, flight.FlightClient, Path]
) -> None:
    _, client, _ = writer
    plan = RunPlan(run_id="run-p", tables=[PlannedTable(
        source=table_ref("app", "parent"), target=table_ref("main", "parent"),
        chunks=[PlannedChunk(chunk_id="app.parent:all", estimated_rows=2)])])

    def begin(request: BeginRunRequest) -> BeginRunResult:
        return decode(BeginRunResult, _call(client, "begin-run", request.SerializeToString()),
                      "begin")

    first = begin(BeginRunRequest(run_id="run-p", plan=plan))
    again = begin(BeginRunRequest(run_id="run-p", plan=plan))
    stored = begin(BeginRunRequest(run_id="run-p"))
    assert (first.resumed, again.resumed, stored.resumed) == (False, True, True)
    assert stored.plan == plan
    other = RunPlan(run_id="run-p", tables=[PlannedTable(target=table_ref("main", "x"))])
    with pytest.raises(flight.FlightServerError) as caught:
        begin(BeginRunRequest(run_id="run-p", plan=other))
    assert isinstance(_fail(caught), ChunkConflict)
    with pytest.raises(flight.FlightServerError) as caught:
        begin(BeginRunRequest(run_id="unknown"))
    assert isinstance(_fail(caught), InvalidRequest)
    elsewhere = RunPlan(run_id="run-q", tables=[PlannedTable(target=table_ref("temp", "x"))])
    with pytest.raises(flight.FlightUnauthorizedError):
        begin(BeginRunRequest(run_id="run-q", plan=elsewhere))
