"""The sink: chunks with markers, LOAD DATA and the INSERT fallback, warnings that fail a
chunk, run plans, counters, and table-level operations that never cascade."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from bani.domain.chunks import ChunkMarker
from bani.domain.schema import ColumnDefinition, TableDefinition
from bani.errors import ChunkConflict, SchemaMismatch, TableNotFound, WriteFailed
from tests.connectors.mysql.conftest import ConnectorFactory, count_rows

pytestmark = pytest.mark.mysql

PATHS = ["load_data", "insert"]


def _options(path: str) -> dict[str, str]:
    return {"local_infile": "true" if path == "load_data" else "false"}


def _schema_of(conn: Any) -> str:
    db = conn.db
    return db.decode() if isinstance(db, bytes) else str(db)


@pytest.fixture
def items(mysql_conn: Any) -> str:
    with mysql_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, name varchar(5) NULL, "
            "price decimal(8,2) NULL, data blob NULL)"
        )
    return _schema_of(mysql_conn)


def _batch(ids: list[int], names: list[str | None] | None = None) -> pa.RecordBatch:
    names = names if names is not None else [f"n{i % 1000}" for i in ids]
    return pa.record_batch(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array(names, pa.string()),
            "price": pa.array([Decimal(i) / 100 for i in ids], pa.decimal128(8, 2)),
            "data": pa.array([bytes([i % 256, 0, 255]) for i in ids], pa.binary()),
        }
    )


def _markers(conn: Any, schema: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT run_id, chunk_id, schema_name, table_name, `rows` "  # noqa: S608 (test identifiers)
            f"FROM `{schema}`._bani_flight_chunks ORDER BY chunk_id"
        )
        return [tuple(r) for r in cur.fetchall()]


@pytest.mark.parametrize("path", PATHS)
def test_chunk_is_written_once_with_its_marker(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory, path: str
) -> None:
    sink = connect_mysql(**_options(path))
    batches = [_batch(list(range(1, 1001))), _batch(list(range(1001, 2501)))]
    assert sink.write_chunk("items", items, iter(batches), ChunkMarker("run", "items:0")) == 2500
    assert count_rows(mysql_conn, items, "items") == 2500
    assert _markers(mysql_conn, items) == [("run", "items:0", items, "items", 2500)]

    def must_not_be_read() -> Iterator[pa.RecordBatch]:
        raise AssertionError("an existing chunk must not consume its batches")
        yield  # pragma: no cover

    again = sink.write_chunk("items", items, must_not_be_read(), ChunkMarker("run", "items:0"))
    assert again == 2500
    assert count_rows(mysql_conn, items, "items") == 2500
    assert [c.rows for c in sink.committed_chunks("run")] == [2500]
    assert sink.committed_chunks("other-run") == ()
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT id, name, price, HEX(data) FROM items WHERE id IN (1, 2500)")
        assert cur.fetchall() == (
            (1, "n1", Decimal("0.01"), "0100FF"),
            (2500, "n500", Decimal("25.00"), "C400FF"),
        )


@pytest.mark.parametrize("path", PATHS)
def test_a_batch_stream_failing_midway_leaves_no_row_and_no_marker(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory, path: str
) -> None:
    sink = connect_mysql(**_options(path))

    def batches() -> Iterator[pa.RecordBatch]:
        yield _batch(list(range(1, 501)))
        raise RuntimeError("the Flight stream broke")

    with pytest.raises(RuntimeError, match="Flight stream broke"):
        sink.write_chunk("items", items, batches(), ChunkMarker("run", "c1"))
    assert count_rows(mysql_conn, items, "items") == 0
    assert _markers(mysql_conn, items) == []
    # The pooled connection is usable afterwards and the chunk can be retried.
    assert sink.write_chunk("items", items, [_batch([1, 2])], ChunkMarker("run", "c1")) == 2


@pytest.mark.parametrize("path", PATHS)
def test_a_duplicate_key_fails_the_chunk_and_rolls_it_back(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory, path: str
) -> None:
    sink = connect_mysql(**_options(path))
    sink.write_chunk("items", items, [_batch([1, 2, 3])], ChunkMarker("run", "first"))
    batches = [_batch([10, 11, 12]), _batch([13, 2, 14])]  # 2 is already there
    with pytest.raises(WriteFailed) as caught:
        sink.write_chunk("items", items, batches, ChunkMarker("run", "second"))
    assert "1062" in str(caught.value) or "Duplicate" in str(caught.value)
    assert caught.value.context.table == "items"
    assert caught.value.context.chunk_id == "second"
    assert count_rows(mysql_conn, items, "items") == 3
    assert [m[1] for m in _markers(mysql_conn, items)] == ["first"]


@pytest.mark.parametrize("path", PATHS)
def test_a_truncated_value_fails_the_chunk_and_rolls_it_back(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory, path: str
) -> None:
    sink = connect_mysql(**_options(path))
    batches = [_batch([1, 2]), _batch([3, 4], ["ok", "toolong"])]
    with pytest.raises(WriteFailed) as caught:
        sink.write_chunk("items", items, batches, ChunkMarker("run", "c"))
    message = str(caught.value)
    assert "name" in message and ("1265" in message or "1406" in message)
    assert count_rows(mysql_conn, items, "items") == 0
    assert _markers(mysql_conn, items) == []


def test_load_data_refusal_is_detected_and_logged_once(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    from structlog.testing import capture_logs

    sink = connect_mysql(local_infile="false")
    assert sink.uses_load_data is True  # not known until the server refuses
    with capture_logs() as logs:
        sink.write_chunk("items", items, [_batch([1]), _batch([2])], ChunkMarker("r", "a"))
        sink.write_chunk("items", items, [_batch([3])], ChunkMarker("r", "b"))
    refusals = [e for e in logs if e["event"] == "mysql_load_data_refused"]
    assert len(refusals) == 1
    assert refusals[0]["setting"] == "local_infile"
    assert sink.uses_load_data is False
    assert count_rows(mysql_conn, items, "items") == 3


def test_a_marker_committed_by_a_concurrent_writer_wins(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    sink = connect_mysql()
    sink.write_chunk("items", items, [_batch([100])], ChunkMarker("run", "setup"))

    def batches() -> Iterator[pa.RecordBatch]:
        yield _batch([1, 2, 3])
        # Another writer commits the same chunk while this one is still loading.
        with mysql_conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO `{items}`._bani_flight_chunks "  # noqa: S608 (test identifiers)
                "(run_id, chunk_id, schema_name, table_name, `rows`) "
                "VALUES ('run', 'race', %s, 'items', 7)",
                (items,),
            )

    assert sink.write_chunk("items", items, batches(), ChunkMarker("run", "race")) == 7
    assert count_rows(mysql_conn, items, "items") == 1  # our rows were rolled back


def test_chunk_ids_are_per_table(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    """Markers are keyed by (run, schema, table, chunk id): every table may have chunk "c"."""
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE other (id bigint PRIMARY KEY)")
    sink = connect_mysql()
    assert sink.write_chunk("items", items, [_batch([1])], ChunkMarker("run", "c")) == 1
    other = pa.record_batch({"id": pa.array([1, 2], pa.int64())})
    assert sink.write_chunk("other", items, [other], ChunkMarker("run", "c")) == 2
    assert sink.write_chunk("other", items, [other], ChunkMarker("run", "c")) == 2
    assert count_rows(mysql_conn, items, "other") == 2
    assert {(c.table_name, c.rows) for c in sink.committed_chunks("run")} == {
        ("items", 1),
        ("other", 2),
    }


def test_data_goes_to_the_target_schema_and_markers_to_the_connected_database(
    items: str, second_database: str, mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    sink = connect_mysql()
    table = TableDefinition(
        schema_name=second_database,
        table_name="t",
        columns=(ColumnDefinition("id", "bigint", "int64", nullable=False),),
        primary_key=("id",),
        source_dialect="sqlite",
    )
    sink.create_table(table)
    assert sink.table_exists("t", second_database)
    assert not sink.table_exists("t", items)
    batch = pa.record_batch({"id": pa.array([1, 2, 3], pa.int64())})
    assert sink.write_chunk("t", second_database, [batch], ChunkMarker("run", "t0")) == 3
    assert count_rows(mysql_conn, second_database, "t") == 3
    assert _markers(mysql_conn, items) == [("run", "t0", second_database, "t", 3)]
    with mysql_conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME LIKE '\\_bani\\_flight\\_%%'",
            (second_database,),
        )
        assert cur.fetchone()[0] == 0


def test_write_batch_and_the_errors_that_name_what_is_wrong(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    sink = connect_mysql()
    assert sink.write_batch("items", items, _batch([1, 2])) == 2
    assert count_rows(mysql_conn, items, "items") == 2
    extra = _batch([3]).append_column("colour", pa.array(["red"]))
    with pytest.raises(SchemaMismatch) as caught:
        sink.write_batch("items", items, extra)
    assert caught.value.context.column == "colour"
    with pytest.raises(TableNotFound):
        sink.write_batch("nope", items, _batch([4]))
    nan = pa.record_batch({"id": pa.array([5], pa.int64()), "price": pa.array([float("nan")])})
    with pytest.raises(WriteFailed) as caught_nan:
        sink.write_batch("items", items, nan)
    assert caught_nan.value.context.column == "price"
    assert count_rows(mysql_conn, items, "items") == 2


def test_parallel_chunks_into_one_table(
    items: str, mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    sink = connect_mysql(pool_size=3)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            ids = list(range(n * 10_000 + 1, n * 10_000 + 5_001))
            sink.write_chunk("items", items, [_batch(ids)], ChunkMarker("par", f"c{n}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count_rows(mysql_conn, items, "items") == 30_000
    assert len(sink.committed_chunks("par")) == 6


def test_run_plans_are_stored_once(items: str, connect_mysql: ConnectorFactory) -> None:
    sink = connect_mysql()
    assert sink.load_run("r1") is None
    sink.store_run("r1", b"\x00plan\xff")
    sink.store_run("r1", b"\x00plan\xff")
    assert sink.load_run("r1") == b"\x00plan\xff"
    with pytest.raises(ChunkConflict):
        sink.store_run("r1", b"another plan")


def test_bookkeeping_tables_are_not_introspected(
    items: str, connect_mysql: ConnectorFactory
) -> None:
    sink = connect_mysql()
    sink.store_run("r", b"p")
    sink.write_chunk("items", items, [_batch([1])], ChunkMarker("r", "c"))
    assert [t.table_name for t in sink.introspect_schema().tables] == ["items"]


def test_finalize_sets_auto_increment_to_the_greater_counter(
    mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id int AUTO_INCREMENT PRIMARY KEY, v int)")
        cur.execute("CREATE TABLE b (id int AUTO_INCREMENT PRIMARY KEY, v int)")
    source = connect_mysql()
    schema = _schema_of(mysql_conn)
    tables = {t.table_name: t for t in source.introspect_schema().tables}
    batch = pa.record_batch(
        {"id": pa.array([1, 50], pa.int32()), "v": pa.array([0, 0], pa.int32())}
    )
    for name in ("a", "b"):
        source.write_batch(name, schema, batch)
    from dataclasses import replace

    source.finalize(replace(tables["a"], identity_counter=1000))  # the source was further on
    source.finalize(replace(tables["b"], identity_counter=7))  # the data is further on
    with mysql_conn.cursor() as cur:
        cur.execute("INSERT INTO a (v) VALUES (1)")
        cur.execute("INSERT INTO b (v) VALUES (1)")
        cur.execute("SELECT MAX(id) FROM a")
        assert cur.fetchone()[0] == 1000
        cur.execute("SELECT MAX(id) FROM b")
        assert cur.fetchone()[0] == 51


def test_drop_and_truncate_clear_markers_and_never_cascade(
    mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    schema = _schema_of(mysql_conn)
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE parent (id int PRIMARY KEY)")
        cur.execute(
            "CREATE TABLE child (id int PRIMARY KEY, p int, FOREIGN KEY (p) REFERENCES parent (id) "
            "ON DELETE CASCADE)"
        )
        cur.execute("INSERT INTO parent VALUES (1), (2)")
        cur.execute("INSERT INTO child VALUES (10, 1), (20, 2)")
    sink = connect_mysql()
    ids = pa.record_batch({"id": pa.array([3], pa.int32())})
    sink.write_chunk("parent", schema, [ids], ChunkMarker("run", "p3"))
    sink.write_chunk(
        "child",
        schema,
        [pa.record_batch({"id": pa.array([30], pa.int32())})],
        ChunkMarker("run", "c30"),
    )
    sink.truncate_table("parent", schema)
    assert count_rows(mysql_conn, schema, "parent") == 0
    assert count_rows(mysql_conn, schema, "child") == 3  # no ON DELETE CASCADE fired
    assert [c.chunk_id for c in sink.committed_chunks("run")] == ["c30"]
    sink.drop_table("parent", schema)
    assert not sink.table_exists("parent", schema)
    assert sink.table_exists("child", schema)
    assert count_rows(mysql_conn, schema, "child") == 3
    sink.drop_table("child", schema)
    assert sink.committed_chunks("run") == ()
    with pytest.raises(TableNotFound):
        sink.drop_table("child", schema)
