"""The client's peak memory does not grow with table size.

Run: ``.venv/bin/python bench/bench_client_memory.py [--rows 1000000 5000000] [--pg-dsn DSN]``

For each size, a 16-column PostgreSQL table is generated server-side with
``generate_series`` (integers, floats, a boolean, decimals, timestamps, a
date and text of 10..120 characters; about 270 bytes of Arrow data per row,
so 5M rows are well over 1 GB), then migrated PostgreSQL -> PostgreSQL by
``bani-flight migrate`` running in its **own process** (not the embedded mode)
against ``bani-reader`` and ``bani-writer`` processes, with tokens, on
loopback.  Reported per size:

* the client's peak RSS, exact, from the kernel's rusage of the finished
  client process (``os.wait4``);
* the reader's and writer's peak RSS (``VmHWM`` in ``/proc/PID/status``,
  read before they are stopped);
* rows, Arrow bytes moved, seconds, rows/s, and whether verification passed.

It fails (exit 1) if a client peak is 300 MB or more, or the two peaks differ
by more than 20 %.  Results are also written to ``bench/results/``.

The client compresses its puts (zstd, its default), and the reader its
``do_get`` streams (zstd, the production default; ``--compression`` changes it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB = 300.0
MAX_SPREAD = 0.20
TOKEN = "bench-token-" + uuid.uuid4().hex

_TABLE = """
CREATE TABLE measurements (
    id BIGINT PRIMARY KEY,
    device_id BIGINT NOT NULL,
    sequence_no INTEGER NOT NULL,
    status SMALLINT NOT NULL,
    reading DOUBLE PRECISION,
    ratio DOUBLE PRECISION NOT NULL,
    active BOOLEAN,
    price NUMERIC(14, 2) NOT NULL,
    tax NUMERIC(10, 2),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMPTZ,
    day DATE NOT NULL,
    code VARCHAR(16) NOT NULL,
    email VARCHAR(64),
    note TEXT,
    label TEXT NOT NULL
)
"""

_FILL = """
INSERT INTO measurements
SELECT g,
       g %% 100003,
       (g %% 2000000000)::int,
       (g %% 7)::smallint,
       CASE WHEN g %% 20 = 0 THEN NULL ELSE g * 0.001 END,
       sin(g),
       CASE WHEN g %% 17 = 0 THEN NULL ELSE g %% 2 = 0 END,
       (g %% 1000000000) / 100.0,
       CASE WHEN g %% 11 = 0 THEN NULL ELSE (g %% 100000) / 100.0 END,
       TIMESTAMP '2020-01-01' + g * INTERVAL '1 second',
       CASE WHEN g %% 9 = 0 THEN NULL
            ELSE TIMESTAMPTZ '2021-06-01 00:00+00' + g * INTERVAL '1 minute' END,
       DATE '2000-01-01' + (g %% 9000)::int,
       'C' || lpad((g %% 99999999)::text, 8, '0'),
       CASE WHEN g %% 23 = 0 THEN NULL ELSE 'user' || g || '@example.org' END,
       CASE WHEN g %% 5 = 0 THEN NULL ELSE repeat(md5(g::text), 1 + (g %% 3)) END,
       md5((g * 7)::text) || md5(g::text)
FROM generate_series(%(start)s, %(stop)s) AS g
"""


def _with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def _rss_peak_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _start(
    role: str, dsn: str, log_dir: Path, extra: list[str]
) -> tuple[subprocess.Popen[str], int]:
    option = "--source" if role == "reader" else "--target"
    env = {**os.environ, "BENCH_TOKEN": TOKEN}
    log = (log_dir / f"{role}.log").open("w")
    process = subprocess.Popen(
        [str(BIN / f"bani-{role}"), option, dsn, "--port", "0", "--health-port", "-1",
         "--metrics-port", "-1", "--auth-tokens", "${env:BENCH_TOKEN}", "--log-level",
         "warning", "--log-format", "json", *extra],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    return process, int(ready["flight_port"])


def _generate(admin_dsn: str, rows: int, source: str, target: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{source}"')
        admin.execute(f'CREATE DATABASE "{target}"')
    started = time.perf_counter()
    with psycopg.connect(_with_database(admin_dsn, source), autocommit=True) as conn:
        conn.execute(_TABLE)
        step = 1_000_000
        for start in range(1, rows + 1, step):
            conn.execute(_FILL, {"start": start, "stop": min(start + step - 1, rows)})
        conn.execute("VACUUM ANALYZE measurements")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('measurements'))")
        print(f"  generated {rows:,} rows in {time.perf_counter() - started:.0f} s "
              f"({size.fetchone()[0]} on disk)", flush=True)  # type: ignore[index]


def _drop(admin_dsn: str, *names: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_size(
    admin_dsn: str, rows: int, work: Path, compression: str, timeout: float
) -> dict[str, Any]:
    print(f"{rows:,} rows:", flush=True)
    suffix = uuid.uuid4().hex[:8]
    source, target = f"bani_bench_src_{suffix}", f"bani_bench_dst_{suffix}"
    log_dir = work / f"{rows}"
    log_dir.mkdir(parents=True, exist_ok=True)
    reader = writer = None
    try:
        _generate(admin_dsn, rows, source, target)
        reader, reader_port = _start(
            "reader", _with_database(admin_dsn, source), log_dir, ["--compression", compression]
        )
        writer, writer_port = _start("writer", _with_database(admin_dsn, target), log_dir, [])
        started = time.perf_counter()
        out_path = log_dir / "client.json"
        with out_path.open("w") as out, (log_dir / "client.log").open("w") as err:
            client = subprocess.Popen(
                [str(BIN / "bani-flight"), "migrate",
                 "--reader", f"grpc://127.0.0.1:{reader_port}",
                 "--writer", f"grpc://127.0.0.1:{writer_port}",
                 "--json", "--runs-dir", str(log_dir / "runs")],
                stdout=out, stderr=err, text=True,
                env={**os.environ, "BANI_FLIGHT_TOKEN": TOKEN},
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(client.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                client.kill()
                client.wait()
                raise RuntimeError(
                    f"migrate did not finish in {timeout:.0f} s; see {log_dir} (a reader that "
                    "stops streaming shows no CPU: take a py-spy dump of it)"
                )
            time.sleep(0.2)
        client.returncode = os.waitstatus_to_exitcode(status)
        output = out_path.read_text()
        seconds = time.perf_counter() - started
        client_peak = usage.ru_maxrss / 1024  # kB on Linux
        reader_peak = _rss_peak_mb(reader.pid)
        writer_peak = _rss_peak_mb(writer.pid)
        if client.returncode != 0:
            tail = (log_dir / "client.log").read_text()[-2000:]
            raise RuntimeError(f"migrate failed ({client.returncode}): {tail}")
        result = json.loads(output)
        table = result["tables"][0]
        figures = {
            "rows": rows,
            "arrow_bytes": result["bytes"],
            "seconds": round(seconds, 1),
            "rows_per_second": round(rows / seconds),
            "verified": table["verification"]["outcome"],
            "client_peak_rss_mb": round(client_peak, 1),
            "reader_peak_rss_mb": round(reader_peak, 1),
            "writer_peak_rss_mb": round(writer_peak, 1),
            "chunks": table["chunks_total"],
            "reader_compression": compression,
        }
        print(f"  {json.dumps(figures)}", flush=True)
        return figures
    finally:
        for process in (reader, writer):
            if process is not None:
                process.terminate()
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        _drop(admin_dsn, source, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--pg-dsn", default=os.environ.get("BANI_TEST_PG_DSN",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument(
        "--compression", choices=("zstd", "lz4", "none"), default="zstd",
        help="the reader's do_get IPC compression (its --compression setting)",
    )
    parser.add_argument("--timeout", type=float, default=1200.0,
                        help="seconds one migration may take before the run is failed")
    args = parser.parse_args(argv)
    work = ROOT / "bench" / "results" / f"client-memory-{time.strftime('%Y%m%dT%H%M%S')}"
    results = [
        run_size(args.pg_dsn, rows, work, args.compression, args.timeout) for rows in args.rows
    ]
    print()
    header = f"{'rows':>10} {'Arrow GB':>9} {'seconds':>8} {'rows/s':>9} {'client MB':>10} " \
             f"{'reader MB':>10} {'writer MB':>10}  verified"
    print(header)
    for r in results:
        print(f"{r['rows']:>10,} {r['arrow_bytes'] / 1e9:>9.2f} {r['seconds']:>8.1f} "
              f"{r['rows_per_second']:>9,} {r['client_peak_rss_mb']:>10.1f} "
              f"{r['reader_peak_rss_mb']:>10.1f} {r['writer_peak_rss_mb']:>10.1f}  {r['verified']}")
    peaks = [r["client_peak_rss_mb"] for r in results]
    spread = (max(peaks) - min(peaks)) / min(peaks)
    ok = max(peaks) < LIMIT_MB and spread <= MAX_SPREAD and all(
        r["verified"] == "ok" for r in results
    )
    print(f"client peaks {', '.join(f'{p:.0f} MB' for p in peaks)}: spread {spread:.0%} "
          f"(limit {MAX_SPREAD:.0%}), max {max(peaks):.0f} MB (limit {LIMIT_MB:.0f} MB): "
          f"{'PASS' if ok else 'FAIL'}")
    work.mkdir(parents=True, exist_ok=True)
    (work / "results.json").write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
