"""A hostile peer: a plain pyarrow.flight client with a valid token, and what each call gave.

Every call returns an :class:`Outcome` instead of raising, so a test can send
hundreds of payloads and judge them together: accepted (with the reply), or
refused with the error's ``ErrorDetail`` code and text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf.message import Message
from pyarrow import flight

from bani.domain.schema import ForeignKeyDefinition, TableDefinition
from bani.wire import (
    ChunksDoneRequest,
    CreateForeignKeysRequest,
    CreateTablesRequest,
    IfExists,
    PlanTablesRequest,
    TablesRequest,
    TableStatsRequest,
    TableStatsResult,
)
from bani.wire._generated import schema_pb2
from bani.wire.codec import (
    arrow_schema_to_bytes,
    decode,
    foreign_key_to_proto,
    table_ref,
    table_to_proto,
)
from bani.wire.errors import from_flight_error
from bani.wire.protocol import (
    bearer_headers,
    parse_put_ack,
    put_commit,
    write_descriptor,
)

__all__ = ["Outcome", "Peer", "attempt"]

#: ErrorDetail codes that mean "the service did not know what happened".
UNTYPED = frozenset({"", "internal", "bani_error"})


@dataclass
class Outcome:
    """What one call gave: accepted with a reply, or refused."""

    accepted: bool
    code: str = ""
    text: str = ""
    flight_class: str = ""
    reply: Any = None

    @property
    def typed(self) -> bool:
        """Refused with a bani error code, no traceback, not an internal error."""
        return (
            not self.accepted
            and self.code not in UNTYPED
            and self.flight_class != "FlightInternalError"
            and "Traceback" not in self.text
        )

    def describe(self) -> str:
        if self.accepted:
            return "accepted"
        text = self.text.split(". Detail:", 1)[0]
        text = text if len(text) < 240 else text[:237] + "..."
        return f"{self.flight_class}[{self.code}]: {text}"


def attempt(call: Callable[[], Any]) -> Outcome:
    try:
        reply = call()
    except flight.FlightError as exc:
        error = from_flight_error(exc)
        return Outcome(False, error.code, str(exc), type(exc).__name__)
    except pa.ArrowException as exc:  # a broken stream surfaces as a plain Arrow error
        return Outcome(False, "", str(exc), type(exc).__name__)
    return Outcome(True, reply=reply)


class Peer:
    """The calls the suite sends, each as an :class:`Outcome`."""

    def __init__(self, client: flight.FlightClient, token: str, timeout: float = 120.0) -> None:
        self.client = client
        self.token = token
        self.timeout = timeout

    def options(self) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(headers=bearer_headers(self.token), timeout=self.timeout)

    def raw_action(self, name: str, body: bytes) -> bytes:
        results = list(self.client.do_action(flight.Action(name, body), self.options()))
        return bytes(results[0].body.to_pybytes()) if results else b""

    def action(self, name: str, message: Message | bytes) -> Outcome:
        body = message if isinstance(message, bytes) else message.SerializeToString()
        return attempt(lambda: self.raw_action(name, body))

    # -- writer actions ---------------------------------------------------------------

    def create_tables(
        self,
        tables: Sequence[schema_pb2.TableDefinition | TableDefinition],
        *,
        enum_types: Sequence[schema_pb2.EnumTypeDefinition] = (),
        policy: int = IfExists.IF_EXISTS_DROP,
        run_id: str = "",
    ) -> Outcome:
        request = CreateTablesRequest(
            tables=[_proto(t) for t in tables], enum_types=list(enum_types),
            if_exists=policy, run_id=run_id,
        )
        return self.action("create-tables", request)

    def plan_tables(
        self,
        tables: Sequence[schema_pb2.TableDefinition | TableDefinition],
        *,
        enum_types: Sequence[schema_pb2.EnumTypeDefinition] = (),
    ) -> Outcome:
        request = PlanTablesRequest(tables=[_proto(t) for t in tables],
                                    enum_types=list(enum_types))
        return self.action("plan-tables", request)

    def create_indexes(self, tables: Sequence[schema_pb2.TableDefinition | TableDefinition]
                       ) -> Outcome:
        return self.action("create-indexes", TablesRequest(tables=[_proto(t) for t in tables]))

    def finalize(self, tables: Sequence[schema_pb2.TableDefinition | TableDefinition]) -> Outcome:
        return self.action("finalize", TablesRequest(tables=[_proto(t) for t in tables]))

    def create_foreign_keys(
        self, fks: Sequence[schema_pb2.ForeignKeyDefinition | ForeignKeyDefinition]
    ) -> Outcome:
        protos = [f if isinstance(f, schema_pb2.ForeignKeyDefinition) else foreign_key_to_proto(f)
                  for f in fks]
        return self.action("create-foreign-keys", CreateForeignKeysRequest(foreign_keys=protos))

    def chunks_done(self, run_id: str) -> Outcome:
        return self.action("chunks-done", ChunksDoneRequest(run_id=run_id))

    def stats(self, schema: str, table: str, arrow_schema: pa.Schema | None = None,
              columns: Iterable[str] = ()) -> Outcome:
        request = TableStatsRequest(table=table_ref(schema, table), columns=list(columns))
        if arrow_schema is not None:
            request.arrow_schema = arrow_schema_to_bytes(arrow_schema)
        outcome = self.action("table-stats", request)
        if outcome.accepted:
            outcome.reply = decode(TableStatsResult, outcome.reply, "stats").stats
        return outcome

    def health(self) -> Outcome:
        return self.action("health", b"")

    def put(self, run_id: str, schema: str, table: str, chunk_id: str,
            batches: Sequence[pa.RecordBatch], arrow_schema: pa.Schema) -> Outcome:
        """One chunk, committed; the reply is the PutAck."""

        def call() -> Any:
            writer, ack_reader = self.client.do_put(
                write_descriptor(run_id, schema, table, chunk_id), arrow_schema, self.options()
            )
            try:
                rows = 0
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
                writer.write_metadata(put_commit(rows, len(batches)))
                writer.done_writing()
                buffer = ack_reader.read()
            except (flight.FlightError, pa.ArrowException, OSError):
                try:
                    writer.close()  # the server's own error, if it refused the put
                except flight.FlightError as refused:
                    raise refused from None
                raise
            writer.close()  # raises the server's error when it answered with one
            return parse_put_ack(buffer)

        return attempt(call)


def _proto(table: schema_pb2.TableDefinition | TableDefinition) -> schema_pb2.TableDefinition:
    return table if isinstance(table, schema_pb2.TableDefinition) else table_to_proto(table)
