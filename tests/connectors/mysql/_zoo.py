"""The type zoo: every mapped MySQL type, its expected Arrow type, and edge values.

``ZOO`` is the mapping table the tests assert against (the same table as
``docs/type-mappings.mysql.md``): each column's declaration, the Arrow type it
must read as, and four rows of edge values with what Python must see in the
Arrow batches.  A fifth row is NULL in every column but the key.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

UTC = dt.UTC


def f32(value: float) -> float:
    """The float32 nearest ``value``, as Python sees it after a float column round trip."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def wkb_point(x: float, y: float) -> bytes:
    return b"\x01\x01\x00\x00\x00" + struct.pack("<dd", x, y)


@dataclass(frozen=True)
class ZooColumn:
    """One column: declaration, Arrow type, and (SQL value, expected Python) for rows 1-4.

    ``sql_value`` is bound as a parameter; ``placeholder`` wraps it (e.g.
    ``ST_GeomFromText(%s)``).
    """

    name: str
    declared: str
    arrow: pa.DataType
    rows: tuple[tuple[Any, Any], ...]
    placeholder: str = "%s"


def _same(*values: Any) -> tuple[tuple[Any, Any], ...]:
    return tuple((v, v) for v in values)


EMOJI = "héllo 😀 \"q\" 'a' \\ \t\n,"
BYTES_ALL = bytes(range(256))
DEC65 = Decimal("-12345678901234567890123456789012345.123456789012345678901234567890")
DEC65_MAX = Decimal("99999999999999999999999999999999999.999999999999999999999999999999")
DEC65_MIN = Decimal("-99999999999999999999999999999999999.999999999999999999999999999999")

ZOO: tuple[ZooColumn, ...] = (
    ZooColumn("c_tinyint", "tinyint", pa.int8(), _same(-128, 127, 0, 1)),
    ZooColumn("c_tinyint_u", "tinyint unsigned", pa.uint8(), _same(0, 255, 1, 128)),
    ZooColumn("c_bool", "tinyint(1)", pa.bool_(), ((1, True), (0, False), (1, True), (0, False))),
    ZooColumn("c_boolean", "boolean", pa.bool_(), ((0, False), (1, True), (1, True), (0, False))),
    ZooColumn("c_smallint", "smallint", pa.int16(), _same(-32768, 32767, 0, -1)),
    ZooColumn("c_smallint_u", "smallint unsigned", pa.uint16(), _same(65535, 0, 1, 2)),
    ZooColumn("c_mediumint", "mediumint", pa.int32(), _same(-8388608, 8388607, 0, 5)),
    ZooColumn("c_mediumint_u", "mediumint unsigned", pa.uint32(), _same(16777215, 0, 1, 2)),
    ZooColumn("c_int", "int", pa.int32(), _same(-2147483648, 2147483647, 0, 7)),
    ZooColumn("c_int_u", "int unsigned", pa.uint32(), _same(4294967295, 0, 1, 3000000000)),
    ZooColumn("c_bigint", "bigint", pa.int64(), _same(-(2**63), 2**63 - 1, 0, -1)),
    ZooColumn("c_bigint_u", "bigint unsigned", pa.uint64(), _same(2**64 - 1, 0, 2**63, 1)),
    ZooColumn(
        "c_dec",
        "decimal(10,2)",
        pa.decimal128(10, 2),
        _same(Decimal("-99999999.99"), Decimal("99999999.99"), Decimal("0.01"), Decimal("0.00")),
    ),
    ZooColumn(
        "c_dec_small",
        "decimal(20,10)",
        pa.decimal128(20, 10),
        _same(
            Decimal("0.0000000001"),
            Decimal("-0.0000000001"),
            Decimal("1234567890.0123456789"),
            Decimal("0E-10"),
        ),
    ),
    ZooColumn(
        "c_dec38",
        "decimal(38,10)",
        pa.decimal128(38, 10),
        _same(
            Decimal("9999999999999999999999999999.9999999999"),
            Decimal("-9999999999999999999999999999.9999999999"),
            Decimal("0.5000000000"),
            Decimal("1.0000000000"),
        ),
    ),
    ZooColumn(
        "c_dec65",
        "decimal(65,30)",
        pa.decimal256(65, 30),
        _same(DEC65, DEC65_MAX, DEC65_MIN, Decimal("0.000000000000000000000000000001")),
    ),
    ZooColumn(
        "c_dec_u",
        "decimal(10,2) unsigned",
        pa.decimal128(10, 2),
        _same(Decimal("99999999.99"), Decimal("0.00"), Decimal("12.50"), Decimal("1.05")),
    ),
    ZooColumn(
        "c_float",
        "float",
        pa.float32(),
        (
            (0.1234567, f32(0.1234567)),
            (3.40282e38, f32(3.40282e38)),
            (-1.17549435e-38, f32(-1.17549435e-38)),
            (1.1, f32(1.1)),
        ),
    ),
    ZooColumn(
        "c_double",
        "double",
        pa.float64(),
        _same(2.2250738585072014e-308, 1.7976931348623157e308, 0.1, -0.30000000000000004),
    ),
    ZooColumn("c_bit1", "bit(1)", pa.bool_(), ((1, True), (0, False), (1, True), (0, False))),
    ZooColumn("c_bit12", "bit(12)", pa.uint64(), _same(0, 4095, 1, 2048)),
    ZooColumn("c_bit64", "bit(64)", pa.uint64(), _same(2**64 - 1, 0, 2**63, 5)),
    ZooColumn(
        "c_date",
        "date",
        pa.date32(),
        _same(
            dt.date(1000, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29), dt.date(1970, 1, 1)
        ),
    ),
    ZooColumn(
        "c_datetime",
        "datetime",
        pa.timestamp("us"),
        _same(
            dt.datetime(1000, 1, 1, 0, 0, 0),
            dt.datetime(9999, 12, 31, 23, 59, 59),
            dt.datetime(2024, 2, 29, 12, 30, 45),
            dt.datetime(1970, 1, 1),
        ),
    ),
    ZooColumn(
        "c_datetime6",
        "datetime(6)",
        pa.timestamp("us"),
        _same(
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            dt.datetime(1000, 1, 1, 0, 0, 0, 1),
            dt.datetime(2000, 6, 15, 1, 2, 3, 500000),
            dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
        ),
    ),
    ZooColumn(
        "c_timestamp",
        "timestamp(6) NULL",
        pa.timestamp("us", tz="UTC"),
        (
            ("1970-01-01 00:00:01.000000", dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
            (
                "2038-01-19 03:14:07.999999",
                dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
            ),
            ("2024-03-31 01:30:00.123456", dt.datetime(2024, 3, 31, 1, 30, 0, 123456, tzinfo=UTC)),
            ("2000-01-01 00:00:00", dt.datetime(2000, 1, 1, tzinfo=UTC)),
        ),
    ),
    ZooColumn(
        "c_time",
        "time",
        pa.duration("us"),
        (
            ("-838:59:59", -dt.timedelta(hours=838, minutes=59, seconds=59)),
            ("838:59:59", dt.timedelta(hours=838, minutes=59, seconds=59)),
            ("25:00:00", dt.timedelta(hours=25)),
            ("00:00:00", dt.timedelta(0)),
        ),
    ),
    ZooColumn(
        "c_time6",
        "time(6)",
        pa.duration("us"),
        (
            (
                "123:45:56.123456",
                dt.timedelta(hours=123, minutes=45, seconds=56, microseconds=123456),
            ),
            ("-00:00:00.000001", -dt.timedelta(microseconds=1)),
            ("-01:02:03.5", -dt.timedelta(hours=1, minutes=2, seconds=3, microseconds=500000)),
            (
                "23:59:59.999999",
                dt.timedelta(hours=23, minutes=59, seconds=59, microseconds=999999),
            ),
        ),
    ),
    ZooColumn("c_year", "year", pa.int16(), _same(1901, 2155, 2024, 1970)),
    ZooColumn("c_char", "char(10)", pa.string(), _same("abc", "", "ü😀", "0123456789")),
    ZooColumn("c_varchar", "varchar(50)", pa.string(), _same(EMOJI, "", "NULL", "\\N")),
    ZooColumn("c_tinytext", "tinytext", pa.string(), _same("t", "", '"', "a,b")),
    ZooColumn("c_text", "text", pa.string(), _same("x" * 5000, "\r\n", "😀" * 100, "'")),
    ZooColumn("c_mediumtext", "mediumtext", pa.string(), _same("m", "", "NULL", "\\")),
    ZooColumn("c_longtext", "longtext", pa.string(), _same("y" * 70000, "", EMOJI, "\x01")),
    ZooColumn(
        "c_binary",
        "binary(4)",
        pa.binary(),
        (
            (b"\x00\x01", b"\x00\x01\x00\x00"),
            (b"\xff\xff\xff\xff", b"\xff\xff\xff\xff"),
            (b"", b"\x00\x00\x00\x00"),
            (b"NULL", b"NULL"),
        ),
    ),
    ZooColumn(
        "c_varbinary", "varbinary(16)", pa.binary(), _same(b"\x00\xff\x00", b"", b"\\N", b'"\n,')
    ),
    ZooColumn("c_tinyblob", "tinyblob", pa.binary(), _same(b"\x00", b"", b"\xff", b"NULL")),
    ZooColumn("c_blob", "blob", pa.binary(), _same(BYTES_ALL, b"", b"\x00" * 100, b"\r\n")),
    ZooColumn("c_mediumblob", "mediumblob", pa.binary(), _same(b"m", BYTES_ALL * 300, b"", b"\\")),
    ZooColumn("c_longblob", "longblob", pa.binary(), _same(BYTES_ALL * 10, b"\x00", b"", b"'")),
    ZooColumn(
        "c_json",
        "json",
        pa.string(),
        _same('{"a": [1, 2.5, null]}', "[]", '"😀"', '{"k": "v\\"q"}'),
    ),
    ZooColumn("c_enum", "enum('a','b','c d','')", pa.string(), _same("a", "b", "c d", "")),
    ZooColumn("c_set", "set('x','y','z')", pa.string(), _same("x,z", "", "x,y,z", "y")),
    ZooColumn(
        "c_geometry",
        "geometry",
        pa.binary(),
        (
            ("POINT(1 2)", wkb_point(1, 2)),
            ("POINT(-1.5 0)", wkb_point(-1.5, 0)),
            ("POINT(0 0)", wkb_point(0, 0)),
            ("POINT(1e10 -1e-10)", wkb_point(1e10, -1e-10)),
        ),
        placeholder="ST_GeomFromText(%s)",
    ),
    ZooColumn(
        "c_point",
        "point",
        pa.binary(),
        (
            ("POINT(3 4)", wkb_point(3, 4)),
            ("POINT(0 0)", wkb_point(0, 0)),
            ("POINT(5 6)", wkb_point(5, 6)),
            ("POINT(7 8)", wkb_point(7, 8)),
        ),
        placeholder="ST_GeomFromText(%s)",
    ),
)

ROWS = 5  # four valued rows and one all-NULL row


def create_zoo(cursor: Any, table: str = "zoo") -> None:
    """Create and fill the zoo table through ``cursor`` (pymysql, autocommit)."""
    columns = ",\n  ".join(f"`{c.name}` {c.declared}" for c in ZOO)
    cursor.execute(f"CREATE TABLE `{table}` (\n  `id` int NOT NULL PRIMARY KEY,\n  {columns}\n)")
    names = ", ".join(f"`{c.name}`" for c in ZOO)
    values = ", ".join(c.placeholder for c in ZOO)
    cursor.execute("SET SESSION time_zone = '+00:00'")
    for row in range(4):
        params = [row + 1] + [c.rows[row][0] for c in ZOO]
        cursor.execute(f"INSERT INTO `{table}` (`id`, {names}) VALUES (%s, {values})", params)  # noqa: S608 (test identifiers)
    cursor.execute(f"INSERT INTO `{table}` (`id`) VALUES (5)")  # noqa: S608 (test identifiers)


def expected_column(column: ZooColumn) -> list[Any]:
    """What ``to_pylist`` must give for the column, ordered by id."""
    return [expected for _, expected in column.rows] + [None]
