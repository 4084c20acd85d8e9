"""The SQLite source: streaming reads, every storage class, dates as SQLite writes them."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from bani.domain.arrow_fields import table_from_arrow_schema
from bani.domain.chunks import ChunkMarker, KeyRange
from bani.errors import ReadFailed, SchemaMismatch
from tests.connectors.sqlite.conftest import open_connector, raw_rows, read_all


def make(path: Path, script: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    return path


def test_dates_and_times_come_back_as_the_text_sqlite_wrote(tmp_path: Path) -> None:
    """SQLite → Arrow → SQLite: each text SQLite's date functions produce is written back
    unchanged, and SQLite's own functions read the same instant from both."""
    source = make(
        tmp_path / "source.db",
        """
        CREATE TABLE t (k INTEGER PRIMARY KEY, d DATE, ts DATETIME, tm TIME, stamp TIMESTAMP);
        INSERT INTO t VALUES
          (1, date('2024-02-29'), datetime('2024-02-29 13:14:15'), time('13:14:15'),
           strftime('%Y-%m-%d %H:%M:%f', '2024-02-29 13:14:15.123')),
          (2, date('1970-01-01'), datetime(0, 'unixepoch'), time('00:00:00'),
           strftime('%Y-%m-%d %H:%M:%f', '1969-12-31 23:59:59.999')),
          (3, '0999-12-31', '2024-01-02 03:04:05.000007', '23:59:59.5', '2024-01-02 03:04:05.120'),
          (4, NULL, NULL, NULL, NULL);
        """,
    )
    target = tmp_path / "target.db"
    with open_connector(source) as src, open_connector(target) as dst:
        table = src.introspect_schema().get_table("t")
        assert table is not None
        dst.create_table(table)
        dst.write_chunk("t", "main", src.read_table("t", "main"), ChunkMarker("r", "t"))
        arrow = read_all(src, "t")
    assert arrow.schema.field("ts").type == pa.timestamp("us")
    assert arrow.column("stamp").to_pylist()[1] == dt.datetime(1969, 12, 31, 23, 59, 59, 999000)
    source_rows, target_rows = raw_rows(source, "t"), raw_rows(target, "t")
    assert target_rows[:2] == source_rows[:2]
    assert target_rows[3] == source_rows[3]
    # row 3 was not written by SQLite's functions: values survive, spelling is canonical
    assert target_rows[2][2:] == (
        "0999-12-31", "text", "2024-01-02 03:04:05.000007", "text",
        "23:59:59.500", "text", "2024-01-02 03:04:05.120", "text",
    )
    with sqlite3.connect(target) as conn:
        conn.execute("ATTACH DATABASE ? AS src", (str(source),))
        differing = conn.execute(
            "SELECT count(*) FROM t JOIN src.t AS s USING (k) "
            "WHERE julianday(t.ts) IS NOT julianday(s.ts) "
            "OR julianday(t.stamp) IS NOT julianday(s.stamp) OR t.d IS NOT s.d"
        ).fetchone()
    assert differing == (0,)


def test_zone_offsets_and_unusual_spellings_are_read_as_utc(tmp_path: Path) -> None:
    source = make(
        tmp_path / "s.db",
        """
        CREATE TABLE t (k INTEGER PRIMARY KEY, ts DATETIME, tz TIMESTAMPTZ, d DATE);
        INSERT INTO t VALUES
          (1, '2024-01-02T03:04:05+02:00', '2024-01-02 03:04:05Z', '2024-01-02 00:00:00'),
          (2, '2024-01-02 03:04', '2024-01-02 03:04:05.123456789', '2024-01-02');
        """,
    )
    with open_connector(source) as src:
        rows = read_all(src, "t").to_pylist()
    assert rows[0]["ts"] == dt.datetime(2024, 1, 2, 1, 4, 5)
    assert rows[0]["tz"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert rows[1]["ts"] == dt.datetime(2024, 1, 2, 3, 4)
    assert rows[1]["tz"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert [r["d"] for r in rows] == [dt.date(2024, 1, 2)] * 2


def test_decimals_are_exact_at_their_declared_scale(tmp_path: Path) -> None:
    source = make(
        tmp_path / "s.db",
        """
        CREATE TABLE t (k INTEGER PRIMARY KEY, price NUMERIC(10,2), wide DECIMAL_TEXT(30,2),
                        big NUMERIC(20,0));
        INSERT INTO t VALUES (1, 0.99, '1234567890123456789012345678.91', 12345678901234567890),
                             (2, '0.1', 0.99, 9007199254740993),
                             (3, 2.675, '-0.50', NULL);
        """,
    )
    with open_connector(source) as src:
        rows = read_all(src, "t").to_pylist()
    assert [r["price"] for r in rows] == [Decimal("0.99"), Decimal("0.10"), Decimal("2.67")]
    assert [r["wide"] for r in rows] == [
        Decimal("1234567890123456789012345678.91"), Decimal("0.99"), Decimal("-0.50"),
    ]
    # an integer beyond 2**53 is read from its digits, not through a double
    assert rows[1]["big"] == Decimal("9007199254740993")
    # 2**64-ish does not fit SQLite's integers: SQLite itself stored a REAL
    assert rows[0]["big"] == Decimal("12345678901234567168")


def test_mixed_storage_classes_read_losslessly_as_text(tmp_path: Path) -> None:
    source = make(
        tmp_path / "s.db",
        """
        CREATE TABLE t (k INTEGER PRIMARY KEY, n NUMERIC, j JSON, free);
        INSERT INTO t VALUES (1, 0.30000000000000004, '{"a": 1}', 'text'),
                             (2, 9223372036854775807, '123', 42),
                             (3, 'n/a', NULL, x'00ff'),
                             (4, 1e300, '[1,2]', 2.5);
        """,
    )
    target = tmp_path / "t.db"
    with open_connector(source) as src, open_connector(target) as dst:
        data = read_all(src, "t")
        table = src.introspect_schema().get_table("t")
        assert table is not None
        dst.create_table(table)
        dst.write_chunk("t", "main", src.read_table("t", "main"), ChunkMarker("r", "t"))
    assert data.column("n").to_pylist() == [
        "0.30000000000000004", "9223372036854775807", "n/a", "1e+300",
    ]
    assert data.column("j").to_pylist() == ['{"a": 1}', "123", None, "[1,2]"]
    # a column without a type has BLOB affinity: other classes arrive as their text's bytes
    assert data.column("free").to_pylist() == [b"text", b"42", b"\x00\xff", b"2.5"]
    assert raw_rows(target, "t")[0][2:6] == raw_rows(source, "t")[0][2:6]
    assert [r[2:4] for r in raw_rows(target, "t")] == [r[2:4] for r in raw_rows(source, "t")]


def test_a_value_of_the_wrong_storage_class_is_a_read_error_naming_the_column(
    tmp_path: Path,
) -> None:
    source = make(
        tmp_path / "s.db",
        """
        CREATE TABLE t (k INTEGER PRIMARY KEY, qty INTEGER, at DATETIME);
        INSERT INTO t VALUES (1, 5, '2024-01-01'), (2, 'many', '2024-01-01');
        CREATE TABLE u (k INTEGER PRIMARY KEY, at DATETIME);
        INSERT INTO u VALUES (1, 1700000000);
        CREATE TABLE v (k INTEGER PRIMARY KEY, d DATE, amount DECIMAL_TEXT(10,2));
        INSERT INTO v VALUES (1, '2024-01-02 10:30:00', '1.00'), (2, '2024-01-02', '0.125');
        """,
    )
    with open_connector(source) as src:
        with pytest.raises(ReadFailed) as wrong:
            list(src.read_table("t", "main"))
        assert (wrong.value.context.table, wrong.value.context.column) == ("t", "qty")
        assert "'many'" in str(wrong.value)
        with pytest.raises(ReadFailed) as epoch:
            list(src.read_table("u", "main"))
        assert epoch.value.context.column == "at"
        assert "INTEGER" in str(epoch.value)
        with pytest.raises(ReadFailed) as timed:
            list(src.read_table("v", "main", columns=["d"]))
        assert timed.value.context.column == "d"
        assert "time of day" in str(timed.value)
        with pytest.raises(ReadFailed) as too_fine:
            list(src.read_table("v", "main", columns=["amount"]))
        assert too_fine.value.context.column == "amount"


def test_columns_filters_batches_and_key_ranges(tmp_path: Path) -> None:
    source = make(
        tmp_path / "s.db",
        """
        CREATE TABLE "select" ("from" INTEGER PRIMARY KEY, "to" TEXT, "where" REAL);
        WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 10)
        INSERT INTO "select" SELECT k, 'v' || k, k / 2.0 FROM s;
        """,
    )
    with open_connector(source) as src:
        batches = list(src.read_table("select", "main", batch_size=3))
        assert [b.num_rows for b in batches] == [3, 3, 3, 1]
        subset = list(src.read_table("select", "", columns=["where", "from"],
                                     filter_sql='"to" <> \'v4\'',
                                     key_range=KeyRange("from", 3, 7)))
        with pytest.raises(SchemaMismatch) as unknown:
            src.read_table("select", "main", columns=["from", "nope"])
        with pytest.raises(SchemaMismatch):
            src.read_table("select", "main", key_range=KeyRange("missing", 1, 2))
    assert unknown.value.context.column == "nope"
    table = pa.Table.from_batches(subset)
    assert table.column_names == ["where", "from"]
    assert table.column("from").to_pylist() == [3, 5, 6]
    # the stream's schema carries the column facts a writer needs
    described = table_from_arrow_schema(batches[0].schema)
    assert described.table_name == "select"
    assert described.primary_key == ("from",)
    assert described.columns[0].is_identity and described.columns[0].data_type == "INTEGER"


def test_an_empty_table_yields_no_batch(tmp_path: Path) -> None:
    source = make(tmp_path / "s.db", "CREATE TABLE e (a INTEGER);")
    with open_connector(source) as src:
        assert list(src.read_table("e", "main")) == []
        assert src.estimate_row_count("e", "main") == 0
