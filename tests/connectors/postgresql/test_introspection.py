"""Bulk introspection: a 12-table schema read back exactly, in a fixed number of queries."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bani.connectors.postgresql import PostgreSQLConnector
from bani.domain.project import ConnectionConfig
from bani.domain.schema import (
    CheckConstraint,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
)

pytestmark = pytest.mark.pg

FIRST_TABLE = """
CREATE TABLE shop.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name varchar(100),
    created timestamptz NOT NULL DEFAULT now()
);
"""

OTHER_TABLES = """
CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE shop.products (
    sku char(8) PRIMARY KEY,
    title text,
    price numeric(12,2) NOT NULL DEFAULT 0 CONSTRAINT price_not_negative CHECK (price >= 0)
);
CREATE TABLE shop.orders (
    id serial PRIMARY KEY,
    customer_id bigint REFERENCES shop.customers ON DELETE CASCADE,
    status shop.status NOT NULL DEFAULT 'new',
    placed date
);
CREATE INDEX orders_customer_placed ON shop.orders (customer_id, placed);
CREATE INDEX orders_open ON shop.orders (placed) WHERE status <> 'shipped';
CREATE INDEX orders_lower_expr ON shop.orders ((placed + 1));
CREATE TABLE shop.order_lines (
    order_id int REFERENCES shop.orders ON DELETE CASCADE,
    line_no smallint,
    sku char(8) CONSTRAINT line_product REFERENCES shop.products
        ON UPDATE CASCADE ON DELETE RESTRICT,
    qty int NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE shop.warehouses (region text, code int, PRIMARY KEY (code, region));
CREATE TABLE shop.stock (
    region text, code int, sku char(8) REFERENCES shop.products, qty int,
    PRIMARY KEY (sku, code, region),
    CONSTRAINT stock_place FOREIGN KEY (code, region) REFERENCES shop.warehouses (code, region)
        ON UPDATE CASCADE
);
CREATE TABLE shop.tags (id int PRIMARY KEY, label text UNIQUE);
CREATE TABLE shop.product_tags (
    sku char(8) REFERENCES shop.products ON DELETE CASCADE,
    tag_id int REFERENCES shop.tags ON DELETE CASCADE,
    PRIMARY KEY (tag_id, sku)
);
CREATE TABLE shop.audit (
    id bigserial PRIMARY KEY, at timestamptz, payload jsonb,
    actor bigint REFERENCES shop.customers ON DELETE SET NULL
);
CREATE INDEX audit_payload ON shop.audit USING gin (payload);
CREATE TABLE shop.settings (key text PRIMARY KEY, value text);
CREATE TABLE shop.sessions (
    token uuid PRIMARY KEY,
    customer_id bigint DEFAULT 0 REFERENCES shop.customers ON DELETE SET DEFAULT
);
CREATE TABLE shop.events (id int, kind shop.status, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE shop.events_low PARTITION OF shop.events FOR VALUES FROM (0) TO (100);
CREATE TABLE shop.events_high PARTITION OF shop.events FOR VALUES FROM (100) TO (200);
CREATE VIEW shop.paid_orders AS SELECT * FROM shop.orders WHERE status = 'paid';
INSERT INTO shop.events SELECT g, 'new' FROM generate_series(0, 149) g;
INSERT INTO shop.tags SELECT g, 'tag' || g FROM generate_series(1, 40) g;
ANALYZE shop.events;
ANALYZE shop.tags;
"""

TWELVE = {
    "audit",
    "customers",
    "events",
    "order_lines",
    "orders",
    "product_tags",
    "products",
    "sessions",
    "settings",
    "stock",
    "tags",
    "warehouses",
}


@pytest.fixture
def shop(pg_config: ConnectionConfig, pg_conn: Any) -> Iterator[PostgreSQLConnector]:
    """A connector serving only the ``shop`` schema (other schemas must not leak in)."""
    pg_conn.execute("CREATE SCHEMA shop")
    pg_conn.execute("CREATE TABLE public.elsewhere (id int)")
    config = dataclasses.replace(pg_config, options={**pg_config.options, "schemas": "shop"})
    connector = PostgreSQLConnector()
    connector.connect(config)
    try:
        yield connector
    finally:
        connector.disconnect()


class QueryCounter:
    """Counts every statement executed through any psycopg cursor."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for cls in (psycopg.Cursor, psycopg.ServerCursor):
            original = cls.execute

            def counted(self_: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
                self.count += 1
                return _original(self_, *args, **kw)

            monkeypatch.setattr(cls, "execute", counted)


def test_one_table_and_twelve_tables_cost_the_same_queries(
    shop: PostgreSQLConnector, pg_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_conn.execute(FIRST_TABLE)
    counter = QueryCounter(monkeypatch)
    one = shop.introspect_schema()
    for_one = counter.count
    assert [t.table_name for t in one.tables] == ["customers"]

    pg_conn.execute(OTHER_TABLES)
    counter.count = 0
    twelve = shop.introspect_schema()
    assert {t.table_name for t in twelve.tables} == TWELVE
    assert counter.count == for_one
    assert for_one == 6  # search path, tables, columns, constraints, indexes, enum types


def test_twelve_tables_match_what_was_created(shop: PostgreSQLConnector, pg_conn: Any) -> None:
    pg_conn.execute(FIRST_TABLE)
    pg_conn.execute(OTHER_TABLES)
    schema = shop.introspect_schema()
    tables = {t.table_name: t for t in schema.tables}
    assert set(tables) == TWELVE  # no partitions, views, or other schemas
    assert all(
        t.schema_name == "shop" and t.source_dialect == "postgresql" for t in tables.values()
    )
    assert schema.enum_types == (EnumTypeDefinition("shop", "status", ("new", "paid", "shipped")),)

    customers = tables["customers"]
    assert [c.name for c in customers.columns] == ["id", "email", "name", "created"]
    assert customers.column("id").is_identity
    assert customers.identity_counter == 1
    assert customers.column("name").char_length == 100
    assert customers.column("created").default_value == "now()"
    assert not customers.column("email").nullable
    assert customers.indexes == (
        IndexDefinition("customers_email_key", ("email",), is_unique=True, method="btree"),
    )

    orders = tables["orders"]
    assert orders.primary_key == ("id",)
    assert orders.column("id").is_identity  # serial
    assert orders.column("status").enum_values == ("new", "paid", "shipped")
    assert orders.column("status").default_value == "'new'::status"  # unqualified
    assert orders.indexes == (
        IndexDefinition("orders_customer_placed", ("customer_id", "placed"), method="btree"),
        IndexDefinition(
            "orders_open",
            ("placed",),
            method="btree",
            filter_predicate="status <> 'shipped'::status",
        ),
    )  # the expression index is skipped (no column list)
    assert orders.foreign_keys == (
        ForeignKeyDefinition(
            "orders_customer_id_fkey",
            "shop",
            "orders",
            ("customer_id",),
            "shop",
            "customers",
            ("id",),
            on_delete="CASCADE",
        ),
    )

    lines = tables["order_lines"]
    assert lines.primary_key == ("order_id", "line_no")
    assert {fk.name: (fk.on_delete, fk.on_update) for fk in lines.foreign_keys} == {
        "line_product": ("RESTRICT", "CASCADE"),
        "order_lines_order_id_fkey": ("CASCADE", "NO ACTION"),
    }

    assert tables["warehouses"].primary_key == ("code", "region")
    stock = tables["stock"]
    assert stock.primary_key == ("sku", "code", "region")
    place = next(fk for fk in stock.foreign_keys if fk.name == "stock_place")
    assert (place.source_columns, place.referenced_columns) == (
        ("code", "region"),
        ("code", "region"),
    )
    assert place.on_update == "CASCADE"

    assert tables["product_tags"].primary_key == ("tag_id", "sku")
    sessions_fk = tables["sessions"].foreign_keys[0]
    assert sessions_fk.on_delete == "SET DEFAULT"
    assert tables["audit"].column("actor").nullable
    assert tables["audit"].foreign_keys[0].on_delete == "SET NULL"
    assert tables["audit"].indexes == (
        IndexDefinition("audit_payload", ("payload",), method="gin"),
    )
    assert tables["products"].check_constraints == (
        CheckConstraint("price_not_negative", "(price >= 0::numeric)"),
    )
    assert tables["products"].column("price").default_value == "0"

    assert tables["tags"].row_count_estimate == 40
    assert tables["events"].row_count_estimate == 150  # summed over its partitions
    assert tables["settings"].row_count_estimate is None  # never analysed


def test_reading_a_partitioned_table_returns_every_partition(
    shop: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg_conn.execute(FIRST_TABLE)
    pg_conn.execute(OTHER_TABLES)
    ids = [i for b in shop.read_table("events", "shop") for i in b.column("id").to_pylist()]
    assert sorted(ids) == list(range(150))


def test_estimate_row_count_uses_statistics_or_the_planner(
    shop: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg_conn.execute(FIRST_TABLE)
    pg_conn.execute(OTHER_TABLES)
    pg_conn.execute("INSERT INTO shop.settings SELECT 'k' || g, 'v' FROM generate_series(1, 500) g")
    assert shop.estimate_row_count("tags", "shop") == 40
    assert shop.estimate_row_count("settings", "shop") > 0  # never analysed: planner's guess
    assert shop.estimate_row_count("events", "shop") == 150
    pg_conn.execute("ANALYZE shop.settings")
    assert shop.estimate_row_count("settings", "shop") == 500


def test_the_schema_copies_to_another_schema_with_keys_indexes_and_actions(
    shop: PostgreSQLConnector, pg_config: ConnectionConfig, pg_conn: Any
) -> None:
    pg_conn.execute(FIRST_TABLE)
    pg_conn.execute(OTHER_TABLES)
    source = shop.introspect_schema()
    target_config = dataclasses.replace(pg_config, options={"schemas": "mirror"})
    with PostgreSQLConnector() as sink:
        sink.connect(target_config)
        sink.create_enum_types(source.enum_types, "mirror")
        moved = [
            dataclasses.replace(
                t,
                schema_name="mirror",
                foreign_keys=tuple(
                    dataclasses.replace(fk, source_schema="mirror", referenced_schema="mirror")
                    for fk in t.foreign_keys
                ),
            )
            for t in source.tables
        ]
        for table in moved:  # any order: foreign keys come after every table
            sink.create_table(table)
        for table in moved:
            sink.create_indexes(table.table_name, "mirror", table.indexes)
        sink.create_foreign_keys([fk for t in moved for fk in t.foreign_keys])
        sink.create_foreign_keys([fk for t in moved for fk in t.foreign_keys])  # idempotent
        mirror = sink.introspect_schema()

    assert len(mirror.tables) == len(source.tables)
    for original in source.tables:
        copied = mirror.get_table(original.table_name, "mirror")
        assert copied is not None
        assert copied.primary_key == original.primary_key
        assert [c.name for c in copied.columns] == [c.name for c in original.columns]
        assert {
            (i.name, i.columns, i.is_unique, i.method, bool(i.filter_predicate))
            for i in copied.indexes
        } == {
            (i.name, i.columns, i.is_unique, i.method, bool(i.filter_predicate))
            for i in original.indexes
        }
        assert {
            (
                fk.name,
                fk.source_columns,
                fk.referenced_table,
                fk.referenced_columns,
                fk.on_delete,
                fk.on_update,
            )
            for fk in copied.foreign_keys
        } == {
            (
                fk.name,
                fk.source_columns,
                fk.referenced_table,
                fk.referenced_columns,
                fk.on_delete,
                fk.on_update,
            )
            for fk in original.foreign_keys
        }
        assert [c.expression for c in copied.check_constraints] == [
            c.expression for c in original.check_constraints
        ]
