"""The writer's own bookkeeping tables are not the peer's to touch.

``_bani_flight_chunks`` (the chunk markers that make a put exactly-once) and
``_bani_flight_runs`` (stored run plans) live in the writer's default schema,
next to the tables a client creates.  Today a ``create-tables`` of
``public._bani_flight_runs`` with ``if_exists=drop`` drops the real one and
puts the client's table in its place, and every later run breaks.

Expected: any request that would create, drop, truncate, write (do_put),
index, add a foreign key to, or finalize a table whose name starts with
``_bani_flight_`` -- in any case -- is refused with ``invalid_request`` naming
the table, and the bookkeeping is intact afterwards: the stored plan and the
committed markers are still there, and a new run still commits.

Each test checks the bookkeeping at the end; a test that finds it broken
repairs it for the next one (the broken state is today's bug, not theirs):
the impostor tables are dropped and the writer restarted, so it recreates
its tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pyarrow as pa
import pytest

from bani.domain.schema import ForeignKeyDefinition, IndexDefinition
from bani.wire import (
    BeginRunRequest,
    BeginRunResult,
    ChunksDoneResult,
    IfExists,
    PlannedChunk,
    PlannedTable,
    RunPlan,
)
from bani.wire.codec import decode, table_ref
from tests.security._peer import Outcome
from tests.security._targets import DIALECTS, WriterEnv, start_writer
from tests.security.conftest import StartService
from tests.services._harness import Security

pytestmark = pytest.mark.slow

CHUNKS, RUNS = "_bani_flight_chunks", "_bani_flight_runs"
RESERVED = (
    RUNS,
    CHUNKS,
    "_BANI_FLIGHT_RUNS",
    "_Bani_Flight_Chunks",
    "_bani_flight_stage",
    "_bani_flight_anything",
    "_bani_flight_",
)
POLICIES = {
    "drop": IfExists.IF_EXISTS_DROP,
    "truncate": IfExists.IF_EXISTS_TRUNCATE,
    "append": IfExists.IF_EXISTS_APPEND,
    "fail": IfExists.IF_EXISTS_FAIL,
}
KEEP_RUN, PLAN_RUN, KEEP_TABLE = "run-keep", "run-plan", "keepme"


@pytest.fixture(scope="module", params=DIALECTS)
def writer(
    request: pytest.FixtureRequest,
    start_service: StartService,
    security: Security,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WriterEnv]:
    env = start_writer(request.param, request, start_service, security, tmp_path_factory)
    _seed(env)
    yield env
    env.catalog.close()


def _plan(env: WriterEnv) -> RunPlan:
    return RunPlan(run_id=PLAN_RUN, tables=[PlannedTable(
        source=table_ref("src", KEEP_TABLE), target=table_ref(env.schema, KEEP_TABLE),
        chunks=[PlannedChunk(chunk_id="c1", estimated_rows=3)])])


def _seed(env: WriterEnv) -> None:
    """A table with one committed chunk (run-keep) and a stored plan (run-plan)."""
    table = env.table(KEEP_TABLE)
    created = env.peer.create_tables([table], policy=IfExists.IF_EXISTS_DROP)
    assert created.accepted, created.describe()
    schema, batch = env.rows(table)
    put = env.peer.put(KEEP_RUN, env.schema, KEEP_TABLE, "c1", [batch], schema)
    assert put.accepted, put.describe()
    begun = env.peer.action("begin-run", BeginRunRequest(run_id=PLAN_RUN, plan=_plan(env)))
    assert begun.accepted, begun.describe()


def bookkeeping_problems(env: WriterEnv) -> list[str]:
    """What is wrong with the markers, the stored plan and a new run, if anything."""
    problems: list[str] = []
    done = env.peer.chunks_done(KEEP_RUN)
    if not done.accepted:
        problems.append(f"chunks-done failed: {done.describe()}")
    else:
        chunks = decode(ChunksDoneResult, done.reply, "done").chunks
        found = sorted((c.table.table, c.chunk_id, c.rows) for c in chunks)
        if found != [(KEEP_TABLE, "c1", 3)]:
            problems.append(f"the markers of {KEEP_RUN} are now {found}")
    stored = env.peer.action("begin-run", BeginRunRequest(run_id=PLAN_RUN))
    if not stored.accepted:
        problems.append(f"the stored plan is gone: {stored.describe()}")
    else:
        result = decode(BeginRunResult, stored.reply, "begin")
        if not result.resumed or list(result.plan.tables) != list(_plan(env).tables):
            problems.append("the stored plan changed")
    fresh = env.fresh("run-check")
    table = env.table(KEEP_TABLE)
    schema, batch = env.rows(table)
    put = env.peer.put(fresh, env.schema, KEEP_TABLE, "c9", [batch.slice(0, 0)], schema)
    if not put.accepted:
        problems.append(f"a new run cannot commit: {put.describe()}")
    return problems


def _repair(env: WriterEnv) -> None:
    """Drop every ``_bani_flight*`` table (impostors included), restart, seed again."""
    if env.dialect == "postgresql":
        names = env.catalog.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace"
            " n ON n.oid = c.relnamespace WHERE lower(c.relname) LIKE '\\_bani\\_flight\\_%'"
            " AND c.relkind IN ('r', 'p')"
        )
    elif env.dialect == "mysql":
        names = env.catalog.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = %s AND LOWER(TABLE_NAME) LIKE '\\_bani\\_flight\\_%%'",
            (env.schema,),
        )
    else:
        names = env.catalog.execute(
            "SELECT 'main', name FROM sqlite_master WHERE type = 'table'"
            " AND lower(name) LIKE '\\_bani\\_flight\\_%' ESCAPE '\\'"
        )
    env.catalog.drop_tables([(str(s), str(t)) for s, t in names])
    env.restart()
    _seed(env)


@pytest.fixture
def bk(writer: WriterEnv) -> Iterator[WriterEnv]:
    """The writer, with its bookkeeping checked (and repaired) after the test."""
    yield writer
    if bookkeeping_problems(writer):
        _repair(writer)
        assert not bookkeeping_problems(writer), "the bookkeeping could not be repaired"


def refused_as_reserved(outcome: Outcome, name: str) -> str | None:
    """Why ``outcome`` is not the expected refusal, or None."""
    if outcome.accepted:
        return "accepted"
    if outcome.code != "invalid_request":
        return f"refused as {outcome.code!r}, not invalid_request: {outcome.describe()}"
    if name.lower() not in outcome.text.lower():
        return f"the refusal does not name {name!r}: {outcome.describe()}"
    return None


def _assert_refused_and_intact(env: WriterEnv, results: dict[str, Outcome], name: str) -> None:
    findings = [f"{what}: {why}" for what, outcome in results.items()
                if (why := refused_as_reserved(outcome, name)) is not None]
    broken = bookkeeping_problems(env)
    if broken:
        findings.append(f"AFTERWARDS THE BOOKKEEPING IS BROKEN: {broken}")
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("name", RESERVED)
def test_create_tables_refuses_reserved_names(bk: WriterEnv, name: str) -> None:
    results: dict[str, Outcome] = {}
    for policy, value in POLICIES.items():
        table = bk.table(name)
        results[f"create-tables {name} if_exists={policy}"] = bk.peer.create_tables(
            [table], policy=value)
        results[f"create-tables {name} if_exists={policy} (resumed run)"] = \
            bk.peer.create_tables([table], policy=value, run_id=KEEP_RUN)
    _assert_refused_and_intact(bk, results, name)


@pytest.mark.parametrize("name", (CHUNKS, RUNS, "_BANI_FLIGHT_CHUNKS"))
def test_put_into_bookkeeping_is_refused(bk: WriterEnv, name: str) -> None:
    """A forged marker row (run-keep, chunk c2) sent straight into the markers table."""
    schema = pa.schema([("run_id", pa.string()), ("schema_name", pa.string()),
                        ("table_name", pa.string()), ("chunk_id", pa.string()),
                        ("rows", pa.int64())])
    forged = pa.record_batch([pa.array([KEEP_RUN]), pa.array([bk.schema]),
                              pa.array([KEEP_TABLE]), pa.array(["c2"]),
                              pa.array([999], pa.int64())], schema=schema)
    results = {f"do_put into {name}": bk.peer.put(bk.fresh("run"), bk.schema, name, "c1",
                                                  [forged], schema)}
    _assert_refused_and_intact(bk, results, name)


@pytest.mark.parametrize("name", (CHUNKS, RUNS, "_Bani_Flight_Runs"))
def test_indexes_foreign_keys_and_finalize_on_bookkeeping_are_refused(
    bk: WriterEnv, name: str
) -> None:
    table = bk.table(name)
    indexed = dataclasses.replace(table, indexes=(IndexDefinition("ix_bani_evil", ("run_id",)),))
    into = ForeignKeyDefinition("fk_bani_into", bk.schema, KEEP_TABLE, ("qty",), bk.schema,
                                name, ("run_id",))
    out_of = ForeignKeyDefinition("fk_bani_out", bk.schema, name, ("rows",), bk.schema,
                                  KEEP_TABLE, ("id",))
    results = {
        f"create-indexes on {name}": bk.peer.create_indexes([indexed]),
        f"create-foreign-keys referencing {name}": bk.peer.create_foreign_keys([into]),
        f"create-foreign-keys from {name}": bk.peer.create_foreign_keys([out_of]),
        f"finalize {name}": bk.peer.finalize([dataclasses.replace(table, identity_counter=5)]),
    }
    _assert_refused_and_intact(bk, results, name)


def test_names_that_only_look_alike_still_work(bk: WriterEnv) -> None:
    """Only the ``_bani_flight_`` prefix is reserved: near misses are ordinary tables."""
    for name in ("bani_flight_runs", "_bani_flightx", "x_bani_flight_runs"):
        outcome = bk.peer.create_tables([bk.table(name)], policy=IfExists.IF_EXISTS_DROP)
        assert outcome.accepted, f"{name}: {outcome.describe()}"
        bk.catalog.drop_tables([(bk.schema, name)])
    assert not bookkeeping_problems(bk)
