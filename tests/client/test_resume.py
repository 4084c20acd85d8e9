"""Resume: the writer is killed in the middle of a multi-chunk migration, then restarted.

``migrate --resume RUN_ID`` finishes the run: the target ends equal to the
source with no duplicate rows, and the resumed invocation moved exactly the
chunks the writer had not committed -- counted from the target's own chunk
markers, not from what the client says.  And when the writer comes back while
the client still runs, the chunks that were in flight are retried (transient
failure, backoff) and the same run completes.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
from pathlib import Path

from bani.domain.chunks import BOOKKEEPING_TABLE
from tests.client._processes import ServiceProcess, run_cli, start_cli, start_service

ROWS = 240_000
CHUNK_ROWS = 6_000
CHUNKS = ROWS // CHUNK_ROWS


def _make_source(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor VARCHAR(20) NOT NULL, "
            "value REAL, taken_at TIMESTAMP NOT NULL, note TEXT)"
        )
        conn.executemany(
            "INSERT INTO readings VALUES (?, ?, ?, ?, ?)",
            (
                (i, f"sensor-{i % 97}", None if i % 13 == 0 else i * 0.25,
                 f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
                 None if i % 5 else f"note {i}")
                for i in range(1, ROWS + 1)
            ),
        )  # fmt: skip
        conn.execute("CREATE TABLE sensors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.executemany("INSERT INTO sensors VALUES (?, ?)", ((i, f"s{i}") for i in range(97)))


def _committed_markers(target: Path, run_id: str) -> int:
    with sqlite3.connect(target) as conn:
        query = f'SELECT COUNT(*) FROM "{BOOKKEEPING_TABLE}" WHERE run_id = ?'  # noqa: S608
        return int(conn.execute(query, (run_id,)).fetchone()[0])


def test_writer_killed_mid_run_then_resume_moves_only_the_missing_chunks(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    _make_source(source)
    reader = start_service("reader", f"sqlite:///{source}", tmp_path)
    writer: ServiceProcess | None = start_service("writer", f"sqlite:///{target}", tmp_path)
    second: ServiceProcess | None = None
    try:
        assert writer is not None
        client = start_cli(
            [
                "migrate", "--reader", reader.uri, "--writer", writer.uri,
                "--chunk-rows", str(CHUNK_ROWS), "--batch-rows", "1000", "--parallel", "2",
                "--retries", "0", "--progress", "log",
            ],
            tmp_path,
        )  # fmt: skip
        assert client.stderr is not None
        committed_seen = 0
        stderr_lines: list[str] = []
        deadline = time.monotonic() + 120
        while committed_seen < 5 and time.monotonic() < deadline:
            line = client.stderr.readline()
            if not line:
                break
            stderr_lines.append(line)
            if '"chunk_committed"' in line and "readings" in line:
                committed_seen += 1
        assert committed_seen == 5, "".join(stderr_lines)[-3000:]
        writer.kill()  # mid-run: chunks are in flight on both streams
        writer = None
        rest, _ = client.communicate(timeout=120)
        stderr = "".join(stderr_lines) + (_ or "")
        assert client.returncode == 3, stderr[-3000:]
        errors = [line for line in stderr.splitlines() if line.startswith("bani-flight: error")]
        assert len(errors) == 1, stderr[-3000:]
        match = re.search(r"--resume (\S+)$", errors[0])
        assert match, errors[0]
        run_id = match.group(1)

        committed_before = _committed_markers(target, run_id)
        assert 5 <= committed_before < CHUNKS, committed_before

        second = start_service("writer", f"sqlite:///{target}", tmp_path)
        resumed = run_cli(
            ["migrate", "--resume", run_id, "--reader", reader.uri, "--writer", second.uri,
             "--json"],
            tmp_path,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:] + second.log()
        result = json.loads(resumed.stdout)
        assert result["run_id"] == run_id and result["resumed"] is True and result["ok"] is True
        readings = next(t for t in result["tables"] if t["source_table"].endswith("readings"))
        assert readings["chunks_total"] == CHUNKS
        # Only the chunks the writer had not committed were moved again.
        assert readings["chunks_skipped"] == committed_before
        assert readings["chunks_moved"] == CHUNKS - committed_before
        assert readings["rows"] < ROWS
        assert readings["verification"]["outcome"] == "ok"
    finally:
        reader.stop()
        for service in (writer, second):
            if service is not None:
                service.stop()

    with sqlite3.connect(target) as conn:
        counted = "SELECT COUNT(*), COUNT(DISTINCT id) FROM readings"
        total, distinct = conn.execute(counted).fetchone()
        assert total == distinct == ROWS  # nothing lost, nothing twice
        assert _committed_markers(target, run_id) == CHUNKS + 1  # + the sensors table's chunk
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        query = "SELECT * FROM readings WHERE id % 997 = 0 ORDER BY id"
        assert src.execute(query).fetchall() == dst.execute(query).fetchall()


def test_a_writer_restarted_mid_run_is_retried_per_chunk(tmp_path: Path) -> None:
    """A writer that dies and comes back (a rescheduled pod) costs retries, not the run."""
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    _make_source(source)
    reader = start_service("reader", f"sqlite:///{source}", tmp_path)
    writer = start_service("writer", f"sqlite:///{target}", tmp_path)
    services = [reader, writer]
    try:
        client = start_cli(
            [
                "migrate", "--reader", reader.uri, "--writer", writer.uri,
                "--chunk-rows", str(CHUNK_ROWS), "--batch-rows", "1000", "--parallel", "2",
                "--progress", "log", "--json",
            ],
            tmp_path,
        )  # fmt: skip
        assert client.stderr is not None
        lines: list[str] = []
        while sum('"chunk_committed"' in line for line in lines) < 5:
            line = client.stderr.readline()
            assert line, "".join(lines)[-3000:]
            lines.append(line)
        writer.kill()
        same_port = ["--port", str(writer.port)]
        services.append(start_service("writer", f"sqlite:///{target}", tmp_path, extra=same_port))
        out, err = client.communicate(timeout=120)
        stderr = "".join(lines) + err
        assert client.returncode == 0, stderr[-3000:]
    finally:
        for service in services:
            service.stop()
    assert '"chunk_retry"' in stderr  # the chunks in flight were retried ...
    result = json.loads(out)
    assert result["ok"] is True and result["resumed"] is False  # ... within the same run
    readings = next(t for t in result["tables"] if t["source_table"].endswith("readings"))
    assert readings["chunks_moved"] == CHUNKS and readings["rows"] == ROWS
    with sqlite3.connect(target) as conn:
        counted = "SELECT COUNT(*), COUNT(DISTINCT id) FROM readings"
        assert conn.execute(counted).fetchone() == (ROWS, ROWS)


def test_ctrl_c_then_rerunning_the_same_file_resumes_its_run(tmp_path: Path) -> None:
    """Interrupted with Ctrl-C, an unchanged migration file picks its run up again."""
    _make_source(tmp_path / "source.db")
    (tmp_path / "m.toml").write_text(
        '[source]\ndsn = "sqlite:///source.db"\n[target]\ndsn = "sqlite:///target.db"\n'
        f"[migration]\nparallel = 2\nchunk_rows = {CHUNK_ROWS}\nbatch_rows = 1000\n"
    )
    client = start_cli(["migrate", "-f", "m.toml", "--progress", "log"], tmp_path, token=None)
    assert client.stderr is not None
    lines: list[str] = []
    while sum('"chunk_committed"' in line for line in lines) < 4:
        line = client.stderr.readline()
        assert line, "".join(lines)[-3000:]
        lines.append(line)
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=60)
    assert client.returncode == 130, err[-3000:]
    (error,) = [line for line in err.splitlines() if line.startswith("bani-flight: error")]
    assert "interrupted; resume with: bani-flight migrate --resume" in error
    run_id = error.rsplit(" ", 1)[-1]
    committed_before = _committed_markers(tmp_path / "target.db", run_id)
    assert committed_before >= 4

    again = run_cli(["migrate", "-f", "m.toml", "--json"], tmp_path, token=None)
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    result = again.json()
    assert result["run_id"] == run_id and result["resumed"] is True and result["ok"] is True
    assert result["chunks_skipped"] == committed_before
    assert result["chunks_moved"] == CHUNKS + 1 - committed_before  # + sensors' one chunk
    with sqlite3.connect(tmp_path / "target.db") as conn:
        counted = "SELECT COUNT(*), COUNT(DISTINCT id) FROM readings"
        assert conn.execute(counted).fetchone() == (ROWS, ROWS)
