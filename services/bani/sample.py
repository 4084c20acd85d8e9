"""A sample SQLite database the project creates itself, and a copy through the connector API.

``create_sample_database`` makes the shop behind ``bani-flight sample-db`` (the
README's main command): customers, products, orders and order lines, with
foreign keys, decimals, dates, BLOBs, unicode and NULLs.  ``python -m
bani.sample`` also copies it to ``copy.db`` through the connector API alone
(no Flight services), chunk by chunk with ``write_chunk``, which shows the
contract at work in a few lines.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from bani.connectors.registry import ConnectorRegistry
from bani.domain.chunks import ChunkMarker, KeyRange
from bani.domain.project import ConnectionConfig

__all__ = ["create_sample_database", "main"]

_SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(120) NOT NULL,
    email VARCHAR(200) UNIQUE,
    country CHAR(2),
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sku VARCHAR(32) NOT NULL UNIQUE,
    title TEXT NOT NULL,
    price NUMERIC(10, 2) NOT NULL,
    weight_kg REAL,
    thumbnail BLOB
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    ordered_on DATE NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'new',
    note TEXT
);
CREATE TABLE order_lines (
    order_id INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL,
    unit_price NUMERIC(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX ix_orders_customer ON orders (customer_id, ordered_on);
"""

_COUNTRIES = ("DE", "FR", "JP", "BR", "KE", None)
_NAMES = ("Ana", "Björn", "Chloé", "Dāvis", "Eşref", "Fumiko", "Grace", "Hồ")


def create_sample_database(path: Path, customers: int = 500) -> dict[str, int]:
    """Create the sample shop at ``path`` (replacing it); returns rows per table."""
    if path.exists():
        path.unlink()
    orders = customers * 3
    conn = sqlite3.connect(path)
    try:
        conn.executescript(_SCHEMA)
        conn.executemany(
            "INSERT INTO customers (name, email, country, created_at) VALUES (?, ?, ?, ?)",
            (
                (
                    f"{_NAMES[i % len(_NAMES)]} {i}",
                    None if i % 17 == 0 else f"user{i}@example.com",
                    _COUNTRIES[i % len(_COUNTRIES)],
                    f"2023-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
                )
                for i in range(customers)
            ),
        )
        conn.executemany(
            "INSERT INTO products (sku, title, price, weight_kg, thumbnail) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    f"SKU-{i:05d}",
                    f"Product «{i}» ☕",
                    f"{(i * 7) % 500}.{i % 100:02d}",
                    None if i % 5 == 0 else round(0.1 * i, 3),
                    bytes([i % 256, 0, 255]) if i % 3 else None,
                )
                for i in range(1, 201)
            ),
        )
        conn.executemany(
            "INSERT INTO orders (customer_id, ordered_on, status, note) VALUES (?, ?, ?, ?)",
            (
                (
                    1 + i % customers,
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    ("new", "paid", "shipped")[i % 3],
                    None if i % 4 else "leave at the door",
                )
                for i in range(orders)
            ),
        )
        conn.executemany(
            "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?)",
            (
                (order_id, line, 1 + (order_id * line) % 200, 1 + line, f"{line * 3}.99")
                for order_id in range(1, orders + 1)
                for line in range(1, 1 + order_id % 4)
            ),
        )
        conn.commit()
        return {
            table: conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608
            for table in ("customers", "products", "orders", "order_lines")
        }
    finally:
        conn.close()


def copy_database(source: Path, target: Path, chunk_rows: int = 1_000) -> dict[str, int]:
    """Copy every table of ``source`` into a new ``target`` through the connector API.

    Tables with a single integer key move in key-range chunks, each written by
    ``write_chunk`` (rows and marker in one transaction); indexes and foreign
    keys follow the data, then identity counters are finalised.
    """
    if target.exists():
        target.unlink()
    copied: dict[str, int] = {}
    source_class = ConnectorRegistry.get_source("sqlite")
    sink_class = ConnectorRegistry.get_sink("sqlite")
    with source_class() as src, sink_class() as dst:
        src.connect(ConnectionConfig(dialect="sqlite", database=str(source)))
        dst.connect(ConnectionConfig(dialect="sqlite", database=str(target)))
        schema = src.introspect_schema()
        run_id = f"sample-{int(time.time())}"
        for table in schema.tables:
            dst.create_table(table)
            ranges: list[KeyRange | None] = [None]
            if len(table.primary_key) == 1 and table.column(table.primary_key[0]).is_identity:
                upper = (table.row_count_estimate or 0) + 1
                key = table.primary_key[0]
                ranges = [KeyRange(key, None, 1)]
                ranges += [KeyRange(key, lo, lo + chunk_rows) for lo in range(1, upper, chunk_rows)]
                ranges.append(KeyRange(key, max(upper, 1), None))
            total = 0
            for number, key_range in enumerate(ranges):
                batches = src.read_chunk(
                    table.table_name, table.schema_name, batch_size=500, key_range=key_range
                )
                marker = ChunkMarker(run_id, f"{number:04d}")
                total += dst.write_chunk(table.table_name, table.schema_name, batches, marker)
            copied[table.table_name] = total
        for table in schema.tables:
            dst.create_indexes(table.table_name, table.schema_name, table.indexes)
        dst.create_foreign_keys([fk for t in schema.tables for fk in t.foreign_keys])
        for table in schema.tables:
            dst.finalize(table)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bani.sample",
        description="Create the sample SQLite shop and copy it to another SQLite file.",
    )
    parser.add_argument("--source", type=Path, default=Path("sample.db"))
    parser.add_argument("--target", type=Path, default=Path("copy.db"))
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args(argv)
    created = create_sample_database(args.source, args.customers)
    started = time.perf_counter()
    copied = copy_database(args.source, args.target)
    seconds = time.perf_counter() - started
    print(f"{'table':<14}{'source rows':>12}{'target rows':>12}  result")
    ok = True
    for table, rows in created.items():
        got = copied.get(table, 0)
        ok = ok and got == rows
        print(f"{table:<14}{rows:>12}{got:>12}  {'ok' if got == rows else 'MISMATCH'}")
    print(f"copied {args.source} -> {args.target} in {seconds:.2f} s: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
