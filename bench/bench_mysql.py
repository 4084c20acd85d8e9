"""Read and write throughput of the MySQL connector next to the mysql client.

    python bench/bench_mysql.py --rows 1000000 [--dsn mysql://root@127.0.0.1:3306/]

Creates its own database (``bani_bench_<hex>``) on the server the DSN names
(default ``BANI_TEST_MYSQL_DSN``), loads a 16-column table with the ``mysql``
client's ``LOAD DATA LOCAL`` (the write baseline), then times:

reads   ``mysql --quick`` to /dev/null; pymysql ``SSCursor`` producing tuples
        (with and without its value converters); connectorx ``SELECT *``
        straight to Arrow (types not yet the declared ones); the connector's
        ``read_table`` on each transport (declared Arrow types, exact values);
        mysqlclient's ``SSCursor`` when it is installed
writes  ``LOAD DATA`` of a CSV by the mysql client; the connector's
        ``write_chunk`` (LOAD DATA from Arrow); the INSERT fallback
        (``local_infile=false``) on ``--insert-rows`` rows

and prints a Markdown table.  The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _mysql_data import TABLE_DDL, make_batch, write_csv  # type: ignore[import-not-found]

from bani.connectors.mysql import MySQLConnector
from bani.domain.chunks import ChunkMarker
from bani.domain.project import ConnectionConfig

LOAD_OPTIONS = (
    "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
    "ESCAPED BY '' LINES TERMINATED BY '\\n'"
)


class Server:
    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 3306
        self.user = unquote(parts.username or "root")
        self.password = unquote(parts.password or "")

    def client(self, database: str, *extra: str) -> list[str]:
        return [
            "mysql",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--user={self.user}",
            "--default-character-set=utf8mb4",
            *extra,
            database,
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["MYSQL_PWD"] = self.password
        return env

    def pymysql(self, database: str | None = None, **kwargs: Any) -> Any:
        import pymysql

        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            **kwargs,
        )

    def config(self, database: str, **options: str) -> ConnectionConfig:
        from bani.domain.project import Secret

        return ConnectionConfig(
            dialect="mysql",
            host=self.host,
            port=self.port,
            database=database,
            username=self.user,
            password=Secret(self.password) if self.password else None,
            options=options,
        )


def timed(
    label: str, rows: int, results: list[tuple[str, int, float]], fn: Callable[[], int]
) -> None:
    print(f"... {label}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    counted = fn()
    elapsed = time.perf_counter() - start
    if counted != rows:
        raise SystemExit(f"{label}: expected {rows} rows, got {counted}")
    results.append((label, rows, elapsed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=100_000)
    parser.add_argument("--insert-rows", type=int, default=200_000)
    parser.add_argument(
        "--dsn", default=os.environ.get("BANI_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/")
    )
    args = parser.parse_args()
    server = Server(args.dsn)
    database = f"bani_bench_{uuid.uuid4().hex[:8]}"
    admin = server.pymysql()
    admin.cursor().execute(
        f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bani-bench-"))
    results: list[tuple[str, int, float]] = []
    try:
        run(server, database, tmp, args, results)
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.rows:,} rows x 16 columns, batch size {args.batch_size:,}\n")
    print("| path | rows | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    for label, rows, seconds in results:
        print(f"| {label} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} |")


def run(
    server: Server,
    database: str,
    tmp: Path,
    args: argparse.Namespace,
    results: list[tuple[str, int, float]],
) -> None:
    rows: int = args.rows
    conn = server.pymysql(database, local_infile=True)
    for name in ("src", "cli_load", "bani_load", "bani_insert"):
        conn.cursor().execute(f"CREATE TABLE `{name}` {TABLE_DDL}")

    csv_path = tmp / "bench.csv"
    print(f"... generating {rows:,} rows of CSV", file=sys.stderr, flush=True)
    write_csv(csv_path, rows)

    def cli_load(table: str) -> int:
        sql = (
            "SET time_zone = '+00:00'; "
            f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE `{table}` {LOAD_OPTIONS}"
        )
        subprocess.run(
            server.client(database, "--local-infile=1", "-e", sql), env=server.env(), check=True
        )
        return count(table)

    def count(table: str) -> int:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")  # noqa: S608 (test identifiers)
            return int(cur.fetchone()[0])

    cli_load("src")  # the read source (untimed)
    conn.cursor().execute("ANALYZE TABLE `src`")

    # -- reads --------------------------------------------------------------------
    def mysql_quick() -> int:
        subprocess.run(
            server.client(database, "--quick", "-e", "SELECT * FROM src"),
            env=server.env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return rows

    def pymysql_tuples(raw: bool) -> Callable[[], int]:
        def read() -> int:
            import pymysql
            import pymysql.converters

            kwargs: dict[str, Any] = {"cursorclass": pymysql.cursors.SSCursor}
            if raw:
                kwargs["conv"] = {
                    k: v for k, v in pymysql.converters.conversions.items() if isinstance(k, type)
                }
            c = server.pymysql(database, **kwargs)
            n = 0
            with c.cursor() as cur:
                cur.execute("SELECT * FROM src")
                while chunk := cur.fetchmany(args.batch_size):
                    n += len(chunk)
            c.close()
            return n

        return read

    def connectorx_raw() -> int:
        import connectorx as cx

        url = f"mysql://{server.user}@{server.host}:{server.port}/{database}"
        if server.password:
            from urllib.parse import quote

            url = (
                f"mysql://{quote(server.user, safe='')}:{quote(server.password, safe='')}"
                f"@{server.host}:{server.port}/{database}"
            )
        reader = cx.read_sql(
            url, "SELECT * FROM src", return_type="arrow_stream", batch_size=args.batch_size
        )
        return int(sum(b.num_rows for b in reader))

    def connector_read(driver: str) -> Callable[[], int]:
        def read() -> int:
            with MySQLConnector() as c:
                c.connect(server.config(database, read_driver=driver))
                return sum(
                    b.num_rows for b in c.read_table("src", database, batch_size=args.batch_size)
                )

        return read

    def mysqlclient() -> int:
        import MySQLdb  # type: ignore[import-untyped]
        import MySQLdb.cursors  # type: ignore[import-untyped]

        c = MySQLdb.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            database=database,
            charset="utf8mb4",
            cursorclass=MySQLdb.cursors.SSCursor,
        )
        n = 0
        cur = c.cursor()
        cur.execute("SELECT * FROM src")
        while chunk := cur.fetchmany(args.batch_size):
            n += len(chunk)
        c.close()
        return n

    timed("read: mysql --quick > /dev/null", rows, results, mysql_quick)
    timed("read: pymysql SSCursor, Python objects", rows, results, pymysql_tuples(False))
    timed("read: pymysql SSCursor, raw text tuples", rows, results, pymysql_tuples(True))
    try:
        import MySQLdb  # noqa: F401

        timed("read: mysqlclient SSCursor, Python objects", rows, results, mysqlclient)
    except ImportError:
        print("... mysqlclient not installed, skipped", file=sys.stderr)
    timed("read: connectorx SELECT * -> Arrow (undeclared types)", rows, results, connectorx_raw)
    timed("read: bani read_table, pymysql -> Arrow", rows, results, connector_read("pymysql"))
    timed("read: bani read_table, connectorx -> Arrow", rows, results, connector_read("connectorx"))

    # -- writes -------------------------------------------------------------------
    timed(
        "write: mysql client LOAD DATA LOCAL of the CSV",
        rows,
        results,
        lambda: cli_load("cli_load"),
    )

    batches = list(_batches(rows, args.batch_size))

    def connector_write(table: str, count_rows: int, **options: str) -> Callable[[], int]:
        def write() -> int:
            with MySQLConnector() as c:
                c.connect(server.config(database, **options))
                subset = _take(batches, count_rows)
                return c.write_chunk(table, database, subset, ChunkMarker("bench", table))

        return write

    timed(
        "write: bani write_chunk, LOAD DATA from Arrow",
        rows,
        results,
        connector_write("bani_load", rows),
    )
    insert_rows = min(rows, args.insert_rows)
    timed(
        "write: bani write_chunk, INSERT fallback",
        insert_rows,
        results,
        connector_write("bani_insert", insert_rows, local_infile="false"),
    )
    conn.close()


def _batches(rows: int, size: int) -> Iterator[pa.RecordBatch]:
    for start in range(1, rows + 1, size):
        yield make_batch(start, min(size, rows - start + 1))


def _take(batches: list[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    left = rows
    for batch in batches:
        if left <= 0:
            return
        piece = batch.slice(0, min(left, batch.num_rows))
        left -= piece.num_rows
        yield piece


if __name__ == "__main__":
    main()
