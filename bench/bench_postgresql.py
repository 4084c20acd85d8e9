"""PostgreSQL bulk paths, measured side by side on one 16-column table.

    .venv/bin/python bench/bench_postgresql.py --rows 1000000

Creates its own database on the server named by ``--dsn`` (default:
``BANI_TEST_PG_DSN``), fills a lineitem-like table (bigint, int, smallint,
numeric(15,2), double, char(1), varchar, date, boolean, timestamp,
timestamptz), and times every way of moving it between PostgreSQL and
Arrow that the driver choice was made on:

reads   psql ``COPY ... TO STDOUT`` (binary and csv) into /dev/null; psycopg
        binary COPY parsed row by row; psycopg server-side cursor (tuples,
        and tuples -> Arrow); ADBC; connectorx; bani's ``read_table``.
writes  psql ``COPY ... FROM`` a file (binary and text); psycopg
        ``write_row``; pyarrow CSV + ``COPY FROM``; ADBC ingest (with a marker
        row in the same transaction); bani's ``write_chunk``.

Every write goes into an empty copy of the table with the same primary key.
Each figure is the best of ``--repeat`` runs.  The database is dropped at
the end, whatever happens.  ADBC and connectorx are measured only if
installed (``pip install adbc-driver-postgresql connectorx``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from bani.connectors.postgresql import PostgreSQLConnector
from bani.domain.chunks import ChunkMarker
from bani.domain.project import ConnectionConfig

TABLE = "lineitem"
COPY_TABLE = "lineitem_copy"
DDL = """
CREATE TABLE {table} (
    l_id bigint PRIMARY KEY,
    l_orderkey bigint NOT NULL,
    l_partkey integer,
    l_suppkey integer,
    l_linenumber smallint,
    l_quantity numeric(15,2),
    l_extendedprice numeric(15,2),
    l_discount numeric(15,2),
    l_tax double precision,
    l_returnflag char(1),
    l_shipinstruct varchar(25),
    l_comment varchar(44),
    l_shipdate date,
    l_is_open boolean,
    l_receipt timestamp,
    l_updated timestamptz
)
"""
FILL = """
INSERT INTO lineitem
SELECT g, g / 4, (g * 7) %% 200000, (g * 13) %% 10000, (g %% 7)::int2,
       (g %% 50) + 1, ((g * 31) %% 1000000) / 100.0, (g %% 11) / 100.0, (g %% 9) / 100.0,
       CASE g %% 3 WHEN 0 THEN 'R' WHEN 1 THEN 'A' ELSE 'N' END,
       CASE g %% 4 WHEN 0 THEN 'DELIVER IN PERSON' WHEN 1 THEN 'COLLECT COD'
                  WHEN 2 THEN 'NONE' ELSE 'TAKE BACK RETURN' END,
       md5(g::text) || ' furiously',
       DATE '1992-01-01' + (g %% 2500), g %% 2 = 0,
       TIMESTAMP '1995-01-01' + g * INTERVAL '1.234567 second',
       TIMESTAMPTZ '2000-01-01 00:00+00' + g * INTERVAL '7.654321 second'
FROM generate_series(1, %s) g
"""
PG_TYPES = [
    "int8", "int8", "int4", "int4", "int2", "numeric", "numeric", "numeric", "float8",
    "bpchar", "varchar", "varchar", "date", "bool", "timestamp", "timestamptz",
]  # fmt: skip


def _with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


def _best(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    rows = 0
    for _ in range(runs):
        start = time.perf_counter()
        rows = fn()
        best = min(best, time.perf_counter() - start)
    return best, rows


class Bench:
    def __init__(self, dsn: str, rows: int, repeat: int, batch_size: int) -> None:
        self.dsn = dsn
        self.rows = rows
        self.repeat = repeat
        self.batch_size = batch_size
        self.results: list[tuple[str, str, float, int]] = []
        self.connector = PostgreSQLConnector()
        self.connector.connect(ConnectionConfig.from_url(dsn), pool_size=1)
        self.arrow: list[pa.RecordBatch] = []

    def record(self, kind: str, name: str, fn: Callable[[], int]) -> None:
        try:
            seconds, rows = _best(self.repeat, fn)
        except Exception as exc:  # a missing optional driver, an unsupported type
            print(f"  {kind:5} {name:48} skipped: {type(exc).__name__}: {exc}", flush=True)
            return
        self.results.append((kind, name, seconds, rows))
        print(f"  {kind:5} {name:48} {seconds:7.2f} s {rows / seconds:12,.0f} rows/s", flush=True)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True)

    def fresh_copy_table(self) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(COPY_TABLE)))
            conn.execute(sql.SQL(DDL).format(table=sql.Identifier(COPY_TABLE)))

    # -- reads -----------------------------------------------------------------------------

    def psql_copy_out(self, fmt: str) -> int:
        query = f"COPY (SELECT * FROM {TABLE}) TO STDOUT (FORMAT {fmt})"  # noqa: S608
        with open(os.devnull, "wb") as sink:
            subprocess.run(["psql", "-X", "-q", self.dsn, "-c", query], stdout=sink, check=True)
        return self.rows

    def psycopg_binary_rows(self) -> int:
        count = 0
        with self.connect() as conn, conn.cursor() as cur:
            query = sql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)").format(
                sql.Identifier(TABLE)
            )
            with cur.copy(query) as copy:
                copy.set_types(PG_TYPES)
                for _row in copy.rows():
                    count += 1
        return count

    def server_cursor(self, to_arrow: bool) -> int:
        count = 0
        with self.connect() as conn, conn.transaction(), conn.cursor("bench") as cur:
            cur.itersize = self.batch_size
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(TABLE)))
            while rows := cur.fetchmany(self.batch_size):
                if to_arrow:
                    columns = [pa.array(list(values)) for values in zip(*rows, strict=True)]
                    count += pa.RecordBatch.from_arrays(
                        columns, names=[str(i) for i in range(16)]
                    ).num_rows
                else:
                    count += len(rows)
        return count

    def adbc_read(self) -> int:
        import adbc_driver_postgresql.dbapi as adbc

        decimals = {"l_quantity", "l_extendedprice", "l_discount"}
        count = 0
        with adbc.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {TABLE}")  # noqa: S608
            for batch in cur.fetch_record_batch():
                # ADBC returns numeric as text: cast to the declared type, as bani must.
                columns = [
                    col.storage.cast(pa.decimal128(15, 2)) if name in decimals else col
                    for name, col in zip(batch.schema.names, batch.columns, strict=True)
                ]
                count += pa.RecordBatch.from_arrays(columns, names=batch.schema.names).num_rows
        return count

    def connectorx_read(self) -> int:
        import connectorx as cx

        reader = cx.read_sql(
            self.dsn,
            f"SELECT * FROM {TABLE}",  # noqa: S608
            return_type="arrow_stream",
            batch_size=self.batch_size,
        )
        return sum(batch.num_rows for batch in reader)

    def connectorx_exact_read(self) -> int:
        """connectorx with numerics sent as text and cast to their declared type.

        connectorx reads every numeric as decimal128(38,10): digits beyond 10
        decimals or 28 integer digits would be lost, so an exact reader must
        ask for text and cast, as bani does with ADBC's numeric strings.
        """
        import connectorx as cx

        decimals = ("l_quantity", "l_extendedprice", "l_discount")
        names = [
            "l_id", "l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity",
            "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_shipinstruct",
            "l_comment", "l_shipdate", "l_is_open", "l_receipt", "l_updated",
        ]  # fmt: skip
        select = ", ".join(f"{n}::text AS {n}" if n in decimals else n for n in names)
        reader = cx.read_sql(
            self.dsn,
            f"SELECT {select} FROM {TABLE}",  # noqa: S608
            return_type="arrow_stream",
            batch_size=self.batch_size,
        )
        count = 0
        for batch in reader:
            columns = [
                col.cast(pa.decimal128(15, 2)) if name in decimals else col
                for name, col in zip(batch.schema.names, batch.columns, strict=True)
            ]
            count += pa.RecordBatch.from_arrays(columns, names=batch.schema.names).num_rows
        return count

    def bani_read(self) -> int:
        # Like the other readers, count the batches and let them go.
        batches = self.connector.read_table(TABLE, "public", batch_size=self.batch_size)
        return sum(b.num_rows for b in batches)

    def load_arrow(self) -> None:
        """The table in memory as Arrow, once, for the write benchmarks (not timed)."""
        self.arrow = list(self.connector.read_table(TABLE, "public", batch_size=self.batch_size))

    # -- writes ------------------------------------------------------------------------------

    def psql_copy_in(self, path: Path, fmt: str) -> int:
        self.fresh_copy_table()
        command = f"\\copy {COPY_TABLE} FROM '{path}' (FORMAT {fmt})"
        subprocess.run(["psql", "-X", "-q", self.dsn, "-c", command], check=True)
        return self.rows

    def psycopg_write_row(self) -> int:
        self.fresh_copy_table()
        count = 0
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            query = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(COPY_TABLE))
            with cur.copy(query) as copy:
                copy.set_types([t if t != "bpchar" else "text" for t in PG_TYPES])
                for batch in self.arrow:
                    columns = [c.to_pylist() for c in batch.columns]
                    for row in zip(*columns, strict=True):
                        copy.write_row(row)
                        count += 1
        return count

    def csv_copy_in(self) -> int:
        self.fresh_copy_table()
        options = pacsv.WriteOptions(include_header=False)
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            query = sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(sql.Identifier(COPY_TABLE))
            with cur.copy(query) as copy:
                for batch in self.arrow:
                    out = io.BytesIO()
                    pacsv.write_csv(batch, out, options)
                    copy.write(out.getvalue())
        return self.rows

    def adbc_ingest(self) -> int:
        import adbc_driver_postgresql.dbapi as adbc

        self.fresh_copy_table()
        schema = self.arrow[0].schema
        with adbc.connect(self.dsn) as conn, conn.cursor() as cur:
            reader = pa.RecordBatchReader.from_batches(schema, iter(self.arrow))
            written = cur.adbc_ingest(COPY_TABLE, reader, mode="append")
            # The chunk's marker, in the same ADBC transaction.
            cur.execute(
                "CREATE TABLE IF NOT EXISTS bench_marker (chunk text PRIMARY KEY, n bigint)"
            )
            cur.execute("INSERT INTO bench_marker VALUES ($1, $2)", (uuid.uuid4().hex, written))
            conn.commit()
        return int(written)

    def bani_write(self) -> int:
        self.fresh_copy_table()
        marker = ChunkMarker(uuid.uuid4().hex, "chunk-0")
        return self.connector.write_chunk(COPY_TABLE, "public", iter(self.arrow), marker)


def _summary(results: list[tuple[str, str, float, int]]) -> str:
    lines = ["| direction | path | seconds | rows/s |", "|---|---|---:|---:|"]
    for kind, name, seconds, rows in results:
        lines.append(f"| {kind} | {name} | {seconds:.2f} | {rows / seconds:,.0f} |")
    return "\n".join(lines)


@contextlib.contextmanager
def bench_database(server_dsn: str) -> Iterator[str]:
    name = f"bani_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(server_dsn, name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("BANI_TEST_PG_DSN"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=100_000)
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("give --dsn or set BANI_TEST_PG_DSN")

    with bench_database(args.dsn) as dsn, tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL(DDL).format(table=sql.Identifier(TABLE)))
            conn.execute(FILL, (args.rows,))
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(TABLE)))
            size = conn.execute("SELECT pg_size_pretty(pg_table_size('lineitem'))").fetchone()
        print(
            f"{args.rows:,} rows x 16 columns ({size[0] if size else '?'}), "
            f"batch size {args.batch_size:,}, load average {os.getloadavg()[0]:.2f}, "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        bench = Bench(dsn, args.rows, args.repeat, args.batch_size)
        binary_file = Path(tmp) / "lineitem.bin"
        text_file = Path(tmp) / "lineitem.txt"
        for path, fmt in ((binary_file, "binary"), (text_file, "text")):
            subprocess.run(
                ["psql", "-X", "-q", dsn, "-c", f"\\copy {TABLE} TO '{path}' (FORMAT {fmt})"],
                check=True,
            )

        bench.record(
            "read", "psql COPY TO STDOUT binary > /dev/null", lambda: bench.psql_copy_out("binary")
        )
        bench.record(
            "read", "psql COPY TO STDOUT csv > /dev/null", lambda: bench.psql_copy_out("csv")
        )
        bench.record(
            "read", "psycopg binary COPY, rows parsed (no Arrow)", bench.psycopg_binary_rows
        )
        bench.record(
            "read", "psycopg server-side cursor (tuples only)", lambda: bench.server_cursor(False)
        )
        bench.record(
            "read", "psycopg server-side cursor -> Arrow", lambda: bench.server_cursor(True)
        )
        bench.record("read", "ADBC -> Arrow (+ decimal casts)", bench.adbc_read)
        bench.record("read", "connectorx -> Arrow stream (decimal(38,10))", bench.connectorx_read)
        bench.record(
            "read", "connectorx, numerics as text -> exact decimals", bench.connectorx_exact_read
        )
        bench.record("read", "bani read_table (COPY csv -> Arrow CSV)", bench.bani_read)

        bench.load_arrow()
        bench.record(
            "write", "psql COPY FROM binary file", lambda: bench.psql_copy_in(binary_file, "binary")
        )
        bench.record(
            "write", "psql COPY FROM text file", lambda: bench.psql_copy_in(text_file, "text")
        )
        bench.record("write", "psycopg binary COPY write_row", bench.psycopg_write_row)
        bench.record("write", "pyarrow CSV -> COPY FROM csv", bench.csv_copy_in)
        bench.record("write", "ADBC ingest (+ marker, one txn)", bench.adbc_ingest)
        bench.record("write", "bani write_chunk (binary COPY, Arrow-encoded)", bench.bani_write)
        bench.connector.disconnect()
    print()
    print(_summary(bench.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
