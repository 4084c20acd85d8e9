"""The connector contract: :class:`SourceConnector` and :class:`SinkConnector`.

The method names, signatures and meanings are those of Bani's connector guide,
so a connector written from the guide plugs in.  The guide's contract is
extended with what an exactly-once, resumable transfer needs:

* ``read_table(..., key_range=None)`` reads one chunk, a half-open range on a
  single integer key, turned into bound parameters by the connector.  A
  connector whose ``read_table`` predates ``key_range`` still works: callers use
  :meth:`SourceConnector.read_chunk`, which falls back to a WHERE built from the
  validated integer bounds and a quoted column name.
* ``write_chunk(table, schema, batches, marker)`` writes every batch of a chunk
  and a marker row in ``_bani_flight_chunks`` in one transaction; a chunk whose
  marker exists writes nothing and returns the recorded row count.
  ``committed_chunks(run_id)`` lists the markers.  A connector that cannot do
  this atomically keeps the default, which raises
  :class:`~bani.errors.ChunkAtomicityUnsupported`, and resumable transfers
  refuse it with that message.
* ``finalize(table_def)`` moves identity / auto-increment / sequence counters to
  ``max(source counter, loaded max + 1)``; the default does nothing, which is
  right for a sink without counters.
* ``plan_table(table_def)`` says, without executing anything, what DDL a table
  would get and which columns map lossily or not at all.

Concurrency: the services call ``read_table``/``write_chunk`` from several
threads at once, at most ``pool_size`` (given to ``connect``) at a time; a
connector checks out one connection per call.

Connectors are context managers: leaving the ``with`` block disconnects.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Literal, Self

import pyarrow as pa
import pyarrow.compute as pc

from bani.domain.chunks import ChunkMarker, CommittedChunk, KeyRange
from bani.domain.plans import ColumnIssue, IssueKind, TablePlan
from bani.domain.project import ConnectionConfig
from bani.domain.schema import (
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import ChunkAtomicityUnsupported

__all__ = [
    "Capabilities",
    "ColumnIssue",
    "IssueKind",
    "SinkConnector",
    "SourceConnector",
    "TablePlan",
    "quote_ansi_identifier",
]

BulkPath = Literal["copy_binary", "load_data", "executemany", "unknown"]


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do; planners read this before any data moves.

    ``atomic_chunks`` is the promise behind ``write_chunk``: data and marker
    commit together.  Without it a transfer cannot be resumed exactly once.
    """

    dialect: str
    max_identifier_length: int = 63
    max_decimal_precision: int = 38
    timestamp_precision: int = 6
    supports_unsigned: bool = False
    supports_schemas: bool = True
    transactional_ddl: bool = False
    atomic_chunks: bool = False
    bulk_path: BulkPath = "unknown"


def quote_ansi_identifier(name: str) -> str:
    """``"name"`` with embedded double quotes doubled (SQL standard quoting)."""
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL characters")
    return '"' + name.replace('"', '""') + '"'


class _ConnectorBase(ABC):
    """What sources and sinks share: connection lifecycle and identity."""

    #: The dialect name this connector registers under (``sqlite``, ``postgresql``).
    dialect: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities(dialect="")

    @abstractmethod
    def connect(self, config: ConnectionConfig, pool_size: int = 1) -> None:
        """Open up to ``pool_size`` connections; errors name host/database, never the password."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close every connection; safe to call twice."""

    def quote_identifier(self, name: str) -> str:
        """Quote one identifier for this dialect (ANSI double quotes by default)."""
        return quote_ansi_identifier(name)

    def ping(self) -> None:
        """Raise unless the database answers now (the services' readiness probe).

        The default reads the schema, which is correct but heavy; connectors
        override it with a trivial round trip.
        """
        if isinstance(self, SourceConnector):
            self.introspect_schema()
        elif isinstance(self, SinkConnector):
            self.execute_sql("SELECT 1")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()


class SourceConnector(_ConnectorBase):
    """Reads a database as Arrow: its schema, then its tables as batch streams."""

    @abstractmethod
    def introspect_schema(self) -> DatabaseSchema:
        """Every table with columns, keys, indexes, FKs and checks, in bulk queries.

        Each column's ``arrow_type_str`` is filled by the connector's type
        mapper; the Arrow batches ``read_table`` yields have exactly those types.
        """

    @abstractmethod
    def read_table(
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None = None,
        filter_sql: str | None = None,
        batch_size: int = 100_000,
        key_range: KeyRange | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream a table (or a chunk of it) as record batches of at most ``batch_size`` rows.

        Memory is bounded by the batch size, not the table size.  Reads happen
        in a read-only transaction.  ``filter_sql`` is a WHERE body in this
        dialect (trusted by the caller); ``key_range`` is bound as parameters.
        Batches carry the Arrow types the mapper gives in ``introspect_schema``;
        an empty table yields no batch.
        """

    @abstractmethod
    def estimate_row_count(self, table_name: str, schema_name: str) -> int:
        """A cheap row estimate (statistics where the database keeps them)."""

    def key_bounds(
        self, table_name: str, schema_name: str, column: str, filter_sql: str | None = None
    ) -> tuple[int | None, int | None, int]:
        """``(min, max, rows)`` of an integer key column (under ``filter_sql``).

        The reader plans key-range chunks from it.  The default scans the key
        column alone in bounded batches; connectors answer from the database
        (``SELECT min, max, count``, an index lookup) instead.
        """
        low: int | None = None
        high: int | None = None
        rows = 0
        for batch in self.read_table(
            table_name, schema_name, columns=[column], filter_sql=filter_sql, batch_size=65_536
        ):
            rows += batch.num_rows
            extremes = pc.min_max(batch.column(0))
            lo, hi = extremes["min"].as_py(), extremes["max"].as_py()
            if lo is None or hi is None:
                continue
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
        return low, high, rows

    def read_chunk(
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None = None,
        filter_sql: str | None = None,
        batch_size: int = 100_000,
        key_range: KeyRange | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Read a chunk through ``read_table``, whatever its vintage.

        Connectors that accept ``key_range`` get it as is.  For a connector
        written from the guide alone, the range becomes a WHERE on the quoted
        key column with the integer bounds validated by :class:`KeyRange`
        (so no caller text reaches the SQL), ANDed with ``filter_sql``.
        """
        if key_range is None or _accepts_key_range(self.read_table):
            return self.read_table(
                table_name,
                schema_name,
                columns=columns,
                filter_sql=filter_sql,
                batch_size=batch_size,
                key_range=key_range,
            )
        predicate = key_range_predicate(key_range, self.quote_identifier)
        combined = f"({filter_sql}) AND ({predicate})" if filter_sql else predicate
        legacy = self.read_table
        return legacy(table_name, schema_name, columns, combined, batch_size)


def _accepts_key_range(method: object) -> bool:
    try:
        return "key_range" in inspect.signature(method).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def key_range_predicate(key_range: KeyRange, quote: object) -> str:
    """``"id" >= 10 AND "id" < 20`` from validated integer bounds."""
    quote_fn = quote if callable(quote) else quote_ansi_identifier
    column = quote_fn(key_range.column)
    parts: list[str] = []
    if key_range.lower is not None:
        parts.append(f"{column} >= {int(key_range.lower)}")
    if key_range.upper is not None:
        parts.append(f"{column} < {int(key_range.upper)}")
    return " AND ".join(parts) if parts else "1 = 1"


class SinkConnector(_ConnectorBase):
    """Writes Arrow into a database: DDL, chunks of rows, then indexes and keys."""

    # -- the guide's methods -------------------------------------------------

    @abstractmethod
    def create_table(self, table_def: TableDefinition) -> None:
        """Create the table with its columns and primary key (indexes and FKs come later).

        A column that cannot be declared on this target is a
        :class:`~bani.errors.TypeNotRepresentable` naming it.
        """

    @abstractmethod
    def write_batch(self, table_name: str, schema_name: str, batch: pa.RecordBatch) -> int:
        """Write one batch with the fastest bulk path; returns rows written."""

    @abstractmethod
    def create_indexes(
        self, table_name: str, schema_name: str, indexes: Sequence[IndexDefinition]
    ) -> None:
        """Create secondary indexes after the data is in."""

    @abstractmethod
    def create_foreign_keys(self, fks: Sequence[ForeignKeyDefinition]) -> None:
        """Create foreign keys after every table is loaded."""

    @abstractmethod
    def execute_sql(self, sql: str) -> None:
        """Execute one trusted statement (operators' hooks; never built from data)."""

    # -- extensions for exactly-once chunks -----------------------------------

    def write_chunk(
        self,
        table_name: str,
        schema_name: str,
        batches: Iterable[pa.RecordBatch],
        marker: ChunkMarker,
    ) -> int:
        """Write a whole chunk and its marker in one transaction; returns its rows.

        All or nothing: if ``batches`` raises midway, or any write fails, the
        transaction rolls back and neither rows nor marker remain.  If the
        marker already exists, nothing is written (``batches`` is not
        consumed) and the recorded row count is returned.
        """
        raise ChunkAtomicityUnsupported(
            f"the {self.dialect or type(self).__name__} connector cannot write a chunk and its "
            "marker in one transaction, so this transfer cannot be resumed exactly once",
            connector=self.dialect or type(self).__name__,
            table=table_name,
            schema=schema_name,
        )

    def committed_chunks(self, run_id: str) -> tuple[CommittedChunk, ...]:
        """Every chunk marker of ``run_id`` (empty if the run wrote nothing yet)."""
        raise ChunkAtomicityUnsupported(
            f"the {self.dialect or type(self).__name__} connector keeps no chunk markers",
            connector=self.dialect or type(self).__name__,
        )

    def store_run(self, run_id: str, plan: bytes) -> None:
        """Record a run's chunk plan (``begin-run``); storing the same plan twice is a no-op."""
        raise ChunkAtomicityUnsupported(
            f"the {self.dialect or type(self).__name__} connector keeps no run plans",
            connector=self.dialect or type(self).__name__,
        )

    def load_run(self, run_id: str) -> bytes | None:
        """A run's stored chunk plan, or None if the run is unknown."""
        raise ChunkAtomicityUnsupported(
            f"the {self.dialect or type(self).__name__} connector keeps no run plans",
            connector=self.dialect or type(self).__name__,
        )

    def finalize(self, table_def: TableDefinition) -> None:
        """Set counters to ``max(source counter, loaded max + 1)``; default: no counters."""
        return None

    def plan_table(self, table_def: TableDefinition) -> TablePlan:
        """The DDL ``create_table`` would run and every lossy or refused column.

        Executes nothing.  The default knows no DDL of its own and says so.
        """
        return TablePlan(
            schema_name=table_def.schema_name,
            table_name=table_def.table_name,
            statements=(),
            issues=(
                ColumnIssue(
                    column="*",
                    kind="fallback",
                    reason=f"the {self.dialect or type(self).__name__} connector "
                    "does not describe its DDL before running it",
                ),
            ),
        )

    def create_enum_types(self, enum_types: Sequence[EnumTypeDefinition], schema_name: str) -> None:
        """Create user-defined enum types before tables; default: the dialect has none."""
        return None

    def table_exists(self, table_name: str, schema_name: str) -> bool:
        """Whether the table exists on the target."""
        if isinstance(self, SourceConnector):
            return self.introspect_schema().get_table(table_name, schema_name) is not None
        raise NotImplementedError(f"{type(self).__name__} cannot tell whether a table exists")

    def drop_table(self, table_name: str, schema_name: str) -> None:
        """Drop the table (never CASCADE) and its chunk markers."""
        self.execute_sql(f"DROP TABLE {self._qualified(table_name, schema_name)}")

    def truncate_table(self, table_name: str, schema_name: str) -> None:
        """Empty the table (never CASCADE) and clear its chunk markers."""
        # Identifiers are quoted by the connector's own quote_identifier; no values.
        self.execute_sql(f"DELETE FROM {self._qualified(table_name, schema_name)}")  # noqa: S608

    def _qualified(self, table_name: str, schema_name: str) -> str:
        table = self.quote_identifier(table_name)
        return f"{self.quote_identifier(schema_name)}.{table}" if schema_name else table
