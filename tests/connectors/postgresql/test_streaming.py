"""Streaming reads: bounded memory on a million rows, chunks by key range, subsets, filters."""

from __future__ import annotations

import threading
import time
from typing import Any

import pyarrow as pa
import pytest

from bani.connectors.postgresql import PostgreSQLConnector
from bani.domain.chunks import KeyRange
from bani.errors import ReadFailed, SchemaMismatch

pytestmark = pytest.mark.pg

MILLION = 1_000_000
BATCH = 50_000


class PeakSampler:
    """Samples ``pa.total_allocated_bytes()`` every millisecond in the background."""

    def __init__(self) -> None:
        self.baseline = pa.total_allocated_bytes()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.001)

    def sample(self) -> None:
        self.peak = max(self.peak, pa.total_allocated_bytes())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
def test_a_million_rows_stream_in_memory_bounded_by_the_batch(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg_conn.execute("CREATE TABLE big (id bigint PRIMARY KEY, v integer NOT NULL)")
    pg_conn.execute("INSERT INTO big SELECT g, g %% 1000 FROM generate_series(1, %s) g", (MILLION,))
    rows = 0
    id_sum = 0
    sizes: list[int] = []
    batch_bytes = 0
    with PeakSampler() as sampler:
        for batch in pg.read_table("big", "public", batch_size=BATCH):
            sampler.sample()
            rows += batch.num_rows
            sizes.append(batch.num_rows)
            id_sum += pa.compute.sum(batch.column("id")).as_py()
            batch_bytes = max(batch_bytes, batch.nbytes)
            del batch
    table_bytes = MILLION * (8 + 4)
    assert rows == MILLION
    assert id_sum == MILLION * (MILLION + 1) // 2
    assert sizes == [BATCH] * (MILLION // BATCH)
    growth = sampler.peak - sampler.baseline
    # A few batches' worth at most (the batch handed out, the blocks parsed
    # after it, the parser's buffers) -- and far below the table.
    assert growth < 6 * batch_bytes, (growth, batch_bytes)
    assert growth < table_bytes / 2


def test_key_range_reads_one_chunk_with_bound_integers(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg_conn.execute('CREATE TABLE t ("Id" int PRIMARY KEY, "select" text, v int)')
    pg_conn.execute("INSERT INTO t SELECT g, 'r' || g, g * 2 FROM generate_series(1, 100) g")
    chunk = pa.Table.from_batches(
        list(pg.read_table("t", "public", key_range=KeyRange("Id", 10, 20), batch_size=3))
    )
    assert sorted(chunk.column("Id").to_pylist()) == list(range(10, 20))
    open_low = pa.Table.from_batches(
        list(pg.read_table("t", "public", key_range=KeyRange("Id", upper=5)))
    )
    assert sorted(open_low.column("Id").to_pylist()) == [1, 2, 3, 4]
    open_high = pa.Table.from_batches(
        list(pg.read_table("t", "public", key_range=KeyRange("Id", lower=98)))
    )
    assert sorted(open_high.column("Id").to_pylist()) == [98, 99, 100]
    # A key range combines with a filter; the filter may contain a % sign.
    filtered = pa.Table.from_batches(
        list(
            pg.read_table(
                "t",
                "public",
                filter_sql="\"select\" LIKE 'r1%'",
                key_range=KeyRange("Id", 1, 20),
            )
        )
    )
    assert sorted(filtered.column("Id").to_pylist()) == [1, *range(10, 20)]


def test_column_subset_keeps_the_requested_order(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    pg_conn.execute("CREATE TABLE t (a int, b text, c bytea)")
    pg_conn.execute("INSERT INTO t VALUES (1, 'x', '\\x01'), (2, NULL, NULL)")
    batches = list(pg.read_table("t", "public", columns=["c", "a"]))
    assert batches[0].schema.names == ["c", "a"]
    assert pa.Table.from_batches(batches).sort_by("a").to_pylist() == [
        {"c": b"\x01", "a": 1},
        {"c": None, "a": 2},
    ]


def test_an_empty_table_yields_no_batch(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    pg_conn.execute("CREATE TABLE empty (id int)")
    assert list(pg.read_table("empty", "public")) == []


def test_reads_run_in_a_read_only_transaction(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    pg_conn.execute("CREATE TABLE t (id int)")
    pg_conn.execute("CREATE SEQUENCE t_seq")
    pg_conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ReadFailed, match="read-only transaction") as caught:
        list(pg.read_table("t", "public", filter_sql="nextval('t_seq') > 0"))
    assert caught.value.context.sqlstate == "25006"
    assert pg_conn.execute("SELECT last_value, is_called FROM t_seq").fetchone() == (1, False)


def test_abandoning_a_read_returns_the_connection(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    pg_conn.execute("CREATE TABLE t (id int)")
    pg_conn.execute("INSERT INTO t SELECT generate_series(1, 10000)")
    for _ in range(4):  # more reads than the pool has connections
        stream = pg.read_table("t", "public", batch_size=10)
        next(stream)
        stream.close()  # type: ignore[attr-defined]  # a generator
    assert sum(b.num_rows for b in pg.read_table("t", "public")) == 10_000


def test_key_bounds_and_ping_answer_from_the_database(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg.ping()
    pg_conn.execute('CREATE TABLE t ("Id" bigint PRIMARY KEY, tag text)')
    assert pg.key_bounds("t", "public", "Id") == (None, None, 0)
    pg_conn.execute("INSERT INTO t SELECT g, 'x' || (g % 3) FROM generate_series(-5, 1000) g")
    assert pg.key_bounds("t", "public", "Id") == (-5, 1000, 1006)
    assert pg.key_bounds("t", "public", "Id", filter_sql="tag = 'x1'") == (1, 1000, 334)
    with pytest.raises(SchemaMismatch, match="nope"):
        pg.key_bounds("t", "public", "nope")
