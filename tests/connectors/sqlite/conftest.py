"""Helpers for the SQLite connector tests: real files under tmp_path, no mocks."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from bani.connectors.sqlite import SQLiteConnector
from bani.domain.arrow_fields import arrow_schema_for_table
from bani.domain.chunks import ChunkMarker, KeyRange
from bani.domain.project import ConnectionConfig
from bani.domain.schema import TableDefinition


def open_connector(path: Path, **options: str) -> SQLiteConnector:
    """A connected SQLiteConnector on ``path``."""
    connector = SQLiteConnector()
    connector.connect(ConnectionConfig(dialect="sqlite", database=str(path), options=options))
    return connector


def read_all(connector: SQLiteConnector, table: str, **kwargs: object) -> pa.Table:
    """Every batch of a table as one Arrow table (with the schema even when empty)."""
    definition = connector.introspect_schema().get_table(table)
    assert definition is not None, table
    columns = kwargs.get("columns")
    schema = arrow_schema_for_table(definition, columns)  # type: ignore[arg-type]
    batches = list(connector.read_table(table, "main", **kwargs))  # type: ignore[arg-type]
    return pa.Table.from_batches(batches, schema=schema)


def raw_rows(path: Path, table: str) -> list[tuple[object, ...]]:
    """Rows exactly as SQLite stores them, with each value's storage class, by rowid."""
    quoted = '"' + table.replace('"', '""') + '"'
    with sqlite3.connect(path) as conn:
        names = [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]
        typed = ", ".join(
            f'"{n.replace(chr(34), chr(34) * 2)}", typeof("{n.replace(chr(34), chr(34) * 2)}")'
            for n in names
        )
        return conn.execute(f"SELECT {typed} FROM {quoted} ORDER BY rowid").fetchall()  # noqa: S608


def integer_key_ranges(
    path: Path, table: TableDefinition, keys_per_chunk: int
) -> list[KeyRange | None]:
    """Half-open ranges covering a single-integer-key table, or [None] (one chunk)."""
    if len(table.primary_key) != 1 or table.column(table.primary_key[0]).arrow_type_str != "int64":
        return [None]
    key = table.primary_key[0]
    quoted_key = '"' + key.replace('"', '""') + '"'
    quoted_table = '"' + table.table_name.replace('"', '""') + '"'
    with sqlite3.connect(path) as conn:
        low, high = conn.execute(
            f"SELECT min({quoted_key}), max({quoted_key}) FROM {quoted_table}"  # noqa: S608
        ).fetchone()
    if low is None:
        return [None]
    edges = list(range(int(low), int(high) + 1, keys_per_chunk))
    ranges: list[KeyRange | None] = []
    for i, lower in enumerate(edges):
        upper = edges[i + 1] if i + 1 < len(edges) else None
        ranges.append(KeyRange(key, None if i == 0 else lower, upper))
    return ranges


def copy_database(
    source_path: Path,
    source: SQLiteConnector,
    target: SQLiteConnector,
    run_id: str,
    *,
    keys_per_chunk: int = 50_000,
    batch_size: int = 20_000,
) -> None:
    """What the services do, through the connector API only: tables are created and
    loaded in *reverse* order (children before parents), chunk by chunk, then indexes,
    counters, and foreign keys last."""
    schema = source.introspect_schema()
    for table in reversed(schema.tables):
        target.create_table(table)
    for table in reversed(schema.tables):
        for n, key_range in enumerate(integer_key_ranges(source_path, table, keys_per_chunk)):
            batches = source.read_table(
                table.table_name, table.schema_name, batch_size=batch_size, key_range=key_range
            )
            target.write_chunk(
                table.table_name,
                table.schema_name,
                batches,
                ChunkMarker(run_id, f"{table.table_name}/{n}"),
            )
        target.create_indexes(table.table_name, table.schema_name, table.indexes)
        target.finalize(table)
    target.create_foreign_keys([fk for table in schema.tables for fk in table.foreign_keys])


def iterate_or_fail() -> Iterator[pa.RecordBatch]:
    """A batch stream that fails the test if anyone pulls from it."""
    pytest.fail("the batches of an already committed chunk were consumed")
    yield pa.record_batch([])  # pragma: no cover
