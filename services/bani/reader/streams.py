"""The reader's data path: the schema catalog, key bounds, and chunk streams.

:class:`SchemaCatalog` keeps the source's introspected schema for a short
while (introspection is a handful of bulk queries, but not something to run
per ``do_get``), refreshes it when asked for a table it does not know, and
turns an unknown table into a :class:`~bani.errors.TableNotFound` that lists
what exists.

:func:`chunk_batches` is the generator behind ``do_get``: it reads one chunk
through the connector in batches of at most ``batch_rows`` rows, slices any
batch above the byte cap, conforms each to the advertised schema (zero-copy
when the types already match), counts it, and checks between batches whether
the client went away or shutdown cancelled the stream.  Memory is bounded by
one batch, whatever the chunk or table size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Final

import pyarrow as pa
from pyarrow import flight

from bani.connectors.base import SourceConnector
from bani.domain.arrow_fields import arrow_schema_for_table
from bani.domain.chunks import KeyRange
from bani.domain.schema import DatabaseSchema, TableDefinition
from bani.errors import ReadFailed, TableNotFound, closest_match
from bani.reader._tickets import ChunkGrant
from bani.reader.chunking import slice_batch
from bani.service.auth import CallState
from bani.service.runtime import ServiceRuntime
from bani.wire.errors import InvalidRequest

__all__ = ["KeyBounds", "SchemaCatalog", "chunk_batches", "key_bounds", "table_schema"]

#: Seconds an introspected schema is reused before it is read again.
CATALOG_TTL: Final = 30.0
#: Rows per batch when scanning a key column for its bounds (8 MB of int64).
_KEY_SCAN_BATCH: Final = 1_000_000
_LISTED_NAMES: Final = 20


class SchemaCatalog:
    """The source's tables, introspected at most every :data:`CATALOG_TTL` seconds."""

    def __init__(self, source: SourceConnector, ttl: float = CATALOG_TTL) -> None:
        self._source = source
        self._ttl = ttl
        self._lock = threading.Lock()
        self._schema: DatabaseSchema | None = None
        self._read_at = 0.0

    def refresh(self) -> DatabaseSchema:
        """Introspect now (and remember the result)."""
        schema = self._source.introspect_schema()
        with self._lock:
            self._schema = schema
            self._read_at = time.monotonic()
        return schema

    def schema(self) -> DatabaseSchema:
        with self._lock:
            cached = self._schema
            fresh = cached is not None and time.monotonic() - self._read_at < self._ttl
        if cached is not None and fresh:
            return cached
        return self.refresh()

    def table(self, schema_name: str, table_name: str) -> TableDefinition:
        """The table, re-reading the schema once before calling it unknown."""
        found = self.schema().get_table(table_name, schema_name or None)
        if found is None:
            found = self.refresh().get_table(table_name, schema_name or None)
        if found is None:
            raise self._not_found(schema_name, table_name)
        return found

    def _not_found(self, schema_name: str, table_name: str) -> TableNotFound:
        tables = self.schema().tables
        names = sorted(t.qualified_name for t in tables)
        shown = ", ".join(names[:_LISTED_NAMES]) or "none"
        more = f" and {len(names) - _LISTED_NAMES} more" if len(names) > _LISTED_NAMES else ""
        hint = closest_match(table_name, [t.table_name for t in tables])
        suggestion = f"; did you mean {hint!r}?" if hint else ""
        qualified = f"{schema_name}.{table_name}" if schema_name else table_name
        return TableNotFound(
            f"the source has no table {qualified}; it has {shown}{more}{suggestion}",
            schema=schema_name or None,
            table=table_name,
        )


def table_schema(table: TableDefinition, columns: Sequence[str]) -> pa.Schema:
    """The Arrow schema (``bani.*`` metadata included) of ``columns`` of ``table``."""
    if not columns:
        return arrow_schema_for_table(table)
    known = {c.name for c in table.columns}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidRequest(
            f"{table.qualified_name} has no column {', '.join(repr(c) for c in unknown)}; "
            f"its columns are {', '.join(c.name for c in table.columns)}",
            schema=table.schema_name,
            table=table.table_name,
            column=unknown[0],
        )
    if len(set(columns)) != len(columns):
        raise InvalidRequest("a column is named twice", table=table.table_name)
    return arrow_schema_for_table(table, list(columns))


class KeyBounds:
    """Smallest and largest key and the row count seen by a key scan."""

    __slots__ = ("maximum", "minimum", "rows")

    def __init__(self, minimum: int | None, maximum: int | None, rows: int) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.rows = rows


def key_bounds(
    source: SourceConnector, table: TableDefinition, key: str, filter_sql: str | None
) -> KeyBounds:
    """Min, max and count of ``key`` (under ``filter_sql``) from the connector.

    Connectors answer from the database where they can; the contract's
    default scans the key column alone in bounded batches.
    """
    minimum, maximum, rows = source.key_bounds(table.table_name, table.schema_name, key, filter_sql)
    return KeyBounds(minimum, maximum, int(rows))


def _conform(batch: pa.RecordBatch, schema: pa.Schema, grant: ChunkGrant) -> pa.RecordBatch:
    """``batch`` with exactly ``schema`` (names, order, types, metadata)."""
    if batch.schema.names != schema.names:
        try:
            batch = batch.select(schema.names)
        except (KeyError, pa.ArrowException) as exc:
            raise ReadFailed(
                f"the connector returned columns {batch.schema.names}, expected {schema.names}",
                schema=grant.schema, table=grant.table, chunk_id=grant.chunk_id,
            ) from exc
    columns = list(batch.columns)
    for i, field in enumerate(schema):
        if not columns[i].type.equals(field.type):
            try:
                columns[i] = columns[i].cast(field.type)
            except (pa.ArrowException, ValueError) as exc:
                raise ReadFailed(
                    f"the connector returned {columns[i].type} for a column declared "
                    f"{field.type}: {exc}",
                    schema=grant.schema, table=grant.table, column=field.name,
                    chunk_id=grant.chunk_id,
                ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def chunk_batches(
    source: SourceConnector,
    grant: ChunkGrant,
    schema: pa.Schema,
    *,
    batch_rows: int,
    batch_bytes: int,
    runtime: ServiceRuntime,
    context: flight.ServerCallContext,
    state: CallState | None,
) -> Iterator[pa.RecordBatch]:
    """The record batches of one chunk, bounded, conformed and counted."""
    key_range: KeyRange | None = grant.key_range
    batches = source.read_chunk(
        grant.table,
        grant.schema,
        columns=list(schema.names),
        filter_sql=grant.filter_sql,
        batch_size=batch_rows,
        key_range=key_range,
    )
    try:
        for batch in batches:
            runtime.check(context, "stream")
            for piece in slice_batch(batch, batch_rows, batch_bytes):
                out = _conform(piece, schema, grant)
                nbytes = out.nbytes
                runtime.count_batch(grant.table, "out", out.num_rows, nbytes)
                if state is not None:
                    state.add(rows=out.num_rows, bytes=nbytes, batches=1)
                yield out
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
