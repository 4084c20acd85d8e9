"""The PostgreSQL connector: a source and a sink speaking Arrow, over psycopg 3.

This module holds the lifecycle (connect, pool, disconnect), the error
boundary and the caches; the work is in ``schema_reader`` (bulk catalog
introspection), ``data_reader`` (``COPY ... TO STDOUT`` parsed by Arrow),
``data_writer`` (DDL, binary ``COPY ... FROM STDIN``, chunk markers,
counters) and ``type_mapper`` (the mapping, as data).

psycopg is imported when a connection is made, never when this module is
imported, so listing connectors works without the driver; a missing driver
is a :class:`~bani.errors.DriverMissing` naming the ``bani-flight[postgresql]``
extra.

Connection options (``ConnectionConfig.options``): ``schema`` is the target
schema for bookkeeping (and the default for foreign keys without one;
default ``public``), ``schemas`` a comma list of schemas a source serves
(default: every non-system schema), ``statement_timeout`` a session setting;
everything else (``sslmode``, ``sslrootcert``, ``connect_timeout`` ...) goes
to libpq unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from typing import TYPE_CHECKING, Any, ClassVar, Final

import pyarrow as pa
import structlog

from bani.connectors.base import Capabilities, SinkConnector, SourceConnector, TablePlan
from bani.domain.chunks import ChunkMarker, CommittedChunk, KeyRange
from bani.domain.project import ConnectionConfig
from bani.domain.schema import (
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import (
    ConnectionFailed,
    DriverMissing,
    ErrorContext,
    SchemaError,
    SchemaMismatch,
    TableNotFound,
)

if TYPE_CHECKING:
    import psycopg

    from bani.connectors.postgresql._copy_codec import TargetColumn
    from bani.connectors.postgresql._errors import Operation
    from bani.connectors.postgresql._pool import ConnectionSettings, Pool
    from bani.connectors.postgresql.data_reader import ReadableTable

__all__ = ["PostgreSQLConnector"]

log = structlog.get_logger(__name__)

_DIALECT: Final = "postgresql"
_EXTRA: Final = "bani-flight[postgresql]"


def _require_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise DriverMissing(
            f"the PostgreSQL connector needs psycopg 3; install it with pip install '{_EXTRA}'",
            connector=_DIALECT,
            setting="dialect",
        ) from exc


class PostgreSQLConnector(SourceConnector, SinkConnector):
    """Reads and writes PostgreSQL (9.6+ catalogs; tested on 15) as Arrow."""

    dialect: ClassVar[str] = _DIALECT
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect=_DIALECT,
        max_identifier_length=63,
        max_decimal_precision=1000,
        timestamp_precision=6,
        supports_unsigned=False,
        supports_schemas=True,
        transactional_ddl=True,
        atomic_chunks=True,
        bulk_path="copy_binary",
    )

    def __init__(self) -> None:
        self._pool: Pool | None = None
        self._settings: ConnectionSettings | None = None
        self._readable: dict[tuple[str, str], ReadableTable] = {}
        self._targets: dict[tuple[str, str], tuple[TargetColumn, ...]] = {}
        self._bookkeeping_ready = False
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    def connect(self, config: ConnectionConfig, pool_size: int = 1) -> None:
        """Open the pool and one connection now, so a bad setting fails here."""
        _require_driver()
        from bani.connectors.postgresql._pool import Pool, settings_from_config

        settings = settings_from_config(config)
        pool = Pool(settings, pool_size)
        with pool.connection():
            pass  # fail now, naming host:port/database, rather than on first use
        self.disconnect()
        self._settings, self._pool = settings, pool
        log.info("postgresql_connected", server=settings.describe(), pool_size=pool_size)

    def disconnect(self) -> None:
        """Close every pooled connection; safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        with self._lock:
            self._readable.clear()
            self._targets.clear()
            self._bookkeeping_ready = False

    def _require_pool(self) -> Pool:
        if self._pool is None:
            raise ConnectionFailed(
                "the PostgreSQL connector is not connected; call connect() first",
                connector=_DIALECT,
            )
        return self._pool

    @property
    def target_schema(self) -> str:
        """Where bookkeeping tables live (the ``schema`` option, default ``public``)."""
        return self._settings.target_schema if self._settings else "public"

    def _context(self, schema: str | None = None, table: str | None = None) -> ErrorContext:
        return ErrorContext(connector=_DIALECT, schema=schema, table=table)

    def _password(self) -> str | None:
        return self._settings.password if self._settings else None

    def _run(self, op: Operation, what: str, context: ErrorContext) -> AbstractContextManager[None]:
        """The error boundary: psycopg errors in the block become bani errors."""
        from bani.connectors.postgresql._errors import translating

        return translating(op, context, what=what, password=self._password())

    def ping(self) -> None:
        """One ``SELECT 1`` round trip on a pooled connection (readiness probe)."""
        with (
            self._run("read", "pinging PostgreSQL", self._context()),
            self._require_pool().connection() as conn,
        ):
            conn.execute("SELECT 1").fetchone()

    # -- source ------------------------------------------------------------------------

    def introspect_schema(self) -> DatabaseSchema:
        """Every selected table, in five catalog queries whatever the table count."""
        from bani.connectors.postgresql.schema_reader import read_schema

        pool = self._require_pool()
        schemas = self._settings.source_schemas if self._settings else None
        with self._run("schema", "reading the catalog", self._context()), pool.connection() as conn:
            database, readable = read_schema(conn, schemas)
        with self._lock:
            self._readable.update(readable)
        return database

    def _readable_table(self, table_name: str, schema_name: str) -> ReadableTable:
        key = (schema_name, table_name)
        with self._lock:
            cached = self._readable.get(key)
        if cached is not None:
            return cached
        from bani.connectors.postgresql.schema_reader import read_schema

        context = self._context(schema_name, table_name)
        with (
            self._run("schema", "reading the catalog", context),
            self._require_pool().connection() as conn,
        ):
            _, readable = read_schema(conn, [schema_name], [table_name])
        found = readable.get(key)
        if found is None:
            raise TableNotFound(
                f"table {schema_name}.{table_name} does not exist (or is not a table)", context
            )
        with self._lock:
            self._readable[key] = found
        return found

    def read_table(
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None = None,
        filter_sql: str | None = None,
        batch_size: int = 100_000,
        key_range: KeyRange | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream a table or one chunk of it in a read-only transaction.

        Batches have exactly ``batch_size`` rows (the last may have fewer) and
        the Arrow types ``introspect_schema`` reports; memory is bounded by
        about two batches.
        """
        from bani.connectors.postgresql.data_reader import (
            build_copy_query,
            build_wire_plan,
            stream_batches,
        )

        readable = self._readable_table(table_name, schema_name)
        plan = build_wire_plan(readable, columns)
        query = build_copy_query(plan, readable.table, filter_sql, key_range)
        context = self._context(schema_name, table_name)
        pool = self._require_pool()

        def generate() -> Iterator[pa.RecordBatch]:
            with (
                self._run("read", f"reading {schema_name}.{table_name}", context),
                pool.connection() as conn,
            ):
                yield from stream_batches(conn, plan, query, batch_size, context)

        return generate()

    def key_bounds(
        self, table_name: str, schema_name: str, column: str, filter_sql: str | None = None
    ) -> tuple[int | None, int | None, int]:
        """``min``, ``max`` and ``count(*)`` of an integer key in one read-only statement."""
        from psycopg import sql

        readable = self._readable_table(table_name, schema_name)
        context = self._context(schema_name, table_name)
        if column not in {c.name for c in readable.table.columns}:
            raise SchemaMismatch(
                f"table {schema_name}.{table_name} has no column {column!r}", context, column=column
            )
        key = sql.Identifier(column)
        query = sql.SQL("SELECT min({key}), max({key}), count(*) FROM {table}{where}").format(
            key=key,
            table=sql.Identifier(schema_name, table_name),
            where=sql.SQL(" WHERE ({})").format(sql.SQL(filter_sql)) if filter_sql else sql.SQL(""),
        )
        with (
            self._run("read", f"reading key bounds of {schema_name}.{table_name}", context),
            self._require_pool().connection() as conn,
            conn.transaction(),
        ):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute(query).fetchone()
        low, high, rows = row if row is not None else (None, None, 0)
        return (
            None if low is None else int(low),
            None if high is None else int(high),
            int(rows),
        )

    def estimate_row_count(self, table_name: str, schema_name: str) -> int:
        """``reltuples``; for a never-analysed table the planner's estimate (from its size)."""
        from psycopg import sql

        context = self._context(schema_name, table_name)
        with (
            self._run("schema", "estimating rows", context),
            self._require_pool().connection() as conn,
        ):
            row = conn.execute(
                "SELECT c.reltuples::float8, c.relkind FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
                (schema_name, table_name),
            ).fetchone()
            if row is None:
                raise TableNotFound(f"table {schema_name}.{table_name} does not exist", context)
            reltuples, relkind = row
            if reltuples >= 0 and relkind == "r":
                return round(float(reltuples))
            plan = conn.execute(
                sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {}").format(
                    sql.Identifier(schema_name, table_name)
                )
            ).fetchone()
        rows: int = plan[0][0]["Plan"]["Plan Rows"] if plan else 0
        return int(rows)

    # -- sink: DDL ---------------------------------------------------------------------

    def plan_table(self, table_def: TableDefinition) -> TablePlan:
        """The CREATE TABLE ``create_table`` would run, and every lossy column; runs nothing."""
        from bani.connectors.postgresql.data_writer import plan_table

        return plan_table(table_def)

    def create_table(self, table_def: TableDefinition) -> None:
        """Create the table with its primary key (indexes and FKs come after the data)."""
        from bani.connectors.postgresql.data_writer import (
            ensure_schema,
            plan_statements,
            raise_if_refused,
            use_schema,
        )

        plan, statements = plan_statements(table_def)
        raise_if_refused(plan)
        for issue in plan.issues:
            log.warning(
                "column_issue",
                table=table_def.qualified_name,
                column=issue.column,
                kind=issue.kind,
                reason=issue.reason,
            )
        context = self._context(table_def.schema_name, table_def.table_name)
        with (
            self._run("schema", f"creating {table_def.qualified_name}", context),
            self._require_pool().connection() as conn,
            conn.transaction(),
        ):
            ensure_schema(conn, table_def.schema_name)
            use_schema(conn, table_def.schema_name)
            for statement in statements:
                conn.execute(statement)
        self._forget_target(table_def.schema_name, table_def.table_name)

    def create_enum_types(self, enum_types: Sequence[EnumTypeDefinition], schema_name: str) -> None:
        """CREATE TYPE ... AS ENUM in ``schema_name``; an identical existing type is kept."""
        from psycopg import sql

        from bani.connectors.postgresql.data_writer import ensure_schema

        context = self._context(schema_name)
        with (
            self._run("schema", "creating enum types", context),
            self._require_pool().connection() as conn,
            conn.transaction(),
        ):
            ensure_schema(conn, schema_name)
            for enum in enum_types:
                row = conn.execute(
                    "SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)"
                    " FROM pg_catalog.pg_type t"
                    " JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
                    " JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid"
                    " WHERE n.nspname = %s AND t.typname = %s",
                    (schema_name, enum.name),
                ).fetchone()
                existing = tuple(row[0]) if row and row[0] is not None else None
                if existing == enum.labels:
                    continue
                if existing is not None:
                    raise SchemaError(
                        f"enum type {schema_name}.{enum.name} exists with labels "
                        f"{list(existing)}, not {list(enum.labels)}",
                        context,
                    )
                conn.execute(
                    sql.SQL("CREATE TYPE {} AS ENUM ({})").format(
                        sql.Identifier(schema_name, enum.name),
                        sql.SQL(", ").join(sql.Literal(label) for label in enum.labels),
                    )
                )

    def table_exists(self, table_name: str, schema_name: str) -> bool:
        from bani.connectors.postgresql.data_writer import table_exists

        context = self._context(schema_name, table_name)
        with (
            self._run("schema", "looking up a table", context),
            self._require_pool().connection() as conn,
        ):
            return table_exists(conn, schema_name, table_name)

    def drop_table(self, table_name: str, schema_name: str) -> None:
        """DROP TABLE without CASCADE, and its chunk markers, in one transaction.

        A table other objects depend on (a foreign key, a view) is not dropped:
        the error names the dependency.
        """
        from bani.connectors.postgresql.data_writer import drop_table

        context = self._context(schema_name, table_name)
        with (
            self._run("schema", f"dropping {schema_name}.{table_name}", context),
            self._require_pool().connection() as conn,
        ):
            drop_table(conn, self.target_schema, schema_name, table_name)
        self._forget_target(schema_name, table_name)

    def truncate_table(self, table_name: str, schema_name: str) -> None:
        """TRUNCATE without CASCADE, and the table's chunk markers, in one transaction."""
        from bani.connectors.postgresql.data_writer import truncate_table

        context = self._context(schema_name, table_name)
        with (
            self._run("schema", f"truncating {schema_name}.{table_name}", context),
            self._require_pool().connection() as conn,
        ):
            truncate_table(conn, self.target_schema, schema_name, table_name)

    def create_indexes(
        self, table_name: str, schema_name: str, indexes: Sequence[IndexDefinition]
    ) -> None:
        from bani.connectors.postgresql.data_writer import create_indexes

        context = self._context(schema_name, table_name)
        with (
            self._run("schema", f"indexing {schema_name}.{table_name}", context),
            self._require_pool().connection() as conn,
        ):
            create_indexes(conn, schema_name, table_name, indexes)

    def create_foreign_keys(self, fks: Sequence[ForeignKeyDefinition]) -> None:
        from bani.connectors.postgresql.data_writer import create_foreign_keys

        with (
            self._run("schema", "adding foreign keys", self._context()),
            self._require_pool().connection() as conn,
        ):
            create_foreign_keys(conn, fks, self.target_schema)

    def execute_sql(self, sql: str) -> None:
        """Run one trusted statement in autocommit (operators' hooks)."""
        with (
            self._run("schema", "executing SQL", self._context()),
            self._require_pool().connection() as conn,
        ):
            conn.execute(sql)

    # -- sink: data ---------------------------------------------------------------------

    def _forget_target(self, schema: str, table: str) -> None:
        with self._lock:
            self._targets.pop((schema, table), None)

    def _target_columns(
        self, conn: psycopg.Connection[Any], schema: str, table: str
    ) -> tuple[TargetColumn, ...]:
        from bani.connectors.postgresql.data_writer import target_columns

        key = (schema, table)
        with self._lock:
            cached = self._targets.get(key)
        if cached is not None:
            return cached
        found = target_columns(conn, schema, table)
        if not found:
            raise TableNotFound(
                f"table {schema}.{table} does not exist on the target",
                self._context(schema, table),
            )
        with self._lock:
            self._targets[key] = found
        return found

    def write_batch(self, table_name: str, schema_name: str, batch: pa.RecordBatch) -> int:
        """Write one batch in its own transaction (no marker); returns its rows."""
        from bani.connectors.postgresql.data_writer import write_batches

        context = self._context(schema_name, table_name)
        with (
            self._run("write", f"writing {schema_name}.{table_name}", context),
            self._require_pool().connection() as conn,
        ):
            targets = self._target_columns(conn, schema_name, table_name)
            with conn.transaction():
                return write_batches(conn, schema_name, table_name, [batch], targets, context)

    def _ensure_bookkeeping(self) -> None:
        if self._bookkeeping_ready:
            return
        import psycopg

        from bani.connectors.postgresql.data_writer import ensure_bookkeeping

        with self._lock:
            if self._bookkeeping_ready:
                return
            context = self._context(self.target_schema)
            # Another process may create them at the same moment: its tables will do.
            with (
                self._run("schema", "creating bookkeeping tables", context),
                self._require_pool().connection() as conn,
                suppress(psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable),
            ):
                ensure_bookkeeping(conn, self.target_schema)
            self._bookkeeping_ready = True

    def write_chunk(
        self,
        table_name: str,
        schema_name: str,
        batches: Iterable[pa.RecordBatch],
        marker: ChunkMarker,
    ) -> int:
        """Write a chunk and its marker in one transaction; returns its row count.

        A chunk whose marker exists writes nothing and returns the recorded
        count (``batches`` is not consumed).  If ``batches`` raises, or a write
        fails, nothing of the chunk remains and the error propagates.  Two
        writers racing on the same chunk: the second one's marker insert
        conflicts, its transaction rolls back, and it returns the first one's
        count.
        """
        import psycopg

        from bani.connectors.postgresql import data_writer

        self._ensure_bookkeeping()
        context = ErrorContext(
            connector=_DIALECT, schema=schema_name, table=table_name, chunk_id=marker.chunk_id
        )
        pool = self._require_pool()
        with (
            self._run(
                "write", f"writing chunk {marker.chunk_id} of {schema_name}.{table_name}", context
            ),
            pool.connection() as conn,
        ):
            targets = self._target_columns(conn, schema_name, table_name)
            try:
                return data_writer.write_chunk(
                    conn,
                    self.target_schema,
                    schema_name,
                    table_name,
                    batches,
                    marker,
                    targets,
                    context,
                )
            except psycopg.errors.UniqueViolation:
                # Another writer of the same chunk committed first: its rows
                # collide with ours, or its marker does.  Ours rolled back;
                # if its marker is there, the chunk is done.
                recorded = data_writer.read_marker(
                    conn, self.target_schema, schema_name, table_name, marker
                )
                if recorded is None:
                    raise
                return recorded

    def committed_chunks(self, run_id: str) -> tuple[CommittedChunk, ...]:
        from bani.connectors.postgresql.data_writer import committed_chunks

        with (
            self._run("schema", "listing committed chunks", self._context()),
            self._require_pool().connection() as conn,
        ):
            return committed_chunks(conn, self.target_schema, run_id)

    def store_run(self, run_id: str, plan: bytes) -> None:
        from bani.connectors.postgresql.data_writer import store_run

        self._ensure_bookkeeping()
        with (
            self._run("schema", f"storing run {run_id}", self._context()),
            self._require_pool().connection() as conn,
        ):
            store_run(conn, self.target_schema, run_id, plan)

    def load_run(self, run_id: str) -> bytes | None:
        from bani.connectors.postgresql.data_writer import load_run

        with (
            self._run("schema", f"loading run {run_id}", self._context()),
            self._require_pool().connection() as conn,
        ):
            return load_run(conn, self.target_schema, run_id)

    def finalize(self, table_def: TableDefinition) -> None:
        """Move identity/serial sequences to ``max(source counter, max(col) + 1)``."""
        from bani.connectors.postgresql.data_writer import finalize

        context = self._context(table_def.schema_name, table_def.table_name)
        with (
            self._run("schema", f"finalizing {table_def.qualified_name}", context),
            self._require_pool().connection() as conn,
        ):
            finalize(conn, table_def)
