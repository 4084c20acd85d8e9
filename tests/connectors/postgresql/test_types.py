"""The type zoo through the connector: Arrow types, values, and PostgreSQL -> PostgreSQL.

Every mapped type with edge values (NULLs, extremes, NaN/±Infinity, 38-digit
and wider decimals, BC and far-future dates, microsecond timestamps in
several zones, unicode, zero bytes) is read as Arrow and checked value by
value; then written into another schema with ``write_chunk`` and checked
again, declared type by declared type and value by value.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pyarrow as pa
import pytest

from bani.connectors.postgresql import PostgreSQLConnector
from bani.connectors.postgresql.type_mapper import PgType, map_pg_type
from bani.domain.arrow_fields import KEY_NATIVE_TYPE, column_from_field
from bani.domain.chunks import ChunkMarker
from bani.errors import TypeNotRepresentable
from tests.connectors.postgresql._zoo import ROWS, ZOO, assert_column_values
from tests.connectors.postgresql.conftest import create_zoo

pytestmark = pytest.mark.pg

ALL_ROWS = range(ROWS + 1)


def _read_all(pg: PostgreSQLConnector, table: str, schema: str, batch_size: int) -> pa.Table:
    batches = list(pg.read_table(table, schema, batch_size=batch_size))
    assert all(b.num_rows <= batch_size for b in batches)
    return pa.Table.from_batches(batches).sort_by("id")


def test_every_column_reads_as_its_mapped_arrow_type(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    create_zoo(pg_conn)
    table = pg.introspect_schema().get_table("zoo", "public")
    assert table is not None
    by_name = {c.name: c for c in table.columns}
    for zoo in ZOO:
        column = by_name[zoo.name]
        assert column.arrow_type_str == str(zoo.arrow), zoo.name
        assert column.data_type == zoo.declared, zoo.name
    # The mapping table itself says the same for the scalar types.
    assert map_pg_type(PgType("int8")).arrow_type == pa.int64()
    assert map_pg_type(PgType("numeric", typmod=(60 << 16) + 20 + 4)).arrow_type == pa.decimal256(
        60, 20
    )
    facts = by_name["c_varchar"]
    assert facts.char_length == 255
    assert (by_name["c_num38"].numeric_precision, by_name["c_num38"].numeric_scale) == (38, 10)
    assert by_name["c_mood"].enum_values == ("sad", "ok", "happy", "très heureux")
    assert by_name["c_tstz"].timezone == "UTC"


def test_values_come_out_of_the_arrow_batches_exactly(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    create_zoo(pg_conn)
    result = _read_all(pg, "zoo", "public", batch_size=2)
    assert result.num_rows == ROWS + 1
    for zoo in ZOO:
        field = result.schema.field(zoo.name)
        assert field.type == zoo.arrow, zoo.name
        assert field.metadata[KEY_NATIVE_TYPE.encode()] == zoo.declared.encode()
        assert_column_values(zoo, result.column(zoo.name).combine_chunks(), ALL_ROWS)


def test_json_columns_are_valid_json_text(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    create_zoo(pg_conn)
    result = _read_all(pg, "zoo", "public", batch_size=100)
    for name in ("c_json", "c_jsonb"):
        for text in result.column(name).to_pylist()[:ROWS]:
            json.loads(text)  # never a Python repr such as {'a': 1}


def _declared_types(pg_conn: Any, schema: str, table: str) -> dict[str, tuple[str, int]]:
    rows = pg_conn.execute(
        "SELECT a.attname, t.typname, a.atttypmod FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (schema, table),
    ).fetchall()
    return {name: (typname, typmod) for name, typname, typmod in rows}


def _text_rows(pg_conn: Any, schema: str, table: str) -> list[tuple[Any, ...]]:
    """Every value as PostgreSQL prints it, ordered by id: the exact comparison."""
    columns = ", ".join(f'"{c.name}"::text' for c in ZOO)
    query = f'SELECT id, {columns} FROM "{schema}"."{table}" ORDER BY id'  # noqa: S608
    return [tuple(r) for r in pg_conn.execute(query).fetchall()]


def test_postgresql_to_postgresql_keeps_values_and_declared_types(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    create_zoo(pg_conn)
    database = pg.introspect_schema()
    source = database.get_table("zoo", "public")
    assert source is not None
    target = dataclasses.replace(source, schema_name="copy")
    pg.create_enum_types(database.enum_types, "copy")
    plan = pg.plan_table(target)
    assert plan.issues == ()
    assert 'CREATE TABLE "copy"."zoo"' in plan.statements[0]
    pg.create_table(target)

    batches = pg.read_table("zoo", "public", batch_size=2)
    written = pg.write_chunk("zoo", "copy", batches, ChunkMarker("run-1", "zoo-0"))
    assert written == ROWS + 1

    assert _declared_types(pg_conn, "copy", "zoo") == _declared_types(pg_conn, "public", "zoo")
    assert _text_rows(pg_conn, "copy", "zoo") == _text_rows(pg_conn, "public", "zoo")
    # And through Arrow once more: the copy reads back to the same values.
    copy = _read_all(pg, "zoo", "copy", batch_size=100)
    for zoo in ZOO:
        assert_column_values(zoo, copy.column(zoo.name).combine_chunks(), ALL_ROWS)
    # The introspected copy describes the same columns (up to the enum's schema).
    copied = pg.introspect_schema().get_table("zoo", "copy")
    assert copied is not None
    for left, right in zip(source.columns, copied.columns, strict=True):
        assert dataclasses.replace(left, data_type="") == dataclasses.replace(
            right, data_type=""
        ), left.name


def test_field_metadata_is_enough_to_rebuild_the_columns(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    create_zoo(pg_conn)
    table = pg.introspect_schema().get_table("zoo", "public")
    assert table is not None
    batch = next(iter(pg.read_table("zoo", "public")))
    for field, column in zip(batch.schema, table.columns, strict=True):
        assert column_from_field(field) == column


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        ("numeric(10,2)", "'NaN'"),
        ("date", "'infinity'"),
        ("date", "'-infinity'"),
        ("timestamp", "'-infinity'"),
        ("timestamptz", "'infinity'"),
        ("timestamp", "'294276-12-31 23:59:59'"),  # PostgreSQL's maximum, past Arrow's
    ],
)
def test_values_arrow_cannot_hold_are_refused_not_changed(
    pg: PostgreSQLConnector, pg_conn: Any, declared: str, value: str
) -> None:
    pg_conn.execute(f"CREATE TABLE edge (id int, v {declared})")
    pg_conn.execute(f"INSERT INTO edge VALUES (1, {value})")  # noqa: S608
    with pytest.raises(TypeNotRepresentable) as caught:
        list(pg.read_table("edge", "public"))
    assert caught.value.context.table == "edge"
    assert caught.value.context.column == "v"
