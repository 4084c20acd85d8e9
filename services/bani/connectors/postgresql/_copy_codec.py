"""Write side: Arrow record batches -> PostgreSQL binary COPY, column by column.

Binary COPY is row-major (per row: a field count, then per field a 4-byte
length and the value in the type's binary ``recv`` format), Arrow is
column-major.  The encoder never loops over rows in Python: each column is
turned by Arrow compute kernels into a binary array holding, per row, that
field's bytes (length prefix + big-endian value, or null), and one
``binary_join_element_wise`` over all columns -- nulls replaced by the -1
length -- produces every row at once.  The joined array's values buffer *is*
the COPY payload.

Encoders are chosen by the *target* column's type (from the catalog), so the
bytes are what that column's ``recv`` function expects: ``int4`` gets 4
bytes even when the Arrow column is ``int64`` (cast first; an overflow is an
error naming the column), an array gets its element type's oid, ``jsonb``
gets its version byte.  A pair of Arrow type and target type with no binary
encoder here (``inet``, ``timetz``, ranges, a float into ``numeric`` ...) is
*staged*: the column travels as text into a temporary table and PostgreSQL's
own input function converts it in an ``INSERT ... SELECT`` inside the same
transaction (see ``data_writer``).

Pure module: Arrow in, bytes out; unit-tested without a server.
"""

from __future__ import annotations

import binascii
import functools
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from bani.errors import ErrorContext, SchemaMismatch, TypeNotRepresentable

__all__ = [
    "HEADER",
    "TRAILER",
    "ColumnEncoding",
    "TargetColumn",
    "encode_rows",
    "plan_encoding",
]

#: Binary COPY signature, flags (no OIDs) and header-extension length.
HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
#: The end-of-data marker (a field count of -1).
TRAILER: Final = struct.pack(">h", -1)
_NULL_FIELD: Final = struct.pack(">i", -1)
_EMPTY: Final = pa.scalar(b"", pa.binary())

#: Microseconds / days between the Unix epoch and PostgreSQL's 2000-01-01.
_PG_EPOCH_US: Final = 946_684_800_000_000
_PG_EPOCH_DAYS: Final = 10_957
_NS_PER_US: Final = 1000

#: Numeric sign words (``numeric.c``: NUMERIC_POS/NEG/NAN/PINF/NINF).
_NUMERIC_NEG: Final = 0x4000
_NUMERIC_NAN: Final = 0xC000
_NUMERIC_PINF: Final = 0xD000
_NUMERIC_NINF: Final = 0xF000
#: Largest decimal precision whose unscaled value (after aligning the scale
#: to a multiple of 4) fits int64 arithmetic.
_INT64_DIGITS: Final = 18

FieldEncoder = Callable[[pa.Array], pa.Array]


@dataclass(frozen=True)
class TargetColumn:
    """A target column as the catalog describes it (domains resolved to their base)."""

    name: str
    typname: str
    typtype: str = "b"
    declared: str = ""
    is_array: bool = False
    elem_typname: str | None = None
    elem_typtype: str | None = None
    elem_oid: int = 0
    generated: bool = False


@dataclass(frozen=True)
class ColumnEncoding:
    """How one incoming column is written: binary-encoded, or staged as text."""

    name: str
    target: TargetColumn
    encoder: FieldEncoder
    staged: bool


# -- small building blocks ----------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def typed_scalar(value: object, dtype: pa.DataType) -> pa.Scalar:
    """A typed Arrow scalar, cached.

    Compute kernels given a bare Python value infer its type, and pyarrow's
    inference tries optional imports (``dateutil``) on every call -- a
    filesystem search each time they are absent.  Typed scalars skip that.
    """
    return pa.scalar(value, dtype)


_I64 = pa.int64()


def _const(data: bytes) -> pa.Scalar:
    return pa.scalar(data, pa.binary())


def _length_prefix(width: int) -> pa.Scalar:
    return _const(struct.pack(">i", width))


def _be(values: pa.Array, width: int) -> pa.Array:
    """Fixed-width numbers -> their big-endian bytes as a binary array."""
    raw = values.view(pa.binary(width)).cast(pa.binary())
    return raw if width == 1 else pc.binary_reverse(raw)


def _fixed_field(values: pa.Array, width: int) -> pa.Array:
    return pc.binary_join_element_wise(_length_prefix(width), _be(values, width), _EMPTY)


def _var_field(payload: pa.Array) -> pa.Array:
    """Variable-length payload -> length-prefixed field bytes."""
    lengths = pc.binary_length(payload).cast(pa.int32())
    return pc.binary_join_element_wise(_be(lengths, 4), payload, _EMPTY)


def _as_binary(values: pa.Array) -> pa.Array:
    if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
        return values.cast(pa.binary())
    if pa.types.is_string(values.type) or pa.types.is_fixed_size_binary(values.type):
        return values.cast(pa.binary())
    return values


def _zero_offset(values: pa.Array) -> pa.Array:
    return pa.concat_arrays([values]) if values.offset else values


def _offsets(values: pa.Array) -> pa.Array:
    """The int32 offsets of a binary/list array as an array (length n + 1)."""
    return pa.Array.from_buffers(
        pa.int32(), len(values) + 1, [None, values.buffers()[1]], offset=values.offset
    )


def values_buffer(values: pa.Array) -> memoryview:
    """The contiguous bytes of all values of a binary array, in row order."""
    n = len(values)
    if n == 0:
        return memoryview(b"")
    offsets = _offsets(values)
    start, end = offsets[0].as_py(), offsets[n].as_py()
    return memoryview(values.buffers()[2])[start:end]


# -- encoders per target type ---------------------------------------------------------------


def _cast(values: pa.Array, target: pa.DataType, *, safe: bool = True) -> pa.Array:
    return values if values.type == target else pc.cast(values, target, safe=safe)


def _int_encoder(width: int) -> Callable[[pa.DataType], FieldEncoder | None]:
    arrow_type = {2: pa.int16(), 4: pa.int32(), 8: pa.int64()}[width]

    def choose(source: pa.DataType) -> FieldEncoder | None:
        if not (
            pa.types.is_integer(source)
            or pa.types.is_boolean(source)
            or pa.types.is_decimal(source)
        ):
            return None
        return lambda values: _fixed_field(_cast(values, arrow_type), width)

    return choose


def _float_encoder(width: int) -> Callable[[pa.DataType], FieldEncoder | None]:
    arrow_type = pa.float32() if width == 4 else pa.float64()

    def choose(source: pa.DataType) -> FieldEncoder | None:
        if not (
            pa.types.is_floating(source)
            or pa.types.is_integer(source)
            or pa.types.is_decimal(source)
        ):
            return None
        return lambda values: _fixed_field(_cast(values, arrow_type, safe=False), width)

    return choose


def _bool_encoder(source: pa.DataType) -> FieldEncoder | None:
    if not (pa.types.is_boolean(source) or pa.types.is_integer(source)):
        return None
    return lambda values: _fixed_field(_cast(values, pa.bool_()).cast(pa.uint8()), 1)


def _is_text(source: pa.DataType) -> bool:
    return bool(pa.types.is_string(source) or pa.types.is_large_string(source))


def _text_encoder(source: pa.DataType) -> FieldEncoder | None:
    """UTF-8 bytes: text, varchar, bpchar, name, json, xml, citext and enum labels."""
    if _is_text(source):
        return lambda values: _var_field(_as_binary(values))
    if pa.types.is_dictionary(source) and _is_text(source.value_type):
        return lambda values: _var_field(_as_binary(values.cast(source.value_type)))
    if _castable_to_text(source):
        return lambda values: _var_field(_as_binary(values.cast(pa.string())))
    return None


def _castable_to_text(source: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(source)
        or pa.types.is_floating(source)
        or pa.types.is_decimal(source)
        or pa.types.is_boolean(source)
        or pa.types.is_date(source)
        or pa.types.is_timestamp(source)
        or pa.types.is_time(source)
    )


_JSONB_VERSION: Final = _const(b"\x01")


def _jsonb_encoder(source: pa.DataType) -> FieldEncoder | None:
    if not _is_text(source):
        return None
    return lambda values: _var_field(
        pc.binary_join_element_wise(_JSONB_VERSION, _as_binary(values), _EMPTY)
    )


def _bytea_encoder(source: pa.DataType) -> FieldEncoder | None:
    if not (
        pa.types.is_binary(source)
        or pa.types.is_large_binary(source)
        or pa.types.is_fixed_size_binary(source)
        or _is_text(source)
    ):
        return None
    return lambda values: _var_field(_as_binary(values))


def _uuid_encoder(source: pa.DataType) -> FieldEncoder | None:
    if source == pa.binary(16):
        return lambda values: _fixed_payload_field(values.cast(pa.binary()), 16)
    if _is_text(source):
        return _uuid_from_text
    return None


def _fixed_payload_field(payload: pa.Array, width: int) -> pa.Array:
    return pc.binary_join_element_wise(_length_prefix(width), payload, _EMPTY)


def _uuid_from_text(values: pa.Array) -> pa.Array:
    """Canonical or bare-hex UUID text -> 16 bytes, decoding all rows in one call."""
    bare = pc.replace_substring(values.cast(pa.string()), "-", "")
    lengths = pc.binary_length(bare)
    bad = pc.and_kleene(bare.is_valid(), pc.not_equal(lengths, typed_scalar(32, pa.int32())))
    if pc.any(bad).as_py():
        example = pc.filter(values, bad)[0].as_py()
        raise ValueError(f"{example!r} is not a UUID")
    filled = _zero_offset(bare.fill_null("0" * 32).cast(pa.binary()))
    decoded = binascii.unhexlify(values_buffer(filled))
    raw = pa.Array.from_buffers(pa.binary(16), len(values), [None, pa.py_buffer(decoded)])
    payload = pc.if_else(values.is_valid(), raw.cast(pa.binary()), pa.scalar(None, pa.binary()))
    return _fixed_payload_field(payload, 16)


def _date_encoder(source: pa.DataType) -> FieldEncoder | None:
    if not pa.types.is_date(source):
        return None

    def encode(values: pa.Array) -> pa.Array:
        days = _cast(values, pa.date32()).view(pa.int32())
        return _fixed_field(pc.subtract_checked(days, pa.scalar(_PG_EPOCH_DAYS, pa.int32())), 4)

    return encode


def _time_encoder(source: pa.DataType) -> FieldEncoder | None:
    if not pa.types.is_time(source):
        return None
    return lambda values: _fixed_field(
        _cast(values, pa.time64("us"), safe=False).view(pa.int64()), 8
    )


def _timestamp_encoder(source: pa.DataType) -> FieldEncoder | None:
    """timestamp and timestamptz: µs since 2000-01-01 (UTC for instants).

    Arrow keeps instants in UTC whatever the zone label, so a zoned value's
    integer is its UTC time; a naive value written into ``timestamptz`` is
    read as UTC (documented).
    """
    if not (pa.types.is_timestamp(source) or pa.types.is_date(source)):
        return None

    def encode(values: pa.Array) -> pa.Array:
        if pa.types.is_date(values.type):
            values = values.cast(pa.timestamp("us"))
        tz = values.type.tz
        micros = _cast(values, pa.timestamp("us", tz=tz), safe=False).view(pa.int64())
        return _fixed_field(pc.subtract_checked(micros, pa.scalar(_PG_EPOCH_US, pa.int64())), 8)

    return encode


def _interval_encoder(source: pa.DataType) -> FieldEncoder | None:
    """interval: int64 µs, int32 days, int32 months (in that order, big-endian)."""
    if source == pa.month_day_nano_interval():
        return _interval_from_mdn
    if pa.types.is_duration(source):

        def encode(values: pa.Array) -> pa.Array:
            micros = _be(_cast(values, pa.duration("us"), safe=False).view(pa.int64()), 8)
            return pc.binary_join_element_wise(
                _length_prefix(16), micros, _const(b"\x00" * 8), _EMPTY
            )

        return encode
    return None


def _interval_from_mdn(values: pa.Array) -> pa.Array:
    raw = values.view(pa.binary(16)).cast(pa.binary())
    months = pc.binary_reverse(pc.binary_slice(raw, 0, 4))
    days = pc.binary_reverse(pc.binary_slice(raw, 4, 8))
    nanos = pc.binary_slice(raw, 8, 16).cast(pa.binary(8)).view(pa.int64())
    micros = _be(pc.divide(nanos, pa.scalar(_NS_PER_US, pa.int64())), 8)
    return pc.binary_join_element_wise(_length_prefix(16), micros, days, months, _EMPTY)


# -- numeric --------------------------------------------------------------------------------


def _numeric_encoder(source: pa.DataType) -> FieldEncoder | None:
    if pa.types.is_decimal(source):
        return _numeric_from_decimal
    if pa.types.is_integer(source):
        return lambda values: _numeric_from_decimal(values.cast(pa.decimal128(20, 0)))
    if _is_text(source):
        return _numeric_from_text
    return None


def _ceil4(digits: int) -> int:
    return -(-max(digits, 0) // 4)


def _numeric_from_decimal(values: pa.Array) -> pa.Array:
    dtype = values.type
    if dtype.scale < 0:
        values = values.cast(_decimal_like(dtype, dtype.precision - dtype.scale, 0))
        dtype = values.type
    precision, scale = dtype.precision, dtype.scale
    frac_groups = _ceil4(scale)
    align = 4 * frac_groups - scale
    if isinstance(dtype, pa.Decimal128Type) and precision + align <= _INT64_DIGITS:
        return _numeric_small(values, precision, scale)
    unscaled_type = (
        pa.decimal128(38, 0) if isinstance(dtype, pa.Decimal128Type) else pa.decimal256(76, 0)
    )
    text = values.view(unscaled_type).cast(pa.string())
    negative = pc.starts_with(text, "-")
    width = max(precision, scale)
    digits = pc.utf8_lpad(pc.utf8_ltrim(text, "-"), width, "0")
    int_part = pc.utf8_slice_codeunits(digits, 0, width - scale)
    frac_part = pc.utf8_slice_codeunits(digits, width - scale, width)
    return _numeric_from_parts(
        negative, int_part, frac_part, width - scale, scale, pa.scalar(scale, pa.int16())
    )


def _bswap16(values: pa.Array) -> pa.Array:
    low = pc.shift_left(pc.bit_wise_and(values, typed_scalar(0xFF, _I64)), typed_scalar(8, _I64))
    return pc.bit_wise_or(low, pc.shift_right(values, typed_scalar(8, _I64)))


def _signed64(word: int) -> int:
    return int(struct.unpack("<q", struct.pack("<Q", word & 0xFFFFFFFFFFFFFFFF))[0])


def _decimal_like(dtype: pa.DataType, precision: int, scale: int) -> pa.DataType:
    if isinstance(dtype, pa.Decimal128Type) and precision <= 38:
        return pa.decimal128(precision, scale)
    return pa.decimal256(precision, scale)


def _numeric_small(values: pa.Array, precision: int, scale: int) -> pa.Array:
    """decimal128 with at most 18 aligned digits: base-10000 digits by int64 arithmetic.

    Digits are packed four to an int64 word whose little-endian bytes are the
    big-endian int16 digits, so a row needs no string work at all.  The digit
    count is rounded up to a multiple of four with leading zero digits, which
    ``numeric_recv`` strips.
    """
    frac_groups = _ceil4(scale)
    align = 4 * frac_groups - scale
    int_groups = _ceil4(precision - scale)
    groups = int_groups + frac_groups
    lead = (-groups) % 4
    int_groups += lead
    groups += lead
    unscaled = values.view(pa.decimal128(38, 0)).cast(pa.int64())
    if align:
        unscaled = pc.multiply(unscaled, typed_scalar(10**align, _I64))
    negative = pc.less(unscaled, typed_scalar(0, _I64))
    magnitude = pc.abs(unscaled)
    header = 0
    for slot, value in enumerate((groups, int_groups - 1, 0, scale)):
        swapped = ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)
        header |= swapped << (16 * slot)
    sign_word = ((_NUMERIC_NEG & 0xFF) << 8 | _NUMERIC_NEG >> 8) << 32
    words = [
        pc.if_else(
            negative,
            pa.scalar(_signed64(header | sign_word), pa.int64()),
            pa.scalar(_signed64(header), pa.int64()),
        )
    ]
    # Base-10000 digits from the least significant up: one division each.
    digits: list[pa.Array | None] = [None] * groups
    base = typed_scalar(10_000, _I64)
    remaining = magnitude
    for k in reversed(range(groups)):
        if 4 * (groups - 1 - k) > _INT64_DIGITS:
            break  # leading digits beyond int64's reach are zero
        if k == 0 or 4 * (groups - k) > _INT64_DIGITS:
            digits[k] = remaining
            break
        quotient = pc.divide(remaining, base)
        digits[k] = pc.subtract(remaining, pc.multiply(quotient, base))
        remaining = quotient
    for w in range(groups // 4):
        word: pa.Array | None = None
        for j in range(4):
            digit = digits[4 * w + j]
            if digit is None:
                continue
            term = pc.shift_left(_bswap16(digit), typed_scalar(16 * j, _I64))
            word = term if word is None else pc.bit_wise_or(word, term)
        words.append(word if word is not None else pc.multiply(magnitude, typed_scalar(0, _I64)))
    parts = [w.view(pa.binary(8)).cast(pa.binary()) for w in words]
    return pc.binary_join_element_wise(_length_prefix(8 + 2 * groups), *parts, _EMPTY)


_NUMBER_TEXT: Final = r"^(?P<i>\d*)(?:\.(?P<f>\d*))?$"
_SPECIAL_NUMERIC: Final[Mapping[str, int]] = MappingProxyType(
    {"NaN": _NUMERIC_NAN, "Infinity": _NUMERIC_PINF, "-Infinity": _NUMERIC_NINF}
)


def _numeric_from_text(values: pa.Array) -> pa.Array:
    """Decimal text (unconstrained numeric, wide decimals) -> numeric, digits kept.

    The display scale is each row's own count of fraction digits, so ``1.50``
    stays ``1.50``.  ``NaN`` and ``±Infinity`` become numeric's special values.
    """
    text = values.cast(pa.string())
    negative = pc.starts_with(text, "-")
    body = pc.utf8_ltrim(text, "+-")
    parts = pc.extract_regex(body, _NUMBER_TEXT)
    int_part = pc.struct_field(parts, "i")
    frac_part = pc.struct_field(parts, "f")
    int_width = pc.max(pc.utf8_length(int_part)).as_py() or 0
    frac_width = pc.max(pc.utf8_length(frac_part)).as_py() or 0
    dscale = pc.utf8_length(frac_part).cast(pa.int16())
    regular = _numeric_from_parts(negative, int_part, frac_part, int_width, frac_width, dscale)
    special_mask: pa.Array | None = None
    for label, sign in _SPECIAL_NUMERIC.items():
        is_label = pc.equal(text, typed_scalar(label, pa.string()))
        field = _const(struct.pack(">ihhHh", 8, 0, 0, sign, 0))
        regular = pc.if_else(is_label, field, regular)
        special_mask = is_label if special_mask is None else pc.or_(special_mask, is_label)
    bad = pc.and_kleene(text.is_valid(), regular.is_null())
    if pc.any(bad).as_py():
        example = pc.filter(text, bad)[0].as_py()
        raise ValueError(f"{example!r} is not a decimal number")
    return regular


def _numeric_from_parts(
    negative: pa.Array,
    int_part: pa.Array,
    frac_part: pa.Array,
    int_width: int,
    frac_width: int,
    dscale: pa.Array | pa.Scalar,
) -> pa.Array:
    """Sign and digit strings -> numeric field bytes (fixed digit count per batch)."""
    int_groups = _ceil4(int_width)
    frac_groups = _ceil4(frac_width)
    groups = int_groups + frac_groups
    padded = pc.binary_join_element_wise(
        pc.utf8_lpad(int_part, 4 * int_groups, "0"),
        pc.utf8_rpad(frac_part, 4 * frac_groups, "0"),
        "",
    )
    sign = pc.if_else(negative, pa.scalar(_NUMERIC_NEG, pa.int16()), pa.scalar(0, pa.int16()))
    if isinstance(dscale, pa.Scalar):
        dscale_bytes: pa.Array | pa.Scalar = _const(struct.pack(">h", dscale.as_py()))
    else:
        dscale_bytes = _be(dscale, 2)
    pieces: list[pa.Array | pa.Scalar] = [
        _length_prefix(8 + 2 * groups),
        _const(struct.pack(">hh", groups, int_groups - 1)),
        _be(sign, 2),
        dscale_bytes,
    ]
    for k in range(groups):
        digit = pc.utf8_slice_codeunits(padded, 4 * k, 4 * k + 4).cast(pa.int16())
        pieces.append(_be(digit, 2))
    return pc.binary_join_element_wise(*pieces, _EMPTY)


# -- arrays ---------------------------------------------------------------------------------


def _array_encoder(element: FieldEncoder, elem_oid: int) -> FieldEncoder:
    """One-dimensional arrays: header, then each element as a field (lbound 1)."""
    empty_header = _const(struct.pack(">iiI", 0, 0, elem_oid))
    header_start = _const(struct.pack(">iiI", 1, 0, elem_oid))
    lower_bound = _const(struct.pack(">i", 1))

    def encode(values: pa.Array) -> pa.Array:
        if pa.types.is_large_list(values.type):
            values = values.cast(pa.list_(values.type.value_type))
        n = len(values)
        child = values.values
        fields = _zero_offset(element(child).fill_null(_NULL_FIELD))
        field_offsets = _offsets(fields)
        starts = _zero_offset(pc.take(field_offsets, _offsets(values)))
        blob = pa.Array.from_buffers(
            pa.binary(), n, [None, starts.buffers()[1], fields.buffers()[2]]
        )
        counts = pc.list_value_length(values).fill_null(0).cast(pa.int32())
        header = pc.if_else(
            pc.equal(counts, typed_scalar(0, pa.int32())),
            empty_header,
            pc.binary_join_element_wise(header_start, _be(counts, 4), lower_bound, _EMPTY),
        )
        field = _var_field(pc.binary_join_element_wise(header, blob, _EMPTY))
        return pc.if_else(values.is_valid(), field, pa.scalar(None, pa.binary()))

    return encode


# -- choosing encoders ------------------------------------------------------------------------

Chooser = Callable[[pa.DataType], FieldEncoder | None]

_TEXT_TYPES: Final = ("text", "varchar", "bpchar", "name", "citext", "json", "xml")

#: Binary encoders by target base type name.  A chooser returns None when the
#: Arrow type cannot be encoded for that target; the column is then staged.
BINARY_ENCODERS: Final[Mapping[str, Chooser]] = MappingProxyType(
    {
        "int2": _int_encoder(2),
        "int4": _int_encoder(4),
        "int8": _int_encoder(8),
        "float4": _float_encoder(4),
        "float8": _float_encoder(8),
        "bool": _bool_encoder,
        "numeric": _numeric_encoder,
        **{name: _text_encoder for name in _TEXT_TYPES},
        "jsonb": _jsonb_encoder,
        "bytea": _bytea_encoder,
        "uuid": _uuid_encoder,
        "date": _date_encoder,
        "time": _time_encoder,
        "timestamp": _timestamp_encoder,
        "timestamptz": _timestamp_encoder,
        "interval": _interval_encoder,
    }
)


def _choose_scalar(typname: str, typtype: str, source: pa.DataType) -> FieldEncoder | None:
    if typtype == "e":
        return _text_encoder(source) if _is_text(source) else None
    chooser = BINARY_ENCODERS.get(typname)
    return chooser(source) if chooser is not None else None


def _choose(target: TargetColumn, source: pa.DataType) -> FieldEncoder | None:
    if pa.types.is_dictionary(source):
        inner = _choose(target, source.value_type)
        if inner is None:
            return None
        value_type = source.value_type
        return lambda values: inner(values.cast(value_type))
    if target.is_array:
        if not (pa.types.is_list(source) or pa.types.is_large_list(source)):
            return None
        if target.elem_typname is None or target.elem_oid == 0:
            return None
        element = _choose_scalar(target.elem_typname, target.elem_typtype or "b", source.value_type)
        return _array_encoder(element, target.elem_oid) if element is not None else None
    return _choose_scalar(target.typname, target.typtype, source)


def _stage_as_text(source: pa.DataType, column: str, context: ErrorContext) -> FieldEncoder:
    try:
        pa.array([], source).cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        raise TypeNotRepresentable(
            f"Arrow type {source} cannot be written to this column",
            context,
            column=column,
        ) from None
    return lambda values: _var_field(_as_binary(values.cast(pa.string())))


def plan_encoding(
    schema: pa.Schema, targets: Sequence[TargetColumn], context: ErrorContext
) -> tuple[ColumnEncoding, ...]:
    """Pick each incoming column's encoder from its target column's type.

    Incoming columns are matched to target columns by name; a name the target
    lacks (or a generated column) is a :class:`SchemaMismatch` naming it.
    """
    by_name = {t.name: t for t in targets}
    unknown = [f.name for f in schema if f.name not in by_name]
    if unknown:
        raise SchemaMismatch(
            f"the target table has no column(s) {', '.join(map(repr, unknown))}",
            context,
            column=unknown[0],
        )
    generated = [f.name for f in schema if by_name[f.name].generated]
    if generated:
        raise SchemaMismatch(
            f"column(s) {', '.join(map(repr, generated))} are generated on the target "
            "and cannot be written",
            context,
            column=generated[0],
        )
    plan: list[ColumnEncoding] = []
    for arrow_field in schema:
        target = by_name[arrow_field.name]
        encoder = _choose(target, arrow_field.type)
        if encoder is not None:
            plan.append(ColumnEncoding(arrow_field.name, target, encoder, staged=False))
        else:
            staged = _stage_as_text(arrow_field.type, arrow_field.name, context)
            plan.append(ColumnEncoding(arrow_field.name, target, staged, staged=True))
    return tuple(plan)


def encode_rows(plan: Sequence[ColumnEncoding], batch: pa.RecordBatch) -> memoryview:
    """One batch -> the binary COPY bytes of its rows (no header or trailer).

    An Arrow error while encoding a column (an overflow, a value the target
    type cannot hold) is re-raised as :class:`ValueError` naming the column.
    """
    fields: list[pa.Array] = []
    for encoding, column in zip(plan, batch.columns, strict=True):
        try:
            fields.append(encoding.encoder(column))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise ColumnEncodingError(encoding.name, str(exc)) from exc
    row_header = _const(struct.pack(">h", len(fields)))
    rows = pc.binary_join_element_wise(
        row_header,
        *fields,
        _EMPTY,
        null_handling="replace",
        null_replacement=_NULL_FIELD,
    )
    return values_buffer(rows)


class ColumnEncodingError(ValueError):
    """A column's values could not be encoded for its target type."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"column {column!r}: {reason}")
        self.column = column
        self.reason = reason
