"""A 1M-row table streams in bounded memory on both transports."""

from __future__ import annotations

import gc
from typing import Any

import pyarrow as pa
import pytest

from tests.connectors.mysql.conftest import ConnectorFactory

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

ROWS = 1_000_000
WIDTH = 150
BATCH = 20_000


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


@pytest.fixture
def million(mysql_conn: Any) -> str:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE digits (n int PRIMARY KEY)")
        cur.execute("INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")
        cur.execute(f"CREATE TABLE big (id bigint PRIMARY KEY, v varchar({WIDTH}) NOT NULL)")
        cur.execute(
            "INSERT INTO big SELECT a.n + 10*b.n + 100*c.n + 1000*d.n + 10000*e.n + 100000*f.n, "  # noqa: S608 (test identifiers)
            f"REPEAT('x', {WIDTH}) FROM digits a, digits b, digits c, digits d, digits e, digits f"
        )
    db = mysql_conn.db
    return db.decode() if isinstance(db, bytes) else str(db)


def test_a_million_rows_stream_within_a_few_batches_of_memory(
    million: str, connect_mysql: ConnectorFactory
) -> None:
    for transport in ("connectorx", "pymysql"):
        _stream(connect_mysql(read_driver=transport), million, transport)


def _stream(connector: Any, million: str, transport: str) -> None:
    whole_table = ROWS * (8 + 4 + WIDTH)  # what materialising it in Arrow would take
    one_batch = BATCH * (8 + 4 + WIDTH)
    gc.collect()
    allocated_before = pa.total_allocated_bytes()
    rss_before = _rss_bytes()
    peak_allocated = peak_rss = 0
    rows = batches = id_sum = 0
    for batch in connector.read_table("big", million, batch_size=BATCH):
        assert batch.num_rows <= BATCH
        rows += batch.num_rows
        batches += 1
        id_sum += pa.compute.sum(batch.column("id")).as_py()
        peak_allocated = max(peak_allocated, pa.total_allocated_bytes() - allocated_before)
        peak_rss = max(peak_rss, _rss_bytes() - rss_before)
        del batch
    assert rows == ROWS
    assert id_sum == ROWS * (ROWS - 1) // 2
    assert batches >= ROWS // BATCH
    # Arrow's own pool holds at most a few batches at any time...
    assert peak_allocated < 4 * one_batch, (transport, peak_allocated, one_batch)
    # ...and so does the process, whatever allocator the transport uses.
    assert peak_rss < whole_table // 3, (transport, peak_rss, whole_table)
