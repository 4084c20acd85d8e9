"""Wire tests: a reader and a writer as real processes, over TLS with tokens.

A plain pyarrow.flight client does what the bani-flight client will: list the
tables, pull every chunk of a 500,000-row table in parallel and put each into
the writer, then compare ``table-stats`` of both sides.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyarrow import flight

from bani.errors import AuthFailed
from bani.wire import CreateTablesRequest, IfExists, PutAck, SchemaRequest, SchemaResult
from bani.wire.codec import decode, table_ref
from bani.wire.errors import from_flight_error
from tests._certs import CLIENT_CN
from tests.services._harness import (
    Security,
    action,
    chunks,
    connect,
    copy_chunk,
    flight_info,
    health_status,
    options,
    stats,
    wait_for,
)
from tests.services.conftest import BIG_ROWS, StartService

pytestmark = pytest.mark.slow


def _create_tables(
    writer: flight.FlightClient, reader: flight.FlightClient, token: str, *names: str
) -> None:
    request = SchemaRequest(tables=[table_ref("main", n) for n in names])
    schema = decode(SchemaResult, action(reader, "schema", request.SerializeToString(), token),
                    "schema").schema
    create = CreateTablesRequest(tables=list(schema.tables), if_exists=IfExists.IF_EXISTS_DROP)
    action(writer, "create-tables", create.SerializeToString(), token)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_parallel_transfer_of_500k_rows(
    start_service: StartService, security: Security, big_source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    reader_proc = start_service(
        "reader", "--source", f"sqlite:///{big_source}", "--chunk-rows", "100000",
        "--batch-rows", "20000", *security.service_args(),
    )  # fmt: skip
    writer_proc = start_service("writer", "--target", f"sqlite:///{target}",
                                *security.service_args())
    reader = connect(reader_proc.location, security)
    writer = connect(writer_proc.location, security)
    token = security.token

    listed = {tuple(p.decode() for p in info.descriptor.path): info
              for info in reader.list_flights(options=options(token))}
    assert set(listed) == {("main", "big")}
    assert listed[("main", "big")].schema.names == ["id", "k", "label", "amount", "price"]

    _create_tables(writer, reader, token, "big")
    info = flight_info(reader, token, "big")
    planned = chunks(info)
    assert len(planned) == 5
    assert info.total_records == BIG_ROWS
    assert len({c.chunk_id for _, c in planned}) == 5

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        acks = list(pool.map(
            lambda chunk: copy_chunk(reader, writer, token, "run-big", "big", info.schema,
                                     chunk[0], chunk[1]),
            planned,
        ))
    seconds = time.monotonic() - started
    assert all(ack.status == PutAck.COMMITTED for ack in acks)
    assert sum(ack.rows for ack in acks) == BIG_ROWS
    print(f"500k rows in {seconds:.1f} s ({BIG_ROWS / seconds:,.0f} rows/s)")

    source_rows = _rows(big_source, "SELECT * FROM big ORDER BY id")
    target_rows = _rows(target, "SELECT * FROM big ORDER BY id")
    assert target_rows == source_rows

    assert stats(reader, token, "big") == stats(writer, token, "big", info.schema)
    assert stats(reader, token, "big")[0] == BIG_ROWS
    markers = _rows(target, "SELECT count(*), sum(rows) FROM _bani_flight_chunks "
                            "WHERE run_id = 'run-big'")
    assert markers == [(5, BIG_ROWS)]


def test_checksum_detects_changes(
    start_service: StartService, security: Security, small_source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    reader_proc = start_service("reader", "--source", f"sqlite:///{small_source}",
                                *security.service_args())
    writer_proc = start_service("writer", "--target", f"sqlite:///{target}",
                                *security.service_args())
    reader = connect(reader_proc.location, security)
    writer = connect(writer_proc.location, security)
    token = security.token
    _create_tables(writer, reader, token, "items", "pairs")
    schemas = {}
    for table in ("items", "pairs"):
        info = flight_info(reader, token, table)
        schemas[table] = info.schema
        for endpoint, chunk in chunks(info):
            copy_chunk(reader, writer, token, "run-sum", table, info.schema, endpoint, chunk)

    def agree(table: str) -> bool:
        return stats(reader, token, table) == stats(writer, token, table, schemas[table])

    assert agree("items") and agree("pairs"), "equal data must give equal checksums"

    cases = [
        ("items", "UPDATE items SET price = price + 0.01 WHERE id = 17",
         "UPDATE items SET price = price - 0.01 WHERE id = 17"),
        ("items",
         "UPDATE items SET name = CASE id WHEN 5 THEN 'item 6 ü' ELSE 'item 5 ü' END "
         "WHERE id IN (5, 6)",
         "UPDATE items SET name = CASE id WHEN 5 THEN 'item 5 ü' ELSE 'item 6 ü' END "
         "WHERE id IN (5, 6)"),
        ("items", "UPDATE items SET note = '' WHERE id = 7",
         "UPDATE items SET note = NULL WHERE id = 7"),
        ("pairs", "UPDATE pairs SET a = 'a', b = 'bc' WHERE id = 1",
         "UPDATE pairs SET a = 'ab', b = 'c' WHERE id = 1"),
    ]
    for table, change, undo in cases:
        with sqlite3.connect(target) as conn:
            conn.execute(change)
        assert stats(reader, token, table)[0] == stats(writer, token, table, schemas[table])[0]
        assert not agree(table), f"checksum missed: {change}"
        with sqlite3.connect(target) as conn:
            conn.execute(undo)
        assert agree(table), f"checksum differs after undoing: {change}"


def test_auth_is_required(
    start_service: StartService, security: Security, small_source: Path
) -> None:
    reader_proc = start_service("reader", "--source", f"sqlite:///{small_source}",
                                *security.service_args())
    client = connect(reader_proc.location, security)
    assert action(client, "health", b"", security.token)  # the right token works

    for token in (None, "not-the-token-but-long-enough", security.token + "x"):
        with pytest.raises(flight.FlightUnauthenticatedError) as caught:
            list(client.list_flights(options=options(token)))
        error = from_flight_error(caught.value)
        assert isinstance(error, AuthFailed)
        assert "Traceback" not in str(caught.value)

    for rogue in (False, True):  # no client certificate / one from another CA
        stranger = connect(reader_proc.location, security, client_cert=rogue, rogue=rogue)
        with pytest.raises(flight.FlightUnavailableError):
            stranger.do_action(flight.Action("health", b""),
                               options(security.token, timeout=10)).__next__()

    logs = reader_proc.logs()
    assert security.token not in logs
    assert CLIENT_CN in logs  # the client certificate's identity is logged


def test_health_follows_the_database(
    start_service: StartService, security: Security, small_source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    writer_proc = start_service("writer", "--target", f"sqlite:///{target}",
                                "--readiness-interval", "0.2", *security.service_args())
    port = writer_proc.health_port
    assert health_status(port, "") == "SERVING"
    assert health_status(port, "bani.writer") == "SERVING"

    target.unlink()
    wait_for(lambda: health_status(port, "bani.writer") == "NOT_SERVING", 10,
             "readiness to go NOT_SERVING after the target file is removed")
    assert health_status(port, "") == "SERVING"

    writer = connect(writer_proc.location, security)
    health = action(writer, "health", b"", security.token)
    assert b"bani.flight.v1" in health  # the Flight port still answers
    writer_proc.stop()
