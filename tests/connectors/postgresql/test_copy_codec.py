"""The column-wise binary COPY encoder, checked without a server.

psycopg's own binary loaders are the oracle: every field the encoder
produces is decoded by the loader PostgreSQL's wire format has in psycopg,
and must give back the value that went in.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg.adapt import Transformer
from psycopg.pq import Format

from bani.connectors.postgresql._copy_codec import (
    HEADER,
    TRAILER,
    TargetColumn,
    encode_rows,
    plan_encoding,
)
from bani.errors import ErrorContext, SchemaMismatch

OIDS = {
    "int2": 21,
    "int4": 23,
    "int8": 20,
    "float4": 700,
    "float8": 701,
    "bool": 16,
    "numeric": 1700,
    "text": 25,
    "varchar": 1043,
    "jsonb": 3802,
    "bytea": 17,
    "uuid": 2950,
    "date": 1082,
    "time": 1083,
    "timestamp": 1114,
    "timestamptz": 1184,
}
ARRAY_OIDS = {"int4": 1007, "text": 1009, "numeric": 1231, "float8": 1022, "bool": 1000}


def _split_rows(data: bytes, columns: int) -> list[list[bytes | None]]:
    """Parse binary COPY rows (no header) into per-row field payloads."""
    rows: list[list[bytes | None]] = []
    pos = 0
    while pos < len(data):
        (count,) = struct.unpack_from(">h", data, pos)
        assert count == columns
        pos += 2
        row: list[bytes | None] = []
        for _ in range(count):
            (length,) = struct.unpack_from(">i", data, pos)
            pos += 4
            if length == -1:
                row.append(None)
            else:
                row.append(data[pos : pos + length])
                pos += length
        rows.append(row)
    return rows


def _encode(array: pa.Array, target: TargetColumn) -> list[bytes | None]:
    batch = pa.record_batch({target.name: array})
    plan = plan_encoding(batch.schema, [target], ErrorContext())
    assert not plan[0].staged, f"{target.typname} from {array.type} was staged"
    return [row[0] for row in _split_rows(bytes(encode_rows(plan, batch)), 1)]


def _load(typname: str, payloads: list[bytes | None], *, array: bool = False) -> list[Any]:
    oid = ARRAY_OIDS[typname] if array else OIDS[typname]
    loader = Transformer().get_loader(oid, Format.BINARY)
    return [None if p is None else loader.load(p) for p in payloads]


def _round_trip(typname: str, array: pa.Array, **target: Any) -> list[Any]:
    return _load(typname, _encode(array, TargetColumn("c", typname, **target)))


@pytest.mark.parametrize(
    ("typname", "arrow_type", "values"),
    [
        ("int2", pa.int16(), [-32768, 0, None, 32767]),
        ("int4", pa.int64(), [-(2**31), 7, None, 2**31 - 1]),  # cast to int4 first
        ("int8", pa.int8(), [-128, None, 127]),
        ("int8", pa.uint32(), [0, 2**32 - 1]),
        ("float8", pa.float64(), [1.5, -0.0, float("inf"), None, 5e-324]),
        ("float4", pa.float32(), [1.5, float("-inf"), None]),
        ("bool", pa.bool_(), [True, None, False]),
        ("text", pa.string(), ["héllo ✓", "", None, "a\x01b"]),
        ("text", pa.large_string(), ["x", None]),
        ("varchar", pa.int32(), [12, None]),  # numbers into a text column are their text
        ("bytea", pa.binary(), [b"\x00\xff\x00", b"", None]),
        ("date", pa.date32(), [dt.date(1, 1, 1), dt.date(2000, 1, 1), None, dt.date(9999, 12, 31)]),
        ("time", pa.time64("us"), [dt.time(0), dt.time(23, 59, 59, 999999), None]),
        (
            "timestamp",
            pa.timestamp("us"),
            [dt.datetime(1900, 1, 1), dt.datetime(2024, 2, 29, 12, 0, 0, 1), None],
        ),
    ],
)
def test_scalar_fields_decode_to_the_values_encoded(
    typname: str, arrow_type: pa.DataType, values: list[Any]
) -> None:
    decoded = _round_trip(typname, pa.array(values, arrow_type))
    expected = ["a\x01b" if v == "a\x01b" else v for v in values]
    if typname == "varchar":
        expected = [None if v is None else str(v) for v in values]
    assert decoded == expected


def test_timestamptz_fields_are_utc_instants() -> None:
    values = [dt.datetime(2024, 3, 10, 10, 30, 0, 1, tzinfo=dt.UTC), None]
    decoded = _round_trip("timestamptz", pa.array(values, pa.timestamp("us", tz="UTC")))
    assert decoded == values
    naive = pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("ms"))  # read as UTC
    assert _round_trip("timestamptz", naive) == [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)]


@pytest.mark.parametrize(
    ("precision", "scale"),
    [
        (1, 0),
        (5, 2),
        (10, 10),
        (15, 2),
        (18, 0),
        (18, 17),
        (19, 4),
        (38, 10),
        (38, 0),
        (60, 20),
        (76, 38),
    ],
)
def test_decimals_of_every_width_keep_every_digit(precision: int, scale: int) -> None:
    rng = random.Random(precision * 100 + scale)

    def exact(unscaled: int) -> Decimal:
        return Decimal(f"{unscaled}E-{scale}")  # no context rounding

    values: list[Decimal | None] = [None, exact(0)]
    for _ in range(300):
        digits = rng.randint(1, precision)
        values.append(exact(rng.randint(-(10**digits) + 1, 10**digits - 1)))
    values.append(exact(10**precision - 1))
    values.append(exact(-(10**precision) + 1))
    arrow_type = (
        pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    )
    decoded = _round_trip("numeric", pa.array(values, arrow_type))
    assert decoded == values
    # The display scale is the declared one (1.50 stays 1.50, not 1.5).
    assert all(d is None or d.as_tuple().exponent == -scale for d in decoded)


def test_numeric_text_keeps_digits_scale_and_special_values() -> None:
    texts = [
        "1.50",
        "-0.000000000000000000001",
        "123456789012345678901234567890123456789012345678901234567890.000000000000000000000001",
        "NaN",
        "Infinity",
        "-Infinity",
        "0",
        ".5",
        None,
    ]
    decoded = _round_trip("numeric", pa.array(texts))
    assert [None if d is None else str(d) for d in decoded] == [
        "1.50",
        "-1E-21",
        "123456789012345678901234567890123456789012345678901234567890.000000000000000000000001",
        "NaN",
        "Infinity",
        "-Infinity",
        "0",
        "0.5",
        None,
    ]
    assert decoded[1] == Decimal("-0.000000000000000000001")


def test_integers_into_numeric_keep_the_unsigned_64_bit_range() -> None:
    values = [0, 2**64 - 1, None]
    assert _round_trip("numeric", pa.array(values, pa.uint64())) == [
        Decimal(0),
        Decimal(2**64 - 1),
        None,
    ]


def test_bad_numeric_text_names_the_value() -> None:
    with pytest.raises(ValueError, match="'1e5'"):
        _encode(pa.array(["1", "1e5"]), TargetColumn("c", "numeric"))


def test_uuid_from_text_and_from_bytes() -> None:
    first = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    decoded = _round_trip("uuid", pa.array([str(first), None, first.hex]))
    assert decoded == [first, None, first]
    raw = pa.array([first.bytes], pa.binary(16))
    assert _round_trip("uuid", raw) == [first]
    with pytest.raises(ValueError, match="not a UUID"):
        _encode(pa.array(["not-a-uuid"]), TargetColumn("c", "uuid"))


def test_jsonb_gets_its_version_byte() -> None:
    decoded = _round_trip("jsonb", pa.array(['{"a": [1, 2]}', None]))
    assert decoded == [{"a": [1, 2]}, None]


def test_interval_fields_hold_months_days_and_microseconds() -> None:
    mdn = pa.array(
        [
            pa.MonthDayNano([14, 3, 14_706_789_000_000]),
            None,
            pa.MonthDayNano([-1, -2, -3_000_001_000]),
        ],
        pa.month_day_nano_interval(),
    )
    payloads = _encode(mdn, TargetColumn("c", "interval"))
    unpacked = [None if p is None else struct.unpack(">qii", p) for p in payloads]
    assert unpacked == [(14_706_789_000, 3, 14), None, (-3_000_001, -2, -1)]


@pytest.mark.parametrize(
    ("element", "arrow_type", "values"),
    [
        ("int4", pa.int32(), [[1, None, 3], [], None, [2**31 - 1]]),
        ("text", pa.string(), [["a,b", 'c"d', None, ""], [], ["ü"]]),
        ("numeric", pa.decimal128(10, 2), [[Decimal("1.50"), None], [Decimal("-0.01")]]),
        ("float8", pa.float64(), [[1.5, float("inf")], []]),
        ("bool", pa.bool_(), [[True, False, None]]),
    ],
)
def test_arrays_carry_their_elements_and_element_type(
    element: str, arrow_type: pa.DataType, values: list[Any]
) -> None:
    target = TargetColumn(
        "c", f"_{element}", is_array=True, elem_typname=element, elem_oid=OIDS[element]
    )
    array = pa.array(values, pa.list_(arrow_type))
    decoded = _load(element, _encode(array, target), array=True)
    assert decoded == values
    sliced = array.slice(1)  # offsets that do not start at zero
    assert _load(element, _encode(sliced, target), array=True) == values[1:]


def test_columns_without_a_binary_encoder_are_staged_as_text() -> None:
    schema = pa.schema([("a", pa.string()), ("b", pa.float64()), ("c", pa.int32())])
    targets = [
        TargetColumn("a", "inet"),
        TargetColumn("b", "numeric"),
        TargetColumn("c", "int4"),
    ]
    plan = plan_encoding(schema, targets, ErrorContext())
    assert [e.staged for e in plan] == [True, True, False]


def test_rows_are_framed_as_binary_copy() -> None:
    batch = pa.record_batch({"a": pa.array([1, None], pa.int32()), "b": ["x", None]})
    plan = plan_encoding(
        batch.schema, [TargetColumn("a", "int4"), TargetColumn("b", "text")], ErrorContext()
    )
    data = bytes(encode_rows(plan, batch))
    assert data == (
        struct.pack(">hii", 2, 4, 1) + struct.pack(">i", 1) + b"x" + struct.pack(">hii", 2, -1, -1)
    )
    assert HEADER.startswith(b"PGCOPY\n\xff\r\n\x00") and TRAILER == b"\xff\xff"


def test_unknown_or_generated_columns_are_schema_mismatches() -> None:
    schema = pa.schema([("a", pa.int32()), ("zz", pa.int32())])
    with pytest.raises(SchemaMismatch, match="zz"):
        plan_encoding(schema, [TargetColumn("a", "int4")], ErrorContext())
    with pytest.raises(SchemaMismatch, match="generated"):
        plan_encoding(
            pa.schema([("a", pa.int32())]),
            [TargetColumn("a", "int4", generated=True)],
            ErrorContext(),
        )


def test_psycopg_is_the_oracle_here() -> None:
    # Guard: the loaders used above are psycopg's binary ones.
    assert Transformer().get_loader(1700, Format.BINARY).format == psycopg.pq.Format.BINARY
