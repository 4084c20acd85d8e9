"""bani.logging: one JSON pipeline for structlog and stdlib, per-call context, no secrets.

Most tests read what a pod would emit: the JSON lines written to the stream
``configure`` was given, parsed back into dicts.
"""

from __future__ import annotations

import io
import json
import logging as std_logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
import structlog
from pyarrow import flight

from bani import logging as bani_logging
from bani.domain.project import Secret
from bani.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = std_logging.getLogger()
    handlers, level = list(root.handlers), root.level
    grpc_level = std_logging.getLogger("grpc").level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    std_logging.getLogger("grpc").setLevel(grpc_level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def out() -> io.StringIO:
    stream = io.StringIO()
    bani_logging.configure("json", "debug", stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def event(stream: io.StringIO, name: str) -> dict[str, Any]:
    found = [e for e in lines(stream) if e["event"] == name]
    assert len(found) == 1, f"{name!r} logged {len(found)} times in {stream.getvalue()!r}"
    return found[0]


# -- the pipeline -----------------------------------------------------------------------


def test_events_are_json_lines_with_level_time_logger_and_fields(out: io.StringIO) -> None:
    bani_logging.get_logger("bani.reader").info("rpc_finished", method="do_get", rows=10)
    e = event(out, "rpc_finished")
    assert e["level"] == "info"
    assert e["logger"] == "bani.reader"
    assert e["method"] == "do_get"
    assert e["rows"] == 10
    assert e["timestamp"].endswith("Z")


def test_stdlib_loggers_go_through_the_same_pipeline(out: io.StringIO) -> None:
    bani_logging.new_call_context(request_id="req-7")
    std_logging.getLogger("grpc").warning("channel %s closed", "c1")
    std_logging.getLogger("psycopg").error("connection lost", extra={"host": "db1"})
    grpc_event = event(out, "channel c1 closed")
    assert grpc_event["logger"] == "grpc"
    assert grpc_event["level"] == "warning"
    assert grpc_event["request_id"] == "req-7"
    assert event(out, "connection lost")["host"] == "db1"


def test_level_filters_structlog_and_stdlib_alike() -> None:
    stream = io.StringIO()
    bani_logging.configure("json", "warning", stream=stream)
    log = bani_logging.get_logger("bani.test")
    log.info("hidden")
    std_logging.getLogger("grpc").info("hidden too")
    log.warning("shown")
    assert [e["event"] for e in lines(stream)] == ["shown"]


def test_configuring_again_replaces_the_handler_instead_of_adding_one() -> None:
    first, second = io.StringIO(), io.StringIO()
    bani_logging.configure("json", "info", stream=first)
    bani_logging.configure("json", "info", stream=second)
    bani_logging.get_logger().info("once")
    assert first.getvalue() == ""
    assert [e["event"] for e in lines(second)] == ["once"]


def test_unknown_level_or_format_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        bani_logging.configure("json", "loud")
    assert info.value.context.setting == "log_level"
    with pytest.raises(ConfigurationError) as info:
        bani_logging.configure("xml", "info")  # type: ignore[arg-type]
    assert info.value.context.setting == "log_format"


def test_console_format_is_human_text_without_locals_or_secrets() -> None:
    stream = io.StringIO()
    bani_logging.configure("console", "info", stream=stream)

    def fail() -> None:
        password = "console-local-pw"
        raise RuntimeError(f"cannot reach postgresql://u:{password}@db/x")

    try:
        fail()
    except RuntimeError:
        bani_logging.get_logger().exception("connect_failed", dsn="postgresql://u:pw@h/d")
    text = stream.getvalue()
    assert "connect_failed" in text
    assert "RuntimeError" in text
    assert "console-local-pw" not in text
    assert "postgresql://u:***@db/x" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


# -- secrets ------------------------------------------------------------------------------


def test_frame_locals_never_reach_a_rendered_traceback(out: io.StringIO) -> None:
    def connect(host: str) -> None:
        password = "hunter2-in-a-local"
        assert password
        raise ConnectionError(f"connection to {host} refused")

    try:
        connect("db.internal")
    except ConnectionError:
        bani_logging.get_logger().exception("connect_failed")
        # structlog's stock transformer would have shown it: the check is not vacuous
        exc = sys.exc_info()[1]
        assert exc is not None
        stock = structlog.tracebacks.ExceptionDictTransformer()((type(exc), exc, exc.__traceback__))
        assert "hunter2-in-a-local" in json.dumps(stock, default=str)
    output = out.getvalue()
    assert "hunter2-in-a-local" not in output
    e = event(out, "connect_failed")
    (exc,) = e["exception"]
    assert exc["exc_type"] == "ConnectionError"
    assert exc["exc_value"] == "connection to db.internal refused"
    assert any(frame["name"] == "connect" for frame in exc["frames"])
    assert all("locals" not in frame for frame in exc["frames"])


def test_stdlib_exceptions_are_rendered_without_locals_too(out: io.StringIO) -> None:
    def handler() -> None:
        token = "stdlib-local-token"
        assert token
        raise ValueError("bad frame")

    try:
        handler()
    except ValueError:
        std_logging.getLogger("grpc").exception("callback failed")
    assert "stdlib-local-token" not in out.getvalue()
    assert event(out, "callback failed")["exception"][0]["exc_type"] == "ValueError"


def test_a_dsn_password_in_any_value_is_masked(out: io.StringIO) -> None:
    log = bani_logging.get_logger()
    log.info(
        "connecting",
        target="postgresql://bani:s3cr3t-pw@db:5432/app?sslmode=require",
        dsn="mysql://root:dsn-pw@127.0.0.1/test",
        note="retrying mysql://u:inline-pw@h/db after failure",
        options={"conninfo": "host=db password=kv-pw user=x", "password": "nested-pw"},
        headers=[("authorization", "Bearer tok-123456")],
        token_file="/var/run/secrets/bani/token",
        secret=Secret("wrapped-pw"),
    )
    raw = out.getvalue()
    for leaked in (
        "s3cr3t-pw",
        "dsn-pw",
        "inline-pw",
        "kv-pw",
        "nested-pw",
        "tok-123456",
        "wrapped-pw",
    ):
        assert leaked not in raw, leaked
    e = event(out, "connecting")
    assert e["target"] == "postgresql://bani:***@db:5432/app?sslmode=require"
    assert e["dsn"] == "***"
    assert e["note"] == "retrying mysql://u:***@h/db after failure"
    assert e["options"] == {"conninfo": "host=db password=*** user=x", "password": "***"}
    assert e["headers"] == [["authorization", "Bearer ***"]]
    assert e["token_file"] == "/var/run/secrets/bani/token"  # where a secret lives is fine
    assert e["secret"] == "***"


def test_secrets_in_exception_messages_are_masked(out: io.StringIO) -> None:
    try:
        raise RuntimeError("could not connect to postgresql://admin:exc-pw@10.0.0.5/db")
    except RuntimeError:
        bani_logging.get_logger().exception("connect_failed")
    assert "exc-pw" not in out.getvalue()
    exc = event(out, "connect_failed")["exception"][0]
    assert exc["exc_value"] == "could not connect to postgresql://admin:***@10.0.0.5/db"


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("password", True),
        ("db_password", True),
        ("x-auth-token", True),
        ("authorization", True),
        ("source_dsn", True),
        ("ticket_secret", True),
        ("token_file", False),
        ("password_env", False),
        ("table", False),
        ("tokenizer", False),
    ],
)
def test_secret_key_names(key: str, masked: bool) -> None:
    result = bani_logging.redact_secrets(None, "info", {"event": "e", key: "value-1"})
    assert (result[key] == bani_logging.REDACTED) is masked


# -- context ------------------------------------------------------------------------------


def test_new_call_context_drops_the_previous_calls_fields(out: io.StringIO) -> None:
    log = bani_logging.get_logger()
    bani_logging.new_call_context(request_id="r1", table="orders")
    log.info("first")
    bani_logging.new_call_context(request_id="r2")
    bani_logging.bind(chunk_id="c9")
    log.info("second")
    first, second = event(out, "first"), event(out, "second")
    assert (first["request_id"], first["table"]) == ("r1", "orders")
    assert second["request_id"] == "r2"
    assert second["chunk_id"] == "c9"
    assert "table" not in second


def test_carry_context_takes_the_context_into_a_worker_thread(out: io.StringIO) -> None:
    log = bani_logging.get_logger()
    bani_logging.new_call_context(request_id="req-thread", peer="ipv4:127.0.0.1:5000")

    def work(n: int) -> int:
        log.info("worker_ran", n=n)
        return n * 2

    results: list[int] = []
    in_context = bani_logging.carry_context(work)  # captured here, in the call's thread
    carried = threading.Thread(target=lambda: results.append(in_context(3)))
    carried.start()
    carried.join()
    plain = threading.Thread(target=work, args=(4,))
    plain.start()
    plain.join()
    assert results == [6]
    by_n = {e["n"]: e for e in lines(out) if e["event"] == "worker_ran"}
    assert by_n[3]["request_id"] == "req-thread"
    assert by_n[3]["peer"] == "ipv4:127.0.0.1:5000"
    assert "request_id" not in by_n[4]  # without carry_context the thread has no context


def test_carried_function_can_run_in_several_threads_at_once(out: io.StringIO) -> None:
    bani_logging.new_call_context(request_id="fan-out")
    barrier = threading.Barrier(3)

    def work(n: int) -> None:
        bani_logging.bind(chunk_id=f"chunk-{n}")
        barrier.wait(timeout=10)
        bani_logging.get_logger().info("chunk_done", n=n)

    carried = bani_logging.carry_context(work)
    threads = [threading.Thread(target=carried, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [e for e in lines(out) if e["event"] == "chunk_done"]
    assert sorted((e["n"], e["chunk_id"], e["request_id"]) for e in done) == [
        (n, f"chunk-{n}", "fan-out") for n in range(3)
    ]
    assert "chunk_id" not in bani_logging.current_context()  # nothing leaked back


def test_carry_context_iter_runs_each_item_in_the_calls_context(out: io.StringIO) -> None:
    log = bani_logging.get_logger()
    closed = threading.Event()

    def batches() -> Iterator[int]:
        bani_logging.bind(chunk_id="c-42")  # bound once, kept for later items
        try:
            for i in range(3):
                log.info("batch_sent", i=i)
                yield i
        finally:
            log.info("stream_closed")
            closed.set()

    bani_logging.new_call_context(request_id="req-stream", table="orders")
    stream = bani_logging.carry_context_iter(batches())
    bani_logging.new_call_context(request_id="another-call")  # the handler thread moves on

    seen: list[int] = []

    def drain() -> None:  # like pyarrow pulling a GeneratorStream on its own thread
        seen.append(next(stream))
        seen.append(next(stream))
        stream.close()  # type: ignore[attr-defined]

    consumer = threading.Thread(target=drain)
    consumer.start()
    consumer.join()
    assert seen == [0, 1]
    assert closed.is_set()
    sent = [e for e in lines(out) if e["event"] == "batch_sent"]
    assert [e["i"] for e in sent] == [0, 1]
    for e in [*sent, event(out, "stream_closed")]:
        assert e["request_id"] == "req-stream"
        assert e["table"] == "orders"
        assert e["chunk_id"] == "c-42"


def test_capture_logs_sees_the_bound_context() -> None:
    bani_logging.configure("json", "info", stream=io.StringIO())
    bani_logging.new_call_context(request_id="cap")
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as captured:
        bani_logging.get_logger().info("captured_event", rows=1)
    assert captured == [
        {"event": "captured_event", "rows": 1, "request_id": "cap", "log_level": "info"}
    ]


class CountingServer(flight.FlightServerBase):  # type: ignore[misc]
    """``do_get`` streams three batches from a generator that logs each one."""

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> object:
        bani_logging.new_call_context(request_id=ticket.ticket.decode())
        log = bani_logging.get_logger("bani.test.stream")

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for i in range(3):
                    log.info("batch_sent", i=i)
                    yield pa.record_batch({"i": pa.array([i], pa.int64())})
            finally:
                log.info("stream_closed")

        schema = pa.schema([("i", pa.int64())])
        return flight.GeneratorStream(schema, bani_logging.carry_context_iter(batches()))


def test_a_flight_generator_stream_logs_with_its_calls_context(out: io.StringIO) -> None:
    server = CountingServer("grpc://127.0.0.1:0")
    try:
        with flight.connect(f"grpc://127.0.0.1:{server.port}") as client:
            for request_id in ("req-a", "req-b"):
                table = client.do_get(flight.Ticket(request_id.encode())).read_all()
                assert table.num_rows == 3
    finally:
        server.shutdown()
    events = [e for e in lines(out) if e["logger"] == "bani.test.stream"]
    assert [(e["event"], e["request_id"]) for e in events] == [
        *[("batch_sent", "req-a")] * 3,
        ("stream_closed", "req-a"),
        *[("batch_sent", "req-b")] * 3,
        ("stream_closed", "req-b"),
    ]


def test_redact_text_masks_the_same_secrets() -> None:
    text = "dial postgresql://app:pw1@db/x with Authorization: Bearer abc.def and password=pw2"
    assert bani_logging.redact_text(text) == (
        "dial postgresql://app:***@db/x with Authorization: Bearer *** and password=***"
    )
