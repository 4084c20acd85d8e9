"""``MySQLConnector``: MySQL and MariaDB as a source and as a sink.

Registered as ``mysql`` and ``mariadb``.  pymysql is imported when the
connector connects, never at import time, and a missing driver is a
:class:`~bani.errors.DriverMissing` naming ``bani-flight[mysql]``.

For MySQL a *schema* is a database.  A source introspects the connected
database (option ``schemas`` may list more) and reports each table's
``schema_name`` as its database.  A sink writes into the database named by
the ``schema_name`` argument (the target schema the caller chose; empty means
the connected one); the bookkeeping tables ``_bani_flight_chunks`` and
``_bani_flight_runs`` live in the *connected* database.

DDL commits implicitly in MySQL, so the table-level operations that touch
markers order their steps so a crash between them errs on the side of
re-copying rather than skipping: ``drop_table`` and ``truncate_table``
delete the table's markers (one committed transaction) *before* dropping or
truncating; a crash in between leaves a table whose chunks are all written
again, never a marker that vouches for rows that are gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Final

import pyarrow as pa
import structlog

from bani.connectors.base import Capabilities, SinkConnector, SourceConnector, TablePlan
from bani.connectors.mysql._connection import (
    CONNECTOR,
    ConnectionPool,
    ServerInfo,
    driver_errors,
    import_pymysql,
)
from bani.connectors.mysql._ddl import (
    foreign_key_statements,
    plan_indexes,
    plan_table,
)
from bani.connectors.mysql._options import KNOWN_OPTIONS, MySQLOptions, parse_options
from bani.connectors.mysql._sql import qualified, quote_ident
from bani.connectors.mysql.data_reader import TableReader, ZeroDateCounter
from bani.connectors.mysql.data_writer import TableWriter
from bani.connectors.mysql.schema_reader import DIALECT, SchemaReader
from bani.connectors.mysql.type_mapper import MySQLTypeMapper, parse_column_type
from bani.domain.chunks import ChunkMarker, CommittedChunk, KeyRange
from bani.domain.project import ConnectionConfig
from bani.domain.schema import (
    ColumnDefinition,
    DatabaseSchema,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import (
    ConfigurationError,
    SchemaError,
    TableNotFound,
    TypeNotRepresentable,
)

__all__ = ["MySQLConnector"]

log = structlog.get_logger(__name__)

_TEMPORAL: Final = frozenset({"date", "datetime", "timestamp"})


class MySQLConnector(SourceConnector, SinkConnector):
    """MySQL 5.7/8 and MariaDB 10.x through pymysql (and connectorx for bulk reads)."""

    dialect: ClassVar[str] = DIALECT
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect=DIALECT,
        max_identifier_length=64,
        max_decimal_precision=65,
        timestamp_precision=6,
        supports_unsigned=True,
        supports_schemas=True,
        transactional_ddl=False,
        atomic_chunks=True,
        bulk_path="load_data",
    )

    def __init__(self) -> None:
        self._config: ConnectionConfig | None = None
        self._options = MySQLOptions()
        self._pool: ConnectionPool | None = None
        self._mapper = MySQLTypeMapper()
        self._reader: TableReader | None = None
        self._writer: TableWriter | None = None
        self._zero_dates = ZeroDateCounter()
        self._tables: dict[tuple[str, str], TableDefinition] = {}

    # -- lifecycle -------------------------------------------------------------------

    def connect(self, config: ConnectionConfig, pool_size: int = 1) -> None:
        """Validate options, open one connection now (bad settings fail here), pool the rest.

        Errors name ``host:port/database``, never the password.
        """
        if config.dialect.lower() not in ("mysql", "mariadb"):
            raise ConfigurationError(
                f"the MySQL connector cannot connect to a {config.dialect!r} database",
                connector=CONNECTOR,
                setting="dialect",
            )
        import_pymysql()
        options = parse_options(config.options)
        unknown = sorted(set(config.options) - KNOWN_OPTIONS)
        if unknown:
            log.info("mysql_options_ignored", options=unknown)
        username = config.resolve_username()
        password = config.resolve_password()
        self.disconnect()
        pool = ConnectionPool(config, options, pool_size, password=password, username=username)
        pool.open_first()
        self._config = config
        self._options = options
        self._pool = pool
        self._mapper = MySQLTypeMapper(tinyint1=options.tinyint1, time_as=options.time_as)
        self._reader = TableReader(
            config=config,
            options=options,
            pool=pool,
            mapper=self._mapper,
            zero_dates=self._zero_dates,
            username=username,
            password=password,
        )
        self._writer = TableWriter(config=config, options=options, pool=pool)
        self._tables = {}
        log.debug(
            "mysql_connected",
            database=config.describe(),
            server=self.server.version_text,
            pool_size=pool_size,
            read_driver=self._reader.transport,
        )

    def disconnect(self) -> None:
        """Close every pooled connection and the writer's temp directory; safe twice."""
        if self._writer is not None:
            self._writer.close()
        if self._pool is not None:
            self._pool.close()
        self._pool = None
        self._reader = None
        self._writer = None

    # -- accessors ---------------------------------------------------------------------

    def _require(self) -> tuple[ConnectionConfig, ConnectionPool]:
        if self._config is None or self._pool is None:
            raise ConfigurationError(
                "the MySQL connector is not connected; call connect() first", connector=CONNECTOR
            )
        return self._config, self._pool

    @property
    def server(self) -> ServerInfo:
        """The server's flavour and version (from the handshake)."""
        _, pool = self._require()
        assert pool.server is not None
        return pool.server

    @property
    def read_transport(self) -> str:
        """``connectorx`` or ``pymysql``: how ``read_table`` streams."""
        self._require()
        assert self._reader is not None
        return self._reader.transport

    @property
    def uses_load_data(self) -> bool:
        """False once the server refused ``LOAD DATA LOCAL`` and writes fell back to INSERT."""
        self._require()
        assert self._writer is not None
        return self._writer.uses_load_data

    def zero_date_counts(self) -> dict[tuple[str, str, str], int]:
        """Zero dates read as NULL so far, per (schema, table, column)."""
        return self._zero_dates.snapshot()

    def quote_identifier(self, name: str) -> str:
        return quote_ident(name)

    def _schema(self, schema_name: str | None) -> str:
        config, _ = self._require()
        schema = schema_name or config.database
        if not schema:
            raise ConfigurationError(
                "no database given: pass a schema name or connect to a database",
                connector=CONNECTOR,
                setting="database",
            )
        return schema

    def _introspected_schemas(self) -> list[str]:
        config, _ = self._require()
        schemas = list(self._options.schemas) or ([config.database] if config.database else [])
        if not schemas:
            raise ConfigurationError(
                "nothing to introspect: connect to a database or set the option schemas",
                connector=CONNECTOR,
                setting="schemas",
            )
        return schemas

    # -- source ------------------------------------------------------------------------

    def _relax_zero_dates(self, table: TableDefinition) -> TableDefinition:
        """Under ``zero_date=null`` a NOT NULL date column can still yield NULL: say so."""
        if self._options.zero_date != "null":
            return table
        changed = False
        columns: list[ColumnDefinition] = []
        for column in table.columns:
            if not column.nullable and parse_column_type(column.data_type).name in _TEMPORAL:
                columns.append(replace(column, nullable=True))
                changed = True
            else:
                columns.append(column)
        return replace(table, columns=tuple(columns)) if changed else table

    def _read_tables(
        self, schemas: Sequence[str], table: str | None = None
    ) -> list[TableDefinition]:
        config, pool = self._require()
        reader = SchemaReader(self._mapper, self.server)
        with (
            pool.lease() as lease,
            driver_errors("schema", config, secrets=pool.secrets, table=table),
            lease.conn.cursor() as cur,
        ):
            tables = reader.read(cur, schemas, table)
        result = [self._relax_zero_dates(t) for t in tables]
        for t in result:
            self._tables[(t.schema_name, t.table_name)] = t
        return result

    def introspect_schema(self) -> DatabaseSchema:
        """Every base table of the introspected databases, in five catalog queries."""
        tables = self._read_tables(self._introspected_schemas())
        return DatabaseSchema(tables=tuple(tables), source_dialect=DIALECT)

    def _table(self, table_name: str, schema_name: str) -> TableDefinition:
        schema = self._schema(schema_name)
        cached = self._tables.get((schema, table_name))
        if cached is not None:
            return cached
        found = self._read_tables([schema], table_name)
        if not found:
            raise TableNotFound(
                f"no table {schema}.{table_name}",
                connector=CONNECTOR,
                schema=schema,
                table=table_name,
            )
        return found[0]

    def read_table(
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None = None,
        filter_sql: str | None = None,
        batch_size: int = 100_000,
        key_range: KeyRange | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream the table (or chunk) in a read-only consistent snapshot.

        Batches have at most ``batch_size`` rows and the Arrow types
        ``introspect_schema`` reports, with ``bani.*`` field metadata.
        """
        self._require()
        table = self._table(table_name, schema_name)
        assert self._reader is not None
        return self._reader.stream(table, columns, filter_sql, batch_size, key_range)

    def ping(self) -> None:
        """One ``SELECT 1`` round trip on a pooled connection."""
        config, pool = self._require()
        with (
            pool.lease() as lease,
            driver_errors("read", config, secrets=pool.secrets),
            lease.conn.cursor() as cur,
        ):
            cur.execute("SELECT 1")
            cur.fetchone()

    def key_bounds(
        self, table_name: str, schema_name: str, column: str, filter_sql: str | None = None
    ) -> tuple[int | None, int | None, int]:
        """``MIN``, ``MAX`` and ``COUNT(*)`` of the key in one statement (index lookups)."""
        config, pool = self._require()
        table = self._table(table_name, schema_name)
        if column not in {c.name for c in table.columns}:
            raise SchemaError(
                f"no column {column!r} in {table.schema_name}.{table_name}",
                connector=CONNECTOR,
                schema=table.schema_name,
                table=table_name,
                column=column,
            )
        key = quote_ident(column)
        sql = (
            f"SELECT MIN({key}), MAX({key}), COUNT(*) FROM "  # noqa: S608 (quoted identifiers)
            + qualified(table.schema_name, table_name)
            + (f" WHERE ({filter_sql})" if filter_sql else "")
        )
        with (
            pool.lease() as lease,
            driver_errors(
                "read", config, secrets=pool.secrets, schema=table.schema_name, table=table_name
            ),
            lease.conn.cursor() as cur,
        ):
            cur.execute(sql)
            row = cur.fetchone()
        low, high, rows = row if row is not None else (None, None, 0)
        return (
            None if low is None else int(low),
            None if high is None else int(high),
            int(rows),
        )

    def estimate_row_count(self, table_name: str, schema_name: str) -> int:
        """InnoDB's statistics estimate (``information_schema.TABLES.TABLE_ROWS``)."""
        config, pool = self._require()
        schema = self._schema(schema_name)
        with (
            pool.lease() as lease,
            driver_errors("read", config, secrets=pool.secrets, schema=schema, table=table_name),
            lease.conn.cursor() as cur,
        ):
            cur.execute(
                "SELECT TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, table_name),
            )
            row = cur.fetchone()
        if row is None:
            raise TableNotFound(
                f"no table {schema}.{table_name}",
                connector=CONNECTOR,
                schema=schema,
                table=table_name,
            )
        return int(row[0] or 0)

    # -- sink: DDL ---------------------------------------------------------------------

    def plan_table(self, table_def: TableDefinition) -> TablePlan:
        """The ``CREATE TABLE`` and every lossy, refused or default-dropped column; runs nothing."""
        schema = table_def.schema_name or (self._config.database if self._config else "") or ""
        return plan_table(table_def, self._mapper, schema)

    def create_table(self, table_def: TableDefinition) -> None:
        """Create the table (columns, primary key, same-dialect CHECKs) as ``plan_table`` says."""
        config, pool = self._require()
        schema = self._schema(table_def.schema_name)
        plan = plan_table(table_def, self._mapper, schema)
        if plan.refused:
            first = plan.refused[0]
            raise TypeNotRepresentable(
                "cannot create the table: "
                + "; ".join(f"{i.column}: {i.reason}" for i in plan.refused),
                connector=CONNECTOR,
                schema=schema,
                table=table_def.table_name,
                column=first.column if first.column != "*" else None,
            )
        for issue in plan.issues:
            log.warning(
                "mysql_column_issue",
                table=table_def.table_name,
                column=issue.column,
                kind=issue.kind,
                reason=issue.reason,
            )
        with (
            pool.lease() as lease,
            driver_errors(
                "ddl", config, secrets=pool.secrets, schema=schema, table=table_def.table_name
            ),
            lease.conn.cursor() as cur,
        ):
            for statement in plan.statements:
                cur.execute(statement)
        self._forget(schema, table_def.table_name)

    def _forget(self, schema: str, table: str) -> None:
        self._tables.pop((schema, table), None)
        if self._writer is not None:
            self._writer.forget_table(schema, table)

    def table_exists(self, table_name: str, schema_name: str) -> bool:
        config, pool = self._require()
        schema = self._schema(schema_name)
        with (
            pool.lease() as lease,
            driver_errors("schema", config, secrets=pool.secrets, schema=schema, table=table_name),
            lease.conn.cursor() as cur,
        ):
            cur.execute(
                "SELECT 1 FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, table_name),
            )
            return cur.fetchone() is not None

    def _table_ddl(self, table_name: str, schema: str, statement: str) -> None:
        """Clear markers, then run DDL on the table with FK checks off (never cascading)."""
        config, pool = self._require()
        if not self.table_exists(table_name, schema):
            raise TableNotFound(
                f"no table {schema}.{table_name}",
                connector=CONNECTOR,
                schema=schema,
                table=table_name,
            )
        assert self._writer is not None
        if self._config is not None and self._config.database:
            self._writer.clear_markers(schema, table_name)
        with (
            pool.lease() as lease,
            driver_errors("ddl", config, secrets=pool.secrets, schema=schema, table=table_name),
            lease.conn.cursor() as cur,
        ):
            cur.execute("SET SESSION foreign_key_checks = 0")
            try:
                cur.execute(statement + " " + qualified(schema, table_name))
            finally:
                cur.execute("SET SESSION foreign_key_checks = 1")
        self._forget(schema, table_name)

    def drop_table(self, table_name: str, schema_name: str) -> None:
        """Drop the table and its chunk markers (markers first; see the module docstring).

        Foreign keys of *other* tables that reference it are left in place
        (MySQL keeps them, and they apply again once the table is recreated);
        nothing is cascaded.
        """
        self._table_ddl(table_name, self._schema(schema_name), "DROP TABLE")

    def truncate_table(self, table_name: str, schema_name: str) -> None:
        """Empty the table and clear its markers; ``TRUNCATE`` fires no ON DELETE cascade."""
        self._table_ddl(table_name, self._schema(schema_name), "TRUNCATE TABLE")

    def create_indexes(
        self, table_name: str, schema_name: str, indexes: Sequence[IndexDefinition]
    ) -> None:
        """Create the secondary indexes in one ``ALTER TABLE``; existing ones are kept."""
        config, pool = self._require()
        schema = self._schema(schema_name)
        if not indexes:
            return
        with (
            pool.lease() as lease,
            driver_errors("ddl", config, secrets=pool.secrets, schema=schema, table=table_name),
            lease.conn.cursor() as cur,
        ):
            targets = self._column_types(cur, schema, table_name)
            cur.execute(
                "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, table_name),
            )
            existing = frozenset(str(r[0]) for r in cur.fetchall())
            plan = plan_indexes(schema, table_name, indexes, targets, existing)
            for name, reason in plan.skipped:
                log.warning("mysql_index_skipped", table=table_name, index=name, reason=reason)
            for statement in plan.statements:
                cur.execute(statement)
        self._forget(schema, table_name)

    @staticmethod
    def _column_types(cur: Any, schema: str, table: str) -> dict[str, Any]:
        cur.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (schema, table),
        )
        rows = cur.fetchall()
        if not rows:
            raise TableNotFound(
                f"no table {schema}.{table}", connector=CONNECTOR, schema=schema, table=table
            )
        return {str(name): parse_column_type(str(ctype)) for name, ctype in rows}

    def create_foreign_keys(self, fks: Sequence[ForeignKeyDefinition]) -> None:
        """Add each key in place (``foreign_key_checks = 0``), then verify it with one anti-join.

        A key that already exists (a resumed run) is kept.  Orphan rows
        remove the key again and raise :class:`~bani.errors.SchemaError`
        naming the key and one offending row.
        """
        config, pool = self._require()
        default_schema = config.database or ""
        with pool.lease() as lease:
            cur = lease.conn.cursor()
            try:
                for fk in fks:
                    add, probe, (schema, table) = foreign_key_statements(fk, default_schema)
                    with driver_errors(
                        "ddl", config, secrets=pool.secrets, schema=schema, table=table
                    ):
                        cur.execute(
                            "SELECT 1 FROM information_schema.TABLE_CONSTRAINTS "
                            "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s "
                            "AND CONSTRAINT_NAME = %s AND CONSTRAINT_TYPE = 'FOREIGN KEY'",
                            (schema, table, fk.name),
                        )
                        if cur.fetchone() is not None:
                            continue
                        cur.execute("SET SESSION foreign_key_checks = 0")
                        try:
                            cur.execute(add)
                        finally:
                            cur.execute("SET SESSION foreign_key_checks = 1")
                        cur.execute(probe)
                        orphan = cur.fetchone()
                        if orphan is not None:
                            cur.execute(
                                "ALTER TABLE "
                                + qualified(schema, table)
                                + " DROP FOREIGN KEY "
                                + quote_ident(fk.name)
                            )
                            raise SchemaError(
                                f"foreign key {fk.name!r} does not hold: {table} row with "
                                f"({', '.join(fk.source_columns)}) = {tuple(orphan)!r} has no "
                                f"match in {fk.referenced_table}; the key was not created",
                                connector=CONNECTOR,
                                schema=schema,
                                table=table,
                            )
                    self._forget(schema, table)
            finally:
                cur.close()

    def execute_sql(self, sql: str) -> None:
        """Run one trusted statement (operators' hooks), autocommitted."""
        config, pool = self._require()
        with (
            pool.lease() as lease,
            driver_errors("ddl", config, secrets=pool.secrets),
            lease.conn.cursor() as cur,
        ):
            cur.execute(sql)
        self._tables.clear()

    # -- sink: data --------------------------------------------------------------------

    def write_batch(self, table_name: str, schema_name: str, batch: pa.RecordBatch) -> int:
        """One batch in its own transaction (LOAD DATA, or INSERTs when refused)."""
        self._require()
        assert self._writer is not None
        return self._writer.write_batch(self._schema(schema_name), table_name, batch)

    def write_chunk(
        self,
        table_name: str,
        schema_name: str,
        batches: Iterable[pa.RecordBatch],
        marker: ChunkMarker,
    ) -> int:
        """The chunk's rows and its marker in one transaction; an existing marker writes nothing."""
        self._require()
        assert self._writer is not None
        return self._writer.write_chunk(self._schema(schema_name), table_name, batches, marker)

    def committed_chunks(self, run_id: str) -> tuple[CommittedChunk, ...]:
        self._require()
        assert self._writer is not None
        return self._writer.committed_chunks(run_id)

    def store_run(self, run_id: str, plan: bytes) -> None:
        self._require()
        assert self._writer is not None
        self._writer.store_run(run_id, plan)

    def load_run(self, run_id: str) -> bytes | None:
        self._require()
        assert self._writer is not None
        return self._writer.load_run(run_id)

    def finalize(self, table_def: TableDefinition) -> None:
        """AUTO_INCREMENT = max(source counter, loaded max + 1) on the target's auto column."""
        config, pool = self._require()
        schema = self._schema(table_def.schema_name)
        table = table_def.table_name
        with (
            pool.lease() as lease,
            driver_errors("ddl", config, secrets=pool.secrets, schema=schema, table=table),
            lease.conn.cursor() as cur,
        ):
            cur.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND EXTRA LIKE %s",
                (schema, table, "%auto_increment%"),
            )
            row = cur.fetchone()
            if row is None:
                if table_def.identity_counter is not None:
                    log.warning(
                        "mysql_identity_counter_ignored",
                        table=table,
                        identity_counter=table_def.identity_counter,
                        reason="the target table has no AUTO_INCREMENT column",
                    )
                return
            column = str(row[0])
            cur.execute(
                "SELECT MAX(" + quote_ident(column) + ") FROM " + qualified(schema, table)  # noqa: S608 (quoted identifiers)
            )
            loaded = cur.fetchone()
            highest = int(loaded[0]) if loaded and loaded[0] is not None else 0
            target = max(int(table_def.identity_counter or 1), highest + 1)
            cur.execute(
                "ALTER TABLE " + qualified(schema, table) + f" AUTO_INCREMENT = {int(target)}"
            )
        log.info("mysql_auto_increment_set", table=table, column=column, value=target)
