"""The SQLite sink: DDL from other dialects, foreign keys, indexes, counters, bookkeeping."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
import structlog

from bani.connectors.sqlite import SQLiteConnector
from bani.domain.chunks import ChunkMarker
from bani.domain.schema import (
    CheckConstraint,
    ColumnDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import (
    ChunkConflict,
    SchemaError,
    SchemaMismatch,
    TableNotFound,
    TypeNotRepresentable,
    WriteFailed,
)
from tests.connectors.sqlite.conftest import open_connector


def pg_orders(identity_counter: int | None = 1000) -> TableDefinition:
    """A table as the PostgreSQL connector would describe it."""
    return TableDefinition(
        schema_name="public",
        table_name="orders",
        columns=(
            ColumnDefinition("id", "bigint", "int64", nullable=False, is_identity=True,
                             ordinal_position=1),
            ColumnDefinition("code", "character varying(12)", "string", nullable=False,
                             default_value="'new'::character varying", char_length=12),
            ColumnDefinition("price", "numeric(10,2)", "decimal128(10, 2)",
                             default_value="0", numeric_precision=10, numeric_scale=2),
            ColumnDefinition("total", "numeric(30,6)", "decimal128(30, 6)"),
            ColumnDefinition("placed", "timestamp with time zone", "timestamp[us, tz=UTC]",
                             default_value="now()", timezone="UTC"),
            ColumnDefinition("mood", "mood", "string", enum_values=("sad", "happy")),
            ColumnDefinition("seq", "integer", "int32",
                             default_value="nextval('orders_seq_seq'::regclass)"),
            ColumnDefinition("tags", "text[]", "list<item: string>"),
        ),
        primary_key=("id",),
        check_constraints=(CheckConstraint("orders_price_check", "(price >= (0)::numeric)"),),
        identity_counter=identity_counter,
        source_dialect="postgresql",
    )


def test_plan_describes_the_ddl_and_every_loss_without_running_it(sqlite_path: Path) -> None:
    with open_connector(sqlite_path) as sink:
        plan = sink.plan_table(pg_orders())
        assert not sink.table_exists("orders", "public")
    assert plan.statements == (
        'CREATE TABLE "orders" (\n'
        '    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,\n'
        '    "code" VARCHAR(12) NOT NULL DEFAULT \'new\',\n'
        '    "price" NUMERIC(10,2) DEFAULT 0,\n'
        '    "total" DECIMAL_TEXT(30,6),\n'
        '    "placed" TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,\n'
        '    "mood" TEXT,\n'
        '    "seq" INT,\n'
        '    "tags" TEXT\n'
        ")",
    )
    issues = {(i.column, i.kind) for i in plan.issues}
    assert issues == {
        ("mood", "lossy"),
        ("seq", "default_dropped"),
        ("tags", "fallback"),
        ("orders_price_check", "lossy"),
    }
    assert plan.refused == ()


def test_create_table_reports_issues_as_warnings(sqlite_path: Path) -> None:
    with open_connector(sqlite_path) as sink, structlog.testing.capture_logs() as logs:
        sink.create_table(pg_orders())
        assert sink.table_exists("orders", "public")
        assert sink.table_exists("ORDERS", "")
    warned = {e["column"] for e in logs if e["event"] == "sqlite_column_issue"}
    assert warned == {"mood", "seq", "tags", "orders_price_check"}
    assert all(e["log_level"] == "warning" for e in logs if e["event"] == "sqlite_column_issue")


def test_a_refused_column_is_named(sqlite_path: Path) -> None:
    table = TableDefinition(
        "public",
        "t",
        (ColumnDefinition("Name", "text", "string"), ColumnDefinition("name", "text", "string")),
        source_dialect="postgresql",
    )
    with open_connector(sqlite_path) as sink:
        assert [i.column for i in sink.plan_table(table).refused] == ["name"]
        with pytest.raises(TypeNotRepresentable) as raised:
            sink.create_table(table)
        assert not sink.table_exists("t", "")
    assert raised.value.context.column == "name"
    assert raised.value.context.table == "t"


def test_values_from_another_dialect_arrive_exactly(sqlite_path: Path) -> None:
    """0.99 at scale 2, 30 digits, instants in UTC, microseconds, enums, lists."""
    import datetime as dt
    from decimal import Decimal

    table = pg_orders()
    paris = dt.timezone(dt.timedelta(hours=1))
    batch = pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int64()),
            "code": ["a", "b"],
            "price": pa.array([Decimal("0.99"), Decimal("-12.50")], pa.decimal128(10, 2)),
            "total": pa.array(
                [Decimal("123456789012345678901234.567891"), None], pa.decimal128(30, 6)
            ),
            "placed": pa.array(
                [dt.datetime(2024, 3, 1, 12, 0, 0, 500000, tzinfo=paris), None],
                pa.timestamp("us", tz="Europe/Paris"),
            ),
            "mood": pa.array(["sad", "happy"]).dictionary_encode(),
            "seq": pa.array([7, None], pa.int32()),
            "tags": pa.array([["x", "y"], []], pa.list_(pa.string())),
        }
    )
    with open_connector(sqlite_path) as sink:
        sink.create_table(table)
        assert sink.write_chunk("orders", "public", [batch], ChunkMarker("r", "0")) == 2
        read = pa.Table.from_batches(list(sink.read_table("orders", "main")))
    with sqlite3.connect(sqlite_path) as conn:
        raw = conn.execute(
            "SELECT price, typeof(price), total, typeof(total), placed, tags FROM orders "
            "ORDER BY id"
        ).fetchall()
    assert raw[0] == (0.99, "real", "123456789012345678901234.567891", "text",
                      "2024-03-01 11:00:00.500", '["x", "y"]')
    assert raw[1][:2] == (-12.5, "real")
    rows = read.to_pylist()
    assert rows[0]["price"] == Decimal("0.99")
    assert rows[1]["price"] == Decimal("-12.50")
    assert rows[0]["total"] == Decimal("123456789012345678901234.567891")
    assert rows[0]["placed"] == dt.datetime(2024, 3, 1, 11, 0, 0, 500000, tzinfo=dt.UTC)
    assert read.schema.field("placed").type == pa.timestamp("us", tz="UTC")
    assert read.schema.field("total").type == pa.decimal128(30, 6)
    assert rows[1]["mood"] == "happy"


def test_foreign_keys_load_in_any_order_and_exist_afterwards(sqlite_path: Path) -> None:
    parent = TableDefinition(
        "main", "parent", (ColumnDefinition("id", "INTEGER", "int64", nullable=False),),
        primary_key=("id",), source_dialect="sqlite",
    )
    fk = ForeignKeyDefinition(
        "child_fk_1", "main", "child", ("parent_id",), "main", "parent", ("id",),
        on_delete="CASCADE",
    )
    child = TableDefinition(
        "main", "child",
        (ColumnDefinition("id", "INTEGER", "int64"), ColumnDefinition("parent_id", "INT", "int64")),
        foreign_keys=(fk,), source_dialect="sqlite",
    )
    with open_connector(sqlite_path) as sink:
        sink.create_table(child)  # the child first: it references a table not there yet
        sink.write_batch("child", "main", pa.record_batch({"id": [1, 2], "parent_id": [10, 20]}))
        sink.create_table(parent)
        sink.write_batch("parent", "main", pa.record_batch({"id": [10, 20]}))
        sink.create_foreign_keys([fk])
        introspected = sink.introspect_schema().get_table("child")
    assert introspected is not None and introspected.foreign_keys == (fk,)
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO child VALUES (3, 99)")
        conn.execute("DELETE FROM parent WHERE id = 10")  # cascades
        assert conn.execute("SELECT id FROM child").fetchall() == [(2,)]


def test_violated_or_undeclared_foreign_keys_are_errors_naming_the_table(
    sqlite_path: Path,
) -> None:
    fk = ForeignKeyDefinition("child_fk_1", "main", "child", ("p",), "main", "parent", ("id",))
    with open_connector(sqlite_path) as sink:
        sink.create_table(
            TableDefinition("main", "parent", (ColumnDefinition("id", "INTEGER", "int64"),),
                            primary_key=("id",), source_dialect="sqlite")
        )
        sink.create_table(
            TableDefinition("main", "child", (ColumnDefinition("p", "INTEGER", "int64"),),
                            foreign_keys=(fk,), source_dialect="sqlite")
        )
        sink.write_batch("parent", "main", pa.record_batch({"id": [1]}))
        sink.write_batch("child", "main", pa.record_batch({"p": [1, 2, None]}))
        with pytest.raises(SchemaError) as violated:
            sink.create_foreign_keys([fk])
        assert violated.value.context.table == "child"
        assert violated.value.context.constraint == "child_fk_1"
        assert "rowids 2" in str(violated.value)

        sink.execute_sql('CREATE TABLE "loose" ("p" INTEGER)')
        undeclared = ForeignKeyDefinition("loose_fk", "main", "loose", ("p",), "main", "parent",
                                          ("id",))
        with pytest.raises(SchemaError) as missing:
            sink.create_foreign_keys([undeclared])
        assert missing.value.context.table == "loose"
        assert "cannot add a foreign key" in str(missing.value)


def test_finalize_moves_the_autoincrement_counter(sqlite_path: Path) -> None:
    with open_connector(sqlite_path) as sink:
        for counter, name in ((1000, "ahead"), (5, "behind")):
            table = pg_orders(counter)
            table = TableDefinition(
                "public", name, table.columns[:2], primary_key=("id",),
                identity_counter=counter, source_dialect="postgresql",
            )
            sink.create_table(table)
            sink.write_batch(name, "public", pa.record_batch({"id": list(range(1, 11)),
                                                               "code": ["c"] * 10}))
            sink.finalize(table)
            sink.finalize(table)  # idempotent
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("INSERT INTO ahead (code) VALUES ('next')")
        conn.execute("INSERT INTO behind (code) VALUES ('next')")
        assert conn.execute("SELECT max(id) FROM ahead").fetchone() == (1000,)
        assert conn.execute("SELECT max(id) FROM behind").fetchone() == (11,)


def test_indexes_partial_foreign_predicates_collisions_and_reruns(sqlite_path: Path) -> None:
    with open_connector(sqlite_path) as sink:
        sink.execute_sql('CREATE TABLE "a" ("x" INTEGER, "status" TEXT)')
        sink.execute_sql('CREATE TABLE "b" ("x" INTEGER)')
        rows = pa.record_batch({"x": [1, 1, 2], "status": ["old", "x", "y"]})
        sink.write_batch("a", "main", rows)
        indexes = [
            IndexDefinition("ix_x", ("x",)),
            IndexDefinition("ux_active", ("x",), is_unique=True,
                            filter_predicate="((status)::text = 'active'::text)"),
            IndexDefinition("ux_new", ("x",), is_unique=True, filter_predicate="status <> 'old'"),
            IndexDefinition("ux_fn", ("status",), is_unique=True,
                            filter_predicate="my_function(status)"),
        ]
        with structlog.testing.capture_logs() as logs:
            sink.create_indexes("a", "main", indexes)
            sink.create_indexes("a", "main", indexes)  # a resumed run: nothing new, no error
            sink.create_indexes("b", "main", [IndexDefinition("ix_x", ("x",))])
        with pytest.raises(SchemaError) as duplicate:
            sink.create_indexes("a", "main", [IndexDefinition("ux_x", ("x",), is_unique=True)])
        assert (duplicate.value.context.table, duplicate.value.context.constraint) == ("a", "ux_x")
        schema = sink.introspect_schema()
    events = [e["event"] for e in logs]
    assert "sqlite_partial_index_skipped" in events
    assert "sqlite_index_renamed" in events
    a, b = schema.get_table("a"), schema.get_table("b")
    assert a is not None and b is not None
    # PostgreSQL's casts are rendered as SQLite casts; an unknown function is skipped
    assert [(i.name, i.filter_predicate) for i in a.indexes] == [
        ("ix_x", None),
        ("ux_active", "(CAST((status) AS TEXT) = CAST('active' AS TEXT))"),
        ("ux_new", "status <> 'old'"),
    ]
    assert [i.name for i in b.indexes] == ["b_ix_x"]


def test_chunk_markers_and_their_cleanup(sqlite_path: Path) -> None:
    with open_connector(sqlite_path) as sink:
        sink.execute_sql('CREATE TABLE "t" ("k" INTEGER PRIMARY KEY)')
        sink.execute_sql('CREATE TABLE "u" ("k" INTEGER PRIMARY KEY)')
        batch = pa.record_batch({"k": [1, 2, 3]})
        assert sink.write_chunk("t", "main", [batch], ChunkMarker("r", "c1")) == 3
        # chunk ids are per table: the same id in another table is another chunk
        assert sink.write_chunk("u", "main", [batch], ChunkMarker("r", "c1")) == 3
        assert sink.estimate_row_count("u", "main") == 3
        # "" and "main" are the same SQLite schema, and table names ignore case
        assert sink.write_chunk("T", "", [pa.record_batch({"k": [9]})], ChunkMarker("r", "c1")) == 3
        assert sink.estimate_row_count("t", "main") == 3
        sink.truncate_table("u", "main")

        with pytest.raises(WriteFailed):  # duplicate keys: nothing of the chunk stays
            sink.write_chunk("t", "main", [pa.record_batch({"k": [4, 1]})], ChunkMarker("r", "c2"))
        assert sink.estimate_row_count("t", "main") == 3
        assert [(c.table_name, c.chunk_id) for c in sink.committed_chunks("r")] == [("t", "c1")]

        sink.truncate_table("t", "main")
        assert sink.committed_chunks("r") == ()
        assert sink.estimate_row_count("t", "main") == 0
        sink.write_chunk("t", "main", [batch], ChunkMarker("r", "c1"))
        sink.drop_table("t", "main")
        assert sink.committed_chunks("r") == ()
        assert not sink.table_exists("t", "main")
        with pytest.raises(TableNotFound):
            sink.drop_table("t", "main")


def test_batches_that_do_not_fit_the_table_are_refused_by_column(sqlite_path: Path) -> None:
    with open_connector(sqlite_path) as sink:
        sink.execute_sql('CREATE TABLE "t" ("k" INTEGER, "v" TEXT)')
        with pytest.raises(SchemaMismatch) as unknown:
            sink.write_batch("t", "main", pa.record_batch({"k": [1], "w": ["x"]}))
        assert unknown.value.context.column == "w"
        too_big = pa.record_batch({"k": pa.array([2**64 - 1], pa.uint64())})
        with pytest.raises(TypeNotRepresentable) as overflow:
            sink.write_chunk("t", "main", [too_big], ChunkMarker("r", "c"))
        assert overflow.value.context.column == "k"
        assert sink.committed_chunks("r") == ()
        with pytest.raises(TableNotFound) as missing:
            sink.write_batch("nope", "main", pa.record_batch({"k": [1]}))
        assert "tables: t" in str(missing.value)


def test_run_plans_are_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "target.db"
    with open_connector(path) as sink:
        assert sink.load_run("r") is None
        assert not path.exists()  # asking does not create the target
        sink.store_run("r", b"\x00plan")
        sink.store_run("r", b"\x00plan")
        assert sink.load_run("r") == b"\x00plan"
        with pytest.raises(ChunkConflict):
            sink.store_run("r", b"another plan")


def test_capabilities_and_identity() -> None:
    caps = SQLiteConnector.capabilities
    assert (caps.dialect, caps.atomic_chunks, caps.bulk_path) == ("sqlite", True, "executemany")
    assert not caps.supports_schemas and caps.transactional_ddl
    assert SQLiteConnector().quote_identifier('my "table"') == '"my ""table"""'


def test_enum_types_are_text_and_logged(sqlite_path: Path) -> None:
    from bani.domain.schema import EnumTypeDefinition

    with open_connector(sqlite_path) as sink, structlog.testing.capture_logs() as logs:
        sink.create_enum_types([EnumTypeDefinition("public", "mood", ("sad", "happy"))], "public")
    assert logs[0]["event"] == "sqlite_enum_as_text"
    assert logs[0]["labels"] == ["sad", "happy"]


def test_only_identity_columns_become_sqlite_rowid_aliases(sqlite_path: Path) -> None:
    keyed = TableDefinition(
        "public",
        "keyed",
        (ColumnDefinition("id", "integer", "int32", nullable=False),),
        primary_key=("id",),
        source_dialect="postgresql",
    )
    with open_connector(sqlite_path) as sink:
        sink.create_table(keyed)
        sink.create_table(pg_orders())
        schema = sink.introspect_schema()
    plain, identity = schema.get_table("keyed"), schema.get_table("orders")
    assert plain is not None and identity is not None
    assert not plain.column("id").is_identity and plain.identity_counter is None
    assert identity.column("id").is_identity and identity.identity_counter == 1


def test_every_arrow_type_is_written_in_sqlites_form(sqlite_path: Path) -> None:
    import datetime as dt

    stamp = dt.datetime(1969, 12, 31, 23, 59, 58, 250000)
    columns = {
        "ts_s": pa.array([stamp.replace(microsecond=0)], pa.timestamp("s")),
        "ts_ms": pa.array([stamp], pa.timestamp("ms")),
        "ts_ns": pa.array([1_000_000_000_123_456_789], pa.timestamp("ns")),
        "t_s": pa.array([dt.time(1, 2, 3)], pa.time32("s")),
        "t_ms": pa.array([dt.time(1, 2, 3, 4000)], pa.time32("ms")),
        "t_ns": pa.array([3_723_000_004_999], pa.time64("ns")),
        "d64": pa.array([dt.date(2024, 2, 29)], pa.date64()),
        "half": pa.array([1.5], pa.float16()),
        "small": pa.array([255], pa.uint8()),
        "big_text": pa.array(["ß"], pa.large_string()),
        "fixed": pa.array([b"\x00\x01"], pa.binary(2)),
        "elapsed": pa.array([90], pa.duration("s")),
        "nothing": pa.nulls(1),
        "nested": pa.array([{"a": 1, "b": ["x"]}]),
        "flag": pa.array([False]),
    }
    batch = pa.record_batch(columns)
    table = TableDefinition(
        "main",
        "all_types",
        tuple(
            ColumnDefinition(f.name, "", str(f.type))
            for f in batch.schema
        ),
        source_dialect="arrow",
    )
    with open_connector(sqlite_path) as sink:
        sink.create_table(table)
        sink.write_batch("all_types", "main", batch)
    with sqlite3.connect(sqlite_path) as conn:
        names = ", ".join(f'"{n}"' for n in columns)
        row = conn.execute(f"SELECT {names} FROM all_types").fetchone()  # noqa: S608
    assert dict(zip(columns, row, strict=True)) == {
        "ts_s": "1969-12-31 23:59:58",
        "ts_ms": "1969-12-31 23:59:58.250",
        "ts_ns": "2001-09-09 01:46:40.123456",
        "t_s": "01:02:03",
        "t_ms": "01:02:03.004",
        "t_ns": "01:02:03.000004",
        "d64": "2024-02-29",
        "half": 1.5,
        "small": 255,
        "big_text": "ß",
        "fixed": b"\x00\x01",
        "elapsed": 90,
        "nothing": None,
        "nested": '{"a": 1, "b": ["x"]}',
        "flag": 0,
    }
