"""Bad input against running services: each gets a typed error or the exactly-once outcome.

One reader and one writer serve the whole module, so every test also shows
that the services keep serving after the bad calls before it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import flight

from bani.domain.schema import TableDefinition
from bani.errors import BaniError, SchemaMismatch, TableNotFound
from bani.wire import (
    ChunksDoneRequest,
    ChunksDoneResult,
    CreateTablesRequest,
    IfExists,
    PutAck,
    SchemaRequest,
    SchemaResult,
)
from bani.wire.codec import decode, table_from_proto, table_ref, table_to_proto
from bani.wire.errors import (
    ChunkNotConfirmed,
    InvalidRequest,
    InvalidTicket,
    SchemaNotAllowed,
    TicketExpired,
    from_flight_error,
)
from tests.services._harness import (
    Security,
    ServiceProcess,
    action,
    chunks,
    connect,
    flight_info,
    options,
    put_batches,
    stream,
    wait_for,
)
from tests.services.conftest import StartService

pytestmark = pytest.mark.slow


@dataclasses.dataclass
class Services:
    reader: ServiceProcess
    writer: ServiceProcess
    reader_client: flight.FlightClient
    writer_client: flight.FlightClient
    target: Path
    items: TableDefinition
    token: str
    security: Security

    def serving(self) -> bool:
        """Both services still answer a normal call."""
        action(self.reader_client, "health", b"", self.token)
        action(self.writer_client, "health", b"", self.token)
        return True

    def make_table(self, name: str) -> TableDefinition:
        table = dataclasses.replace(self.items, table_name=name, indexes=(), foreign_keys=())
        request = CreateTablesRequest(tables=[table_to_proto(table)],
                                      if_exists=IfExists.IF_EXISTS_DROP)
        action(self.writer_client, "create-tables", request.SerializeToString(), self.token)
        return table

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.target) as conn:
            return conn.execute(sql).fetchall()

    def markers(self, run_id: str) -> list[tuple[str, int]]:
        reply = action(self.writer_client, "chunks-done",
                       ChunksDoneRequest(run_id=run_id).SerializeToString(), self.token)
        result = decode(ChunksDoneResult, reply, "chunks-done")
        return [(c.chunk_id, c.rows) for c in result.chunks]


@pytest.fixture(scope="module")
def services(
    start_service: StartService, security: Security, small_source: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Services:
    target = tmp_path_factory.mktemp("bad-input") / "target.db"
    secret = f"${{file:{security.ticket_secret_file}}}"
    reader = start_service("reader", "--source", f"sqlite:///{small_source}",
                           "--ticket-secret", secret, "--chunk-rows", "1000",
                           *security.service_args())
    writer = start_service("writer", "--target", f"sqlite:///{target}",
                           *security.service_args())
    reader_client = connect(reader.location, security)
    writer_client = connect(writer.location, security)
    reply = action(reader_client, "schema",
                   SchemaRequest(tables=[table_ref("main", "items")]).SerializeToString(),
                   security.token)
    items = table_from_proto(decode(SchemaResult, reply, "schema").schema.tables[0])
    return Services(reader, writer, reader_client, writer_client, target, items,
                    security.token, security)


def _error(exc: BaseException) -> BaniError:
    assert isinstance(exc, flight.FlightError), exc
    assert "Traceback" not in str(exc)
    return from_flight_error(exc)


def _item_batches(items: TableDefinition, start: int, count: int, per_batch: int = 100
                  ) -> Iterator[pa.RecordBatch]:
    from bani.domain.arrow_fields import arrow_schema_for_table

    schema = arrow_schema_for_table(items)
    for offset in range(start, start + count, per_batch):
        ids = list(range(offset, min(offset + per_batch, start + count)))
        yield pa.record_batch(
            [
                pa.array(ids, pa.int64()),
                pa.array([f"new {i}" for i in ids]),
                pa.array([None] * len(ids), schema.field("price").type),
                pa.array([None] * len(ids), pa.string()),
                pa.array([None] * len(ids), schema.field("made").type),
            ],
            schema=schema,
        )


def _schema(items: TableDefinition) -> pa.Schema:
    from bani.domain.arrow_fields import arrow_schema_for_table

    return arrow_schema_for_table(items)


# -- tickets ---------------------------------------------------------------------


def test_garbage_and_altered_tickets_are_refused(services: Services) -> None:
    token = services.token
    info = flight_info(services.reader_client, token, "items")
    ticket = info.endpoints[0].ticket.ticket
    altered = bytearray(ticket)
    altered[len(altered) // 2] ^= 0x01
    for raw in (b"\x00garbage\xff" * 3, bytes(altered), ticket[:-1] + bytes([ticket[-1] ^ 1])):
        with pytest.raises(flight.FlightServerError) as caught:
            services.reader_client.do_get(flight.Ticket(raw), options(token)).read_all()
        assert isinstance(_error(caught.value), InvalidTicket)
    # the genuine ticket still works
    table = services.reader_client.do_get(flight.Ticket(ticket), options(token)).read_all()
    assert table.num_rows == 1000
    assert services.serving()


def test_tickets_of_another_secret_or_expired_are_refused(
    services: Services, start_service: StartService, small_source: Path
) -> None:
    security = services.security
    other = start_service("reader", "--source", f"sqlite:///{small_source}",
                          "--ticket-ttl", "0.5", *security.service_args())
    other_client = connect(other.location, security)
    foreign = flight_info(other_client, services.token, "items").endpoints[0].ticket
    with pytest.raises(flight.FlightServerError) as caught:
        services.reader_client.do_get(foreign, options(services.token)).read_all()
    assert isinstance(_error(caught.value), InvalidTicket)

    time.sleep(0.8)
    with pytest.raises(flight.FlightServerError) as caught:
        other_client.do_get(foreign, options(services.token)).read_all()
    error = _error(caught.value)
    assert isinstance(error, TicketExpired)
    assert error.context.table == "items"
    other.stop()
    assert services.serving()


# -- tables and schemas ----------------------------------------------------------


def test_unknown_table_is_named_with_what_exists(services: Services) -> None:
    with pytest.raises(flight.FlightServerError) as caught:
        flight_info(services.reader_client, services.token, "itemz")
    error = _error(caught.value)
    assert isinstance(error, TableNotFound)
    assert error.context.table == "itemz"
    assert "items" in error.message and "did you mean 'items'" in error.message

    with pytest.raises(flight.FlightServerError) as caught:
        put_batches(services.writer_client, services.token, "run-x", "nowhere", "c1",
                    _schema(services.items), _item_batches(services.items, 1, 10))
    error = _error(caught.value)
    assert isinstance(error, TableNotFound)
    assert error.context.table == "nowhere"
    assert services.serving()


def test_schema_mismatched_put_names_the_columns(services: Services) -> None:
    services.make_table("items_mismatch")
    renamed = pa.schema([pa.field("id", pa.int64()), pa.field("title", pa.string())])
    batch = pa.record_batch([pa.array([1, 2]), pa.array(["a", "b"])], schema=renamed)
    with pytest.raises(flight.FlightServerError) as caught:
        put_batches(services.writer_client, services.token, "run-mm", "items_mismatch", "c1",
                    renamed, [batch])
    error = _error(caught.value)
    assert isinstance(error, SchemaMismatch)
    assert error.context.column == "title"
    assert "'title'" in error.message and "'name'" in error.message  # name is NOT NULL

    wrong_type = pa.schema([pa.field("id", pa.string()), pa.field("name", pa.string())])
    batch = pa.record_batch([pa.array(["x"]), pa.array(["a"])], schema=wrong_type)
    with pytest.raises(flight.FlightServerError) as caught:
        put_batches(services.writer_client, services.token, "run-mm", "items_mismatch", "c2",
                    wrong_type, [batch])
    error = _error(caught.value)
    assert isinstance(error, SchemaMismatch)
    assert error.context.column == "id"
    assert services.rows('SELECT count(*) FROM "items_mismatch"') == [(0,)]
    assert services.markers("run-mm") == []
    assert services.serving()


def test_disallowed_schema_is_refused_before_anything_runs(services: Services) -> None:
    with pytest.raises(flight.FlightUnauthorizedError) as caught:
        put_batches(services.writer_client, services.token, "run-s", "items", "c1",
                    _schema(services.items), _item_batches(services.items, 1, 10),
                    target_schema="temp")
    error = _error(caught.value)
    assert isinstance(error, SchemaNotAllowed)
    assert error.context.schema == "temp"

    elsewhere = dataclasses.replace(services.items, schema_name="temp", table_name="evil")
    request = CreateTablesRequest(tables=[table_to_proto(elsewhere)],
                                  if_exists=IfExists.IF_EXISTS_DROP)
    with pytest.raises(flight.FlightUnauthorizedError):
        action(services.writer_client, "create-tables", request.SerializeToString(),
               services.token)
    assert services.rows("SELECT name FROM sqlite_master WHERE name = 'evil'") == []
    assert services.serving()


def test_malformed_requests_are_invalid_arguments(services: Services) -> None:
    token = services.token
    for name, body in (("create-tables", b"\xff\xfe not a proto"), ("no-such-action", b"")):
        with pytest.raises(flight.FlightServerError) as caught:
            action(services.writer_client, name, body, token)
        assert isinstance(_error(caught.value), InvalidRequest)
    with pytest.raises(flight.FlightServerError) as caught:
        services.writer_client.do_put(
            flight.FlightDescriptor.for_command(b"\x08\xff\xff"), _schema(services.items),
            options(token),
        )[1].read()
    assert isinstance(_error(caught.value), InvalidRequest)
    with pytest.raises(flight.FlightServerError) as caught:
        list(services.writer_client.list_flights(options=options(token)))
    assert isinstance(_error(caught.value), InvalidRequest)
    assert services.serving()


# -- the put protocol --------------------------------------------------------------


def test_same_chunk_twice_is_written_once(services: Services) -> None:
    services.make_table("items_dup")
    schema = _schema(services.items)
    first = put_batches(services.writer_client, services.token, "run-dup", "items_dup", "c1",
                        schema, _item_batches(services.items, 1, 500))
    second = put_batches(services.writer_client, services.token, "run-dup", "items_dup", "c1",
                         schema, _item_batches(services.items, 1, 500))
    assert first is not None and first.status == PutAck.COMMITTED and first.rows == 500
    assert second is not None and second.status == PutAck.ALREADY_COMMITTED
    assert second.rows == 500
    assert services.rows('SELECT count(*), count(DISTINCT id) FROM "items_dup"') == [(500, 500)]
    assert services.markers("run-dup") == [("c1", 500)]


def test_put_ending_without_commit_is_rolled_back(services: Services) -> None:
    services.make_table("items_nocommit")
    schema = _schema(services.items)
    with pytest.raises(flight.FlightUnavailableError) as caught:
        put_batches(services.writer_client, services.token, "run-nc", "items_nocommit", "c1",
                    schema, _item_batches(services.items, 1, 300), commit=False)
    error = _error(caught.value)
    assert isinstance(error, ChunkNotConfirmed) and error.retryable
    with pytest.raises(flight.FlightUnavailableError) as caught:
        put_batches(services.writer_client, services.token, "run-nc", "items_nocommit", "c1",
                    schema, _item_batches(services.items, 1, 300), commit_rows=299)
    assert isinstance(_error(caught.value), ChunkNotConfirmed)
    assert services.rows('SELECT count(*) FROM "items_nocommit"') == [(0,)]
    assert services.markers("run-nc") == []

    ack = put_batches(services.writer_client, services.token, "run-nc", "items_nocommit", "c1",
                      schema, _item_batches(services.items, 1, 300))
    assert ack is not None and ack.status == PutAck.COMMITTED
    assert services.rows('SELECT count(*) FROM "items_nocommit"') == [(300,)]


_KILLED_CLIENT = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from pyarrow import flight
    from bani.domain.arrow_fields import arrow_schema_for_table
    from bani.wire.codec import decode, table_from_proto
    from bani.wire import TableDefinition
    from bani.wire.protocol import bearer_headers, write_descriptor

    location, ca, cert, key, token, table_bytes = sys.argv[1:7]
    client = flight.connect(location, tls_root_certs=open(ca, "rb").read(),
                            cert_chain=open(cert, "rb").read(),
                            private_key=open(key, "rb").read())
    table = table_from_proto(decode(TableDefinition, bytes.fromhex(table_bytes), "table"))
    schema = arrow_schema_for_table(table)
    writer, _ = client.do_put(write_descriptor("run-kill", "main", table.table_name, "c1"),
                              schema, flight.FlightCallOptions(headers=bearer_headers(token)))
    for start in range(1, 1001, 100):
        ids = list(range(start, start + 100))
        writer.write_batch(pa.record_batch(
            [pa.array(ids, pa.int64()), pa.array([f"k{i}" for i in ids]),
             pa.nulls(100, schema.field("price").type), pa.nulls(100, pa.string()),
             pa.nulls(100, schema.field("made").type)], schema=schema))
    print("sent", flush=True)
    time.sleep(600)
    """
)


def test_client_killed_mid_put_leaves_nothing(services: Services) -> None:
    table = services.make_table("items_killed")
    pki = services.security.pki
    client = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CLIENT, services.writer.location, str(pki.ca_cert),
         str(pki.client_cert), str(pki.client_key), services.token,
         table_to_proto(table).SerializeToString().hex()],
        stdout=subprocess.PIPE,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == b"sent"
        client.kill()
        client.wait(10)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
        if client.stdout is not None:
            client.stdout.close()
    def rolled_back() -> bool:
        return any(
            event.get("event") == "rpc_finished"
            and event.get("table") == "items_killed"
            and event.get("status") in ("chunk_not_confirmed", "cancelled")
            for event in services.writer.events()
        )

    wait_for(rolled_back, 15, "the writer to roll back the killed put")
    assert services.rows('SELECT count(*) FROM "items_killed"') == [(0,)]
    assert services.markers("run-kill") == []
    ack = put_batches(services.writer_client, services.token, "run-kill", "items_killed", "c1",
                      _schema(services.items), _item_batches(services.items, 1, 1000))
    assert ack is not None and ack.status == PutAck.COMMITTED and ack.rows == 1000
    assert services.rows('SELECT count(*) FROM "items_killed"') == [(1000,)]
    assert services.serving()


def test_explicit_key_ranges_are_validated_and_served(services: Services) -> None:
    from bani.wire import KeyRange

    token = services.token
    info = flight_info(services.reader_client, token, "items",
                       key_ranges=[KeyRange(column="id", lower=10, upper=20),
                                   KeyRange(column="id", lower=20)])
    planned = chunks(info)
    assert [c.chunk_id for _, c in planned] == ["main.items:id[10,20)", "main.items:id[20,)"]
    first = pa.Table.from_batches(list(stream(services.reader_client, token, planned[0][0])))
    assert first.column("id").to_pylist() == list(range(10, 20))
    with pytest.raises(flight.FlightServerError) as caught:
        flight_info(services.reader_client, token, "items",
                    key_ranges=[KeyRange(column="id", lower=1, upper=50),
                                KeyRange(column="id", lower=40, upper=60)])
    assert isinstance(_error(caught.value), InvalidRequest)
    with pytest.raises(flight.FlightServerError) as caught:
        flight_info(services.reader_client, token, "items", filter_sql="id < 5")
    assert isinstance(_error(caught.value), InvalidRequest)
    assert services.serving()
