"""The cross-dialect leg: PostgreSQL -> SQLite for decimals and timestamps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bani.connectors.postgresql import PostgreSQLConnector
from bani.connectors.sqlite import SQLiteConnector
from bani.domain.chunks import ChunkMarker
from bani.domain.project import ConnectionConfig

pytestmark = pytest.mark.pg

UTC = dt.UTC

SOURCE = """
CREATE TABLE money_and_time (
    id integer PRIMARY KEY,
    price numeric(10,2),
    exact numeric(38,10),
    wide numeric(60,20),
    day date,
    at timestamp,
    at_zoned timestamptz
);
INSERT INTO money_and_time VALUES
 (1, 0.99, 1234567890123456789012345678.0123456789,
  -1234567890123456789012345678901234567890.12345678901234567890,
  '0001-01-01', '1969-12-31 23:59:59.999999', '2024-03-10 02:30:00.000001-08'),
 (2, -99999999.99, -0.0000000001, 0.00000000000000000001,
  '2024-02-29', '2000-01-01 00:00:00', '2024-06-01 12:00:00+05:30'),
 (3, 0, 0, 0, '9999-12-31', '9999-12-31 23:59:59.999999', '1901-12-13 20:45:52.5+00'),
 (4, NULL, NULL, NULL, NULL, NULL, NULL);
"""

EXPECTED = [
    {
        "id": 1,
        "price": Decimal("0.99"),
        "exact": Decimal("1234567890123456789012345678.0123456789"),
        "wide": Decimal("-1234567890123456789012345678901234567890.12345678901234567890"),
        "day": dt.date(1, 1, 1),
        "at": dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
        "at_zoned": dt.datetime(2024, 3, 10, 10, 30, 0, 1, tzinfo=UTC),
    },
    {
        "id": 2,
        "price": Decimal("-99999999.99"),
        "exact": Decimal("-0.0000000001"),
        "wide": Decimal("0.00000000000000000001"),
        "day": dt.date(2024, 2, 29),
        "at": dt.datetime(2000, 1, 1),
        "at_zoned": dt.datetime(2024, 6, 1, 6, 30, tzinfo=UTC),
    },
    {
        "id": 3,
        "price": Decimal("0.00"),
        "exact": Decimal("0E-10"),
        "wide": Decimal("0E-20"),
        "day": dt.date(9999, 12, 31),
        "at": dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        "at_zoned": dt.datetime(1901, 12, 13, 20, 45, 52, 500000, tzinfo=UTC),
    },
    {
        k: (4 if k == "id" else None)
        for k in ("id", "price", "exact", "wide", "day", "at", "at_zoned")
    },
]


def _exactly(rows: list[Any]) -> list[dict[str, Any]]:
    """Rows with decimals as (value, exponent) so 0.99 and 0.990 are told apart."""
    return [
        {k: (v, v.as_tuple().exponent) if isinstance(v, Decimal) else v for k, v in row.items()}
        for row in rows
    ]


def test_decimals_and_timestamps_arrive_in_sqlite_exactly(
    pg: PostgreSQLConnector, pg_conn: Any, tmp_path: Path
) -> None:
    pg_conn.execute(SOURCE)
    source = pg.introspect_schema().get_table("money_and_time", "public")
    assert source is not None
    read = pa.Table.from_batches(list(pg.read_table("money_and_time", "public"))).sort_by("id")
    assert _exactly(read.to_pylist()) == _exactly(EXPECTED)

    target_file = tmp_path / "target.db"
    with SQLiteConnector() as sink:
        sink.connect(ConnectionConfig(dialect="sqlite", database=str(target_file)))
        target = dataclasses.replace(source, schema_name="main")
        assert [i for i in sink.plan_table(target).issues if i.kind == "refused"] == []
        sink.create_table(target)
        batches = pg.read_table("money_and_time", "public", batch_size=2)
        assert sink.write_chunk("money_and_time", "main", batches, ChunkMarker("r", "c0")) == 4
        back = pa.Table.from_batches(list(sink.read_table("money_and_time", "main"))).sort_by("id")

    assert back.schema.field("price").type == pa.decimal128(10, 2)
    assert back.schema.field("exact").type == pa.decimal128(38, 10)
    assert back.schema.field("wide").type == pa.decimal256(60, 20)
    assert back.schema.field("at").type == pa.timestamp("us")
    assert back.schema.field("at_zoned").type == pa.timestamp("us", tz="UTC")
    assert _exactly(back.to_pylist()) == _exactly(EXPECTED)

    # What SQLite's own date functions see: ISO text, instants in UTC.
    with sqlite3.connect(target_file) as raw:
        stored = raw.execute(
            "SELECT at, at_zoned, datetime(at_zoned), day FROM money_and_time WHERE id = 1"
        ).fetchone()
    assert stored == (
        "1969-12-31 23:59:59.999999",
        "2024-03-10 10:30:00.000001",
        "2024-03-10 10:30:00",
        "0001-01-01",
    )
