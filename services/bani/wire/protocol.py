"""Names and small helpers of the bani.flight.v1 protocol, for servers and clients.

The put protocol (one chunk per ``do_put``):

1. The client opens ``do_put`` with :func:`write_descriptor` (run id, target
   schema and table, chunk id) and the stream's Arrow schema.
2. It writes the chunk's record batches.
3. After the last batch it sends :func:`put_commit` (rows and batches it sent)
   as app metadata, alone (``write_metadata``) or on the last batch
   (``write_with_metadata``), then ``done_writing()``.
4. The writer commits the chunk (rows and marker in one transaction) only if
   the commit's row count equals what it received, and answers with one
   ``PutAck`` on the metadata stream (:func:`parse_put_ack`).  A stream that
   ends without the commit, with another count, or breaks, is rolled back and
   answered with an error.  A chunk already committed in that run is drained,
   not written, and acknowledged as ``ALREADY_COMMITTED``.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa
from pyarrow import flight

from bani.wire._generated import common_pb2, reader_pb2, writer_pb2
from bani.wire.codec import decode
from bani.wire.errors import InvalidRequest

__all__ = [
    "ACTION_BEGIN_RUN",
    "ACTION_CHUNKS_DONE",
    "ACTION_CREATE_FOREIGN_KEYS",
    "ACTION_CREATE_INDEXES",
    "ACTION_CREATE_TABLES",
    "ACTION_FINALIZE",
    "ACTION_HEALTH",
    "ACTION_PLAN_TABLES",
    "ACTION_SCHEMA",
    "ACTION_TABLE_STATS",
    "AUTHORIZATION_HEADER",
    "REQUEST_ID_HEADER",
    "bearer_headers",
    "chunk_info",
    "parse_put_ack",
    "put_commit",
    "read_descriptor",
    "write_descriptor",
]

AUTHORIZATION_HEADER: Final = "authorization"
REQUEST_ID_HEADER: Final = "x-request-id"

ACTION_SCHEMA: Final = "schema"
ACTION_TABLE_STATS: Final = "table-stats"
ACTION_HEALTH: Final = "health"
ACTION_PLAN_TABLES: Final = "plan-tables"
ACTION_BEGIN_RUN: Final = "begin-run"
ACTION_CREATE_TABLES: Final = "create-tables"
ACTION_CREATE_INDEXES: Final = "create-indexes"
ACTION_CREATE_FOREIGN_KEYS: Final = "create-foreign-keys"
ACTION_FINALIZE: Final = "finalize"
ACTION_CHUNKS_DONE: Final = "chunks-done"

DESCRIPTOR_VERSION: Final = 1


def bearer_headers(token: str, request_id: str | None = None) -> list[tuple[bytes, bytes]]:
    """Call headers carrying a bearer token (and optionally a request id)."""
    headers = [(AUTHORIZATION_HEADER.encode(), f"Bearer {token}".encode())]
    if request_id:
        headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
    return headers


def read_descriptor(request: reader_pb2.ReadRequest) -> flight.FlightDescriptor:
    """The descriptor for the reader's ``get_flight_info``."""
    return flight.FlightDescriptor.for_command(request.SerializeToString())


def write_descriptor(
    run_id: str, schema: str, table: str, chunk_id: str
) -> flight.FlightDescriptor:
    """The descriptor of one chunk's ``do_put`` into ``schema.table`` on the writer."""
    message = writer_pb2.WriteDescriptor(
        version=DESCRIPTOR_VERSION,
        run_id=run_id,
        target=common_pb2.TableRef(schema=schema, table=table),
        chunk_id=chunk_id,
    )
    return flight.FlightDescriptor.for_command(message.SerializeToString())


def put_commit(rows: int, batches: int) -> pa.Buffer:
    """The final put metadata confirming ``rows`` rows in ``batches`` batches."""
    return pa.py_buffer(writer_pb2.PutCommit(rows=rows, batches=batches).SerializeToString())


def parse_put_ack(buffer: pa.Buffer | bytes | None) -> writer_pb2.PutAck:
    """The writer's acknowledgement; an InvalidRequest if the buffer is missing or garbage."""
    ack = decode(writer_pb2.PutAck, buffer if buffer is not None else b"", "put acknowledgement")
    if ack.status == writer_pb2.PutAck.STATUS_UNSPECIFIED:
        raise InvalidRequest("the writer's put acknowledgement is missing or empty")
    return ack


def chunk_info(endpoint: flight.FlightEndpoint) -> reader_pb2.ChunkInfo:
    """What an endpoint's ticket redeems (the reader puts it in ``app_metadata``)."""
    return decode(reader_pb2.ChunkInfo, endpoint.app_metadata, "endpoint app_metadata")
