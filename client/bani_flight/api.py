"""The Python API: :class:`MigrationClient`, which the CLI is a thin shell around.

.. code-block:: python

    from bani_flight import MigrationClient, Selection

    with MigrationClient(
        "postgresql://app@db1:5432/shop",        # or "grpc+tls://reader:8815"
        "mysql://app@db2:3306/shop",             # or "grpc+tls://writer:8815"
        selection=Selection(exclude=("audit_*",)),
    ) as client:
        report = client.plan()                   # changes nothing
        result = client.migrate()                # -> MigrationResult
        assert result.ok, result.render()

A side given as a ``grpc://`` / ``grpc+tls://`` URI (or a
:class:`~bani_flight.config.ServiceSpec`) is a running service; a database DSN
(or a :class:`~bani_flight.config.DatabaseSpec`) makes the client start that
service in-process on loopback (:mod:`bani_flight.embedded`).  Either way the
same code path runs.

``migrate`` follows the order a resumable migration needs: select and plan
(nothing written yet: an unknown table, a refused column or an unreachable
service stops it here), store the run's chunk plan on the writer and locally,
create tables, transfer every chunk not yet committed, then indexes, foreign
keys, counters, and verification.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from bani.domain.arrow_fields import arrow_schema_for_table
from bani.domain.schema import DatabaseSchema, EnumTypeDefinition, TableDefinition
from bani.errors import (
    BaniError,
    ConfigurationError,
    SchemaError,
    TableNotFound,
    TypeNotRepresentable,
)
from bani.logging import bind, get_logger
from bani_flight.config import DatabaseSpec, Endpoint, ServiceSpec, TransferOptions
from bani_flight.connection import is_loopback, open_service, parse_flight_uri
from bani_flight.migration_file import MigrationFile, load_migration_file
from bani_flight.plan import (
    ColumnIssueView,
    PlanReport,
    TablePlanView,
    batch_rows_for,
    creation_order,
    target_definitions,
    target_enum_types,
    transfer_order,
)
from bani_flight.progress import Progress, ProgressMode, make_progress
from bani_flight.remote import HealthInfo, ReaderClient, WriterClient
from bani_flight.runs import PlannedChunk, PlannedTable, RunPlan, RunStore, new_run_id
from bani_flight.selection import SelectedTable, Selection, SourceTable, select_tables
from bani_flight.summary import MigrationResult, TableResult, VerifyResult
from bani_flight.transfer import ChunkJob, ChunkOutcome, TicketBook, Transferer
from bani_flight.verify import VerifyJob, verify_tables

__all__ = [
    "MigrationClient",
    "PingReport",
    "ServiceStatus",
    "TableInfo",
    "as_endpoint",
]

log = get_logger("bani_flight")

Side = str | Endpoint | ServiceSpec | DatabaseSpec


def as_endpoint(side: Side, *, role: str, insecure: bool = False) -> Endpoint:
    """An :class:`Endpoint` from a URI, a DSN or a spec (``grpc*://`` means a service)."""
    if isinstance(side, Endpoint):
        return side
    if isinstance(side, ServiceSpec):
        return Endpoint(service=side)
    if isinstance(side, DatabaseSpec):
        return Endpoint(database=side)
    if side.lower().startswith("grpc"):
        return Endpoint(service=ServiceSpec(uri=side, insecure=insecure))
    return Endpoint(database=DatabaseSpec(dsn=side))


@dataclass(frozen=True)
class ServiceStatus:
    """One service as ``ping`` sees it."""

    role: str
    uri: str
    embedded: bool
    health: HealthInfo
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        health = self.health
        return {
            "role": self.role,
            "uri": self.uri,
            "embedded": self.embedded,
            "latency_ms": round(self.seconds * 1000, 1),
            "service": health.service,
            "version": health.version,
            "wire_version": health.wire_version,
            "ready": health.ready,
            "dialect": health.dialect,
            "database": health.database,
            "tls": health.tls,
            "mutual_tls": health.mutual_tls,
            "auth": health.auth,
            "client_identity": health.client_identity,
            "filters_enabled": health.filters_enabled,
            "allowed_schemas": list(health.allowed_schemas),
            "default_schema": health.default_schema,
        }


@dataclass(frozen=True)
class PingReport:
    """``ping``: both services, reachable and ready or not."""

    services: tuple[ServiceStatus, ...]

    @property
    def ok(self) -> bool:
        return all(s.health.ready for s in self.services)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "services": [s.as_dict() for s in self.services]}

    def render(self) -> str:
        lines = []
        for s in self.services:
            h = s.health
            security = "mTLS" if h.mutual_tls else ("TLS" if h.tls else "plaintext")
            auth = "token" if h.auth else "no auth"
            where = "embedded" if s.embedded else s.uri
            lines.append(
                f"{s.role:<7} {where}  bani {h.version} ({h.wire_version})  {security}, {auth}  "
                f"{h.dialect} {h.database}  database {'ready' if h.ready else 'NOT READY'}  "
                f"{s.seconds * 1000:.0f} ms"
            )
            if s.role == "writer":
                lines.append(
                    f"        default schema {h.default_schema or '-'}; allowed: "
                    f"{', '.join(h.allowed_schemas) or h.default_schema or '-'}"
                )
            if s.role == "reader":
                lines.append(f"        filters {'enabled' if h.filters_enabled else 'disabled'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class TableInfo:
    """One table the reader serves (``tables``)."""

    schema_name: str
    table_name: str
    estimated_rows: int | None
    columns: int
    primary_key: tuple[str, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.table_name}" if self.schema_name else self.table_name


@dataclass
class _Session:
    """Open clients to both services (and the embedded services behind them)."""

    reader: ReaderClient
    writer: WriterClient | None
    reader_embedded: bool
    writer_embedded: bool
    stoppers: list[Any] = field(default_factory=list)
    _reader_health: HealthInfo | None = None
    _writer_health: HealthInfo | None = None

    def need_writer(self) -> WriterClient:
        if self.writer is None:
            raise ConfigurationError(
                "this command needs a target: --writer URI or --target DSN", setting="target"
            )
        return self.writer

    def reader_health(self) -> HealthInfo:
        if self._reader_health is None:
            self._reader_health = self.reader.health()
        return self._reader_health

    def writer_health(self) -> HealthInfo:
        if self._writer_health is None:
            self._writer_health = self.need_writer().health()
        return self._writer_health

    def close(self) -> None:
        self.reader.close()
        if self.writer is not None:
            self.writer.close()
        for stop in reversed(self.stoppers):
            stop()
        self.stoppers.clear()


@dataclass(frozen=True)
class _Prepared:
    """The selection resolved against the reader, mapped onto the writer."""

    schema: DatabaseSchema
    selected: tuple[SelectedTable, ...]
    definitions: tuple[TableDefinition, ...]
    enum_types: tuple[EnumTypeDefinition, ...]
    warnings: tuple[str, ...]

    def source_definition(self, sel: SelectedTable) -> TableDefinition:
        found = self.schema.get_table(sel.source.table_name, sel.source.schema_name)
        assert found is not None
        return found

    def target_definition(self, sel: SelectedTable) -> TableDefinition:
        return self.definitions[self.selected.index(sel)]


def _source_tables(schema: DatabaseSchema) -> list[SourceTable]:
    return [
        SourceTable(
            schema_name=t.schema_name,
            table_name=t.table_name,
            columns=tuple(c.name for c in t.columns),
            primary_key=t.primary_key,
            estimated_rows=t.row_count_estimate,
        )
        for t in schema.tables
    ]


class MigrationClient:
    """Plan, migrate, verify and resume a migration between a reader and a writer.

    ``source`` / ``target``: a Flight URI or :class:`ServiceSpec` (a running
    service), or a DSN or :class:`DatabaseSpec` (started in-process).
    ``target`` may be None for commands that only read (``tables``,
    ``schema``).  Use as a context manager, or call :meth:`close`: embedded
    services stop there.
    """

    def __init__(
        self,
        source: Side,
        target: Side | None = None,
        *,
        selection: Selection | None = None,
        options: TransferOptions | None = None,
        progress: Progress | ProgressMode = "none",
        runs_dir: str | None = None,
        insecure: bool = False,
        file_digest: str | None = None,
    ) -> None:
        self.source = as_endpoint(source, role="reader", insecure=insecure)
        self.target = (
            as_endpoint(target, role="writer", insecure=insecure) if target is not None else None
        )
        self.selection = selection or Selection()
        self.options = options or TransferOptions()
        self.progress = progress if isinstance(progress, Progress) else make_progress(progress)
        self.runs = RunStore(runs_dir)
        self.file_digest = file_digest
        self._session: _Session | None = None
        self._allowed_schemas: tuple[str, ...] = ()
        self._check_endpoints()

    @classmethod
    def from_file(
        cls,
        path: str,
        *,
        source: Side | None = None,
        target: Side | None = None,
        selection: Selection | None = None,
        options: Mapping[str, Any] | None = None,
        progress: Progress | ProgressMode = "none",
        runs_dir: str | None = None,
        insecure: bool = False,
    ) -> MigrationClient:
        """A client for a migration file; explicit arguments override what the file says."""
        spec: MigrationFile = load_migration_file(path)
        chosen_source = source if source is not None else spec.source
        chosen_target = target if target is not None else spec.target
        if chosen_source is None:
            raise ConfigurationError(
                f"{path} names no source: add [reader] or [source], or pass one",
                setting="source",
            )
        merged = {**spec.options, **(options or {})}
        return cls(
            chosen_source,
            chosen_target,
            selection=spec.selection.merged(selection) if selection else spec.selection,
            options=TransferOptions(**merged),
            progress=progress,
            runs_dir=runs_dir,
            insecure=insecure,
            file_digest=spec.digest,
        )

    # -- lifecycle ------------------------------------------------------------------

    def _check_endpoints(self) -> None:
        """Refuse unsafe URIs before anything connects (plaintext off loopback)."""
        for role, endpoint in (("reader", self.source), ("writer", self.target)):
            if endpoint is None or endpoint.service is None:
                continue
            target = parse_flight_uri(endpoint.service.uri, role=role)
            if not target.tls and not is_loopback(target.host) and not endpoint.service.insecure:
                raise ConfigurationError(
                    f"refusing a plaintext connection to the {role} at {target.host}: "
                    "use grpc+tls:// or pass --insecure if the network is trusted",
                    setting=role,
                )

    def __enter__(self) -> MigrationClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop embedded services."""
        if self._session is not None:
            session, self._session = self._session, None
            session.close()
        self.progress.close()

    def _allowed_target_schemas(self, run: RunPlan | None = None) -> tuple[str, ...]:
        if run is not None:
            return tuple(sorted({t.target_schema for t in run.tables if t.target_schema}))
        if self.selection.target_schema:
            return (self.selection.target_schema,)
        return tuple(sorted(set(self.selection.schema_map.values())))

    def _open(self, *, writer: bool, run: RunPlan | None = None) -> _Session:
        if self._session is not None and (self._session.writer is not None or not writer):
            return self._session
        if self._session is not None:
            self.close()
        stoppers: list[Any] = []
        try:
            reader_client, reader_embedded = self._connect("reader", self.source, stoppers, ())
            writer_client: WriterClient | None = None
            writer_embedded = False
            if writer and self.target is not None:
                allowed = self._allowed_target_schemas(run)
                client, writer_embedded = self._connect("writer", self.target, stoppers, allowed)
                assert isinstance(client, WriterClient)
                writer_client = client
        except BaseException:
            for stop in reversed(stoppers):
                stop()
            raise
        assert isinstance(reader_client, ReaderClient)
        self._session = _Session(
            reader=reader_client,
            writer=writer_client,
            reader_embedded=reader_embedded,
            writer_embedded=writer_embedded,
            stoppers=stoppers,
        )
        return self._session

    def _connect(
        self, role: str, endpoint: Endpoint, stoppers: list[Any], allowed: Sequence[str]
    ) -> tuple[ReaderClient | WriterClient, bool]:
        timeout = min(self.options.call_timeout_seconds, 600.0)
        kind = ReaderClient if role == "reader" else WriterClient
        if endpoint.service is not None:
            conn = open_service(endpoint.service, role=role)
            return kind(conn, timeout=timeout), False
        assert endpoint.database is not None
        from bani_flight.embedded import start_embedded

        service = start_embedded(role, endpoint.database, allowed_schemas=allowed)
        stoppers.append(service.stop)
        conn = open_service(service.spec, role=role, token=service.token)
        conn.label = f"the embedded {role} ({endpoint.database.describe()})"
        return kind(conn, timeout=timeout), True

    # -- shared steps -----------------------------------------------------------------

    def _prepare(self, session: _Session, *, need_writer: bool) -> _Prepared:
        schema = session.reader.schema()
        selected = select_tables(_source_tables(schema), self.selection)
        return self._prepare_selected(session, schema, selected, need_writer=need_writer)

    def _prepare_selected(
        self,
        session: _Session,
        schema: DatabaseSchema,
        selected: Sequence[SelectedTable],
        *,
        need_writer: bool,
    ) -> _Prepared:
        if any(s.filter for s in selected) and not session.reader_health().filters_enabled:
            raise ConfigurationError(
                f"the reader at {session.reader.uri} does not accept filters; start it with "
                "--enable-filters or drop the per-table filters",
                setting="filter",
            )
        default_schema = session.writer_health().default_schema if need_writer else ""
        definitions = {(t.schema_name, t.table_name): t for t in schema.tables}
        defs, warnings = target_definitions(selected, definitions, default_schema)
        enums = target_enum_types(schema.enum_types, selected, default_schema)
        placed = [
            replace(s, target_schema=s.target_schema or default_schema) for s in selected
        ]
        return _Prepared(
            schema=schema,
            selected=tuple(placed),
            definitions=tuple(defs),
            enum_types=tuple(enums),
            warnings=tuple(warnings),
        )

    # -- commands -------------------------------------------------------------------

    def ping(self) -> PingReport:
        """Reach both services: versions, TLS and auth state, database readiness."""
        session = self._open(writer=True)
        statuses = []
        pairs: list[tuple[str, ReaderClient | WriterClient, bool]] = [
            ("reader", session.reader, session.reader_embedded)
        ]
        if session.writer is not None:
            pairs.append(("writer", session.writer, session.writer_embedded))
        for role, client, embedded in pairs:
            started = time.perf_counter()
            health = client.health(timeout=15.0)
            statuses.append(
                ServiceStatus(role, client.uri, embedded, health, time.perf_counter() - started)
            )
        return PingReport(tuple(statuses))

    def tables(self) -> list[TableInfo]:
        """The tables the reader serves (after include/exclude), with row estimates."""
        session = self._open(writer=False)
        schema = session.reader.schema()
        chosen = self._filter_schema(schema)
        return [
            TableInfo(
                schema_name=t.schema_name,
                table_name=t.table_name,
                estimated_rows=t.row_count_estimate,
                columns=len(t.columns),
                primary_key=t.primary_key,
            )
            for t in chosen.tables
        ]

    def schema(self) -> DatabaseSchema:
        """The reader's description of the selected tables (columns, keys, indexes)."""
        session = self._open(writer=False)
        return self._filter_schema(session.reader.schema())

    def _filter_schema(self, schema: DatabaseSchema) -> DatabaseSchema:
        if not (self.selection.include or self.selection.exclude):
            return schema
        selected = select_tables(_source_tables(schema), self.selection)
        keep = {(s.source.schema_name, s.source.table_name) for s in selected}
        return replace(
            schema, tables=tuple(t for t in schema.tables if (t.schema_name, t.table_name) in keep)
        )

    def plan(self) -> PlanReport:
        """A dry run: target DDL, lossy and refused columns, estimates, chunks.  Changes nothing."""
        session = self._open(writer=True)
        writer = session.need_writer()
        prepared = self._prepare(session, need_writer=True)
        plans = writer.plan_tables(prepared.definitions, prepared.enum_types)
        by_target = {(p.schema_name, p.table_name): p for p in plans}
        views = []
        order = creation_order(prepared.definitions)
        for definition in order:
            index = prepared.definitions.index(definition)
            sel = prepared.selected[index]
            _, chunks = session.reader.chunks(
                sel.source.schema_name,
                sel.source.table_name,
                columns=sel.columns,
                filter_sql=sel.filter,
                batch_rows=self._batch_rows(prepared, sel),
                chunk_rows=self.options.chunk_rows,
            )
            table_plan = by_target.get((definition.schema_name, definition.table_name))
            views.append(
                TablePlanView(
                    source_table=sel.source.qualified_name,
                    target_table=sel.target_name,
                    estimated_rows=sel.source.estimated_rows,
                    chunks=len(chunks),
                    statements=table_plan.statements if table_plan else (),
                    issues=tuple(
                        ColumnIssueView(i.column, i.kind, i.reason)
                        for i in (table_plan.issues if table_plan else ())
                    ),
                )
            )
        return PlanReport(tables=tuple(views), warnings=prepared.warnings)

    def verify(self) -> VerifyResult:
        """Compare row counts and checksums of source and target for the selected tables."""
        session = self._open(writer=True)
        writer = session.need_writer()
        prepared = self._prepare(session, need_writer=True)
        jobs = [
            VerifyJob(
                source_schema=sel.source.schema_name,
                source_table=sel.source.table_name,
                target_schema=sel.target_schema,
                target_table=sel.target_table,
                arrow_schema=arrow_schema_for_table(
                    prepared.source_definition(sel), sel.columns
                ),
                columns=sel.columns,
                filter=sel.filter,
            )
            for sel in prepared.selected
        ]
        return verify_tables(session.reader, writer, jobs, parallel=self.options.parallel)

    # -- migrate -------------------------------------------------------------------------

    def _find_run(self, resume: str | None) -> RunPlan | None:
        if resume is not None:
            return self.runs.load(resume)
        if self.file_digest is not None:
            found = self.runs.unfinished_for_file(self.file_digest)
            if found is not None:
                log.info("resuming_run_of_file", run_id=found.run_id)
            return found
        return None

    def migrate(self, resume: str | None = None) -> MigrationResult:
        """Run (or, with ``resume``, finish) a migration; see the module docstring."""
        started = time.monotonic()
        run = self._find_run(resume)
        session = self._open(writer=True, run=run)
        writer = session.need_writer()
        from_writer = False
        if resume is not None and run is None:
            _, stored = writer.begin_run(resume, None)
            if not stored.run_id:
                raise ConfigurationError(
                    f"no run {resume!r}: neither {self.runs.path_for(resume)} nor the writer "
                    "knows it",
                    setting="resume",
                )
            run = RunPlan.from_proto(stored)
            from_writer = True
            self.runs.save(run)
        resumed = run is not None
        if run is not None:
            self.options = self._options_of(run)

        schemas: dict[tuple[str, str], pa.Schema] = {}
        if run is None:
            prepared = self._prepare(session, need_writer=True)
            self._refuse_unmappable(writer, prepared)
        else:
            prepared = self._prepare_run(session, run, from_writer=from_writer)
        tickets = TicketBook(
            session.reader,
            {
                (sel.source.schema_name, sel.source.table_name): self._batch_rows(prepared, sel)
                for sel in prepared.selected
            },
            self.options.chunk_rows,
        )
        if run is None:
            run = self._new_run(session, prepared, tickets, schemas)
        bind(run_id=run.run_id)
        log.info("run_started", run_id=run.run_id, resumed=resumed, tables=len(run.tables),
                 chunks=run.chunk_count)
        run = run.with_status("running")
        self.runs.save(run)
        try:
            return self._execute(session, writer, run, prepared, tickets, schemas, resumed,
                                 started)
        except BaseException as exc:
            current = self.runs.load(run.run_id) or run
            message = str(exc) if str(exc) else type(exc).__name__
            self.runs.save(current.with_status("failed", message))
            if isinstance(exc, Exception) and "create-tables" in current.phases_done:
                # Something is there to resume: the CLI names the run, and a Python
                # caller can read it too.
                exc.run_id = run.run_id  # type: ignore[attr-defined]
            raise

    def _batch_rows(self, prepared: _Prepared, sel: SelectedTable) -> int:
        """The batch size asked for: the user's, or about 2 MiB of this table's rows."""
        if self.options.batch_rows is not None:
            return self.options.batch_rows
        return batch_rows_for(arrow_schema_for_table(prepared.source_definition(sel), sel.columns))

    def _options_of(self, run: RunPlan) -> TransferOptions:
        """The options a resumed run must repeat (its plan's), the rest as given now."""
        settings = run.settings
        return replace(
            self.options,
            if_exists=settings.get("if_exists", self.options.if_exists),
            batch_rows=settings.get("batch_rows", self.options.batch_rows),
            chunk_rows=settings.get("chunk_rows", self.options.chunk_rows),
        )

    def _refuse_unmappable(self, writer: WriterClient, prepared: _Prepared) -> None:
        plans = writer.plan_tables(prepared.definitions, prepared.enum_types)
        refused = [
            f"{p.schema_name}.{p.table_name}.{i.column} ({i.reason})"
            for p in plans
            for i in p.refused
        ]
        if refused:
            first = next(p for p in plans if p.refused)
            raise TypeNotRepresentable(
                f"the target cannot hold {len(refused)} column(s): {'; '.join(refused)}; "
                "exclude them with a column subset or the tables with --exclude",
                table=first.table_name,
                column=first.refused[0].column,
            )
        for warning in prepared.warnings:
            log.warning("plan_warning", warning=warning)

    def _new_run(
        self,
        session: _Session,
        prepared: _Prepared,
        tickets: TicketBook,
        schemas: dict[tuple[str, str], pa.Schema],
    ) -> RunPlan:
        run_id = new_run_id()
        tables: list[PlannedTable] = []
        for sel in prepared.selected:
            stream_schema, chunks = session.reader.chunks(
                sel.source.schema_name,
                sel.source.table_name,
                columns=sel.columns,
                filter_sql=sel.filter,
                batch_rows=tickets.batch_rows.get(
                    (sel.source.schema_name, sel.source.table_name)
                ),
                chunk_rows=self.options.chunk_rows,
            )
            schemas[(sel.source.schema_name, sel.source.table_name)] = stream_schema
            planned_chunks = []
            seen: set[str] = set()
            for chunk in chunks:
                if chunk.chunk_id in seen or not chunk.chunk_id:
                    raise SchemaError(
                        f"the reader gave chunk id {chunk.chunk_id!r} twice or empty",
                        table=sel.source.table_name,
                    )
                seen.add(chunk.chunk_id)
                key = chunk.key_range
                planned_chunks.append(
                    PlannedChunk(
                        chunk_id=chunk.chunk_id,
                        key_column=key.column if key else None,
                        lower=key.lower if key else None,
                        upper=key.upper if key else None,
                        estimated_rows=chunk.estimated_rows,
                    )
                )
                tickets.issued[(sel.target_schema, sel.target_table, chunk.chunk_id)] = chunk
            tables.append(
                PlannedTable(
                    source_schema=sel.source.schema_name,
                    source_table=sel.source.table_name,
                    target_schema=sel.target_schema,
                    target_table=sel.target_table,
                    columns=sel.columns,
                    filter=sel.filter,
                    estimated_rows=sel.source.estimated_rows,
                    chunks=tuple(planned_chunks),
                )
            )
        run = RunPlan(
            run_id=run_id,
            created_at=time.time(),
            source=self._describe(self.source),
            target=self._describe(self.target),
            tables=tuple(tables),
            settings={
                "if_exists": self.options.if_exists,
                "batch_rows": self.options.batch_rows,
                "chunk_rows": self.options.chunk_rows,
            },
            file_digest=self.file_digest,
        )
        self.runs.save(run)
        session.need_writer().begin_run(run.run_id, run.to_proto())
        return run

    @staticmethod
    def _describe(endpoint: Endpoint | None) -> str:
        if endpoint is None:
            return ""
        if endpoint.service is not None:
            return endpoint.service.uri
        assert endpoint.database is not None
        return endpoint.database.describe()

    def _prepare_run(self, session: _Session, run: RunPlan, *, from_writer: bool) -> _Prepared:
        """A stored run's tables, checked against what the reader serves now."""
        if not from_writer:
            try:
                session.need_writer().begin_run(run.run_id, run.to_proto())
            except BaniError as exc:
                # The writer refuses a plan that differs from the one it stored.
                raise exc.with_context(setting="resume") from None
        schema = session.reader.schema()
        sources = {(t.schema_name, t.table_name): t for t in _source_tables(schema)}
        selected = []
        for table in run.tables:
            source = sources.get((table.source_schema, table.source_table))
            if source is None:
                raise TableNotFound(
                    f"run {run.run_id} moves {table.source_name}, which the reader no longer "
                    "serves",
                    schema=table.source_schema,
                    table=table.source_table,
                )
            selected.append(
                SelectedTable(
                    source=source,
                    target_schema=table.target_schema,
                    target_table=table.target_table,
                    columns=table.columns,
                    filter=table.filter,
                )
            )
        return self._prepare_selected(session, schema, selected, need_writer=True)

    def _execute(
        self,
        session: _Session,
        writer: WriterClient,
        run: RunPlan,
        prepared: _Prepared,
        tickets: TicketBook,
        schemas: dict[tuple[str, str], pa.Schema],
        resumed: bool,
        started: float,
    ) -> MigrationResult:
        progress = self.progress
        warnings = list(prepared.warnings)

        # 1. Tables.  A resumed run whose tables were created keeps them as they are
        #    (append): they hold exactly this run's committed chunks.
        progress.phase("create-tables", run_id=run.run_id)
        policy = "append" if "create-tables" in run.phases_done else self.options.if_exists
        with _step("create_tables", tables=len(prepared.definitions), policy=policy):
            outcomes = writer.create_tables(
                prepared.definitions, prepared.enum_types, policy, run.run_id
            )
        run = run.with_phase("create-tables")
        self.runs.save(run)

        # 2. Chunks not yet committed, largest tables first.
        committed = {
            (c.schema_name, c.table_name, c.chunk_id): c.rows
            for c in writer.chunks_done(run.run_id)
        }
        jobs: list[ChunkJob] = []
        for table in transfer_order(run.tables):
            pending = [
                c
                for c in table.chunks
                if (table.target_schema, table.target_table, c.chunk_id) not in committed
            ]
            progress.table_planned(
                table.source_name, table.estimated_rows, len(table.chunks), len(pending)
            )
            if resumed and pending:
                tickets.prefetch(table, pending)
            jobs.extend(ChunkJob(table, c) for c in pending)
        log.info("transfer_planned", chunks_pending=len(jobs), chunks_committed=len(committed))
        progress.phase("transfer", chunks=len(jobs), parallel=self.options.parallel)
        transferer = Transferer(
            session.reader,
            writer,
            run.run_id,
            tickets,
            progress,
            parallel=self.options.parallel,
            retries=self.options.retries,
            backoff_seconds=self.options.backoff_seconds,
            max_backoff_seconds=self.options.max_backoff_seconds,
            compression=self.options.compression,
        )
        moved = transferer.run(jobs)
        run = run.with_status("transferred")
        self.runs.save(run)

        # 3. Indexes, foreign keys, counters -- after the data, as the guide says.
        if "create-indexes" not in run.phases_done:
            progress.phase("create-indexes")
            with _step("create_indexes"):
                writer.create_indexes(prepared.definitions)
            run = run.with_phase("create-indexes")
            self.runs.save(run)
        if "create-foreign-keys" not in run.phases_done:
            progress.phase("create-foreign-keys")
            fks = [fk for d in prepared.definitions for fk in d.foreign_keys]
            with _step("create_foreign_keys", foreign_keys=len(fks)):
                if fks:
                    writer.create_foreign_keys(fks)
            run = run.with_phase("create-foreign-keys")
            self.runs.save(run)
        progress.phase("finalize")
        with _step("finalize"):
            writer.finalize(prepared.definitions)
        run = run.with_phase("finalize")
        self.runs.save(run)

        # 4. Verify.
        verification: dict[str, Any] = {}
        if self.options.verify:
            progress.phase("verify")
            skip = {}
            if self.options.if_exists == "append":
                for key, action in outcomes.items():
                    if action == "APPENDED":
                        for t in run.tables:
                            if (t.target_schema, t.target_table) == key:
                                skip[t.source_name] = "appended to rows already in the table"
            jobs_v = []
            for sel in prepared.selected:
                arrow_schema = schemas.get((sel.source.schema_name, sel.source.table_name))
                if arrow_schema is None:
                    arrow_schema = arrow_schema_for_table(
                        prepared.source_definition(sel), sel.columns
                    )
                jobs_v.append(
                    VerifyJob(
                        source_schema=sel.source.schema_name,
                        source_table=sel.source.table_name,
                        target_schema=sel.target_schema,
                        target_table=sel.target_table,
                        arrow_schema=arrow_schema,
                        columns=sel.columns,
                        filter=sel.filter,
                    )
                )
            with _step("verify", tables=len(jobs_v)):
                result = verify_tables(
                    session.reader, writer, jobs_v, parallel=self.options.parallel, skip=skip
                )
            verification = {t.source_table: t for t in result.tables}
            for name, reason in skip.items():
                warnings.append(f"{name} was not verified: {reason}")
        run = run.with_status("complete")
        self.runs.save(run)
        progress.phase("done")
        progress.close()
        return MigrationResult(
            run_id=run.run_id,
            resumed=resumed,
            tables=tuple(
                _table_result(t, moved, committed, verification.get(t.source_name))
                for t in run.tables
            ),
            seconds=time.monotonic() - started,
            verified=self.options.verify,
            run_file=str(self.runs.path_for(run.run_id)),
            warnings=tuple(warnings),
        )


@contextmanager
def _step(event: str, **fields: object) -> Iterator[None]:
    """Log one canonical line per migration step, with its duration."""
    started = time.monotonic()
    yield
    log.info(event, seconds=round(time.monotonic() - started, 3), **fields)


def _table_result(
    table: PlannedTable,
    moved: Sequence[ChunkOutcome],
    committed: Mapping[tuple[str, str, str], int],
    verification: Any,
) -> TableResult:
    mine = [o for o in moved if o.job.table is table]
    now = [o for o in mine if not o.already_committed]
    before = sum(
        1
        for c in table.chunks
        if (table.target_schema, table.target_table, c.chunk_id) in committed
    ) + sum(1 for o in mine if o.already_committed)
    seconds = (max(o.finished for o in now) - min(o.started for o in now)) if now else 0.0
    return TableResult(
        source_table=table.source_name,
        target_table=table.target_name,
        rows=sum(o.rows for o in now),
        bytes=sum(o.bytes for o in now),
        seconds=seconds,
        chunks_total=len(table.chunks),
        chunks_moved=len(now),
        chunks_skipped=before,
        verification=verification,
    )
