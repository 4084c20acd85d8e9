"""Arrow <-> MySQL values, column by column, with no I/O.

Reading: the reader selects each column through the expression its
:class:`~bani.connectors.mysql.type_mapper.ReadKind` names, receives an Arrow
array (from connectorx, natively typed) or strings (from pymysql's text
protocol), and :func:`decode_column` turns either into the mapper's declared
Arrow type with Arrow compute kernels: exact decimals from their text, zero
dates under the configured policy, TIME beyond 24 h and negative, the
tinyint(1) rule checked rather than assumed.

Writing: :func:`encode_column` turns any Arrow array into the text MySQL
parses back to the same value (every column becomes an Arrow string array,
nulls kept as nulls), and says which ``SET`` expression the target column
needs: binary values travel as hex and are ``UNHEX``-ed by the server, so no
byte of a BLOB is ever read as text; BIT columns are assigned through
``CAST(… AS UNSIGNED)``; geometries through ``ST_GeomFromWKB``.  The same
encoded columns feed ``LOAD DATA`` (as CSV) and the INSERT fallback (as bound
parameters), so both paths write identical values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from bani.connectors.mysql.type_mapper import MySQLType, ReadKind
from bani.errors import ReadFailed, WriteFailed

__all__ = [
    "DecodeResult",
    "EncodedColumn",
    "decode_column",
    "encode_column",
    "hex_encode",
    "zero_date_mask",
]

_ZERO_IN_DATE: Final = r"^\d{4}-00|^\d{4}-\d{2}-00"
_TIME_TEXT: Final = r"^(?P<sign>-?)(?P<h>\d+):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?$"
_MICROS_PER_DAY: Final = 86_400_000_000

_MAX_INT32: Final = 2**31 - 1


# -- reading -----------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeResult:
    """A decoded column and how many zero dates it turned into NULL."""

    array: pa.Array
    zero_dates: int = 0


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def zero_date_mask(text: pa.Array) -> pa.Array:
    """True where a date/datetime text has a zero month or day (``0000-00-00``, ``2020-00-00``)."""
    return pc.fill_null(pc.match_substring_regex(text, _ZERO_IN_DATE), False)


def decode_column(
    values: pa.Array | pa.ChunkedArray,
    kind: ReadKind,
    target: pa.DataType,
    *,
    column: str,
    zero_date: str = "null",
    table: str | None = None,
) -> DecodeResult:
    """Turn one column as received into ``target``.

    ``values`` is whatever arrived: a native Arrow type (connectorx) or
    strings (pymysql's text protocol); both decode to the same result.
    Failures are :class:`~bani.errors.ReadFailed` naming the column.
    """
    array = _as_array(values)
    try:
        return _decode(array, kind, target, column=column, zero_date=zero_date, table=table)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ReadFailed(
            f"cannot read {kind.value} values as {target}: {exc}", column=column, table=table
        ) from exc


def _decode(
    array: pa.Array,
    kind: ReadKind,
    target: pa.DataType,
    *,
    column: str,
    zero_date: str,
    table: str | None,
) -> DecodeResult:
    if kind is ReadKind.BOOL:
        return DecodeResult(_decode_bool(array, column=column, table=table))
    if kind is ReadKind.BIT:
        as_int = array if pa.types.is_integer(array.type) else pc.cast(array, pa.uint64())
        if pa.types.is_boolean(target):
            return DecodeResult(pc.not_equal(as_int, 0))
        return DecodeResult(pc.cast(as_int, target))
    if kind in (ReadKind.DATE, ReadKind.DATETIME, ReadKind.TIMESTAMP):
        return _decode_temporal(
            array, kind, target, column=column, zero_date=zero_date, table=table
        )
    if kind is ReadKind.TIME:
        return DecodeResult(_decode_time(array, target, column=column, table=table))
    if pa.types.is_binary(target) and pa.types.is_string(array.type):
        # A binary-typed value that arrived as text (never from the reader's own
        # paths, which keep binary as bytes) is its UTF-8 bytes.
        return DecodeResult(array.cast(pa.binary()))
    if array.type == target:
        return DecodeResult(array)
    return DecodeResult(pc.cast(array, target))


def _decode_bool(array: pa.Array, *, column: str, table: str | None) -> pa.Array:
    ints = array if pa.types.is_integer(array.type) else pc.cast(array, pa.int16())
    outside = pc.and_(pc.not_equal(ints, 0), pc.not_equal(ints, 1))
    if pc.any(outside).as_py():
        bad = pc.filter(ints, outside)[0].as_py()
        raise ReadFailed(
            f"tinyint(1) column holds {bad}, which is not a boolean; set the connector "
            "option tinyint1=int to read it as int8",
            column=column,
            table=table,
            setting="tinyint1",
        )
    return pc.not_equal(ints, 0)


def _decode_temporal(
    array: pa.Array,
    kind: ReadKind,
    target: pa.DataType,
    *,
    column: str,
    zero_date: str,
    table: str | None,
) -> DecodeResult:
    text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
    parse_as = pa.date32() if kind is ReadKind.DATE else pa.timestamp("us")
    zeros = 0
    try:
        # Fast path: Arrow refuses zero months and days, so a batch without
        # zero dates parses in one kernel and needs no mask.
        parsed = pc.cast(text, parse_as)
    except pa.ArrowInvalid:
        mask = zero_date_mask(text)
        zeros = int(pc.sum(mask).as_py() or 0)
        if not zeros:
            raise  # not a zero date: an invalid one (ALLOW_INVALID_DATES), reported as such
        if zero_date == "error":
            first = pc.filter(text, mask)[0].as_py()
            raise ReadFailed(
                f"zero date {first!r} ({zeros} in this batch); set the connector option "
                "zero_date=null to read zero dates as NULL",
                column=column,
                table=table,
                setting="zero_date",
            ) from None
        parsed = pc.cast(pc.if_else(mask, pa.scalar(None, pa.string()), text), parse_as)
    # TIMESTAMP text is UTC wall time (the session zone is UTC): tagging it
    # UTC is a metadata change, not a conversion.
    return DecodeResult(parsed if parsed.type == target else parsed.cast(target), zeros)


def _decode_time(
    array: pa.Array, target: pa.DataType, *, column: str, table: str | None
) -> pa.Array:
    text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
    parts = pc.extract_regex(text, _TIME_TEXT)
    unparsed = pc.and_(text.is_valid(), parts.is_null())
    if pc.any(unparsed).as_py():
        bad = pc.filter(text, unparsed)[0].as_py()
        raise ReadFailed(f"cannot parse TIME value {bad!r}", column=column, table=table)
    hours = pc.cast(pc.struct_field(parts, "h"), pa.int64())
    minutes = pc.cast(pc.struct_field(parts, "m"), pa.int64())
    seconds = pc.cast(pc.struct_field(parts, "s"), pa.int64())
    frac_text = pc.utf8_rpad(pc.struct_field(parts, "f"), width=6, padding="0")
    frac = pc.cast(pc.if_else(pc.equal(frac_text, "000000"), "0", frac_text), pa.int64())
    total = pc.add(
        pc.multiply(
            pc.add(pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60), seconds), 1_000_000
        ),
        frac,
    )
    negative = pc.equal(pc.struct_field(parts, "sign"), "-")
    micros = pc.if_else(negative, pc.negate(total), total)
    if pa.types.is_time(target):
        outside = pc.or_(pc.less(micros, 0), pc.greater_equal(micros, _MICROS_PER_DAY))
        if pc.any(outside).as_py():
            bad = pc.filter(text, outside)[0].as_py()
            raise ReadFailed(
                f"TIME value {bad!r} is not a time of day; set the connector option "
                "time_as=duration to read it as a duration",
                column=column,
                table=table,
                setting="time_as",
            )
        return micros.cast(pa.time64("us")).cast(target)
    return micros.cast(pa.duration("us")).cast(target)


# -- writing -----------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedColumn:
    """One column ready for the server: text values plus how to assign them.

    ``expression`` wraps the incoming value: ``"{}"`` for a plain column,
    ``"UNHEX({})"`` for binary, ``"CAST({} AS UNSIGNED)"`` for BIT,
    ``"ST_GeomFromWKB(UNHEX({}))"`` for geometry.  The placeholder is a user
    variable for ``LOAD DATA`` and ``%s`` for the INSERT fallback.
    """

    name: str
    values: pa.Array
    expression: str = "{}"

    @property
    def direct(self) -> bool:
        return self.expression == "{}"


def hex_encode(array: pa.Array) -> pa.Array:
    """Hex text of every binary value (upper case, as UNHEX reads it), nulls kept.

    The value buffer is hex-encoded in one ``bytes.hex()`` call and the
    offsets doubled with an Arrow kernel: no per-row Python.
    """
    if pa.types.is_fixed_size_binary(array.type):
        array = array.cast(pa.binary())
    if pa.types.is_string(array.type):
        array = array.cast(pa.binary())
    elif pa.types.is_large_string(array.type):
        array = array.cast(pa.large_binary())
    large = pa.types.is_large_binary(array.type)
    offset_type = pa.int64() if large else pa.int32()
    n = len(array)
    buffers = array.buffers()
    offsets = pa.Array.from_buffers(offset_type, n + 1, [None, buffers[1]], offset=array.offset)
    start = offsets[0].as_py()
    end = offsets[n].as_py()
    data = buffers[2]
    hexed = data[start:end].hex() if data is not None and end > start else b""
    out_large = large or len(hexed) > _MAX_INT32
    new_offsets = pc.multiply(pc.subtract(offsets.cast(pa.int64()), start), 2)
    if not out_large:
        new_offsets = new_offsets.cast(pa.int32())
    validity = pc.is_valid(array).buffers()[1] if array.null_count else None
    return pa.Array.from_buffers(
        pa.large_string() if out_large else pa.string(),
        n,
        [validity, new_offsets.buffers()[1], pa.py_buffer(hexed)],
        null_count=array.null_count,
    )


def _duration_text(array: pa.Array) -> pa.Array:
    """``[-]H:MM:SS.ffffff`` for durations (MySQL TIME literal form)."""
    micros = pc.cast(pc.cast(array, pa.duration("us")), pa.int64())
    negative = pc.less(micros, 0)
    absolute = pc.abs(micros)
    secs = pc.divide(absolute, 1_000_000)
    frac = pc.subtract(absolute, pc.multiply(secs, 1_000_000))
    hours = pc.divide(secs, 3600)
    mins_total = pc.divide(secs, 60)
    minutes = pc.subtract(mins_total, pc.multiply(hours, 60))
    seconds = pc.subtract(secs, pc.multiply(mins_total, 60))

    def padded(values: pa.Array, width: int) -> pa.Array:
        return pc.utf8_lpad(pc.cast(values, pa.string()), width=width, padding="0")

    sign = pc.if_else(negative, "-", "")
    return pc.binary_join_element_wise(
        sign,
        pc.cast(hours, pa.string()),
        ":",
        padded(minutes, 2),
        ":",
        padded(seconds, 2),
        ".",
        padded(frac, 6),
        "",
    )


def _json_text(array: pa.Array) -> pa.Array:
    """Nested values as JSON text (per-row; only for list/struct/map columns)."""
    return pa.array(
        [
            None if v is None else json.dumps(v, default=str, ensure_ascii=False)
            for v in array.to_pylist()
        ],
        type=pa.string(),
    )


def encode_column(
    array: pa.Array | pa.ChunkedArray,
    *,
    name: str,
    target: MySQLType,
    table: str | None = None,
) -> EncodedColumn:
    """The text MySQL parses back to each value, and the assignment it needs.

    Every result is a ``string`` (or ``large_string``) array with the input's
    nulls.  Floats that MySQL cannot store (NaN, ±inf) are refused here with
    the column's name rather than left to a server warning.
    """
    values = _as_array(array)
    t = values.type
    if pa.types.is_dictionary(t):
        values = values.dictionary_decode()
        t = values.type
    binary_target = target.is_binary or target.is_geometry
    if target.is_geometry:
        expression = "ST_GeomFromWKB(UNHEX({}))"
    elif target.is_binary:
        expression = "UNHEX({})"
    elif target.name == "bit":
        expression = "CAST({} AS UNSIGNED)"
    else:
        expression = "{}"

    if binary_target and (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    ):
        return EncodedColumn(name, hex_encode(values), expression)
    try:
        text = _text(values, name=name, table=table)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise WriteFailed(
            f"cannot encode {t} values for a {target.render()} column: {exc}",
            column=name,
            table=table,
        ) from exc
    if binary_target:
        text = hex_encode(text)
    return EncodedColumn(name, text, expression)


def _text(values: pa.Array, *, name: str, table: str | None) -> pa.Array:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return values
    if pa.types.is_boolean(t):
        return pc.cast(pc.cast(values, pa.uint8()), pa.string())
    if pa.types.is_floating(t):
        bad = pc.or_(pc.is_nan(values), pc.is_inf(values))
        if pc.any(bad).as_py():
            raise WriteFailed(
                f"{pc.filter(values, bad)[0].as_py()} cannot be stored in MySQL",
                column=name,
                table=table,
            )
        return pc.cast(values, pa.string())
    if pa.types.is_timestamp(t):
        unit = "us" if t.unit == "ns" else t.unit
        naive = values.cast(pa.timestamp(t.unit))
        if t.unit == "ns":
            naive = naive.cast(pa.timestamp(unit), safe=False)
        return pc.cast(naive, pa.string())
    if pa.types.is_time(t):
        if t.unit == "ns":
            values = values.cast(pa.time64("us"), safe=False)
        return pc.cast(values, pa.string())
    if pa.types.is_duration(t):
        return _duration_text(values)
    if pa.types.is_date64(t):
        return pc.cast(values.cast(pa.date32()), pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        # Bytes into a text column must be UTF-8; the cast validates that.
        return values.cast(pa.binary()).cast(pa.string())
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_struct(t)
        or pa.types.is_map(t)
    ):
        return _json_text(values)
    if pa.types.is_null(t):
        return pa.nulls(len(values), pa.string())
    return pc.cast(values, pa.string())
