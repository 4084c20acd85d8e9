"""The PostgreSQL type zoo: every mapped type, its Arrow type, and edge values.

``ZOO`` is the mapping table the tests assert against (the same table as
``docs/type-mappings.postgresql.md``): each column's declaration, the Arrow
type it must read as, four rows of edge values as SQL literals, and what the
Arrow batches must hold for them.  A fifth row is NULL in every column but
the key.

Values Python's ``datetime`` cannot hold (BC dates, year 200000, ``24:00``)
are given as :class:`Raw`: the integer the Arrow array stores (days or
microseconds since the epoch or midnight).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

UTC = dt.UTC
ROWS = 4


@dataclass(frozen=True)
class Raw:
    """An expected value compared with the Arrow array's stored integer."""

    value: int


def f32(value: float) -> float:
    """The float32 nearest ``value``, as Python sees it after a real column round trip."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@dataclass(frozen=True)
class ZooColumn:
    """One column: declaration, Arrow type, SQL literals and expected values for rows 1-4."""

    name: str
    declared: str
    arrow: pa.DataType
    sql: tuple[str, str, str, str]
    expected: tuple[Any, Any, Any, Any]
    fallback: bool = False


MOOD_LABELS = ("sad", "ok", "happy", "très heureux")

MDN = pa.MonthDayNano
US = 1000  # nanoseconds per microsecond

ZOO: tuple[ZooColumn, ...] = (
    ZooColumn(
        "c_int2", "smallint", pa.int16(), ("-32768", "32767", "0", "-1"), (-32768, 32767, 0, -1)
    ),
    ZooColumn(
        "c_int4",
        "integer",
        pa.int32(),
        ("-2147483648", "2147483647", "0", "42"),
        (-(2**31), 2**31 - 1, 0, 42),
    ),
    ZooColumn(
        "c_int8",
        "bigint",
        pa.int64(),
        ("-9223372036854775808", "9223372036854775807", "0", "1"),
        (-(2**63), 2**63 - 1, 0, 1),
    ),
    ZooColumn(
        "c_num38",
        "numeric(38,10)",
        pa.decimal128(38, 10),
        (
            "9999999999999999999999999999.9999999999",
            "-9999999999999999999999999999.9999999999",
            "0.0000000001",
            "-12.5",
        ),
        (
            Decimal("9999999999999999999999999999.9999999999"),
            Decimal("-9999999999999999999999999999.9999999999"),
            Decimal("0.0000000001"),
            Decimal("-12.5000000000"),
        ),
    ),
    ZooColumn(
        "c_num_small",
        "numeric(10,2)",
        pa.decimal128(10, 2),
        ("12345678.90", "-0.01", "0.10", "-99999999.99"),
        (Decimal("12345678.90"), Decimal("-0.01"), Decimal("0.10"), Decimal("-99999999.99")),
    ),
    ZooColumn(
        "c_num_wide",
        "numeric(60,20)",
        pa.decimal256(60, 20),
        (
            "1234567890123456789012345678901234567890.12345678901234567890",
            "-0.00000000000000000001",
            "0",
            "-9999999999999999999999999999999999999999.99999999999999999999",
        ),
        (
            Decimal("1234567890123456789012345678901234567890.12345678901234567890"),
            Decimal("-0.00000000000000000001"),
            Decimal("0"),
            Decimal("-9999999999999999999999999999999999999999.99999999999999999999"),
        ),
    ),
    ZooColumn(
        "c_num_free",
        "numeric",
        pa.string(),
        (
            "'NaN'",
            "1.50",
            "-123456789012345678901234567890123456789012345678901234567890"
            ".000000000000000000000000000001",
            "'Infinity'",
        ),
        (
            "NaN",
            "1.50",
            "-123456789012345678901234567890123456789012345678901234567890"
            ".000000000000000000000000000001",
            "Infinity",
        ),
    ),
    ZooColumn(
        "c_real",
        "real",
        pa.float32(),
        ("'NaN'", "'Infinity'", "'-Infinity'", "3.4028235e38"),
        (math.nan, math.inf, -math.inf, f32(3.4028235e38)),
    ),
    ZooColumn(
        "c_double",
        "double precision",
        pa.float64(),
        ("'NaN'", "1.7976931348623157e308", "'-Infinity'", "5e-324"),
        (math.nan, 1.7976931348623157e308, -math.inf, 5e-324),
    ),
    ZooColumn(
        "c_bool",
        "boolean",
        pa.bool_(),
        ("true", "false", "true", "false"),
        (True, False, True, False),
    ),
    ZooColumn(
        "c_text",
        "text",
        pa.string(),
        (
            "'héllo ✓ 😀'",
            "''",
            "E'line1\\nline2 \"quoted\", comma'",
            "E'back\\\\slash\\ttab'",
        ),
        ("héllo ✓ 😀", "", 'line1\nline2 "quoted", comma', "back\\slash\ttab"),
    ),
    ZooColumn(
        "c_varchar",
        "character varying(255)",
        pa.string(),
        ("'x'", "repeat('ü', 255)", "''", "'NULL'"),
        ("x", "ü" * 255, "", "NULL"),
    ),
    ZooColumn(
        "c_char",
        "character(5)",
        pa.string(),
        ("'ab'", "'abcde'", "''", "'ü'"),
        ("ab   ", "abcde", "     ", "ü    "),
    ),
    ZooColumn(
        "c_bytea",
        "bytea",
        pa.binary(),
        (
            "'\\x00ff00'::bytea",
            "''::bytea",
            "'\\xdeadbeef'::bytea",
            "decode(repeat('00', 1000), 'hex')",
        ),
        (b"\x00\xff\x00", b"", b"\xde\xad\xbe\xef", b"\x00" * 1000),
    ),
    ZooColumn(
        "c_date",
        "date",
        pa.date32(),
        ("'0001-01-01'", "'1969-12-31'", "'4713-11-24 BC'", "'5874897-12-31'"),
        (dt.date(1, 1, 1), dt.date(1969, 12, 31), Raw(-2440222), Raw(2145042905)),
    ),
    ZooColumn(
        "c_time",
        "time without time zone",
        pa.time64("us"),
        ("'00:00:00'", "'23:59:59.999999'", "'12:34:56.5'", "'24:00:00'"),
        (dt.time(0), dt.time(23, 59, 59, 999999), dt.time(12, 34, 56, 500000), Raw(86_400_000_000)),
    ),
    ZooColumn(
        "c_timetz",
        "time with time zone",
        pa.string(),
        ("'12:34:56.789+05:30'", "'00:00:00+00'", "'23:59:59.999999-12'", "'01:02:03-03:30'"),
        ("12:34:56.789+05:30", "00:00:00+00", "23:59:59.999999-12", "01:02:03-03:30"),
    ),
    ZooColumn(
        "c_ts",
        "timestamp without time zone",
        pa.timestamp("us"),
        (
            "'1900-01-01 00:00:00'",
            "'1969-12-31 23:59:59.999999'",
            "'9999-12-31 23:59:59.999999'",
            "'0044-03-15 12:00:00 BC'",
        ),
        (
            dt.datetime(1900, 1, 1),
            dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            Raw(-63_517_780_800_000_000),
        ),
    ),
    ZooColumn(
        "c_tstz",
        "timestamp with time zone",
        pa.timestamp("us", tz="UTC"),
        (
            "'2024-03-10 02:30:00.000001-08'",
            "'2024-06-01 12:00:00+05:30'",
            "'1901-12-13 20:45:52.123456+00'",
            "'200000-01-01 00:00:00+00'",
        ),
        (
            dt.datetime(2024, 3, 10, 10, 30, 0, 1, tzinfo=UTC),
            dt.datetime(2024, 6, 1, 6, 30, tzinfo=UTC),
            dt.datetime(1901, 12, 13, 20, 45, 52, 123456, tzinfo=UTC),
            Raw(6_249_223_180_800_000_000),
        ),
    ),
    ZooColumn(
        "c_interval",
        "interval",
        pa.month_day_nano_interval(),
        (
            "'1 year 2 mons 3 days 04:05:06.789'",
            "'-1 days +02:00'",
            "'100 hours'",
            "'-1 mons -2 days -00:00:03.000001'",
        ),
        (
            MDN([14, 3, 14_706_789_000 * US]),
            MDN([0, -1, 7_200_000_000 * US]),
            MDN([0, 0, 360_000_000_000 * US]),
            MDN([-1, -2, -3_000_001 * US]),
        ),
    ),
    ZooColumn(
        "c_uuid",
        "uuid",
        pa.string(),
        (
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
            "'00000000-0000-0000-0000-000000000000'",
            "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
            "'{123E4567-E89B-12D3-A456-426614174000}'",
        ),
        (
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "123e4567-e89b-12d3-a456-426614174000",
        ),
    ),
    ZooColumn(
        "c_json",
        "json",
        pa.string(),
        ('\'{"b": 1, "a": [1, 2.5, "x"]}\'', "'[]'", "'\"str\"'", "'null'"),
        ('{"b": 1, "a": [1, 2.5, "x"]}', "[]", '"str"', "null"),
    ),
    ZooColumn(
        "c_jsonb",
        "jsonb",
        pa.string(),
        ('\'{"é": "ü", "n": null, "a": [1, 2]}\'', "'[1, {\"b\": true}]'", "'{}'", "'1.50'"),
        ('{"a": [1, 2], "n": null, "é": "ü"}', '[1, {"b": true}]', "{}", "1.50"),
    ),
    ZooColumn(
        "c_inet",
        "inet",
        pa.string(),
        ("'192.168.0.1/24'", "'::1'", "'10.0.0.1'", "'2001:db8::/32'"),
        ("192.168.0.1/24", "::1", "10.0.0.1", "2001:db8::/32"),
    ),
    ZooColumn(
        "c_cidr",
        "cidr",
        pa.string(),
        ("'10.0.0.0/8'", "'192.168.1.0/24'", "'::/0'", "'2001:db8::/32'"),
        ("10.0.0.0/8", "192.168.1.0/24", "::/0", "2001:db8::/32"),
    ),
    ZooColumn(
        "c_macaddr",
        "macaddr",
        pa.string(),
        (
            "'08:00:2b:01:02:03'",
            "'ff:ff:ff:ff:ff:ff'",
            "'00:00:00:00:00:00'",
            "'01-23-45-67-89-ab'",
        ),
        ("08:00:2b:01:02:03", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "01:23:45:67:89:ab"),
    ),
    ZooColumn(
        "c_money",
        "money",
        pa.decimal128(19, 2),
        ("1234.56", "'-92233720368547758.08'", "0", "'92233720368547758.07'"),
        (
            Decimal("1234.56"),
            Decimal("-92233720368547758.08"),
            Decimal("0.00"),
            Decimal("92233720368547758.07"),
        ),
    ),
    ZooColumn(
        "c_mood",
        "mood",
        pa.string(),
        ("'sad'", "'happy'", "'très heureux'", "'ok'"),
        ("sad", "happy", "très heureux", "ok"),
    ),
    ZooColumn(
        "c_xml",
        "xml",
        pa.string(),
        ("'<a>1</a>'", "'<b x=\"ü\"/>'", "''", "'text'"),
        ("<a>1</a>", '<b x="ü"/>', "", "text"),
    ),
    ZooColumn(
        "c_int_arr",
        "integer[]",
        pa.list_(pa.int32()),
        ("'{1,NULL,3}'", "'{}'", "'{-2147483648,2147483647}'", "'{0}'"),
        ([1, None, 3], [], [-(2**31), 2**31 - 1], [0]),
    ),
    ZooColumn(
        "c_text_arr",
        "text[]",
        pa.list_(pa.string()),
        ('\'{"a,b","c\\"d",NULL,""}\'', "'{}'", "'{\"NULL\"}'", "ARRAY['héllo', E'x\\ny']"),
        (["a,b", 'c"d', None, ""], [], ["NULL"], ["héllo", "x\ny"]),
    ),
    ZooColumn(
        "c_varchar_arr",
        "character varying(10)[]",
        pa.list_(pa.string()),
        ("'{abc,def}'", "'{}'", "'{\"\"}'", "ARRAY['ü']"),
        (["abc", "def"], [], [""], ["ü"]),
    ),
    ZooColumn(
        "c_num_arr",
        "numeric(10,2)[]",
        pa.list_(pa.decimal128(10, 2)),
        ("'{1.50,-0.01,NULL}'", "'{}'", "'{99999999.99}'", "'{0}'"),
        (
            [Decimal("1.50"), Decimal("-0.01"), None],
            [],
            [Decimal("99999999.99")],
            [Decimal("0.00")],
        ),
    ),
    ZooColumn(
        "c_float_arr",
        "double precision[]",
        pa.list_(pa.float64()),
        ("'{NaN,Infinity,-Infinity,1.5}'", "'{}'", "'{5e-324}'", "'{-0}'"),
        ([math.nan, math.inf, -math.inf, 1.5], [], [5e-324], [-0.0]),
    ),
    ZooColumn(
        "c_bool_arr",
        "boolean[]",
        pa.list_(pa.bool_()),
        ("'{t,f,NULL}'", "'{}'", "'{t}'", "'{f}'"),
        ([True, False, None], [], [True], [False]),
    ),
    ZooColumn(
        "c_tstz_arr",
        "timestamp with time zone[]",
        pa.list_(pa.timestamp("us", tz="UTC")),
        (
            '\'{"2024-01-01 00:00:00+00","1999-12-31 23:59:59.999999+00"}\'',
            "'{}'",
            "'{\"2024-06-01 12:00:00.5+05:30\"}'",
            "'{NULL}'",
        ),
        (
            [
                dt.datetime(2024, 1, 1, tzinfo=UTC),
                dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            ],
            [],
            [dt.datetime(2024, 6, 1, 6, 30, 0, 500000, tzinfo=UTC)],
            [None],
        ),
    ),
    ZooColumn(
        "c_date_arr",
        "date[]",
        pa.list_(pa.date32()),
        ("'{2024-02-29,1970-01-01}'", "'{}'", "'{0001-01-01}'", "'{9999-12-31}'"),
        (
            [dt.date(2024, 2, 29), dt.date(1970, 1, 1)],
            [],
            [dt.date(1, 1, 1)],
            [dt.date(9999, 12, 31)],
        ),
    ),
    ZooColumn(
        "c_bytea_arr",
        "bytea[]",
        pa.list_(pa.binary()),
        (
            "ARRAY['\\x00ff'::bytea, NULL]",
            "'{}'::bytea[]",
            "ARRAY[''::bytea]",
            "ARRAY['\\x41'::bytea]",
        ),
        ([b"\x00\xff", None], [], [b""], [b"A"]),
    ),
    ZooColumn(
        "c_mood_arr",
        "mood[]",
        pa.list_(pa.string()),
        ("'{sad,happy}'", "'{}'", "'{\"très heureux\"}'", "'{ok,ok}'"),
        (["sad", "happy"], [], ["très heureux"], ["ok", "ok"]),
    ),
    ZooColumn(
        "c_uuid_arr",
        "uuid[]",
        pa.list_(pa.string()),
        ("'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'", "'{}'", "'{NULL}'", "'{}'"),
        (["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], [], [None], []),
    ),
    ZooColumn(
        "c_range",
        "int4range",
        pa.string(),
        ("'[1,10)'", "'empty'", "'(,5]'", "'[-3,)'"),
        ("[1,10)", "empty", "(,6)", "[-3,)"),
        fallback=True,
    ),
    ZooColumn(
        "c_point",
        "point",
        pa.string(),
        ("'(1,2)'", "'(-1.5,0)'", "'(0,0)'", "'(1e+100,-1e-100)'"),
        ("(1,2)", "(-1.5,0)", "(0,0)", "(1e+100,-1e-100)"),
        fallback=True,
    ),
    ZooColumn(
        "c_bits",
        "bit(4)",
        pa.string(),
        ("B'1010'", "B'0000'", "B'1111'", "B'0001'"),
        ("1010", "0000", "1111", "0001"),
        fallback=True,
    ),
)


def same(actual: Any, expected: Any) -> bool:
    """Equality where NaN equals NaN and -0.0 differs from 0.0 (exact round trips)."""
    if isinstance(expected, float):
        if not isinstance(actual, float):
            return False
        if math.isnan(expected):
            return math.isnan(actual)
        return actual == expected and math.copysign(1, actual) == math.copysign(1, expected)
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, Decimal):
        return isinstance(actual, Decimal) and actual == expected
    return bool(actual == expected) and type(actual) is type(expected)


def stored_integer(array: pa.Array, index: int) -> int:
    """The integer a temporal Arrow array stores at ``index``."""
    width = pa.int32() if array.type == pa.date32() else pa.int64()
    return int(array.slice(index, 1).view(width)[0].as_py())


def assert_column_values(column: ZooColumn, array: pa.Array, rows: range) -> None:
    """Rows ``rows`` of ``array`` equal the column's expected values (row 5 all NULL)."""
    for i in rows:
        if i == ROWS:
            assert array[i].as_py() is None or not array[i].is_valid, (column.name, i)
            continue
        expected = column.expected[i]
        if isinstance(expected, Raw):
            assert stored_integer(array, i) == expected.value, (column.name, i)
            continue
        actual = array.slice(i, 1).to_pylist()[0]
        assert same(actual, expected), f"{column.name} row {i + 1}: {actual!r} != {expected!r}"
