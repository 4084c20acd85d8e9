"""Read side: turning ``COPY ... TO STDOUT (FORMAT csv)`` output into typed Arrow.

Why CSV: measured on this project's benchmark (``bench/bench_postgresql.py``,
1M rows x 16 columns), letting the server print CSV and parsing it with
Arrow's C++ CSV reader, column types given up front, beats every other exact
path from Python -- psycopg binary COPY parsed row by row (~4x slower),
server-side cursors (~2x before any Arrow conversion), ADBC (~1.5x) -- and
keeps one driver with its diagnostics, transactions and cancellation.
Only connectorx was faster (~15-20 %, Rust parsing) when told to send
numerics as text, at the cost of a second driver without sqlstates or a
transaction we control.  Text is exact for every type the reader uses it
for; the few types whose text Arrow cannot parse are asked for in another
*wire form* the server computes (see
:data:`~bani.connectors.postgresql.type_mapper.Wire`):

==========  ===================================  ==============================
wire        server sends                         Arrow conversion (columnar)
==========  ===================================  ==============================
plain       the column's text output             parsed as the target type
numeric     ``col::numeric`` (money)             parsed as a decimal
hex         ``encode(col, 'hex')``               one ``binascii.unhexlify`` per
                                                 batch over the values buffer
send        ``timestamp_send(col)`` etc. (bytea)  hex decoded and byte-swapped per
                                                 batch; days/µs since 2000 moved
                                                 to the Unix epoch (exact over the
                                                 whole range; ±infinity refused)
interval    months, days, µs (three columns)     packed into month_day_nano
array       ``array_to_json(col::text[])``       read as NDJSON ``list<string>``,
                                                 elements cast to their type
==========  ===================================  ==============================

NULL and the empty string stay apart: string-valued wire columns are
force-quoted, so an unquoted empty field is NULL and ``""`` is ``''``.

This module is pure (Arrow only): given the wire columns' CSV bytes it returns
the batch; ``data_reader`` drives the COPY.
"""

from __future__ import annotations

import array
import binascii
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from bani.connectors.postgresql._copy_codec import typed_scalar
from bani.connectors.postgresql.type_mapper import Wire

__all__ = ["ColumnConversionError", "WireColumn", "WirePlan", "parse_block"]

_US_PER_NS: Final = 1000


@dataclass(frozen=True)
class WireColumn:
    """One output column: its Arrow field and how it travels."""

    field: pa.Field
    wire: Wire

    @property
    def csv_types(self) -> tuple[pa.DataType, ...]:
        """The types of the CSV columns the server sends for this column."""
        arrow_type = self.field.type
        match self.wire:
            case "plain" | "numeric":
                # Arrow's CSV reader has no decimal256 conversion: such
                # columns are read as text and cast (exactly) afterwards.
                return (pa.string() if _is_decimal256(arrow_type) else arrow_type,)
            case "hex" | "array":
                return (pa.string(),)
            case "send":
                return (pa.string(),)
            case "interval":
                return (pa.int32(), pa.int32(), pa.int64())
        raise AssertionError(self.wire)

    @property
    def quoted(self) -> tuple[bool, ...]:
        """Which CSV columns are force-quoted: those where ``''`` and NULL differ.

        A send-format value is never empty, so it needs no quotes.
        """
        return tuple(pa.types.is_string(t) and self.wire != "send" for t in self.csv_types)


class WirePlan:
    """The CSV layout of one read: the Arrow schema and each column's wire form."""

    def __init__(self, schema: pa.Schema, columns: Sequence[WireColumn]) -> None:
        self.schema = schema
        self.columns = tuple(columns)
        types = [t for c in self.columns for t in c.csv_types]
        self.csv_column_names = [f"c{i}" for i in range(len(types))]
        self.read_options = pacsv.ReadOptions(column_names=self.csv_column_names)
        self.parse_options = pacsv.ParseOptions(newlines_in_values=True, double_quote=True)
        self.convert_options = pacsv.ConvertOptions(
            column_types=dict(zip(self.csv_column_names, types, strict=True)),
            # Only an unquoted empty field is NULL: "NaN", "NULL", "N/A" are
            # values, and a quoted "" is the empty string.
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        )

    def owner_of(self, csv_index: int) -> WireColumn:
        """The column a CSV column index belongs to (for error messages)."""
        for column in self.columns:
            width = len(column.csv_types)
            if csv_index < width:
                return column
            csv_index -= width
        raise IndexError(csv_index)


def parse_block(plan: WirePlan, data: bytes | memoryview) -> pa.RecordBatch:
    """CSV bytes of whole rows -> one RecordBatch with the plan's schema."""
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=plan.read_options,
        parse_options=plan.parse_options,
        convert_options=plan.convert_options,
    )
    table = table.combine_chunks()
    arrays: list[pa.Array] = []
    position = 0
    for column in plan.columns:
        width = len(column.csv_types)
        parts = [_single_chunk(table.column(position + i)) for i in range(width)]
        position += width
        try:
            arrays.append(_convert(column, parts))
        except (pa.ArrowInvalid, ValueError) as exc:
            raise ColumnConversionError(column.field.name, str(exc)) from exc
    return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


class ColumnConversionError(ValueError):
    """A column's values have no representation as its Arrow type."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"column {column!r}: {reason}")
        self.column = column
        self.reason = reason


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    return pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)


def _convert(column: WireColumn, parts: Sequence[pa.Array]) -> pa.Array:
    target = column.field.type
    match column.wire:
        case "plain" | "numeric":
            return parts[0].cast(target) if _is_decimal256(target) else parts[0]
        case "hex":
            return unhex(parts[0])
        case "send":
            return from_send_format(parts[0], target)
        case "interval":
            return month_day_nano(parts[0], parts[1], parts[2])
        case "array":
            return json_lists(parts[0], target)
    raise AssertionError(column.wire)


def unhex(hex_text: pa.Array) -> pa.Array:
    """Hex strings -> binary, decoding the whole values buffer in one call.

    The values of a string array are one contiguous buffer; null slots are
    empty.  Decoding that buffer at once and halving the offsets gives the
    binary array without touching a row in Python.
    """
    arr = _zero_offset(hex_text)
    n = len(arr)
    if n == 0:
        return pa.array([], pa.binary())
    validity, offsets_buf, data_buf = arr.buffers()
    offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, offsets_buf])
    start = offsets[0].as_py()
    end = offsets[n].as_py()
    decoded = binascii.unhexlify(memoryview(data_buf)[start:end]) if end > start else b""
    halved = pc.divide(
        pc.subtract(offsets, pa.scalar(start, pa.int32())), typed_scalar(2, pa.int32())
    )
    return pa.Array.from_buffers(
        pa.binary(),
        n,
        [validity, halved.buffers()[1], pa.py_buffer(decoded)],
        null_count=arr.null_count,
    )


#: PostgreSQL's epoch (2000-01-01) in Unix days and microseconds.
_PG_EPOCH_DAYS: Final = 10_957
_PG_EPOCH_US: Final = 946_684_800_000_000


def from_send_format(hex_text: pa.Array, target: pa.DataType) -> pa.Array:
    """``\\x``-prefixed hex of date/time/timestamp send formats -> the Arrow type.

    PostgreSQL sends a date as big-endian int32 days since 2000-01-01, a time
    as int64 µs since midnight, a timestamp as int64 µs since 2000-01-01.  The
    whole column is decoded at once: drop the ``\\x`` prefixes (hex digits
    never contain them), unhexlify, byte-swap, shift the epoch.  ``±infinity``
    (the integer type's extremes) and values outside Arrow's range are a
    :class:`ValueError`, which the reader reports naming the column.
    """
    is_date = pa.types.is_date(target)
    int_type = pa.int32() if is_date else pa.int64()
    width = 4 if is_date else 8
    arr = _zero_offset(hex_text)
    n = len(arr)
    valid = n - arr.null_count
    raw = b""
    if valid:
        offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, arr.buffers()[1]])
        start, end = offsets[0].as_py(), offsets[n].as_py()
        raw = binascii.unhexlify(
            bytes(memoryview(arr.buffers()[2])[start:end]).replace(b"\\x", b"")
        )
    if len(raw) != width * valid:
        raise ValueError(
            f"unexpected send format for {target} ({len(raw)} bytes for {valid} values)"
        )
    words = array.array("i" if is_date else "q")
    words.frombytes(raw)
    if sys.byteorder == "little":
        words.byteswap()
    values = pa.Array.from_buffers(int_type, valid, [None, pa.py_buffer(words)])
    if valid:
        limits = pc.min_max(values)
        info = (2**31 - 1, -(2**31)) if is_date else (2**63 - 1, -(2**63))
        if limits["max"].as_py() == info[0] or limits["min"].as_py() == info[1]:
            raise ValueError("infinity or -infinity has no Arrow value")
    if pa.types.is_timestamp(target):
        values = pc.add_checked(values, typed_scalar(_PG_EPOCH_US, pa.int64()))
    elif is_date:
        values = pc.add_checked(values, typed_scalar(_PG_EPOCH_DAYS, pa.int32()))
    if arr.null_count:
        values = pc.replace_with_mask(pa.nulls(n, int_type), arr.is_valid(), values)
    return values.view(target) if is_date else values.cast(target)


def month_day_nano(months: pa.Array, days: pa.Array, micros: pa.Array) -> pa.Array:
    """Three int arrays -> ``month_day_nano_interval`` by packing 16-byte rows."""
    n = len(months)
    if n == 0:
        return pa.array([], pa.month_day_nano_interval())
    months = _zero_offset(months)
    nanos = pc.multiply_checked(micros.fill_null(0), pa.scalar(_US_PER_NS, pa.int64()))
    packed = pc.binary_join_element_wise(
        months.fill_null(0).view(pa.binary(4)).cast(pa.binary()),
        days.fill_null(0).view(pa.binary(4)).cast(pa.binary()),
        nanos.view(pa.binary(8)).cast(pa.binary()),
        pa.scalar(b"", pa.binary()),
    )
    offsets = pa.Array.from_buffers(
        pa.int32(), n + 1, [None, packed.buffers()[1]], offset=packed.offset
    )
    start = offsets[0].as_py()
    data = packed.buffers()[2][start : start + 16 * n]
    return pa.Array.from_buffers(
        pa.month_day_nano_interval(), n, [months.buffers()[0], data], null_count=months.null_count
    )


def json_lists(json_text: pa.Array, target: pa.DataType) -> pa.Array:
    """JSON arrays of strings (``array_to_json(col::text[])``) -> ``list<target element>``.

    The rows become NDJSON (``{"v": [...]}\\n``, NULL as ``null``) in Arrow,
    Arrow's JSON reader parses them as ``list<string>``, and the element
    strings -- PostgreSQL's text form of each element -- are converted
    column-wise like a plain column of that type.
    """
    n = len(json_text)
    element_type = target.value_type
    if n == 0:
        return pa.array([], target)
    lines = pc.binary_join_element_wise(
        typed_scalar('{"v":', pa.string()),
        json_text.fill_null("null"),
        typed_scalar("}\n", pa.string()),
        typed_scalar("", pa.string()),
    )
    offsets = pa.Array.from_buffers(
        pa.int32(), n + 1, [None, lines.buffers()[1]], offset=lines.offset
    )
    start, end = offsets[0].as_py(), offsets[n].as_py()
    ndjson = lines.buffers()[2][start:end]
    parsed = pajson.read_json(
        pa.BufferReader(ndjson),
        parse_options=pajson.ParseOptions(
            explicit_schema=pa.schema([pa.field("v", pa.list_(pa.string()))]),
            newlines_in_values=False,
        ),
    )
    lists = _single_chunk(parsed.column(0))
    values = element_text_to_arrow(lists.values, element_type)
    return pa.ListArray.from_arrays(lists.offsets, values, type=target, mask=lists.is_null())


def element_text_to_arrow(text: pa.Array, target: pa.DataType) -> pa.Array:
    """PostgreSQL text forms of array elements -> ``target`` values, column-wise."""
    if pa.types.is_string(target):
        return text
    if pa.types.is_boolean(target):
        return pc.equal(text, typed_scalar("true", pa.string()))
    if pa.types.is_binary(target):
        return unhex(pc.utf8_slice_codeunits(text, 2))  # drop the "\x" prefix
    return text.cast(target)


def _is_decimal256(arrow_type: pa.DataType) -> bool:
    return isinstance(arrow_type, pa.Decimal256Type)


def _zero_offset(arr: pa.Array) -> pa.Array:
    """The same values in an array whose buffers start at its first element."""
    return pa.concat_arrays([arr]) if arr.offset else arr
