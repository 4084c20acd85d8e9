"""The mapping tables, both directions, without a server."""

from __future__ import annotations

import pyarrow as pa
import pytest

from bani.connectors.postgresql.type_mapper import (
    SCALAR_TYPES,
    PgType,
    ddl_for_column,
    map_pg_type,
    numeric_modifiers,
    translate_default,
)
from bani.domain.schema import ColumnDefinition


def _numeric(precision: int, scale: int) -> int:
    return (precision << 16) + (scale & 0x7FF) + 4


@pytest.mark.parametrize("typname", sorted(SCALAR_TYPES))
def test_every_scalar_type_maps_to_its_table_entry(typname: str) -> None:
    mapping = map_pg_type(PgType(typname))
    assert mapping.arrow_type == SCALAR_TYPES[typname].arrow_type
    assert mapping.fallback is None


@pytest.mark.parametrize(
    ("precision", "scale", "arrow_type"),
    [
        (10, 2, pa.decimal128(10, 2)),
        (38, 38, pa.decimal128(38, 38)),
        (39, 0, pa.decimal256(39, 0)),
        (76, 10, pa.decimal256(76, 10)),
        (5, -2, pa.decimal128(7, 0)),  # PostgreSQL 15: integers of 7 digits
        (3, 5, pa.decimal128(5, 5)),  # PostgreSQL 15: scale above precision
    ],
)
def test_numeric_modifiers_choose_an_exact_decimal(
    precision: int, scale: int, arrow_type: pa.DataType
) -> None:
    typmod = _numeric(precision, scale)
    assert numeric_modifiers(typmod) == (precision, scale)
    mapping = map_pg_type(PgType("numeric", typmod))
    assert mapping.arrow_type == arrow_type
    assert (mapping.precision, mapping.scale) == (precision, scale)


def test_numeric_without_or_beyond_decimal256_travels_as_exact_text() -> None:
    unconstrained = map_pg_type(PgType("numeric"))
    assert unconstrained.arrow_type == pa.string()
    assert unconstrained.fallback is None  # by design, not a fallback
    huge = map_pg_type(PgType("numeric", _numeric(1000, 500)))
    assert huge.arrow_type == pa.string()
    assert huge.fallback is not None and "decimal256" in huge.fallback


def test_lengths_zones_enums_arrays_and_fallbacks() -> None:
    assert map_pg_type(PgType("varchar", 255 + 4)).char_length == 255
    assert map_pg_type(PgType("bpchar", 5 + 4)).char_length == 5
    assert map_pg_type(PgType("timestamptz")).timezone == "UTC"
    mood = map_pg_type(PgType("mood", typtype="e", enum_labels=("a", "b")))
    assert (mood.arrow_type, mood.enum_labels) == (pa.string(), ("a", "b"))
    ints = map_pg_type(PgType("_int4", is_array=True, element=PgType("int4")))
    assert (ints.arrow_type, ints.wire) == (pa.list_(pa.int32()), "array")
    prices = map_pg_type(
        PgType(
            "_numeric", _numeric(10, 2), is_array=True, element=PgType("numeric", _numeric(10, 2))
        )
    )
    assert prices.arrow_type == pa.list_(pa.decimal128(10, 2))
    times = map_pg_type(PgType("_time", is_array=True, element=PgType("time")))
    assert times.arrow_type == pa.string() and times.fallback is not None
    ranges = map_pg_type(PgType("int4range", typtype="r"))
    assert ranges.arrow_type == pa.string()
    assert ranges.fallback is not None and "int4range" in ranges.fallback


def _column(arrow: str, native: str = "", **facts: object) -> ColumnDefinition:
    return ColumnDefinition("c", native, arrow, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("column", "type_sql"),
    [
        (_column("bool"), "boolean"),
        (_column("int8", "tinyint"), "smallint"),
        (_column("uint8", "tinyint unsigned"), "smallint"),
        (_column("uint16"), "integer"),
        (_column("uint32"), "bigint"),
        (_column("uint64", "bigint unsigned"), "numeric(20,0)"),
        (_column("float"), "real"),
        (_column("double"), "double precision"),
        (_column("decimal128(12, 4)"), "numeric(12,4)"),
        (_column("decimal256(65, 30)"), "numeric(65,30)"),
        (_column("date32[day]"), "date"),
        (_column("time64[us]"), "time(6)"),
        (_column("timestamp[us]"), "timestamp"),
        (_column("timestamp[us, tz=UTC]"), "timestamptz"),
        (_column("timestamp[ms]", "timestamp", timezone="UTC"), "timestamptz"),
        (_column("binary", "blob"), "bytea"),
        (_column("fixed_size_binary[16]", "uuid"), "uuid"),
        (_column("string", "char(3)", char_length=3), "char(3)"),
        (_column("string", "varchar(40)", char_length=40), "varchar(40)"),
        (_column("string", "mediumtext", char_length=16777215), "text"),
        (_column("string", "json"), "jsonb"),
        (_column("string", "uuid"), "uuid"),
        (_column("string", "TEXT"), "text"),
        (_column("list<item: int32>"), "integer[]"),
        (_column("list<item: string>", char_length=10), "varchar(10)[]"),
        (_column("month_day_nano_interval"), "interval"),
    ],
)
def test_other_dialects_are_declared_from_arrow_and_facts(
    column: ColumnDefinition, type_sql: str
) -> None:
    ddl = ddl_for_column(column, "mysql", "public")
    assert ddl.type_sql == type_sql
    assert not ddl.refused


def test_enum_and_set_labels_from_other_dialects() -> None:
    enum = ddl_for_column(
        _column("string", "enum('a','b''c')", enum_values=("a", "b'c")), "mysql", "s"
    )
    assert (enum.type_sql, enum.check_sql) == ("text", "\"c\" IN ('a', 'b''c')")
    assert enum.issues == ()
    labels = _column("string", "set('x','y')", enum_values=("x", "y"))
    assert [i.kind for i in ddl_for_column(labels, "mysql", "s").issues] == ["fallback"]


def test_lossy_and_refused_columns_say_so() -> None:
    nanos = ddl_for_column(_column("timestamp[ns]"), "sqlite", "public")
    assert [(i.kind, "nanoseconds" in i.reason) for i in nanos.issues] == [("lossy", True)]
    nested = ddl_for_column(_column("list<item: list<item: int32>>"), "sqlite", "public")
    assert nested.refused


def test_same_dialect_keeps_the_declaration_and_moves_enums_to_the_target_schema() -> None:
    column = ColumnDefinition("c", "character varying(255)", "string", char_length=255)
    # parsed by PostgreSQL's own grammar and rendered again, never pasted
    assert ddl_for_column(column, "postgresql", "x").type_sql == "varchar(255)"
    enum = ColumnDefinition("m", 'old."Mood"[]', "list<item: string>", enum_values=("a",))
    assert ddl_for_column(enum, "postgresql", "new").type_sql == '"new"."Mood"[]'
    serial = ColumnDefinition(
        "id", "integer", "int32", default_value="nextval('t_id_seq'::regclass)"
    )
    assert ddl_for_column(serial, "postgresql", "x").identity


@pytest.mark.parametrize(
    ("default", "type_sql", "expected"),
    [
        ("now()", "timestamptz", "now()"),
        ("CURRENT_TIMESTAMP", "timestamptz", "CURRENT_TIMESTAMP"),
        ("current_timestamp()", "timestamptz", "CURRENT_TIMESTAMP"),
        ("CURRENT_TIMESTAMP(3)", "timestamptz", "CURRENT_TIMESTAMP(3)"),
        ("curdate()", "date", "CURRENT_DATE"),
        ("'new'::shop.status", "text", "'new'"),
        ("'it''s'::character varying", "varchar(9)", "'it''s'"),
        ("'{}'::integer[]", "integer[]", "'{}'"),
        ("0", "bigint", "0"),
        ("(-1)", "integer", "-1"),
        ("12.50", "numeric(5,2)", "12.50"),
        ("true", "boolean", "true"),
        ("1", "boolean", "true"),
        ("NULL", "text", None),
        ("NULL::text", "text", None),
    ],
)
def test_defaults_with_the_same_meaning_are_carried(
    default: str, type_sql: str, expected: str | None
) -> None:
    column = ColumnDefinition("c", "", "", default_value=default)
    assert translate_default(column, "postgresql", type_sql) == (expected, None)


@pytest.mark.parametrize("default", ["my_func()", "uuid_generate_v4()", "(a + b)", "CURRENT_USER"])
def test_other_defaults_are_dropped_with_a_reason(default: str) -> None:
    column = ColumnDefinition("c", "", "", default_value=default)
    sql, issue = translate_default(column, "mysql", "text")
    assert sql is None
    assert issue is not None and issue.kind == "default_dropped" and issue.column == "c"
