"""Streaming a SQLite table as Arrow record batches, column by column.

Rows come from one ``SELECT`` on a read-only connection, ``fetchmany`` at a
time, so memory is bounded by the batch size.  Each batch is transposed once
(``zip(*rows)``) and every column becomes one Arrow array of the type the
mapper chose for its declared type; dates, times and decimals are converted
by vectorised ``pyarrow.compute`` casts, not value by value.

SQLite is dynamically typed: a column may hold values of any storage class.
Where a declared type admits several (a decimal column holds REALs and
INTEGERs, a NUMERIC-affinity column anything), the ``SELECT`` splits the
column by ``typeof()`` into a REAL part and a text part, each of which Arrow
reads in bulk, and the two are merged (see :mod:`._values`).  A value that
does not fit the column's Arrow type at all (text in an INTEGER column) is a
:class:`~bani.errors.ReadFailed` naming the table and column.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from bani.connectors.sqlite._connection import CONNECTOR, SQLiteFile, translate_error
from bani.connectors.sqlite._ddl import quote
from bani.connectors.sqlite._values import (
    decimal_from_storage,
    exact_text_from_storage,
    read_bool,
    read_date,
    read_time,
    read_timestamp,
)
from bani.connectors.sqlite.schema_reader import MAIN_SCHEMA, read_table_definition
from bani.connectors.sqlite.type_mapper import affinity_of
from bani.domain.arrow_fields import arrow_schema_for_table, parse_arrow_type
from bani.domain.chunks import KeyRange
from bani.domain.schema import ColumnDefinition, TableDefinition
from bani.errors import ConfigurationError, ReadFailed, SchemaMismatch

__all__ = ["ColumnDecoder", "SQLiteReader", "decoder_for"]

Builder = Callable[[Sequence[Sequence[object]]], pa.Array]

_ARROW_ERRORS: Final = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    ValueError,
    TypeError,
    OverflowError,
)


@dataclass(frozen=True)
class ColumnDecoder:
    """How one column is selected (1 or 2 SQL expressions) and built into an Arrow array."""

    column: ColumnDefinition
    arrow_type: pa.DataType
    projections: tuple[str, ...]
    build: Builder


def _real_part(q: str) -> str:
    return f"CASE typeof({q}) WHEN 'real' THEN {q} END"


def _text_part(q: str) -> str:
    return (
        f"CASE typeof({q}) WHEN 'real' THEN NULL "
        f"WHEN 'integer' THEN CAST({q} AS TEXT) ELSE {q} END"
    )


def _blob_part(q: str) -> str:
    return f"CASE typeof({q}) WHEN 'real' THEN NULL WHEN 'blob' THEN {q} ELSE CAST({q} AS BLOB) END"


def _single(build: Callable[[Sequence[object]], pa.Array]) -> Builder:
    return lambda parts: build(parts[0])


def _plain(arrow_type: pa.DataType) -> Builder:
    return _single(lambda values: pa.array(values, arrow_type))


#: Given the quoted column and its Arrow type: the SQL projections and the builder.
_Factory = Callable[[str, pa.DataType], tuple[tuple[str, ...], Builder]]


def _one(build: Callable[[pa.DataType], Builder]) -> _Factory:
    """One projection, the column as stored."""
    return lambda q, t: ((q,), build(t))


def _exact_text(target: pa.DataType, other_part: Callable[[str], str]) -> _Factory:
    """Two projections, REALs apart from everything else, merged as exact text."""

    def make(q: str, _t: pa.DataType) -> tuple[tuple[str, ...], Builder]:
        build: Builder = lambda p: exact_text_from_storage(p[0], p[1], target)  # noqa: E731
        return (_real_part(q), other_part(q)), build

    return make


def _decimal(q: str, t: pa.DataType) -> tuple[tuple[str, ...], Builder]:
    """Two projections, REALs rounded at the scale, the rest parsed from digits."""
    return (_real_part(q), _text_part(q)), (lambda p: decimal_from_storage(p[0], p[1], t))

#: How a column is selected and built, by its Arrow type and declared affinity, in order.
_DECODERS: Final[tuple[tuple[Callable[[pa.DataType, str], bool], _Factory], ...]] = (
    (lambda t, _a: pa.types.is_int64(t), _one(_plain)),
    (lambda t, _a: pa.types.is_float64(t), _one(_plain)),
    (lambda t, _a: pa.types.is_boolean(t), _one(lambda _t: _single(read_bool))),
    (lambda t, a: pa.types.is_string(t) and a == "TEXT", _one(_plain)),
    (lambda t, _a: pa.types.is_string(t), _exact_text(pa.string(), _text_part)),
    (lambda t, _a: pa.types.is_binary(t), _exact_text(pa.binary(), _blob_part)),
    (lambda t, _a: pa.types.is_date32(t), _one(lambda _t: _single(read_date))),
    (
        lambda t, _a: pa.types.is_timestamp(t),
        _one(lambda t: _single(lambda v: read_timestamp(v, t))),
    ),
    (lambda t, _a: pa.types.is_time64(t), _one(lambda _t: _single(read_time))),
    (lambda t, _a: pa.types.is_decimal(t), _decimal),
)


def decoder_for(column: ColumnDefinition) -> ColumnDecoder:
    """The projection and Arrow builder for a column, chosen by its mapped Arrow type.

    A string column of TEXT affinity is read as stored; one of another
    affinity may mix storage classes and goes through the exact-text path.
    """
    t = parse_arrow_type(column.arrow_type_str)
    affinity = affinity_of(column.data_type)
    for matches, factory in _DECODERS:
        if matches(t, affinity):
            projections, build = factory(quote(column.name), t)
            return ColumnDecoder(column, t, projections, build)
    raise ConfigurationError(
        f"the SQLite reader has no decoder for Arrow type {t}",
        connector=CONNECTOR,
        column=column.name,
    )


def _choose_columns(table: TableDefinition, columns: list[str] | None) -> list[ColumnDefinition]:
    if columns is None:
        return list(table.columns)
    by_name = {c.name.lower(): c for c in table.columns}
    missing = [name for name in columns if name.lower() not in by_name]
    if missing:
        raise SchemaMismatch(
            f"no column {', '.join(repr(m) for m in missing)} in table {table.table_name!r}; "
            f"columns: {', '.join(c.name for c in table.columns)}",
            connector=CONNECTOR,
            table=table.table_name,
            column=missing[0],
        )
    return [by_name[name.lower()] for name in columns]


def _where(
    table: TableDefinition, filter_sql: str | None, key_range: KeyRange | None
) -> tuple[str, list[int]]:
    clauses: list[str] = []
    params: list[int] = []
    if filter_sql:
        clauses.append(f"({filter_sql})")
    if key_range is not None:
        key = _choose_columns(table, [key_range.column])[0]
        if key_range.lower is not None:
            clauses.append(f"{quote(key.name)} >= ?")
            params.append(key_range.lower)
        if key_range.upper is not None:
            clauses.append(f"{quote(key.name)} < ?")
            params.append(key_range.upper)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


@dataclass(frozen=True)
class _ReadPlan:
    table: TableDefinition
    decoders: tuple[ColumnDecoder, ...]
    schema: pa.Schema
    sql: str
    params: tuple[int, ...]


class SQLiteReader:
    """Reads tables of one SQLite file; every call opens its own read-only connection."""

    def __init__(self, file: SQLiteFile) -> None:
        self._file = file

    def plan(
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None,
        filter_sql: str | None,
        key_range: KeyRange | None,
    ) -> _ReadPlan:
        """Resolve the table and columns and build the SELECT (errors surface here)."""
        with self._file.read_only() as conn:
            try:
                table = read_table_definition(conn, table_name, schema_name)
            except sqlite3.Error as exc:
                raise translate_error(
                    exc, "read", self._file.path, table=table_name, schema=schema_name
                ) from exc
        chosen = _choose_columns(table, columns)
        decoders = tuple(decoder_for(c) for c in chosen)
        projections = ", ".join(p for d in decoders for p in d.projections)
        where, params = _where(table, filter_sql, key_range)
        sql = "SELECT " + projections + " FROM " + quote(table.table_name) + where  # noqa: S608 (quoted identifiers, bound values)
        schema = arrow_schema_for_table(table, [c.name for c in chosen])
        return _ReadPlan(table, decoders, schema, sql, tuple(params))

    def read_table(
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None = None,
        filter_sql: str | None = None,
        batch_size: int = 100_000,
        key_range: KeyRange | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Batches of at most ``batch_size`` rows; the table is checked before the first one."""
        if batch_size <= 0:
            raise ConfigurationError(
                f"batch_size must be positive, got {batch_size}",
                connector=CONNECTOR,
                setting="batch_size",
            )
        plan = self.plan(table_name, schema_name, columns, filter_sql, key_range)
        return self._stream(plan, batch_size)

    def key_bounds(
        self, table_name: str, schema_name: str, column: str, filter_sql: str | None
    ) -> tuple[int | None, int | None, int]:
        """``(min, max, rows)`` of an integer key column in one query."""
        with self._file.read_only() as conn:
            try:
                table = read_table_definition(conn, table_name, schema_name)
                key = _choose_columns(table, [column])[0]
                where, params = _where(table, filter_sql, None)
                name = quote(key.name)
                sql = (
                    f"SELECT MIN({name}), MAX({name}), COUNT(*) "  # noqa: S608 - quoted names
                    f"FROM {quote(table.table_name)}{where}"
                )
                low, high, rows = conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise translate_error(
                    exc, "read", self._file.path, table=table_name, schema=MAIN_SCHEMA
                ) from exc
        for bound in (low, high):
            if bound is not None and not isinstance(bound, int):
                raise ReadFailed(
                    f"key column {column!r} holds a non-integer value ({bound!r}); "
                    "it cannot be split into key ranges",
                    connector=CONNECTOR,
                    table=table_name,
                    column=column,
                )
        return low, high, int(rows)

    def _stream(self, plan: _ReadPlan, batch_size: int) -> Iterator[pa.RecordBatch]:
        table = plan.table.table_name
        with self._file.read_only() as conn:
            deadline = _Deadline(conn, self._file.statement_timeout)
            try:
                deadline.restart()
                cursor = conn.execute(plan.sql, plan.params)
                while rows := cursor.fetchmany(batch_size):
                    yield self._batch(plan, rows)
                    deadline.restart()
            except sqlite3.OperationalError as exc:
                if deadline.expired:
                    raise ReadFailed(
                        f"reading stopped after the statement timeout of "
                        f"{self._file.statement_timeout} s",
                        connector=CONNECTOR,
                        schema=MAIN_SCHEMA,
                        table=table,
                        setting="statement_timeout_ms",
                    ) from exc
                raise translate_error(
                    exc, "read", self._file.path, table=table, schema=MAIN_SCHEMA
                ) from exc
            except sqlite3.Error as exc:
                raise translate_error(
                    exc, "read", self._file.path, table=table, schema=MAIN_SCHEMA
                ) from exc

    @staticmethod
    def _batch(plan: _ReadPlan, rows: list[tuple[object, ...]]) -> pa.RecordBatch:
        values = list(zip(*rows, strict=True))
        arrays: list[pa.Array] = []
        position = 0
        for decoder in plan.decoders:
            width = len(decoder.projections)
            parts = values[position : position + width]
            position += width
            try:
                arrays.append(decoder.build(parts))
            except _ARROW_ERRORS as exc:
                column = decoder.column
                raise ReadFailed(
                    f"column {column.name!r} (declared {column.data_type or 'without a type'!r}) "
                    f"holds a value that is not {decoder.arrow_type}: {exc}",
                    connector=CONNECTOR,
                    schema=MAIN_SCHEMA,
                    table=plan.table.table_name,
                    column=column.name,
                ) from exc
        return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


class _Deadline:
    """Interrupts a SQLite statement that runs longer than the statement timeout.

    The clock restarts before the query and before each batch fetch, so the
    timeout bounds the work SQLite does per step, not the time a slow client
    takes to consume the stream.  SQLite calls the progress handler every
    few thousand VM instructions; a non-zero return aborts the statement.
    """

    _INSTRUCTIONS: Final = 10_000

    def __init__(self, conn: sqlite3.Connection, seconds: float | None) -> None:
        self._seconds = seconds
        self._until = 0.0
        self.expired = False
        if seconds is not None:
            conn.set_progress_handler(self._check, self._INSTRUCTIONS)

    def restart(self) -> None:
        if self._seconds is not None:
            self._until = time.monotonic() + self._seconds

    def _check(self) -> int:
        if time.monotonic() > self._until:
            self.expired = True
            return 1
        return 0
