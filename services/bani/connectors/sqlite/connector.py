"""The SQLite connector: Bani's reference connector, source and sink in one class.

``ConnectionConfig.database`` is the file path.  A source opens the file
read-only (``file:…?mode=ro``), so it never changes it and never creates an
empty file where none was; a sink opens it read-write and creates it.  Every
call opens its own connection (see :mod:`._connection`), so the services may
call ``read_table`` and ``write_chunk`` from several threads at once.

How SQLite's peculiarities are carried (also in ``docs/type-mappings.md``):

* **Schemas.**  A file has one schema, ``main``.  Introspection reports
  ``schema_name="main"``; reads accept ``""`` and ``"main"``.  The sink puts
  every table in ``main`` whatever schema name it is given
  (``capabilities.supports_schemas`` is False).
* **Foreign keys.**  SQLite cannot add a constraint to an existing table, so
  ``create_table`` declares the table's foreign keys inside ``CREATE TABLE``.
  The sink's connections run with ``PRAGMA foreign_keys = OFF``, so tables
  load in any order and a child may arrive before its parent;
  ``create_foreign_keys`` then checks that each key is declared and that the
  loaded rows satisfy it (``pragma_foreign_key_check``), and raises a
  :class:`~bani.errors.SchemaError` naming the table if not.  The keys exist
  afterwards and are enforced by any connection that turns enforcement on.
* **Identity.**  ``INTEGER PRIMARY KEY`` (the rowid alias) is the identity
  column; ``finalize`` moves an ``AUTOINCREMENT`` table's ``sqlite_sequence``
  to ``max(identity_counter - 1, max(rowid))``.
* **Bookkeeping.**  ``_bani_flight_chunks`` and ``_bani_flight_runs`` live in
  the target file, are created on first use and are never reported by
  ``introspect_schema``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar, Final

import pyarrow as pa
import structlog

from bani.connectors.base import (
    Capabilities,
    SinkConnector,
    SourceConnector,
    TablePlan,
)
from bani.connectors.sqlite._connection import (
    CONNECTOR,
    DEFAULT_BUSY_TIMEOUT,
    SQLiteFile,
    translate_error,
)
from bani.connectors.sqlite._ddl import quote
from bani.connectors.sqlite.data_reader import SQLiteReader
from bani.connectors.sqlite.data_writer import SQLiteWriter
from bani.connectors.sqlite.schema_reader import count_rows, introspect, resolve_table
from bani.domain.chunks import ChunkMarker, CommittedChunk, KeyRange
from bani.domain.project import ConnectionConfig
from bani.domain.schema import (
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import ConfigurationError

__all__ = ["SQLiteConnector"]

log = structlog.get_logger(__name__)

#: ``ConnectionConfig.options`` key: seconds a writer waits for the write lock.
OPTION_BUSY_TIMEOUT: Final = "busy_timeout"
#: ``ConnectionConfig.options`` key: milliseconds one read step may run (filtered reads).
OPTION_STATEMENT_TIMEOUT: Final = "statement_timeout_ms"


def _non_negative(config: ConnectionConfig, option: str, unit: str) -> float | None:
    raw = config.options.get(option)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigurationError(
            f"{option} must be a non-negative number of {unit}, got {raw!r}",
            connector=CONNECTOR,
            setting=f"options.{option}",
        )
    return value


def _busy_timeout(config: ConnectionConfig) -> float:
    value = _non_negative(config, OPTION_BUSY_TIMEOUT, "seconds")
    return DEFAULT_BUSY_TIMEOUT if value is None else value


def _statement_timeout(config: ConnectionConfig) -> float | None:
    value = _non_negative(config, OPTION_STATEMENT_TIMEOUT, "milliseconds")
    return None if not value else value / 1000


class SQLiteConnector(SourceConnector, SinkConnector):
    """Reads and writes one SQLite database file through Arrow."""

    dialect: ClassVar[str] = "sqlite"
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect="sqlite",
        max_identifier_length=1_000_000,  # SQLite sets no limit of its own
        max_decimal_precision=76,  # wide decimals are kept as text, exactly
        timestamp_precision=6,
        supports_unsigned=False,
        supports_schemas=False,
        transactional_ddl=True,
        atomic_chunks=True,
        bulk_path="executemany",
    )

    def __init__(self) -> None:
        self._file: SQLiteFile | None = None

    # -- lifecycle ---------------------------------------------------------------

    def connect(self, config: ConnectionConfig, pool_size: int = 1) -> None:
        """Check the file and remember it; connections are opened per call.

        ``pool_size`` is accepted for the contract: SQLite connections are
        opened per call, so there is no pool to size.  An existing file must
        be a SQLite database; a missing one is fine for a sink (the first
        write creates it) and an error for a source (the first read says so).
        """
        if config.dialect.lower() != self.dialect:
            raise ConfigurationError(
                f"the SQLite connector cannot connect to a {config.dialect!r} database",
                connector=CONNECTOR,
                setting="dialect",
            )
        path = (config.database or "").strip()
        if not path:
            raise ConfigurationError(
                "a SQLite connection needs the database file path",
                connector=CONNECTOR,
                setting="database",
            )
        if path == ":memory:" or path.startswith("file:"):
            raise ConfigurationError(
                f"the SQLite connector needs a file path, not {path!r}: every call opens its "
                "own connection, and an in-memory database would be a new one each time",
                connector=CONNECTOR,
                setting="database",
            )
        file = SQLiteFile(path, _busy_timeout(config), _statement_timeout(config))
        file.check()
        self._file = file
        log.debug("sqlite_connected", database=config.describe(), pool_size=pool_size)

    def disconnect(self) -> None:
        """Forget the file; a read already streaming keeps its own connection to the end."""
        self._file = None

    @property
    def _db(self) -> SQLiteFile:
        if self._file is None:
            raise ConfigurationError(
                "the SQLite connector is not connected; call connect() first",
                connector=CONNECTOR,
            )
        return self._file

    def quote_identifier(self, name: str) -> str:
        return quote(name)

    # -- source -------------------------------------------------------------------

    def introspect_schema(self) -> DatabaseSchema:
        with self._db.read_only() as conn:
            try:
                return introspect(conn)
            except sqlite3.Error as exc:
                raise translate_error(exc, "schema", self._db.path) from exc

    def read_table(
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None = None,
        filter_sql: str | None = None,
        batch_size: int = 100_000,
        key_range: KeyRange | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream the table (or the rows of ``key_range``) in batches of ``batch_size`` rows.

        The table, columns and key column are checked when this is called,
        not when the first batch is pulled.
        """
        return SQLiteReader(self._db).read_table(
            table_name, schema_name, columns, filter_sql, batch_size, key_range
        )

    def ping(self) -> None:
        """Open the file read-only and run a trivial query; a missing file fails."""
        with self._db.read_only() as conn:
            try:
                conn.execute("SELECT 1").fetchone()
            except sqlite3.Error as exc:
                raise translate_error(exc, "read", self._db.path) from exc

    def key_bounds(
        self, table_name: str, schema_name: str, column: str, filter_sql: str | None = None
    ) -> tuple[int | None, int | None, int]:
        """``min``, ``max`` and ``count(*)`` in one query (an index or rowid lookup)."""
        return SQLiteReader(self._db).key_bounds(table_name, schema_name, column, filter_sql)

    def estimate_row_count(self, table_name: str, schema_name: str) -> int:
        """An exact ``COUNT(*)``: SQLite keeps no row count statistic worth trusting."""
        with self._db.read_only() as conn:
            try:
                return count_rows(conn, resolve_table(conn, table_name, schema_name))
            except sqlite3.Error as exc:
                raise translate_error(exc, "read", self._db.path, table=table_name) from exc

    # -- sink -----------------------------------------------------------------------

    def plan_table(self, table_def: TableDefinition) -> TablePlan:
        """The ``CREATE TABLE`` and every lossy, fallback or refused column; runs nothing."""
        return SQLiteWriter(self._db).plan_table(table_def)

    def create_table(self, table_def: TableDefinition) -> None:
        """Create the table with its primary key, foreign keys and (same dialect) checks."""
        SQLiteWriter(self._db).create_table(table_def)

    def create_enum_types(self, enum_types: Sequence[EnumTypeDefinition], schema_name: str) -> None:
        """SQLite has no enum types: enum columns become TEXT, reported by ``plan_table``."""
        for enum in enum_types:
            log.info(
                "sqlite_enum_as_text",
                enum=f"{enum.schema_name}.{enum.name}",
                labels=list(enum.labels),
            )

    def write_batch(self, table_name: str, schema_name: str, batch: pa.RecordBatch) -> int:
        return SQLiteWriter(self._db).write_batch(table_name, batch)

    def write_chunk(
        self,
        table_name: str,
        schema_name: str,
        batches: Iterable[pa.RecordBatch],
        marker: ChunkMarker,
    ) -> int:
        return SQLiteWriter(self._db).write_chunk(table_name, schema_name, batches, marker)

    def committed_chunks(self, run_id: str) -> tuple[CommittedChunk, ...]:
        return SQLiteWriter(self._db).committed_chunks(run_id)

    def store_run(self, run_id: str, plan: bytes) -> None:
        SQLiteWriter(self._db).store_run(run_id, plan)

    def load_run(self, run_id: str) -> bytes | None:
        return SQLiteWriter(self._db).load_run(run_id)

    def create_indexes(
        self, table_name: str, schema_name: str, indexes: Sequence[IndexDefinition]
    ) -> None:
        SQLiteWriter(self._db).create_indexes(table_name, indexes)

    def create_foreign_keys(self, fks: Sequence[ForeignKeyDefinition]) -> None:
        SQLiteWriter(self._db).create_foreign_keys(fks)

    def finalize(self, table_def: TableDefinition) -> None:
        SQLiteWriter(self._db).finalize(table_def)

    def table_exists(self, table_name: str, schema_name: str) -> bool:
        return SQLiteWriter(self._db).table_exists(table_name)

    def drop_table(self, table_name: str, schema_name: str) -> None:
        """Drop the table and its chunk markers in one transaction."""
        SQLiteWriter(self._db).drop_table(table_name)

    def truncate_table(self, table_name: str, schema_name: str) -> None:
        """Delete every row and the table's chunk markers in one transaction."""
        SQLiteWriter(self._db).truncate_table(table_name)

    def execute_sql(self, sql: str) -> None:
        """Run one trusted statement in its own transaction (sqlite3 refuses several)."""
        with self._db.read_write() as conn:
            try:
                conn.execute(sql)
            except sqlite3.Error as exc:
                raise translate_error(exc, "write", self._db.path) from exc
