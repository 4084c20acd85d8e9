"""Every SQLite ↔ Arrow type mapping, both directions, and the reported fallback."""

from __future__ import annotations

import pyarrow as pa
import pytest
import structlog

from bani.connectors.sqlite.type_mapper import (
    SQLiteTypeMapper,
    affinity_of,
    parse_declared_type,
)
from bani.domain.arrow_fields import field_for_column
from bani.domain.schema import ColumnDefinition

# -- SQLite -> Arrow -------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "affinity"),
    [
        # The examples of https://sqlite.org/datatype3.html section 3.1.1
        ("INT", "INTEGER"),
        ("INTEGER", "INTEGER"),
        ("TINYINT", "INTEGER"),
        ("UNSIGNED BIG INT", "INTEGER"),
        ("INT8", "INTEGER"),
        ("CHARACTER(20)", "TEXT"),
        ("VARCHAR(255)", "TEXT"),
        ("NATIVE CHARACTER(70)", "TEXT"),
        ("NVARCHAR(100)", "TEXT"),
        ("CLOB", "TEXT"),
        ("BLOB", "BLOB"),
        ("", "BLOB"),
        ("REAL", "REAL"),
        ("DOUBLE PRECISION", "REAL"),
        ("FLOAT", "REAL"),
        ("NUMERIC", "NUMERIC"),
        ("DECIMAL(10,5)", "NUMERIC"),
        ("BOOLEAN", "NUMERIC"),
        ("DATETIME", "NUMERIC"),
        # rule order: INT wins over CHAR, and "FLOATING POINT" contains INT
        ("CHARINT", "INTEGER"),
        ("FLOATING POINT", "INTEGER"),
        ("STRING", "NUMERIC"),
        ("DECIMAL_TEXT(30,2)", "TEXT"),
    ],
)
def test_affinity_follows_sqlites_five_rules(declared: str, affinity: str) -> None:
    assert affinity_of(declared) == affinity


@pytest.mark.parametrize(
    ("declared", "arrow_type"),
    [
        ("INTEGER", pa.int64()),
        ("int", pa.int64()),
        ("BIGINT", pa.int64()),
        ("SMALLINT", pa.int64()),
        ("UNSIGNED BIG INT", pa.int64()),
        ("TEXT", pa.string()),
        ("VARCHAR(20)", pa.string()),
        ("CHARACTER(5)", pa.string()),
        ("CLOB", pa.string()),
        ("BLOB", pa.binary()),
        ("", pa.binary()),
        ("REAL", pa.float64()),
        ("DOUBLE", pa.float64()),
        ("DOUBLE PRECISION", pa.float64()),
        ("FLOAT", pa.float64()),
        ("NUMERIC(10,2)", pa.decimal128(10, 2)),
        ("decimal(5)", pa.decimal128(5, 0)),
        ("DECIMAL( 12 , 4 )", pa.decimal128(12, 4)),
        ("NUMERIC(38,0)", pa.decimal128(38, 0)),
        ("NUMERIC(40,10)", pa.decimal256(40, 10)),
        ("DECIMAL_TEXT(30,2)", pa.decimal128(30, 2)),
        ("NUMERIC", pa.string()),
        ("DECIMAL", pa.string()),
        ("JSON", pa.string()),
        ("MONEY", pa.string()),
        ("BOOLEAN", pa.bool_()),
        ("bool", pa.bool_()),
        ("DATE", pa.date32()),
        ("DATETIME", pa.timestamp("us")),
        ("TIMESTAMP", pa.timestamp("us")),
        ("timestamp(6)", pa.timestamp("us")),
        ("TIMESTAMPTZ", pa.timestamp("us", tz="UTC")),
        ("TIMESTAMP WITH TIME ZONE", pa.timestamp("us", tz="UTC")),
        ("TIME", pa.time64("us")),
    ],
)
def test_declared_types_map_to_arrow(declared: str, arrow_type: pa.DataType) -> None:
    assert SQLiteTypeMapper.to_arrow_type(declared) == arrow_type
    assert SQLiteTypeMapper.map_sqlite_type_name(declared) == arrow_type


def test_declared_types_give_the_facts_other_dialects_need() -> None:
    varchar = parse_declared_type("VARCHAR(40)")
    assert (varchar.char_length, varchar.precision, varchar.scale) == (40, None, None)
    decimal = parse_declared_type("NUMERIC(10,2)")
    assert (decimal.char_length, decimal.precision, decimal.scale) == (None, 10, 2)
    assert parse_declared_type("DECIMAL(7)").scale == 0
    assert parse_declared_type("UNSIGNED BIG INT").unsigned
    assert not parse_declared_type("INTEGER").unsigned
    assert parse_declared_type("TEXT").char_length is None


# -- Arrow -> SQLite -------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrow_type", "declared"),
    [
        ("bool", "BOOLEAN"),
        ("boolean", "BOOLEAN"),
        ("int8", "TINYINT"),
        ("int16", "SMALLINT"),
        ("int32", "INT"),
        ("int64", "BIGINT"),
        ("uint8", "SMALLINT"),
        ("uint16", "INT"),
        ("uint32", "BIGINT"),
        ("uint64", "UNSIGNED BIG INT"),
        ("halffloat", "FLOAT"),
        ("float", "FLOAT"),
        ("float32", "FLOAT"),
        ("double", "REAL"),
        ("float64", "REAL"),
        ("string", "TEXT"),
        ("utf8", "TEXT"),
        ("large_string", "TEXT"),
        ("binary", "BLOB"),
        ("large_binary", "BLOB"),
        ("fixed_size_binary[16]", "BLOB"),
        ("date32[day]", "DATE"),
        ("date32", "DATE"),
        ("date64[ms]", "DATE"),
        ("timestamp[s]", "DATETIME"),
        ("timestamp[us]", "DATETIME"),
        ("timestamp[ns]", "DATETIME"),
        ("timestamp[us, tz=UTC]", "TIMESTAMPTZ"),
        ("timestamp[ms, tz=Europe/Paris]", "TIMESTAMPTZ"),
        ("time32[s]", "TIME"),
        ("time64[us]", "TIME"),
        ("decimal128(10, 2)", "NUMERIC(10,2)"),
        ("decimal128(15, 4)", "NUMERIC(15,4)"),
        ("decimal128(16, 2)", "DECIMAL_TEXT(16,2)"),
        ("decimal128(30, 2)", "DECIMAL_TEXT(30,2)"),
        ("decimal256(60, 10)", "DECIMAL_TEXT(60,10)"),
        ("duration[ms]", "BIGINT"),
    ],
)
def test_arrow_type_strings_map_to_sqlite(arrow_type: str, declared: str) -> None:
    assert SQLiteTypeMapper.from_arrow_type(arrow_type) == declared


@pytest.mark.parametrize(
    ("arrow_type", "back"),
    [
        (pa.bool_(), pa.bool_()),
        (pa.int32(), pa.int64()),
        (pa.int64(), pa.int64()),
        (pa.float32(), pa.float64()),
        (pa.float64(), pa.float64()),
        (pa.string(), pa.string()),
        (pa.binary(), pa.binary()),
        (pa.date32(), pa.date32()),
        (pa.timestamp("us"), pa.timestamp("us")),
        (pa.timestamp("us", tz="UTC"), pa.timestamp("us", tz="UTC")),
        (pa.time64("us"), pa.time64("us")),
        (pa.decimal128(10, 2), pa.decimal128(10, 2)),
        (pa.decimal128(30, 2), pa.decimal128(30, 2)),
        (pa.decimal256(50, 5), pa.decimal256(50, 5)),
    ],
)
def test_a_declared_type_reads_back_as_a_type_that_holds_every_value(
    arrow_type: pa.DataType, back: pa.DataType
) -> None:
    declared = SQLiteTypeMapper.from_arrow_type(arrow_type)
    assert SQLiteTypeMapper.to_arrow_type(declared) == back


def test_lossy_mappings_say_what_they_lose() -> None:
    for arrow_type, words in [
        ("uint64", "9223372036854775807"),
        ("timestamp[ns]", "nanoseconds"),
        ("timestamp[us, tz=Europe/Paris]", "Europe/Paris"),
        ("time64[ns]", "nanoseconds"),
    ]:
        mapped = SQLiteTypeMapper.map_arrow(arrow_type)
        assert mapped.issue_kind == "lossy", arrow_type
        assert words in mapped.reason
    assert SQLiteTypeMapper.map_arrow("timestamp[us, tz=UTC]").issue_kind is None


def test_a_column_uses_its_length_and_precision() -> None:
    name = ColumnDefinition("name", "varchar(80)", "string", char_length=80)
    assert SQLiteTypeMapper.from_arrow_type(name) == "VARCHAR(80)"
    price = ColumnDefinition("price", "numeric(12,3)", "decimal128(12, 3)", numeric_precision=12)
    assert SQLiteTypeMapper.from_arrow_type(price) == "NUMERIC(12,3)"
    field = field_for_column(ColumnDefinition("code", "char(3)", "string", char_length=3))
    assert SQLiteTypeMapper.from_arrow_type(field) == "VARCHAR(3)"
    assert SQLiteTypeMapper.from_arrow_type(pa.field("x", pa.int16())) == "SMALLINT"


def test_same_dialect_keeps_the_declared_type() -> None:
    column = ColumnDefinition("n", "unsigned big int", "int64")
    assert SQLiteTypeMapper.from_arrow_type(column, dialect="sqlite") == "unsigned big int"
    assert SQLiteTypeMapper.from_arrow_type(column, dialect="postgresql") == "BIGINT"
    field = field_for_column(ColumnDefinition("n", "MEDIUMINT", "int64"), dialect="sqlite")
    assert SQLiteTypeMapper.from_arrow_type(field) == "MEDIUMINT"
    # a declared type that is not plain SQLite type syntax is never put back into DDL
    hostile = ColumnDefinition("n", 'INT) ; DROP TABLE "x" --', "int64")
    assert SQLiteTypeMapper.from_arrow_type(hostile, dialect="sqlite") == "BIGINT"


def test_enum_labels_are_reported_not_dropped_silently() -> None:
    column = ColumnDefinition("mood", "mood", "string", enum_values=("sad", "ok", "happy"))
    mapped = SQLiteTypeMapper.map_arrow(column, dialect="postgresql")
    assert mapped.ddl == "TEXT"
    assert mapped.issue_kind == "lossy"
    assert "sad, ok, happy" in mapped.reason


@pytest.mark.parametrize(
    "arrow",
    [
        pa.list_(pa.int32()),
        pa.struct([("a", pa.int32())]),
        pa.map_(pa.string(), pa.int32()),
        pa.month_day_nano_interval(),
        "list<item: int64>",
        "no such type",
    ],
    ids=str,
)
def test_unknown_types_fall_back_to_text_and_say_so(arrow: pa.DataType | str) -> None:
    with structlog.testing.capture_logs() as logs:
        declared = SQLiteTypeMapper.from_arrow_type(arrow)
    assert declared == "TEXT"
    assert SQLiteTypeMapper.map_arrow(arrow).issue_kind == "fallback"
    assert [e["event"] for e in logs] == ["sqlite_type_fallback"]
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["declared"] == "TEXT"


def test_a_dictionary_maps_as_its_values() -> None:
    assert SQLiteTypeMapper.from_arrow_type(pa.dictionary(pa.int8(), pa.string())) == "TEXT"
