"""SQLite → SQLite through the connector API, on a fixture built to be awkward.

The fixture has reserved words, spaces, embedded quotes and unicode in names,
NULLs in every nullable column, an empty table, a composite primary key, a
unique constraint and a partial unique index, a foreign key, BLOBs with zero
bytes (and an empty one), dates, datetimes and times, a 0.99 price at scale 2
and a 30-digit decimal, and 250,000 rows moved as five chunks of several
batches each through ``write_chunk``.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bani.connectors.sqlite import SQLiteConnector
from bani.domain.chunks import ChunkMarker, KeyRange
from bani.domain.schema import DatabaseSchema
from tests.connectors.sqlite.conftest import (
    copy_database,
    iterate_or_fail,
    open_connector,
    raw_rows,
    read_all,
)

BIG_ROWS = 250_000
ORDER = "order"
LINES = 'my "table"'

FIXTURE_DDL = '''
CREATE TABLE "order" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "select" VARCHAR(40) NOT NULL DEFAULT 'none',
    "unit price" NUMERIC(10,2),
    "long amount" DECIMAL_TEXT(30,2),
    "my ""quoted"" col" TEXT,
    "naïve café ☕" TEXT,
    "shipped on" DATE,
    "created at" DATETIME DEFAULT CURRENT_TIMESTAMP,
    "at time" TIME,
    "payload" BLOB,
    "is paid" BOOLEAN,
    "weight" REAL CHECK ("weight" >= 0),
    "qty" INTEGER,
    "note" NUMERIC,
    CONSTRAINT "price positive" CHECK ("unit price" >= 0)
);
CREATE INDEX "idx order created" ON "order" ("created at");
CREATE UNIQUE INDEX "uniq big qty" ON "order" ("qty") WHERE "qty" > 1000;
CREATE TABLE "my ""table""" (
    "region" TEXT NOT NULL,
    "n" INTEGER NOT NULL,
    "order id" INTEGER REFERENCES "order" ("id") ON DELETE CASCADE,
    "label" TEXT UNIQUE,
    PRIMARY KEY ("region", "n")
);
CREATE TABLE "empty" ("a" INTEGER, "b" TEXT);
CREATE TABLE "big" ("k" INTEGER PRIMARY KEY, "v" TEXT NOT NULL, "x" REAL, "at" DATETIME);
'''

ORDER_ROWS = [
    # id, select, unit price, long amount, quoted, unicode, shipped, created, time, payload,
    # paid, weight, qty, note
    (1, "first", 0.99, "1234567890123456789012345678.91", 'say "hi"', "grüße ☕",
     "2024-02-29", "2024-01-02 03:04:05", "00:00:00", b"\x00", 1, 2.5, 5, 1.5),
    (2, "second", 12, "-0.50", "", "日本語", "1999-12-31", "1999-12-31 23:59:59.123",
     "23:59:59.250", b"\x00\xff\x00\x00", 0, 0.0, 2000, 42),
    (3, "third", None, None, None, None, None, None, None, None, None, None, None, None),
    (4, "fourth", 0.1, "0.99", "x", "y", "2000-01-01", "2000-01-01 00:00:00.000001",
     "12:30:00.000001", b"", 1, None, None, "n/a"),
]
LINE_ROWS = [
    ("north", 1, 1, "a"),
    ("north", 2, 2, None),
    ("south", 1, None, "b"),
    ("south ☂", 7, 4, "c"),
]


def build_fixture(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE_DDL)
        conn.executemany(
            'INSERT INTO "order" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', ORDER_ROWS
        )
        # Rows 5..100 were handed out and deleted once: the counter is ahead of max(id).
        conn.execute("UPDATE sqlite_sequence SET seq = 100 WHERE name = 'order'")
        conn.executemany('INSERT INTO "my ""table""" VALUES (?, ?, ?, ?)', LINE_ROWS)
        conn.execute(
            "WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < ?) "
            'INSERT INTO "big" SELECT k, \'row \' || k, CASE WHEN k % 7 = 0 THEN NULL '
            "ELSE k * 0.25 END, datetime(1700000000 + k, 'unixepoch') FROM s",
            (BIG_ROWS,),
        )


@dataclass(frozen=True)
class Migration:
    source: Path
    target: Path
    source_schema: DatabaseSchema
    target_schema: DatabaseSchema


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Migration:
    root = tmp_path_factory.mktemp("round_trip")
    source_path, target_path = root / "source.db", root / "target.db"
    build_fixture(source_path)
    with open_connector(source_path) as source, open_connector(target_path) as target:
        copy_database(source_path, source, target, "run-1")
        return Migration(
            source_path, target_path, source.introspect_schema(), target.introspect_schema()
        )


def _sorted(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    order = keys or tuple(table.column_names)
    return table.sort_by([(k, "ascending") for k in order])


def test_every_table_arrives_row_for_row_and_type_for_type(migrated: Migration) -> None:
    with open_connector(migrated.source) as source, open_connector(migrated.target) as target:
        for table in migrated.source_schema.tables:
            expected = read_all(source, table.table_name)
            actual = read_all(target, table.table_name)
            assert actual.schema == expected.schema, table.table_name
            assert actual.num_rows == (table.row_count_estimate or 0), table.table_name
            key = table.primary_key
            assert _sorted(actual, key).equals(_sorted(expected, key)), table.table_name
    assert {t.table_name: t.row_count_estimate for t in migrated.target_schema.tables} == {
        "big": BIG_ROWS,
        "empty": 0,
        LINES: len(LINE_ROWS),
        ORDER: len(ORDER_ROWS),
    }


def test_sqlite_stores_the_very_same_values_and_storage_classes(migrated: Migration) -> None:
    """Dates stay SQLite's text, 0.99 stays a REAL, 30 digits stay text, blobs stay blobs."""
    for table in (ORDER, LINES, "empty"):
        assert raw_rows(migrated.target, table) == raw_rows(migrated.source, table), table
    first = raw_rows(migrated.target, ORDER)[0]
    assert first[4:8] == (0.99, "real", "1234567890123456789012345678.91", "text")
    assert first[18:20] == (b"\x00", "blob")


def test_values_arrive_as_a_user_expects(migrated: Migration) -> None:
    with open_connector(migrated.target) as target:
        rows = read_all(target, ORDER).sort_by("id").to_pylist()
    assert rows[0]["unit price"] == Decimal("0.99")
    assert rows[1]["unit price"] == Decimal("12.00")
    assert rows[0]["long amount"] == Decimal("1234567890123456789012345678.91")
    assert rows[1]["payload"] == b"\x00\xff\x00\x00"
    assert rows[3]["payload"] == b""
    assert rows[0]["note"] == "1.5" and rows[1]["note"] == "42" and rows[3]["note"] == "n/a"
    assert str(rows[1]["created at"]) == "1999-12-31 23:59:59.123000"
    assert all(value is None for name, value in rows[2].items() if name not in ("id", "select"))


def test_every_nullable_column_of_the_fixture_holds_a_null(migrated: Migration) -> None:
    with open_connector(migrated.source) as source:
        for name in (ORDER, LINES, "big"):
            table = migrated.source_schema.get_table(name)
            assert table is not None
            data = read_all(source, name)
            for column in table.columns:
                if column.nullable and name != "big":
                    assert data.column(column.name).null_count > 0, (name, column.name)


def test_the_target_schema_equals_the_source_schema(migrated: Migration) -> None:
    def without_counts(schema: DatabaseSchema) -> DatabaseSchema:
        tables = tuple(dataclasses.replace(t, row_count_estimate=None) for t in schema.tables)
        return dataclasses.replace(schema, tables=tables)

    assert without_counts(migrated.target_schema) == without_counts(migrated.source_schema)
    order = migrated.target_schema.get_table(ORDER)
    assert order is not None
    assert order.identity_counter == 101  # the source's sqlite_sequence survived finalize
    assert [i.name for i in order.indexes] == ["idx order created", "uniq big qty"]
    assert order.indexes[1].filter_predicate == '"qty" > 1000'
    lines = migrated.target_schema.get_table(LINES)
    assert lines is not None
    assert lines.primary_key == ("region", "n")
    assert [(i.columns, i.is_unique) for i in lines.indexes] == [(("label",), True)]
    assert [(fk.referenced_table, fk.on_delete) for fk in lines.foreign_keys] == [
        (ORDER, "CASCADE")
    ]


def test_the_big_table_went_as_several_chunks(migrated: Migration) -> None:
    with open_connector(migrated.target) as target:
        chunks = [c for c in target.committed_chunks("run-1") if c.table_name == "big"]
    assert len(chunks) == 5
    assert sum(c.rows for c in chunks) == BIG_ROWS
    assert {c.rows for c in chunks} == {50_000}


def test_writing_a_committed_chunk_again_changes_nothing(
    migrated: Migration, tmp_path: Path
) -> None:
    target_path = tmp_path / "target.db"
    shutil.copy(migrated.target, target_path)
    before = raw_rows(target_path, "big")
    with open_connector(target_path) as target:
        markers = target.committed_chunks("run-1")
        rows = target.write_chunk("big", "main", iterate_or_fail(), ChunkMarker("run-1", "big/2"))
        assert rows == 50_000
        assert target.committed_chunks("run-1") == markers
    assert raw_rows(target_path, "big") == before


def test_a_chunk_whose_stream_fails_midway_leaves_no_row_and_no_marker(
    migrated: Migration, tmp_path: Path
) -> None:
    target_path = tmp_path / "target.db"
    shutil.copy(migrated.target, target_path)

    def failing() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch(
            {"k": pa.array([BIG_ROWS + 1, BIG_ROWS + 2]), "v": pa.array(["new", "new"])}
        )
        raise ConnectionResetError("the stream broke after one batch")

    with open_connector(target_path) as target:
        with pytest.raises(ConnectionResetError):
            target.write_chunk("big", "main", failing(), ChunkMarker("run-2", "big/9"))
        assert target.committed_chunks("run-2") == ()
        assert target.estimate_row_count("big", "main") == BIG_ROWS


def test_key_ranges_return_exactly_their_rows_and_together_the_table(
    migrated: Migration,
) -> None:
    ranges = [KeyRange("k", None, 1_000), KeyRange("k", 1_000, 123_457), KeyRange("k", 123_457)]
    with open_connector(migrated.source) as source:
        whole = read_all(source, "big")
        parts = []
        for key_range in ranges:
            part = read_all(source, "big", key_range=key_range, batch_size=40_000)
            keys = part.column("k")
            if key_range.lower is not None:
                assert pc.min(keys).as_py() == key_range.lower
            if key_range.upper is not None:
                assert pc.max(keys).as_py() == key_range.upper - 1
            parts.append(part)
    assert [p.num_rows for p in parts] == [999, 122_457, BIG_ROWS - 123_456]
    union = pa.concat_tables(parts)
    assert _sorted(union, ("k",)).equals(_sorted(whole, ("k",)))


def test_four_threads_write_chunks_into_one_file_and_all_commit(tmp_path: Path) -> None:
    path = tmp_path / "target.db"
    with open_connector(path) as target:
        target.execute_sql('CREATE TABLE "t" ("k" INTEGER PRIMARY KEY, "v" TEXT)')
        per_chunk, errors, counts = 30_000, [], {}

        def write(n: int) -> None:
            keys = pa.array(range(n * per_chunk, (n + 1) * per_chunk), pa.int64())
            batches = [
                pa.record_batch({"k": part, "v": pc.cast(part, pa.string())})
                for part in (keys.slice(i, 5_000) for i in range(0, per_chunk, 5_000))
            ]
            try:
                counts[n] = target.write_chunk("t", "main", batches, ChunkMarker("run", f"c{n}"))
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert counts == {n: per_chunk for n in range(4)}
        assert {c.chunk_id for c in target.committed_chunks("run")} == {"c0", "c1", "c2", "c3"}
        assert target.estimate_row_count("t", "") == 4 * per_chunk


def test_the_source_file_is_not_modified(migrated: Migration, tmp_path: Path) -> None:
    copy = tmp_path / "source.db"
    shutil.copy(migrated.source, copy)
    before = copy.read_bytes()
    with open_connector(copy) as source:
        source.introspect_schema()
        for _ in source.read_table("big", "main", batch_size=100_000):
            pass
    assert copy.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.db"]


def test_connector_is_found_through_its_entry_point() -> None:
    from bani.connectors.registry import ConnectorRegistry

    ConnectorRegistry.discover()
    assert ConnectorRegistry.get("sqlite") is SQLiteConnector
