"""The writer's actions, from plan to finalize, in one table.

========================  =============================================================
``plan-tables``           the DDL each table would get and every lossy/refused column;
                          executes nothing; a target name given twice is refused
``begin-run``             store a run's chunk plan (same plan again = resume), or
                          return the stored plan of a run
``create-tables``         enum types, then tables under the if-exists policy (fail,
                          drop, truncate, append); on a resumed run, tables holding
                          committed chunks of that run are kept
``create-indexes``        secondary indexes, after the data
``create-foreign-keys``   foreign keys, after every table is loaded
``finalize``              identity / auto-increment / sequence counters
``chunks-done``           the committed chunks of a run
``table-stats``           row count and checksum of the target table, read back and
                          cast to the source's Arrow schema
``health``                version, security, allowed schemas, database readiness
========================  =============================================================

Every schema a request names (tables, foreign keys on both sides, enum types)
must be one of the writer's allowed schemas, checked before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
from google.protobuf.empty_pb2 import Empty
from pyarrow import flight

from bani.domain.schema import TableDefinition
from bani.errors import ChunkConflict, SchemaError, TableNotFound
from bani.logging import bind, get_logger
from bani.service.actions import ActionSpec
from bani.verify import ChecksumAccumulator
from bani.wire import (
    BeginRunRequest,
    BeginRunResult,
    ChunksDoneRequest,
    ChunksDoneResult,
    CreateForeignKeysRequest,
    CreateTablesRequest,
    CreateTablesResult,
    DoneResult,
    IfExists,
    PlanTablesRequest,
    PlanTablesResult,
    RunPlan,
    TableOutcome,
    TablesRequest,
    TableStatsRequest,
    TableStatsResult,
)
from bani.wire.codec import (
    arrow_schema_from_bytes,
    committed_chunk_to_proto,
    decode,
    enum_type_from_proto,
    foreign_key_from_proto,
    table_from_proto,
    table_plan_to_proto,
    table_ref,
    table_stats_to_proto,
)
from bani.wire.errors import InvalidRequest
from bani.wire.protocol import (
    ACTION_BEGIN_RUN,
    ACTION_CHUNKS_DONE,
    ACTION_CREATE_FOREIGN_KEYS,
    ACTION_CREATE_INDEXES,
    ACTION_CREATE_TABLES,
    ACTION_FINALIZE,
    ACTION_HEALTH,
    ACTION_PLAN_TABLES,
    ACTION_TABLE_STATS,
)
from bani.writer.chunks import (
    _ID,
    MAX_NAME_CHARS,
    check_allowed,
    check_name,
    check_table_names,
)

if TYPE_CHECKING:
    from bani.writer.server import WriterServer

__all__ = ["writer_actions"]

log = get_logger("bani.writer")


def _unique_targets(tables: Iterable[TableDefinition]) -> list[TableDefinition]:
    seen: dict[tuple[str, str], TableDefinition] = {}
    for table in tables:
        key = (table.schema_name, table.table_name)
        if key in seen:
            raise InvalidRequest(
                f"two tables would land on the same target table {table.schema_name}."
                f"{table.table_name}; map them to different names",
                schema=table.schema_name,
                table=table.table_name,
            )
        seen[key] = table
    return list(seen.values())


def _check_run_id(run_id: str) -> str:
    if not _ID.match(run_id):
        raise InvalidRequest(f"run id {run_id[:80]!r} is empty, too long or malformed",
                             setting="run_id")
    return run_id


def _plans_match(stored: RunPlan, offered: RunPlan) -> bool:
    return list(stored.tables) == list(offered.tables)


def writer_actions(server: WriterServer) -> list[ActionSpec]:
    """The writer's action table, bound to ``server``."""
    sink = server.sink
    allowed = server.allowed_schemas

    def tables_of(messages: Iterable[object]) -> list[TableDefinition]:
        tables = [table_from_proto(m) for m in messages]  # type: ignore[arg-type]
        for table in tables:
            check_table_names(table)
            check_allowed(table.schema_name, allowed, table.table_name)
            for fk in table.foreign_keys:
                check_allowed(fk.referenced_schema, allowed, fk.referenced_table)
        return tables

    def plan_tables(context: flight.ServerCallContext, request: PlanTablesRequest
                    ) -> PlanTablesResult:
        tables = _unique_targets(tables_of(request.tables))
        for enum in request.enum_types:
            check_allowed(enum.schema_name, allowed, enum.name)
        return PlanTablesResult(plans=[table_plan_to_proto(sink.plan_table(t)) for t in tables])

    def begin_run(context: flight.ServerCallContext, request: BeginRunRequest) -> BeginRunResult:
        run_id = _check_run_id(request.run_id)
        bind(run_id=run_id)
        stored_bytes = sink.load_run(run_id)
        stored = decode(RunPlan, stored_bytes, "the stored run plan") if stored_bytes else None
        if not request.HasField("plan"):
            if stored is None:
                raise InvalidRequest(f"the writer has no run {run_id!r}", setting="run_id")
            return BeginRunResult(resumed=True, plan=stored)
        plan = request.plan
        if plan.run_id != run_id:
            raise InvalidRequest(f"the plan is for run {plan.run_id!r}, not {run_id!r}")
        for planned in plan.tables:
            check_allowed(planned.target.schema, allowed, planned.target.table)
            ids = [c.chunk_id for c in planned.chunks]
            if len(set(ids)) != len(ids):
                raise InvalidRequest("a chunk id appears twice in the plan",
                                     table=planned.target.table)
        if stored is not None:
            if not _plans_match(stored, plan):
                raise ChunkConflict(
                    f"run {run_id!r} already has another chunk plan; resume it without a plan "
                    "or start a new run",
                )
            return BeginRunResult(resumed=True, plan=stored)
        sink.store_run(run_id, plan.SerializeToString(deterministic=True))
        log.info("run_begun", tables=len(plan.tables),
                 chunks=sum(len(t.chunks) for t in plan.tables))
        return BeginRunResult(resumed=False, plan=plan)

    def create_tables(context: flight.ServerCallContext, request: CreateTablesRequest
                      ) -> CreateTablesResult:
        tables = _unique_targets(tables_of(request.tables))
        enums = [enum_type_from_proto(e) for e in request.enum_types]
        for enum in enums:
            check_allowed(enum.schema_name, allowed, enum.name)
        policy = request.if_exists or IfExists.IF_EXISTS_FAIL
        resumed: set[tuple[str, str]] = set()
        if request.run_id:
            run_id = _check_run_id(request.run_id)
            resumed = {(c.schema_name, c.table_name) for c in sink.committed_chunks(run_id)}
        existing = {(t.schema_name, t.table_name): sink.table_exists(t.table_name, t.schema_name)
                    for t in tables}
        for key, exists in existing.items():
            if key in resumed and not exists:
                raise ChunkConflict(
                    f"run {request.run_id!r} has committed chunks in {key[0]}.{key[1]} but the "
                    "table is gone; start a new run",
                    schema=key[0], table=key[1],
                )
        if policy == IfExists.IF_EXISTS_FAIL:
            clashes = [f"{s}.{t}" for (s, t), exists in existing.items()
                       if exists and (s, t) not in resumed]
            if clashes:
                raise SchemaError(
                    f"the target already has {', '.join(clashes)} (if-exists policy is fail; "
                    "choose drop, truncate or append)",
                    schema=clashes[0].split(".", 1)[0],
                    table=clashes[0].split(".", 1)[1],
                )
        for schema_name in sorted({e.schema_name for e in enums}):
            sink.create_enum_types([e for e in enums if e.schema_name == schema_name],
                                   schema_name)
        outcomes: list[TableOutcome] = []
        try:
            for table in tables:
                key = (table.schema_name, table.table_name)
                bind(schema=table.schema_name, table=table.table_name)
                if key in resumed:
                    action = TableOutcome.RESUMED
                elif not existing[key]:
                    sink.create_table(table)
                    action = TableOutcome.CREATED
                elif policy == IfExists.IF_EXISTS_DROP:
                    sink.drop_table(table.table_name, table.schema_name)
                    sink.create_table(table)
                    action = TableOutcome.RECREATED
                elif policy == IfExists.IF_EXISTS_TRUNCATE:
                    sink.truncate_table(table.table_name, table.schema_name)
                    action = TableOutcome.TRUNCATED
                else:
                    action = TableOutcome.APPENDED
                outcomes.append(TableOutcome(table=table_ref(*key), action=action))
                log.info("table_prepared", action=TableOutcome.Action.Name(action).lower())
        finally:
            server.catalog.invalidate()
        return CreateTablesResult(tables=outcomes)

    def create_indexes(context: flight.ServerCallContext, request: TablesRequest) -> DoneResult:
        count = 0
        for table in tables_of(request.tables):
            bind(schema=table.schema_name, table=table.table_name)
            if table.indexes:
                sink.create_indexes(table.table_name, table.schema_name, table.indexes)
                count += len(table.indexes)
        return DoneResult(count=count)

    def create_foreign_keys(context: flight.ServerCallContext,
                            request: CreateForeignKeysRequest) -> DoneResult:
        fks = [foreign_key_from_proto(f) for f in request.foreign_keys]
        for fk in fks:
            for kind, name in (("foreign key", fk.name), ("table", fk.source_table),
                               ("table", fk.referenced_table)):
                check_name(kind, name, schema=fk.source_schema[:MAX_NAME_CHARS],
                           table=fk.source_table[:MAX_NAME_CHARS])
            for column in (*fk.source_columns, *fk.referenced_columns):
                check_name("column", column, table=fk.source_table[:MAX_NAME_CHARS])
            check_allowed(fk.source_schema, allowed, fk.source_table)
            check_allowed(fk.referenced_schema, allowed, fk.referenced_table)
        if fks:
            sink.create_foreign_keys(fks)
        return DoneResult(count=len(fks))

    def finalize(context: flight.ServerCallContext, request: TablesRequest) -> DoneResult:
        tables = tables_of(request.tables)
        for table in tables:
            bind(schema=table.schema_name, table=table.table_name)
            sink.finalize(table)
        return DoneResult(count=len(tables))

    def chunks_done(context: flight.ServerCallContext, request: ChunksDoneRequest
                    ) -> ChunksDoneResult:
        run_id = _check_run_id(request.run_id)
        return ChunksDoneResult(
            chunks=[committed_chunk_to_proto(c) for c in sink.committed_chunks(run_id)]
        )

    def table_stats(context: flight.ServerCallContext, request: TableStatsRequest
                    ) -> TableStatsResult:
        ref = request.table
        check_allowed(ref.schema, allowed, ref.table)
        bind(schema=ref.schema, table=ref.table)
        source_schema = arrow_schema_from_bytes(request.arrow_schema, "table-stats arrow_schema")
        if request.columns:
            unknown = [c for c in request.columns if c not in source_schema.names]
            if unknown:
                raise InvalidRequest(f"columns {unknown} are not in the given arrow_schema",
                                     table=ref.table, column=unknown[0])
            source_schema = pa.schema([source_schema.field(c) for c in request.columns],
                                      metadata=source_schema.metadata)
        reader = server.target_reader()
        if reader is None or not sink.table_exists(ref.table, ref.schema):
            raise TableNotFound(f"the target has no table {ref.schema}.{ref.table}",
                                schema=ref.schema, table=ref.table)
        accumulator = ChecksumAccumulator(source_schema)
        batches = reader.read_table(ref.table, ref.schema, columns=list(source_schema.names),
                                    batch_size=server.settings.batch_rows)
        for batch in _checked(batches, server, context):
            accumulator.update(batch)
        return TableStatsResult(table=ref, stats=table_stats_to_proto(accumulator.result()))

    def health(context: flight.ServerCallContext, request: Empty) -> object:
        return server.health_result(context)

    return [
        ActionSpec(ACTION_PLAN_TABLES, "the DDL each table would get and every lossy or "
                   "refused column; executes nothing (PlanTablesRequest -> PlanTablesResult)",
                   PlanTablesRequest, plan_tables),
        ActionSpec(ACTION_BEGIN_RUN, "store a run's chunk plan, or return a stored one "
                   "(BeginRunRequest -> BeginRunResult)", BeginRunRequest, begin_run),
        ActionSpec(ACTION_CREATE_TABLES, "create enum types and tables under an if-exists "
                   "policy (CreateTablesRequest -> CreateTablesResult)",
                   CreateTablesRequest, create_tables),
        ActionSpec(ACTION_CREATE_INDEXES, "create secondary indexes (TablesRequest -> "
                   "DoneResult)", TablesRequest, create_indexes),
        ActionSpec(ACTION_CREATE_FOREIGN_KEYS, "create foreign keys (CreateForeignKeysRequest "
                   "-> DoneResult)", CreateForeignKeysRequest, create_foreign_keys),
        ActionSpec(ACTION_FINALIZE, "set identity / sequence counters (TablesRequest -> "
                   "DoneResult)", TablesRequest, finalize),
        ActionSpec(ACTION_CHUNKS_DONE, "the committed chunks of a run (ChunksDoneRequest -> "
                   "ChunksDoneResult)", ChunksDoneRequest, chunks_done),
        ActionSpec(ACTION_TABLE_STATS, "row count and checksum of a target table read back "
                   "as the source's Arrow schema (TableStatsRequest -> TableStatsResult)",
                   TableStatsRequest, table_stats),
        ActionSpec(ACTION_HEALTH, "version, security, allowed schemas and database readiness "
                   "(-> HealthResult)", Empty, health),  # type: ignore[arg-type]
    ]


def _checked(batches: Iterable[pa.RecordBatch], server: WriterServer,
             context: flight.ServerCallContext) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        server.runtime.check(context, "table-stats")
        yield batch
