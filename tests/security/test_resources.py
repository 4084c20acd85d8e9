"""Bounded resources: a peer with a valid token cannot exhaust the services.

Every test runs real reader/writer processes against real databases and
checks what a user would see:

* puts that send a batch and then go silent are ended after
  ``--stream-idle-timeout``, rolled back, and free their connection, so a
  legitimate put and ``health`` keep working (PostgreSQL and SQLite targets);
* a batch over ``--max-batch-bytes`` is refused, nothing is written, and the
  writer's memory stays bounded;
* plan requests over ``--max-plan-ranges`` / ``--max-plan-columns`` /
  ``--max-plan-tables`` are refused fast, the reader never plans more chunks
  than its cap, and ``--max-concurrent-plans`` bounds concurrent plans;
* ``/metrics`` listens on loopback unless told otherwise, never implied by
  the Flight port's ``--host``, and with ``--metrics-token`` needs the token.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from bani.errors import BaniError
from bani.wire import HealthResult, KeyRange, PutAck, ReadRequest, SchemaRequest
from bani.wire.codec import decode, table_ref
from bani.wire.errors import from_flight_error
from bani.wire.protocol import parse_put_ack, put_commit, read_descriptor, write_descriptor
from tests._certs import make_test_pki
from tests.services._harness import (
    Security,
    ServiceProcess,
    action,
    connect,
    make_security,
    options,
)

pytestmark = pytest.mark.slow

Launch = Callable[..., ServiceProcess]
RUN = "resources-run"
SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resource_security(tmp_path_factory: pytest.TempPathFactory) -> Security:
    directory = tmp_path_factory.mktemp("resource-security")
    return make_security(make_test_pki(directory / "pki"), directory)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start a service subprocess; each is stopped when the test ends."""
    started: list[ServiceProcess] = []

    def start(service: str, *args: str, env: dict[str, str] | None = None) -> ServiceProcess:
        process = ServiceProcess(
            service, list(args), tmp_path / f"{service}-{len(started)}.log", env=env or {}
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def _batch(first: int, count: int) -> pa.RecordBatch:
    ids = list(range(first, first + count))
    return pa.record_batch([pa.array(ids, pa.int64()), pa.array([f"row {i}" for i in ids])],
                           schema=SCHEMA)


def _error(exc: BaseException) -> BaniError:
    return from_flight_error(exc)  # type: ignore[arg-type]


def _attempt_put(client: flight.FlightClient, token: str, table: str, chunk_id: str,
                 batches: list[pa.RecordBatch], target_schema: str,
                 timeout: float = 60.0) -> PutAck | BaniError:
    """Put one chunk; the ack, or the typed error the writer answered with."""
    try:
        writer, acks = client.do_put(
            write_descriptor(RUN, target_schema, table, chunk_id), SCHEMA,
            options(token, timeout),
        )
        try:
            for batch in batches:
                writer.write_batch(batch)
            writer.write_metadata(put_commit(sum(b.num_rows for b in batches), len(batches)))
            writer.done_writing()
            reply = acks.read()
        finally:
            writer.close()
    except flight.FlightError as exc:
        return _error(exc)
    assert reply is not None
    return parse_put_ack(reply)


class StalledPut:
    """A put on its own connection that sends one batch and then nothing."""

    def __init__(self, location: str, security: Security, table: str, chunk_id: str,
                 batch: pa.RecordBatch, target_schema: str) -> None:
        self.client = connect(location, security)
        self.writer, self.acks = self.client.do_put(
            write_descriptor(RUN, target_schema, table, chunk_id), SCHEMA,
            options(security.token, 120),
        )
        self.writer.write_batch(batch)

    def finish(self, rows: int) -> BaniError | None:
        """Try to commit now; the error the writer answered with (None if it committed)."""
        try:
            self.writer.write_metadata(put_commit(rows, 1))
            self.writer.done_writing()
            self.acks.read()
            self.writer.close()
        except flight.FlightError as exc:
            return _error(exc)
        return None

    def close(self) -> None:
        with contextlib.suppress(flight.FlightError):
            self.writer.close()
        self.client.close()


def _health(location: str, security: Security, timeout: float) -> tuple[bool, float]:
    """The ``health`` action's readiness and how long it took (``timeout`` bounds the call)."""
    started = time.monotonic()
    with connect(location, security) as client:
        results = list(client.do_action(flight.Action("health", b""),
                                        options(security.token, timeout)))
    result = decode(HealthResult, results[0].body.to_pybytes(), "health")
    return bool(result.ready), time.monotonic() - started


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def _rows_pg(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql).fetchall())


def _rows_sqlite(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql).fetchall())


# -- (a) stalled puts ------------------------------------------------------------------------


def _stalled_puts_scenario(writer: ServiceProcess, security: Security, target_schema: str,
                           stalls: int, idle: float) -> list[StalledPut]:
    """Open ``stalls`` silent puts, then a legitimate put and health must still work."""
    stalled = [
        StalledPut(writer.location, security, "items", f"stalled-{i}",
                   _batch(1000 * (i + 1), 10), target_schema)
        for i in range(stalls)
    ]
    time.sleep(0.5)
    # The pool (and for SQLite the write lock) is now held by silent clients.
    ready, seconds = _health(writer.location, security, timeout=10)
    assert ready and seconds < 5, f"health took {seconds:.1f} s while the pool was held"
    started = time.monotonic()
    with connect(writer.location, security) as client:
        outcome = _attempt_put(client, security.token, "items", "legit", [_batch(1, 5)],
                               target_schema, timeout=60)
    took = time.monotonic() - started
    assert isinstance(outcome, PutAck), f"the legitimate put failed: {outcome}"
    assert outcome.status == PutAck.COMMITTED and outcome.rows == 5
    assert took < 60
    return stalled


def test_stalled_puts_on_postgresql_are_rolled_back_and_block_nobody(
    launch: Launch, resource_security: Security, pg_dsn: str
) -> None:
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    idle = 2.0
    writer = launch(
        "writer", "--target", pg_dsn, "--allowed-schemas", "public", "--pool-size", "4",
        "--stream-idle-timeout", str(idle), "--pool-wait-timeout", "30",
        *resource_security.service_args(),
    )
    stalled = _stalled_puts_scenario(writer, resource_security, "public", 12, idle)
    try:
        # Every silent put is ended; its rows are gone (only the legitimate put's remain).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            idle_events = [e for e in writer.events() if e.get("event") == "put_idle"]
            if len(idle_events) >= 12:
                break
            time.sleep(0.2)
        assert len(idle_events) >= 12
        assert _rows_pg(pg_dsn, "SELECT min(id), max(id), count(*) FROM items") == [(1, 5, 5)]
        # The writer keeps serving a second legitimate put at once.
        with connect(writer.location, resource_security) as client:
            again = _attempt_put(client, resource_security.token, "items", "legit-2",
                                 [_batch(6, 5)], "public", timeout=20)
        assert isinstance(again, PutAck) and again.rows == 5
        finished = [e for e in writer.events() if e.get("event") == "rpc_finished"
                    and e.get("method") == "do_put" and e.get("status") == "stream_idle"]
        assert finished, "the ended puts are summarized with status stream_idle"
    finally:
        for put in stalled:
            put.close()


def test_stalled_put_on_sqlite_gets_a_clear_error_and_frees_the_write_lock(
    launch: Launch, resource_security: Security, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    idle = 2.0
    writer = launch(
        "writer", "--target", f"sqlite:///{target}", "--stream-idle-timeout", str(idle),
        *resource_security.service_args(),
    )
    stalled = _stalled_puts_scenario(writer, resource_security, "main", 2, idle)
    try:
        # A client that wakes up shortly after its put was ended learns why, by name.
        late = StalledPut(writer.location, resource_security, "items", "late-chunk",
                          _batch(500, 3), "main")
        time.sleep(idle + 0.7)
        error = late.finish(3)
        assert error is not None and error.code == "stream_idle", error
        assert "late-chunk" in error.message and "items" in error.message
        assert "--stream-idle-timeout" in error.message
        assert error.retryable
        # One that stays silent is let go: its connection is closed, the writer serves on.
        silent = StalledPut(writer.location, resource_security, "items", "silent-chunk",
                            _batch(700, 3), "main")
        time.sleep(3 * idle + 1.5)
        dropped = silent.finish(3)
        assert dropped is not None and dropped.retryable
        assert any(e.get("event") == "put_connection_dropped" for e in writer.events())
        assert _rows_sqlite(target, "SELECT min(id), max(id), count(*) FROM items") == [
            (1, 5, 5)
        ]
        ready, _ = _health(writer.location, resource_security, timeout=10)
        assert ready
        late.close()
        silent.close()
    finally:
        for put in stalled:
            put.close()


def test_a_put_waiting_for_a_busy_pool_gets_pool_busy_after_the_bounded_wait(
    launch: Launch, resource_security: Security, pg_dsn: str
) -> None:
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    writer = launch(
        "writer", "--target", pg_dsn, "--allowed-schemas", "public", "--pool-size", "1",
        "--pool-wait-timeout", "1", "--stream-idle-timeout", "30",
        *resource_security.service_args(),
    )
    holder = StalledPut(writer.location, resource_security, "items", "holder", _batch(1, 3),
                        "public")
    try:
        time.sleep(0.5)
        started = time.monotonic()
        with connect(writer.location, resource_security) as client:
            outcome = _attempt_put(client, resource_security.token, "items", "waiting",
                                   [_batch(10, 3)], "public", timeout=20)
        took = time.monotonic() - started
        assert isinstance(outcome, BaniError), outcome
        assert outcome.code == "pool_busy" and outcome.retryable
        assert "--pool-wait-timeout" in outcome.message
        assert took < 10
        ready, seconds = _health(writer.location, resource_security, timeout=10)
        assert ready and seconds < 5
    finally:
        holder.close()


def test_resource_settings_refuse_bad_values() -> None:
    from bani.errors import ConfigurationError
    from bani.service.settings import parse_args

    writer = parse_args("writer", ["--target", "sqlite:///t.db", "--max-batch-bytes", "8MiB"], {})
    assert writer.max_batch_bytes == 8 * 1024 * 1024 and writer.stream_idle_timeout == 60
    assert writer.pool_wait_timeout == 30 and writer.metrics_host == "127.0.0.1"
    reader = parse_args("reader", ["--source", "sqlite:///s.db"], {})
    assert (reader.max_plan_ranges, reader.max_plan_tables, reader.max_plan_columns,
            reader.max_concurrent_plans) == (10_000, 10_000, 4096, 4)
    for service, args, flag in [
        ("writer", ["--max-batch-bytes", "1KiB"], "--max-batch-bytes"),
        ("writer", ["--stream-idle-timeout", "0"], "--stream-idle-timeout"),
        ("writer", ["--pool-wait-timeout", "-1"], "--pool-wait-timeout"),
        ("writer", ["--metrics-token", "a-literal-token-value"], "--metrics-token"),
        ("reader", ["--max-plan-ranges", "0"], "--max-plan-ranges"),
        ("reader", ["--max-concurrent-plans", "0"], "--max-concurrent-plans"),
    ]:
        dsn = ["--target", "sqlite:///t.db"] if service == "writer" else ["--source", "sqlite:///s.db"]
        with pytest.raises(ConfigurationError) as caught:
            parse_args(service, [*dsn, *args], {})  # type: ignore[arg-type]
        assert caught.value.context.setting == flag
        assert flag in str(caught.value)


# -- (b) oversize batches ------------------------------------------------------------------


def test_a_batch_over_max_batch_bytes_is_refused_and_nothing_is_written(
    launch: Launch, resource_security: Security, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE wide (id INTEGER PRIMARY KEY, name TEXT)")
    writer = launch(
        "writer", "--target", f"sqlite:///{target}", "--max-batch-bytes", "8MiB",
        *resource_security.service_args(),
    )
    token = resource_security.token
    with connect(writer.location, resource_security) as client:
        small = _attempt_put(client, token, "wide", "small", [_batch(1, 1000)], "main")
        assert isinstance(small, PutAck) and small.rows == 1000
        before = _peak_rss_mib(writer.pid)
        rows = 1_000_000
        ids = pa.array(range(10_000, 10_000 + rows), pa.int64())
        names = pa.array([f"{'x' * 92}{i:08d}" for i in range(rows)])  # ~100 MB of text
        big = pa.record_batch([ids, names], schema=SCHEMA)
        assert big.nbytes > 100 * 1024 * 1024
        refused = _attempt_put(client, token, "wide", "huge", [big], "main")
    assert isinstance(refused, BaniError), "a 100 MB batch was accepted"
    assert refused.code == "invalid_request"
    assert "wide" in refused.message and "--max-batch-bytes" in refused.message
    assert _rows_sqlite(target, "SELECT count(*) FROM wide") == [(1000,)]
    grown = _peak_rss_mib(writer.pid) - before
    assert grown < 400, f"the writer's peak RSS grew by {grown:.0f} MiB for a refused batch"


# -- (c) plan requests ---------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.db"
    with sqlite3.connect(path) as conn:
        columns = ", ".join(f"c{i} INTEGER" for i in range(10))
        conn.execute(f"CREATE TABLE items (id INTEGER PRIMARY KEY, {columns})")
        conn.executemany(
            "INSERT INTO items (id) VALUES (?)", ((i,) for i in range(1, 3001))
        )
        conn.execute("CREATE TABLE other (id INTEGER PRIMARY KEY)")
    return path


def _plan(client: flight.FlightClient, token: str, **request: Any) -> flight.FlightInfo:
    message = ReadRequest(table=table_ref("main", "items"), **request)
    return client.get_flight_info(read_descriptor(message), options(token, 120))


def _ranges(count: int) -> list[KeyRange]:
    return [KeyRange(column="id", lower=i, upper=i + 1) for i in range(1, count + 1)]


def test_plan_requests_over_their_caps_are_refused_fast(
    launch: Launch, resource_security: Security, source: Path
) -> None:
    reader = launch(
        "reader", "--source", f"sqlite:///{source}", "--max-plan-ranges", "100",
        "--max-plan-columns", "8", "--max-plan-tables", "1",
        *resource_security.service_args(),
    )
    token = resource_security.token
    with connect(reader.location, resource_security) as client:
        started = time.monotonic()
        with pytest.raises(flight.FlightServerError) as caught:
            _plan(client, token, key_ranges=_ranges(5000))
        assert time.monotonic() - started < 2
        error = _error(caught.value)
        assert error.code == "invalid_request"
        assert "--max-plan-ranges" in error.message and "5000" in error.message

        with pytest.raises(flight.FlightServerError) as caught:
            _plan(client, token, columns=[f"c{i}" for i in range(9)])
        assert "--max-plan-columns" in _error(caught.value).message

        with pytest.raises(flight.FlightServerError) as caught:
            action(client, "schema", SchemaRequest(
                tables=[table_ref("main", "items"), table_ref("main", "other")]
            ).SerializeToString(), token)
        assert "--max-plan-tables" in _error(caught.value).message

        # Within the caps the reader answers; asking for one-row chunks of a 3,000-row
        # table gets at most --max-plan-ranges of them (larger chunks), not 3,000.
        assert len(_plan(client, token, key_ranges=_ranges(100)).endpoints) == 100
        planned = _plan(client, token, chunk_rows=1)
        assert 1 < len(planned.endpoints) <= 100


def test_concurrent_plans_over_the_limit_are_refused_as_busy(
    launch: Launch, resource_security: Security, source: Path
) -> None:
    reader = launch(
        "reader", "--source", f"sqlite:///{source}", "--max-plan-ranges", "100000",
        "--max-concurrent-plans", "1", "--pool-wait-timeout", "0.3",
        *resource_security.service_args(),
    )
    token = resource_security.token
    ranges = _ranges(40_000)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def plan() -> None:
        with connect(reader.location, resource_security) as client:
            barrier.wait()
            try:
                info = _plan(client, token, key_ranges=ranges)
                outcomes.append(f"ok:{len(info.endpoints)}")
            except flight.FlightError as exc:
                error = _error(exc)
                outcomes.append(f"{error.code}:{error.message}")

    threads = [threading.Thread(target=plan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert len(outcomes) == 4
    assert any(o == "ok:40000" for o in outcomes), outcomes
    busy = [o for o in outcomes if o.startswith("busy:")]
    assert busy, f"four concurrent plans ran with --max-concurrent-plans 1: {outcomes}"
    assert all("--max-concurrent-plans" in o for o in busy)


# -- (d) metrics -----------------------------------------------------------------------------


def _http(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return -1, str(exc)


def _public_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_metrics_stay_on_loopback_when_the_flight_port_is_public(
    launch: Launch, resource_security: Security, source: Path
) -> None:
    public = _public_address()
    if public is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    reader = launch(
        "reader", "--source", f"sqlite:///{source}", "--host", "0.0.0.0",
        "--ticket-secret", f"${{file:{resource_security.ticket_secret_file}}}",
        *resource_security.service_args(),
    )
    port = int(reader.ready["metrics_port"])
    flight_port = int(reader.ready["flight_port"])
    with socket.create_connection((public, flight_port), timeout=5):
        pass  # the Flight port is public, as asked
    status, _ = _http(f"http://{public}:{port}/metrics")
    assert status == -1, "metrics answered on the public address"
    status, body = _http(f"http://127.0.0.1:{port}/metrics")
    assert status == 200 and "bani_active_streams" in body


def test_metrics_require_the_token_when_one_is_set(
    launch: Launch, resource_security: Security, source: Path, tmp_path: Path
) -> None:
    token_file = tmp_path / "metrics-token"
    token_file.write_text("metrics-token-0123456789abcdef\n")
    reader = launch(
        "reader", "--source", f"sqlite:///{source}", "--host", "127.0.0.2",
        "--metrics-token", f"${{file:{token_file}}}",
    )
    port = int(reader.ready["metrics_port"])
    # Not on the Flight host (127.0.0.2): the metrics host defaults to 127.0.0.1.
    assert _http(f"http://127.0.0.2:{port}/metrics")[0] == -1
    url = f"http://127.0.0.1:{port}/metrics"
    assert _http(url)[0] == 401
    assert _http(url, "wrong-token-0123456789abcdef")[0] == 401
    status, body = _http(url, "metrics-token-0123456789abcdef")
    assert status == 200 and "bani_active_streams" in body
