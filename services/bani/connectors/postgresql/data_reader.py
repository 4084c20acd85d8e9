"""Streaming reads: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by Arrow.

One read is one read-only, repeatable-read transaction on one pooled
connection.  The server sends one CopyData message per row; a receiver
thread collects them as bytes straight from libpq (``_copy_out.py``; no
per-value Python), this thread parses them in blocks with Arrow's C++ CSV
reader, column types fixed up front (``_wire.py``), and they are yielded as
record batches of exactly ``batch_size`` rows (the last may be shorter), so
memory is bounded by the batch size.  The message count is checked against
the parsed row count, so a change in the server's framing could never
silently drop or merge rows.

Session settings that shape the text (``TimeZone``, ``DateStyle``,
``IntervalStyle``, ``extra_float_digits``, ``bytea_output``) are set with
``SET LOCAL`` semantics inside the read transaction, so the values do not
depend on the server's or the role's defaults and nothing leaks to the next
user of the connection.

Identifiers are composed with :mod:`psycopg.sql`; a key range's bounds are
validated integers rendered by psycopg as literals (``COPY`` cannot take
server-side parameters).  ``filter_sql`` is trusted caller text, as the
contract says.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import pyarrow as pa
from psycopg import sql

from bani.connectors.postgresql._copy_out import copy_out_blocks
from bani.connectors.postgresql._wire import (
    ColumnConversionError,
    WireColumn,
    WirePlan,
    parse_block,
)
from bani.connectors.postgresql.type_mapper import Wire
from bani.domain.arrow_fields import arrow_schema_for_table
from bani.domain.chunks import KeyRange
from bani.domain.schema import TableDefinition
from bani.errors import (
    BaniError,
    ConfigurationError,
    ErrorContext,
    ReadFailed,
    SchemaMismatch,
    TypeNotRepresentable,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["ReadableTable", "build_copy_query", "build_wire_plan", "stream_batches"]

#: Rows handed to the CSV parser at once.  Measured: parsing ~20k-row blocks
#: and concatenating is faster than one parse per 100k-row batch (cache
#: locality, and the socket keeps filling while a block is parsed).
PARSE_BLOCK_ROWS: Final = 16_384

#: The binary send function of each type read in the ``send`` wire form.
_SEND_FUNCTIONS: Final = {
    "date32[day]": "pg_catalog.date_send",
    "time64[us]": "pg_catalog.time_send",
    "timestamp[us]": "pg_catalog.timestamp_send",
    "timestamp[us, tz=UTC]": "pg_catalog.timestamptz_send",
}

#: How Arrow's CSV reader names the column a conversion failed in.
_CSV_COLUMN: Final = re.compile(r"CSV column #(\d+)")

_SESSION_SETTINGS: Final = sql.SQL(
    "SELECT pg_catalog.set_config('TimeZone', 'UTC', true),"
    " pg_catalog.set_config('DateStyle', 'ISO, YMD', true),"
    " pg_catalog.set_config('IntervalStyle', 'postgres', true),"
    " pg_catalog.set_config('extra_float_digits', '3', true),"
    " pg_catalog.set_config('bytea_output', 'hex', true)"
)


@dataclass(frozen=True)
class ReadableTable:
    """A table as the reader needs it: its definition and each column's wire form."""

    table: TableDefinition
    wires: tuple[Wire, ...]

    def wire_of(self, column: str) -> Wire:
        for col, wire in zip(self.table.columns, self.wires, strict=True):
            if col.name == column:
                return wire
        raise KeyError(column)


def build_wire_plan(readable: ReadableTable, columns: Sequence[str] | None) -> WirePlan:
    """The wire plan for the requested columns (all, in table order, by default)."""
    table = readable.table
    names = [c.name for c in table.columns] if columns is None else list(columns)
    known = {c.name for c in table.columns}
    missing = [n for n in names if n not in known]
    if missing:
        raise SchemaMismatch(
            f"table {table.qualified_name} has no column(s) {', '.join(map(repr, missing))}",
            connector="postgresql",
            schema=table.schema_name,
            table=table.table_name,
            column=missing[0],
        )
    if not names:
        raise SchemaMismatch(
            "a read needs at least one column",
            connector="postgresql",
            schema=table.schema_name,
            table=table.table_name,
        )
    schema = arrow_schema_for_table(table, names)
    return WirePlan(schema, [WireColumn(field, readable.wire_of(field.name)) for field in schema])


def _wire_expressions(column: WireColumn) -> list[sql.Composable]:
    ident = sql.Identifier(column.field.name)
    match column.wire:
        case "plain":
            return [ident]
        case "numeric":
            return [sql.SQL("{}::numeric").format(ident)]
        case "hex":
            return [sql.SQL("encode({}, 'hex')").format(ident)]
        case "send":
            function = _SEND_FUNCTIONS[str(column.field.type)]
            return [sql.SQL("{}({})").format(sql.SQL(function), ident)]
        case "interval":
            return [
                sql.SQL("(EXTRACT(YEAR FROM {0}) * 12 + EXTRACT(MONTH FROM {0}))::int4").format(
                    ident
                ),
                sql.SQL("EXTRACT(DAY FROM {})::int4").format(ident),
                sql.SQL(
                    "((EXTRACT(HOUR FROM {0}) * 60 + EXTRACT(MINUTE FROM {0})) * 60000000"
                    " + EXTRACT(MICROSECONDS FROM {0}))::int8"
                ).format(ident),
            ]
        case "array":
            return [sql.SQL("array_to_json({}::text[])::text").format(ident)]
    raise AssertionError(column.wire)


def build_copy_query(
    plan: WirePlan,
    table: TableDefinition,
    filter_sql: str | None,
    key_range: KeyRange | None,
) -> sql.Composed:
    """``COPY (SELECT <wire expressions> FROM t WHERE ...) TO STDOUT (FORMAT csv ...)``."""
    expressions: list[sql.Composable] = []
    quoted: list[sql.Composable] = []
    index = 0
    for column in plan.columns:
        for expression, is_quoted in zip(_wire_expressions(column), column.quoted, strict=True):
            alias = sql.Identifier(plan.csv_column_names[index])
            expressions.append(sql.SQL("{} AS {}").format(expression, alias))
            if is_quoted:
                quoted.append(alias)
            index += 1
    conditions: list[sql.Composable] = []
    if filter_sql:
        conditions.append(sql.SQL("({})").format(sql.SQL(filter_sql)))
    if key_range is not None:
        key = sql.Identifier(key_range.column)
        if key_range.lower is not None:
            conditions.append(sql.SQL("{} >= {}").format(key, sql.Literal(int(key_range.lower))))
        if key_range.upper is not None:
            conditions.append(sql.SQL("{} < {}").format(key, sql.Literal(int(key_range.upper))))
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    options: sql.Composable = sql.SQL("FORMAT csv")
    if quoted:
        options = sql.SQL("FORMAT csv, FORCE_QUOTE ({})").format(sql.SQL(", ").join(quoted))
    return sql.SQL("COPY (SELECT {cols} FROM {table}{where}) TO STDOUT ({options})").format(
        cols=sql.SQL(", ").join(expressions),
        table=sql.Identifier(table.schema_name, table.table_name),
        where=where,
        options=options,
    )


def stream_batches(
    conn: psycopg.Connection[Any],
    plan: WirePlan,
    query: sql.Composed,
    batch_size: int,
    context: ErrorContext,
) -> Iterator[pa.RecordBatch]:
    """Run the COPY in a read-only transaction and yield batches of ``batch_size`` rows.

    A receiver thread collects the server's rows into blocks while this
    thread parses the previous block (Arrow releases the GIL while parsing),
    so receiving and parsing overlap; the queue between them holds at most
    two blocks, which bounds memory.
    """
    if batch_size < 1:
        raise ConfigurationError(
            f"batch_size must be at least 1, got {batch_size}", context, setting="batch_size"
        )
    block_rows = min(batch_size, PARSE_BLOCK_ROWS)
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute(_SESSION_SETTINGS)
        receiver = _Receiver(conn, query.as_bytes(conn), block_rows)
        try:
            pending: list[pa.RecordBatch] = []
            pending_rows = 0
            for count, data in receiver:
                pending.append(_parse(plan, count, data, context))
                pending_rows += count
                if pending_rows >= batch_size:
                    yield from _emit(pending, batch_size)
                    pending_rows = sum(b.num_rows for b in pending)
            yield from _emit(pending, batch_size, final=True)
        finally:
            receiver.stop()


_DONE: Final = object()


class _Receiver:
    """Runs the COPY on a worker thread and hands out ``(rows, bytes)`` blocks.

    The queue holds at most two blocks; the worker waits (and notices a stop)
    when the consumer is behind.
    """

    def __init__(self, conn: psycopg.Connection[Any], query: bytes, block_rows: int) -> None:
        self._conn = conn
        self._query = query
        self._block_rows = block_rows
        self._queue: queue.Queue[object] = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bani-pg-copy-out", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _deliver(self, rows: int, data: bytes) -> bool:
        return self._put((rows, data))

    def _run(self) -> None:
        try:
            copy_out_blocks(
                self._conn, self._query, self._block_rows, self._deliver, self._stopping
            )
            self._put(_DONE)
        except BaseException as exc:  # handed to the consuming thread
            self._put(exc)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast("tuple[int, bytes]", item)

    def stop(self) -> None:
        """Stop the worker (cancelling the COPY if unfinished) and wait for it."""
        self._stopping.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
            self._thread.join(timeout=0.05)


def _emit(
    pending: list[pa.RecordBatch], batch_size: int, final: bool = False
) -> Iterator[pa.RecordBatch]:
    """Yield ``batch_size``-row batches from the parsed blocks (the rest too when ``final``).

    ``pending`` keeps what is left over, so memory stays within about two
    batches: the one being yielded and the blocks parsed after it.
    """
    while pending:
        total = sum(b.num_rows for b in pending)
        if total < batch_size and not final:
            return
        combined = pa.concat_batches(pending) if len(pending) > 1 else pending[0]
        pending.clear()
        rest = combined.slice(batch_size)
        if rest.num_rows:
            pending.append(rest)
        yield combined.slice(0, batch_size)


def _parse(plan: WirePlan, count: int, data: bytes, context: ErrorContext) -> pa.RecordBatch:
    try:
        batch = parse_block(plan, data)
    except ColumnConversionError as exc:
        field = plan.schema.field(exc.column)
        raise TypeNotRepresentable(
            f"a value of column {exc.column!r} cannot be represented as {field.type}: {exc.reason}",
            context,
            column=exc.column,
        ) from exc
    except pa.ArrowInvalid as exc:
        raise _conversion_error(plan, str(exc), context) from exc
    if batch.num_rows != count:
        raise ReadFailed(
            f"COPY sent {count} rows but {batch.num_rows} were parsed; "
            "the server's COPY framing is not one row per message",
            context,
        )
    return batch


def _conversion_error(plan: WirePlan, message: str, context: ErrorContext) -> BaniError:
    """A readable error for a value Arrow could not parse, naming the column."""
    column_name: str | None = None
    found = _CSV_COLUMN.search(message)
    if found is not None and int(found.group(1)) < len(plan.csv_column_names):
        column_name = plan.owner_of(int(found.group(1))).field.name
    field = plan.schema.field(column_name) if column_name else None
    text = f"a value cannot be represented as Arrow: {message}"
    if field is not None:
        text = f"a value of column {column_name!r} cannot be represented as {field.type}: {message}"
    return TypeNotRepresentable(text, context, column=column_name)
