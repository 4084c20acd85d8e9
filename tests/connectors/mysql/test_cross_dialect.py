"""Across dialects: MariaDB -> SQLite, and a table from another dialect into MariaDB."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bani.connectors.mysql import MySQLConnector
from bani.connectors.sqlite import SQLiteConnector
from bani.domain.chunks import ChunkMarker
from bani.domain.project import ConnectionConfig
from bani.domain.schema import ColumnDefinition, IndexDefinition, TableDefinition
from bani.errors import TypeNotRepresentable
from tests.connectors.mysql.conftest import ConnectorFactory, column_types

pytestmark = pytest.mark.mysql

D65 = Decimal("-12345678901234567890123456789012345.123456789012345678901234567890")


def _schema_of(conn: Any) -> str:
    db = conn.db
    return db.decode() if isinstance(db, bytes) else str(db)


@pytest.fixture
def ledger(mysql_conn: Any) -> str:
    with mysql_conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute(
            "CREATE TABLE ledger (id int unsigned PRIMARY KEY, amount decimal(10,2), "
            "precise decimal(65,30), big bigint unsigned, small int unsigned, "
            "day date, at datetime(6), stamp timestamp(3) NULL)"
        )
        cur.execute(
            "INSERT INTO ledger VALUES "
            "(1, -12345678.91, %s, 9223372036854775807, 4294967295, '1000-01-01', "
            "'9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999'), "
            "(2, 0.01, 0.000000000000000000000000000001, 0, 0, '2024-02-29', "
            "'1970-01-01 00:00:00.000001', '1970-01-01 00:00:01'), "
            "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            (D65,),
        )
    return _schema_of(mysql_conn)


def test_mariadb_to_sqlite_keeps_decimals_unsigned_and_dates(
    ledger: str, connect_mysql: ConnectorFactory, mysql_conn: Any, tmp_path: Path
) -> None:
    source = connect_mysql()
    table = source.introspect_schema().get_table("ledger", ledger)
    assert table is not None
    sink = SQLiteConnector()
    sink.connect(ConnectionConfig(dialect="sqlite", database=str(tmp_path / "target.db")))
    target = replace(table, schema_name="main")
    plan = sink.plan_table(target)
    # SQLite integers are signed: the planner says so before any data moves.
    assert [(i.column, i.kind) for i in plan.issues] == [("big", "lossy")]
    sink.create_table(target)
    rows = sink.write_chunk(
        "ledger", "main", source.read_table("ledger", ledger, batch_size=2), ChunkMarker("x", "0")
    )
    assert rows == 3
    back = pa.Table.from_batches(list(sink.read_table("ledger", "main"))).sort_by("id")
    assert back["amount"].to_pylist() == [Decimal("-12345678.91"), Decimal("0.01"), None]
    assert back["precise"].type == pa.decimal256(65, 30)
    assert back["precise"].to_pylist() == [D65, Decimal("1E-30"), None]
    assert back["big"].to_pylist() == [2**63 - 1, 0, None]
    assert back["small"].to_pylist() == [4294967295, 0, None]
    assert back["day"].to_pylist() == [dt.date(1000, 1, 1), dt.date(2024, 2, 29), None]
    assert back["at"].to_pylist() == [
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(1970, 1, 1, 0, 0, 0, 1),
        None,
    ]
    assert back["stamp"].to_pylist() == [
        dt.datetime(2038, 1, 19, 3, 14, 7, 999000, tzinfo=dt.UTC),
        dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
        None,
    ]

    # An unsigned value SQLite cannot hold is refused loudly, and the chunk leaves nothing.
    with mysql_conn.cursor() as cur:
        cur.execute("UPDATE ledger SET big = 18446744073709551615 WHERE id = 2")
    sink.truncate_table("ledger", "main")
    with pytest.raises(TypeNotRepresentable) as caught:
        sink.write_chunk(
            "ledger", "main", source.read_table("ledger", ledger), ChunkMarker("x", "1")
        )
    assert caught.value.context.column == "big"
    assert sum(b.num_rows for b in sink.read_table("ledger", "main")) == 0
    sink.disconnect()


def _foreign_table(schema: str) -> TableDefinition:
    """A table as another dialect (PostgreSQL-like) would describe it: Arrow types + facts."""

    def col(name: str, arrow: str, **facts: Any) -> ColumnDefinition:
        return ColumnDefinition(name=name, arrow_type_str=arrow, **facts)

    return TableDefinition(
        schema_name=schema,
        table_name="accounts",
        columns=(
            col("id", "int64", data_type="bigint", nullable=False, is_identity=True),
            col("email", "string", data_type="text", nullable=False),
            col("name", "string", data_type="character varying(100)", char_length=100),
            col("code", "string", data_type="character(3)", char_length=3),
            col("price", "decimal128(12, 2)", data_type="numeric(12,2)", default_value="0.00"),
            col("created", "timestamp[us, tz=UTC]", data_type="timestamptz", default_value="now()"),
            col("opens", "time64[us]", data_type="time"),
            col("grace", "duration[us]", data_type="interval"),
            col("body", "string", data_type="text", default_value="'it''s'::text"),
            col("blob", "binary", data_type="bytea"),
            col("status", "string", data_type="status_enum", enum_values=("new", "done")),
            col("tags", "list<item: string>", data_type="text[]"),
            col("doc", "string", data_type="jsonb"),
            col("uid", "fixed_size_binary[16]", data_type="uuid"),
            col("flag", "bool", data_type="boolean", default_value="true"),
            col("huge", "uint64", data_type="numeric(20,0)"),
            col("seq", "int32", data_type="integer", default_value="nextval('s'::regclass)"),
        ),
        primary_key=("id",),
        indexes=(IndexDefinition("accounts_email_key", ("email",), is_unique=True),),
        source_dialect="postgresql",
    )


def test_a_table_from_another_dialect_is_declared_from_arrow_types_and_facts(
    mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    schema = _schema_of(mysql_conn)
    sink = connect_mysql()
    table = _foreign_table(schema)
    plan = sink.plan_table(table)
    issues = {(i.column, i.kind) for i in plan.issues}
    assert issues == {
        ("email", "lossy"),  # a unique key needs a bounded length: varchar(255)
        ("created", "lossy"),  # instants become UTC DATETIME
        ("grace", "lossy"),  # MySQL TIME is ±838:59:59
        ("tags", "fallback"),  # JSON text
        ("seq", "default_dropped"),  # nextval() means nothing here
    }
    assert not sink.table_exists("accounts", schema)  # planning executes nothing
    sink.create_table(table)
    sink.create_indexes("accounts", schema, table.indexes)
    declared = {name: ctype for name, ctype, _ in column_types(mysql_conn, schema, "accounts")}
    assert declared == {
        "id": "bigint(20)",
        "email": "varchar(255)",
        "name": "varchar(100)",
        "code": "char(3)",
        "price": "decimal(12,2)",
        "created": "datetime(6)",
        "opens": "time(6)",
        "grace": "time(6)",
        "body": "longtext",
        "blob": "longblob",
        "status": "enum('new','done')",
        "tags": "longtext",  # MariaDB's JSON
        "doc": "longtext",
        "uid": "binary(16)",
        "flag": "tinyint(1)",
        "huge": "bigint(20) unsigned",
        "seq": "int(11)",
    }
    with mysql_conn.cursor() as cur:
        cur.execute(f"SHOW CREATE TABLE `{schema}`.accounts")
        ddl = cur.fetchone()[1]
    assert "AUTO_INCREMENT" in ddl and "DEFAULT current_timestamp(6)" in ddl
    assert "DEFAULT 0.00" in ddl and "DEFAULT 1" in ddl
    assert "UNIQUE KEY `accounts_email_key` (`email`)" in ddl

    created = dt.datetime(2100, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)  # beyond TIMESTAMP's 2038
    batch = pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int64()),
            "email": ["a@x", "b@x"],
            "created": pa.array([created, None], pa.timestamp("us", tz="UTC")),
            "opens": pa.array([dt.time(9, 30), dt.time(23, 59, 59, 999999)], pa.time64("us")),
            "grace": pa.array([dt.timedelta(hours=-800), dt.timedelta(days=3)], pa.duration("us")),
            "tags": pa.array([["a", "b"], None], pa.list_(pa.string())),
            "uid": pa.array([bytes(range(16)), None], pa.binary(16)),
            "status": pa.array(["done", "new"]).dictionary_encode(),
            "huge": pa.array([2**64 - 1, 0], pa.uint64()),
            "flag": [True, False],
        }
    )
    assert sink.write_chunk("accounts", schema, [batch], ChunkMarker("pg", "0")) == 2
    sink.finalize(replace(table, identity_counter=10))
    back = pa.Table.from_batches(list(sink.read_table("accounts", schema))).sort_by("id")
    assert back["created"].to_pylist() == [dt.datetime(2100, 5, 6, 7, 8, 9, 123456), None]
    assert back["opens"].to_pylist() == [
        dt.timedelta(hours=9, minutes=30),
        dt.timedelta(hours=23, minutes=59, seconds=59, microseconds=999999),
    ]
    assert back["grace"].to_pylist() == [dt.timedelta(hours=-800), dt.timedelta(days=3)]
    assert back["tags"].to_pylist() == ['["a", "b"]', None]
    assert back["uid"].to_pylist() == [bytes(range(16)), None]
    assert back["status"].to_pylist() == ["done", "new"]
    assert back["huge"].to_pylist() == [2**64 - 1, 0]
    assert back["flag"].to_pylist() == [True, False]
    assert back["price"].to_pylist() == [Decimal("0.00"), Decimal("0.00")]
    assert back["body"].to_pylist() == ["it's", "it's"]  # the translated default
    with mysql_conn.cursor() as cur:
        cur.execute(f"INSERT INTO `{schema}`.accounts (email) VALUES ('c@x')")  # noqa: S608 (test identifiers)
        cur.execute(f"SELECT MAX(id) FROM `{schema}`.accounts")  # noqa: S608 (test identifiers)
        assert cur.fetchone()[0] == 10


def test_a_type_mysql_cannot_hold_is_refused_before_anything_is_created(
    mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    schema = _schema_of(mysql_conn)
    sink = connect_mysql()
    table = TableDefinition(
        schema_name=schema,
        table_name="wide",
        columns=(
            ColumnDefinition("id", "bigint", "int64", nullable=False),
            ColumnDefinition("n", "numeric(80,10)", "decimal256(76, 10)"),
            ColumnDefinition("x" * 65, "text", "string"),
        ),
        primary_key=("id",),
        source_dialect="postgresql",
    )
    assert {(i.column, i.kind) for i in sink.plan_table(table).refused} == {
        ("n", "refused"),
        ("x" * 65, "refused"),
    }
    with pytest.raises(TypeNotRepresentable) as caught:
        sink.create_table(table)
    assert caught.value.context.column == "n"
    assert not sink.table_exists("wide", schema)


def test_connector_class_is_a_context_manager(mysql_config: ConnectionConfig) -> None:
    with MySQLConnector() as connector:
        connector.connect(mysql_config)
        assert connector.introspect_schema().tables == ()
