"""Introspection of a 12-table schema in bulk, and recreating it on another database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pymysql
import pytest

from bani.domain.project import ConnectionConfig
from bani.domain.schema import (
    CheckConstraint,
    DatabaseSchema,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from tests.connectors.mysql.conftest import ConnectorFactory

pytestmark = pytest.mark.mysql

SHOP = [
    """CREATE TABLE customers (
        id int AUTO_INCREMENT PRIMARY KEY,
        email varchar(200) NOT NULL,
        name varchar(100) DEFAULT 'anon',
        bio text,
        created datetime(3) NOT NULL DEFAULT current_timestamp(3),
        UNIQUE KEY uq_email (email),
        KEY ix_name_prefix (name(10)),
        KEY ix_bio (bio(20)),
        CONSTRAINT email_len CHECK (char_length(email) > 3)
    )""",
    """CREATE TABLE addresses (
        customer_id int NOT NULL,
        kind enum('home','work') NOT NULL,
        line1 varchar(200),
        PRIMARY KEY (customer_id, kind),
        CONSTRAINT fk_addr_cust FOREIGN KEY (customer_id) REFERENCES customers (id)
            ON DELETE CASCADE ON UPDATE CASCADE
    )""",
    """CREATE TABLE products (
        sku char(12) PRIMARY KEY,
        title varchar(300) NOT NULL,
        price decimal(10,2) NOT NULL DEFAULT 0.00,
        FULLTEXT KEY ft_title (title)
    )""",
    """CREATE TABLE orders (
        id bigint unsigned AUTO_INCREMENT PRIMARY KEY,
        customer_id int NULL,
        placed date NOT NULL,
        CONSTRAINT fk_orders_cust FOREIGN KEY (customer_id) REFERENCES customers (id)
            ON DELETE SET NULL ON UPDATE RESTRICT
    ) AUTO_INCREMENT = 500""",
    """CREATE TABLE order_lines (
        order_id bigint unsigned NOT NULL,
        line_no smallint NOT NULL,
        sku char(12) NOT NULL,
        qty int NOT NULL DEFAULT 1,
        PRIMARY KEY (order_id, line_no),
        KEY ix_sku (sku),
        CONSTRAINT fk_lines_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
        CONSTRAINT fk_lines_sku FOREIGN KEY (sku) REFERENCES products (sku)
            ON DELETE RESTRICT ON UPDATE CASCADE
    )""",
    """CREATE TABLE warehouses (
        region char(2) NOT NULL,
        code smallint NOT NULL,
        name varchar(50),
        PRIMARY KEY (region, code)
    )""",
    """CREATE TABLE stock (
        region char(2) NOT NULL,
        code smallint NOT NULL,
        sku char(12) NOT NULL,
        qty int NOT NULL,
        PRIMARY KEY (region, code, sku),
        CONSTRAINT fk_stock_wh FOREIGN KEY (region, code) REFERENCES warehouses (region, code)
            ON DELETE NO ACTION ON UPDATE CASCADE,
        CONSTRAINT fk_stock_sku FOREIGN KEY (sku) REFERENCES products (sku)
    )""",
    "CREATE TABLE `order` (`select` int PRIMARY KEY, `from` varchar(10))",
    "CREATE TABLE `we``ird name` (`col with space` int PRIMARY KEY, `ünï` varchar(5))",
    """CREATE TABLE tags (
        id int PRIMARY KEY,
        name varchar(255) NOT NULL,
        UNIQUE KEY uq_tag_prefix (name(50))
    )""",
    """CREATE TABLE product_tags (
        sku char(12) NOT NULL,
        tag_id int NOT NULL,
        PRIMARY KEY (sku, tag_id),
        KEY ix_tag (tag_id),
        CONSTRAINT fk_pt_sku FOREIGN KEY (sku) REFERENCES products (sku) ON DELETE CASCADE,
        CONSTRAINT fk_pt_tag FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE
    )""",
    """CREATE TABLE audit (
        id bigint AUTO_INCREMENT,
        at timestamp(6) NULL,
        payload json,
        KEY ix_audit_id (id)
    )""",
    "CREATE VIEW v_orders AS SELECT * FROM orders",
]


def _schema_name(conn: Any) -> str:
    db = conn.db
    return db.decode() if isinstance(db, bytes) else str(db)


@pytest.fixture
def shop(mysql_conn: Any) -> str:
    with mysql_conn.cursor() as cur:
        for statement in SHOP:
            cur.execute(statement)
    return _schema_name(mysql_conn)


@pytest.fixture
def statement_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement any pymysql cursor executes, in order."""
    executed: list[str] = []
    original = pymysql.cursors.Cursor.execute

    def counting(self: Any, query: str, args: Any = None) -> int:
        executed.append(query)
        result: int = original(self, query, args)
        return result

    monkeypatch.setattr(pymysql.cursors.Cursor, "execute", counting)
    yield executed


def _table(schema: DatabaseSchema, name: str) -> TableDefinition:
    table = schema.get_table(name)
    assert table is not None, name
    return table


def test_a_twelve_table_schema_is_read_as_created(
    shop: str, connect_mysql: ConnectorFactory
) -> None:
    schema = connect_mysql().introspect_schema()
    assert schema.source_dialect == "mysql"
    assert sorted(t.table_name for t in schema.tables) == sorted(
        [
            "customers",
            "addresses",
            "products",
            "orders",
            "order_lines",
            "warehouses",
            "stock",
            "order",
            "we`ird name",
            "tags",
            "product_tags",
            "audit",
        ]
    )
    assert all(t.schema_name == shop for t in schema.tables)

    customers = _table(schema, "customers")
    assert customers.primary_key == ("id",)
    assert customers.column("id").is_identity
    assert customers.column("email").nullable is False
    assert customers.column("name").default_value == "'anon'"
    assert customers.column("created").default_value == "current_timestamp(3)"
    assert customers.indexes == (
        IndexDefinition("ix_bio", ("bio",), False, (20,), method="BTREE"),
        IndexDefinition("ix_name_prefix", ("name",), False, (10,), method="BTREE"),
        IndexDefinition("uq_email", ("email",), True, (), method="BTREE"),
    )
    assert customers.check_constraints == (
        CheckConstraint("email_len", "char_length(`email`) > 3"),
    )

    addresses = _table(schema, "addresses")
    assert addresses.primary_key == ("customer_id", "kind")
    assert addresses.column("kind").enum_values == ("home", "work")
    assert addresses.foreign_keys == (
        ForeignKeyDefinition(
            "fk_addr_cust",
            shop,
            "addresses",
            ("customer_id",),
            shop,
            "customers",
            ("id",),
            on_delete="CASCADE",
            on_update="CASCADE",
        ),
    )
    assert _table(schema, "products").indexes == (
        IndexDefinition("ft_title", ("title",), False, (), method="FULLTEXT"),
    )
    orders = _table(schema, "orders")
    assert orders.identity_counter == 500
    assert orders.column("id").unsigned
    assert orders.foreign_keys[0].on_delete == "SET NULL"
    assert orders.foreign_keys[0].on_update == "RESTRICT"

    lines = _table(schema, "order_lines")
    assert lines.primary_key == ("order_id", "line_no")
    assert [(f.name, f.on_delete, f.on_update) for f in lines.foreign_keys] == [
        ("fk_lines_order", "CASCADE", "RESTRICT"),
        ("fk_lines_sku", "RESTRICT", "CASCADE"),
    ]
    stock = _table(schema, "stock")
    assert stock.primary_key == ("region", "code", "sku")
    wh = next(f for f in stock.foreign_keys if f.name == "fk_stock_wh")
    assert (wh.source_columns, wh.referenced_table, wh.referenced_columns) == (
        ("region", "code"),
        "warehouses",
        ("region", "code"),
    )
    assert (wh.on_delete, wh.on_update) == ("NO ACTION", "CASCADE")
    assert _table(schema, "tags").indexes == (
        IndexDefinition("uq_tag_prefix", ("name",), True, (50,), method="BTREE"),
    )
    weird = _table(schema, "we`ird name")
    assert [c.name for c in weird.columns] == ["col with space", "ünï"]
    audit = _table(schema, "audit")
    assert audit.primary_key == ()
    assert audit.column("payload").data_type == "json"
    assert audit.column("at").timezone == "UTC"


def test_introspection_costs_the_same_queries_for_one_table_as_for_twelve(
    shop: str,
    second_dsn: str,
    connect_mysql: ConnectorFactory,
    statement_counter: list[str],
) -> None:
    many = connect_mysql()
    one_config = ConnectionConfig.from_url(second_dsn)
    one = connect_mysql(config=one_config)
    one.execute_sql("CREATE TABLE solo (id int PRIMARY KEY, v varchar(3))")
    statement_counter.clear()
    assert len(many.introspect_schema().tables) == 12
    for_twelve = len(statement_counter)
    statement_counter.clear()
    assert len(one.introspect_schema().tables) == 1
    for_one = len(statement_counter)
    assert for_one == for_twelve == 5


def test_the_schema_is_recreated_on_another_database(
    shop: str, second_database: str, second_dsn: str, connect_mysql: ConnectorFactory
) -> None:
    source = connect_mysql()
    schema = source.introspect_schema()
    sink = connect_mysql()
    moved = [replace(t, schema_name=second_database) for t in schema.tables]
    for table in moved:
        plan = sink.plan_table(table)
        assert plan.issues == (), (table.table_name, plan.issues)
        sink.create_table(table)
    for table in moved:
        sink.create_indexes(table.table_name, second_database, table.indexes)
        sink.create_indexes(table.table_name, second_database, table.indexes)  # resumed: no-op
    foreign_keys = [
        replace(fk, source_schema=second_database, referenced_schema=second_database)
        for table in moved
        for fk in table.foreign_keys
    ]
    sink.create_foreign_keys(foreign_keys)
    sink.create_foreign_keys(foreign_keys)  # resumed: no-op
    for table in moved:
        sink.finalize(table)

    target = connect_mysql(config=ConnectionConfig.from_url(second_dsn))
    copied = {t.table_name: t for t in target.introspect_schema().tables}
    assert set(copied) == {t.table_name for t in moved}
    for table in moved:
        expected = replace(
            table,
            row_count_estimate=copied[table.table_name].row_count_estimate,
            foreign_keys=tuple(
                _innodb_rules(
                    replace(fk, source_schema=second_database, referenced_schema=second_database)
                )
                for fk in table.foreign_keys
            ),
        )
        got = replace(
            copied[table.table_name],
            foreign_keys=tuple(_innodb_rules(fk) for fk in copied[table.table_name].foreign_keys),
        )
        assert got == expected, table.table_name
    # Every action other than RESTRICT arrives as declared.
    rules = {
        (fk.name, fk.on_delete, fk.on_update)
        for t in copied.values()
        for fk in t.foreign_keys
        if "RESTRICT" not in (fk.on_delete, fk.on_update)
    }
    assert ("fk_addr_cust", "CASCADE", "CASCADE") in rules
    assert ("fk_stock_wh", "NO ACTION", "CASCADE") in rules


def _innodb_rules(fk: ForeignKeyDefinition) -> ForeignKeyDefinition:
    """RESTRICT and NO ACTION are the same rule in InnoDB.

    MariaDB records RESTRICT as NO ACTION when a key is added in place
    (``foreign_key_checks = 0``), which is how the sink adds keys to loaded
    tables; the comparison treats the two as one.
    """

    def same(rule: str) -> str:
        return "NO ACTION" if rule == "RESTRICT" else rule

    return replace(fk, on_delete=same(fk.on_delete), on_update=same(fk.on_update))


def test_an_orphan_row_fails_its_foreign_key_and_leaves_none(
    mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    from bani.errors import SchemaError

    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE p (id int PRIMARY KEY)")
        cur.execute("CREATE TABLE c (id int PRIMARY KEY, p_id int, KEY (p_id))")
        cur.execute("INSERT INTO p VALUES (1)")
        cur.execute("INSERT INTO c VALUES (1, 1), (2, NULL), (3, 42)")
    schema = _schema_name(mysql_conn)
    sink = connect_mysql()
    fk = ForeignKeyDefinition("fk_c_p", schema, "c", ("p_id",), schema, "p", ("id",))
    with pytest.raises(SchemaError) as caught:
        sink.create_foreign_keys([fk])
    assert "fk_c_p" in str(caught.value) and "42" in str(caught.value)
    assert caught.value.context.table == "c"
    assert _table(sink.introspect_schema(), "c").foreign_keys == ()


def test_the_schemas_option_introspects_several_databases(
    shop: str, second_database: str, connect_mysql: ConnectorFactory, mysql_conn: Any
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{second_database}`.extra (id int PRIMARY KEY)")
        cur.execute(f"INSERT INTO `{second_database}`.extra VALUES (1), (2), (3)")  # noqa: S608
        cur.execute(f"ANALYZE TABLE `{second_database}`.extra")
        cur.fetchall()
    connector = connect_mysql(schemas=f"{shop},{second_database}")
    tables = connector.introspect_schema().tables
    assert {t.schema_name for t in tables} == {shop, second_database}
    assert len(tables) == 13
    extra = connector.introspect_schema().get_table("extra", second_database)
    assert extra is not None and extra.schema_name == second_database
    assert connector.estimate_row_count("extra", second_database) == 3
    assert [b.num_rows for b in connector.read_table("extra", second_database)] == [3]
