"""Typed calls to the reader and the writer over the ``bani.flight.v1`` contract.

:class:`ReaderClient` and :class:`WriterClient` turn each action of the
services into one method taking and returning :mod:`bani.domain` values (the
proto messages stay inside this module and :mod:`bani.wire`).  Every Flight
failure leaves here as a :class:`~bani.errors.BaniError` -- the same class the
service raised, rebuilt from the ``ErrorDetail`` in ``extra_info`` by
:func:`bani.wire.errors.from_flight_error` -- with the service's role and URI
in front of the message, on one line.  A service that cannot be reached is a
:class:`~bani.errors.ConnectionFailed` (transient).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Final, TypeVar

import pyarrow as pa
from google.protobuf.message import Message
from pyarrow import flight

from bani import wire
from bani.domain.chunks import CommittedChunk, KeyRange
from bani.domain.plans import TablePlan
from bani.domain.schema import (
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    TableDefinition,
)
from bani.errors import BaniError, ConnectionFailed
from bani.verify import TableStats
from bani.wire import codec, protocol
from bani.wire.errors import InvalidRequest, from_flight_error
from bani_flight.config import IfExists
from bani_flight.connection import ServiceConnection

__all__ = [
    "HealthInfo",
    "ReadChunk",
    "ReaderClient",
    "ServiceClient",
    "WriterClient",
    "remote_error",
]

M = TypeVar("M", bound=Message)

#: Short calls (health, schema, plan): long enough for a slow catalog, short for a hang.
SHORT_TIMEOUT: Final = 60.0
_IF_EXISTS: Final = {
    "fail": wire.IfExists.IF_EXISTS_FAIL,
    "drop": wire.IfExists.IF_EXISTS_DROP,
    "truncate": wire.IfExists.IF_EXISTS_TRUNCATE,
    "append": wire.IfExists.IF_EXISTS_APPEND,
}
_WHITESPACE = re.compile(r"\s+")


def _one_line(text: str, limit: int = 600) -> str:
    flat = _WHITESPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[:limit] + " …"


def _unreachable_reason(text: str) -> str:
    """The useful part of gRPC's long 'failed to connect' text."""
    for needle in ("Connection refused", "Name or service not known", "No route to host",
                   "Deadline Exceeded", "Connection reset", "Socket closed",
                   "handshake failed", "certificate verify failed", "Broken pipe"):
        if needle.lower() in text.lower():
            return needle.lower()
    return _one_line(text, 200)


def remote_error(exc: flight.FlightError, conn: ServiceConnection) -> BaniError:
    """The typed error for a failed call to ``conn``'s service, on one line."""
    error = from_flight_error(exc)
    prefix = conn.label
    if not getattr(error, "request_id", "") and isinstance(
        exc, flight.FlightUnavailableError | flight.FlightTimedOutError
    ):
        # No ErrorDetail: the service itself never answered.
        rebuilt: BaniError = ConnectionFailed(
            f"cannot reach {prefix}: {_unreachable_reason(str(exc))}",
            error.context,
        )
        return rebuilt.with_context(setting=conn.role)
    error.message = _one_line(f"{prefix}: {error.message}")
    error.args = (str(error),)
    return error


@contextmanager
def _calling(conn: ServiceConnection) -> Iterator[None]:
    try:
        yield
    except flight.FlightError as exc:
        raise remote_error(exc, conn) from None
    except pa.ArrowException as exc:  # a transport failure pyarrow did not classify
        raise ConnectionFailed(
            _one_line(f"{conn.label} failed: {exc}"), setting=conn.role
        ) from None


@dataclass(frozen=True)
class HealthInfo:
    """What ``health`` reports about one service (``ping``)."""

    service: str
    version: str
    wire_version: str
    ready: bool
    dialect: str
    tls: bool
    mutual_tls: bool
    auth: bool
    client_identity: str
    filters_enabled: bool
    allowed_schemas: tuple[str, ...]
    default_schema: str
    database: str


@dataclass(frozen=True)
class ReadChunk:
    """One endpoint of the reader's ``get_flight_info``: a chunk and the ticket to redeem it."""

    chunk_id: str
    key_range: KeyRange | None
    estimated_rows: int | None
    ticket: flight.Ticket
    locations: tuple[str, ...] = ()


class ServiceClient:
    """What both services answer: ``health`` and ``table-stats``."""

    def __init__(self, conn: ServiceConnection, timeout: float = SHORT_TIMEOUT) -> None:
        self.conn = conn
        self.timeout = timeout

    @property
    def uri(self) -> str:
        return self.conn.uri

    def close(self) -> None:
        self.conn.close()

    def calling(self) -> AbstractContextManager[None]:
        """A context that turns Flight failures of a stream into this service's typed errors."""
        return _calling(self.conn)

    def _action(
        self, name: str, request: Message | None, result_type: type[M], timeout: float | None
    ) -> M:
        body = request.SerializeToString() if request is not None else b""
        with _calling(self.conn):
            results = list(
                self.conn.client.do_action(
                    flight.Action(name, body), options=self.conn.options(timeout)
                )
            )
        if not results:
            raise InvalidRequest(f"{self.conn.label} answered {name} with no result")
        return codec.decode(result_type, results[0].body, f"result of {name}")

    def health(self, timeout: float | None = None) -> HealthInfo:
        result = self._action(
            protocol.ACTION_HEALTH, None, wire.HealthResult, timeout or self.timeout
        )
        return HealthInfo(
            service=result.service,
            version=result.version,
            wire_version=result.wire_version,
            ready=result.ready,
            dialect=result.dialect,
            tls=result.tls,
            mutual_tls=result.mutual_tls,
            auth=result.auth,
            client_identity=result.client_identity,
            filters_enabled=result.filters_enabled,
            allowed_schemas=tuple(result.allowed_schemas),
            default_schema=result.default_schema,
            database=result.database,
        )

    def _table_stats(self, request: wire.TableStatsRequest) -> TableStats:
        result = self._action(
            protocol.ACTION_TABLE_STATS, request, wire.TableStatsResult, None
        )
        return codec.table_stats_from_proto(result.stats)


class ReaderClient(ServiceClient):
    """The reader: schema, chunk plans with signed tickets, streams, stats."""

    def schema(self, tables: Sequence[tuple[str, str]] = ()) -> DatabaseSchema:
        request = wire.SchemaRequest(tables=[codec.table_ref(s, t) for s, t in tables])
        result = self._action(
            protocol.ACTION_SCHEMA, request, wire.SchemaResult, self.timeout
        )
        return codec.database_schema_from_proto(result.schema)

    def chunks(
        self,
        schema_name: str,
        table_name: str,
        *,
        columns: Sequence[str] | None = None,
        filter_sql: str | None = None,
        key_ranges: Sequence[KeyRange] = (),
        batch_rows: int | None = None,
        chunk_rows: int | None = None,
    ) -> tuple[pa.Schema, list[ReadChunk]]:
        """The stream schema and one signed ticket per chunk of a table.

        With ``key_ranges`` the reader signs exactly those ranges (a resumed
        run); otherwise it splits the table itself.
        """
        request = wire.ReadRequest(
            table=codec.table_ref(schema_name, table_name),
            columns=list(columns or ()),
            key_ranges=[codec.key_range_to_proto(r) for r in key_ranges],
            batch_rows=batch_rows or 0,
            chunk_rows=chunk_rows or 0,
        )
        if filter_sql is not None:
            request.filter_sql = filter_sql
        with _calling(self.conn):
            info = self.conn.client.get_flight_info(
                protocol.read_descriptor(request), options=self.conn.options(self.timeout)
            )
        out: list[ReadChunk] = []
        for endpoint in info.endpoints:
            meta = protocol.chunk_info(endpoint)
            key_range = (
                codec.key_range_from_proto(meta.key_range) if meta.HasField("key_range") else None
            )
            out.append(
                ReadChunk(
                    chunk_id=meta.chunk_id,
                    key_range=key_range,
                    estimated_rows=meta.estimated_rows if meta.estimated_rows >= 0 else None,
                    ticket=endpoint.ticket,
                    locations=tuple(str(loc) for loc in endpoint.locations),
                )
            )
        return info.schema, out

    def open_chunk(self, ticket: flight.Ticket) -> flight.FlightStreamReader:
        """Start streaming a chunk (no timeout: a chunk may take minutes)."""
        with _calling(self.conn):
            return self.conn.client.do_get(ticket, options=self.conn.options(None))

    def table_stats(
        self,
        schema_name: str,
        table_name: str,
        columns: Sequence[str] | None = None,
        filter_sql: str | None = None,
    ) -> TableStats:
        request = wire.TableStatsRequest(
            table=codec.table_ref(schema_name, table_name), columns=list(columns or ())
        )
        if filter_sql is not None:
            request.filter_sql = filter_sql
        return self._table_stats(request)


class WriterClient(ServiceClient):
    """The writer: plans, the run, DDL, chunk puts, markers and stats."""

    def plan_tables(
        self, tables: Sequence[TableDefinition], enum_types: Sequence[EnumTypeDefinition] = ()
    ) -> list[TablePlan]:
        request = wire.PlanTablesRequest(
            tables=[codec.table_to_proto(t) for t in tables],
            enum_types=[codec.enum_type_to_proto(e) for e in enum_types],
        )
        result = self._action(
            protocol.ACTION_PLAN_TABLES, request, wire.PlanTablesResult, self.timeout
        )
        return [codec.table_plan_from_proto(p) for p in result.plans]

    def begin_run(
        self, run_id: str, plan: wire.RunPlan | None
    ) -> tuple[bool, wire.RunPlan]:
        """Store ``plan`` (or, without one, fetch the stored plan); returns (resumed, plan)."""
        request = wire.BeginRunRequest(run_id=run_id)
        if plan is not None:
            request.plan.CopyFrom(plan)
        result = self._action(
            protocol.ACTION_BEGIN_RUN, request, wire.BeginRunResult, self.timeout
        )
        return result.resumed, result.plan

    def create_tables(
        self,
        tables: Sequence[TableDefinition],
        enum_types: Sequence[EnumTypeDefinition],
        if_exists: IfExists,
        run_id: str,
    ) -> dict[tuple[str, str], str]:
        """Create the tables; returns what happened to each (``CREATED``, ``RESUMED`` ...)."""
        request = wire.CreateTablesRequest(
            tables=[codec.table_to_proto(t) for t in tables],
            enum_types=[codec.enum_type_to_proto(e) for e in enum_types],
            if_exists=_IF_EXISTS[if_exists],
            run_id=run_id,
        )
        result = self._action(
            protocol.ACTION_CREATE_TABLES, request, wire.CreateTablesResult, None
        )
        return {
            (o.table.schema, o.table.table): wire.TableOutcome.Action.Name(o.action)
            for o in result.tables
        }

    def create_indexes(self, tables: Sequence[TableDefinition]) -> int:
        request = wire.TablesRequest(tables=[codec.table_to_proto(t) for t in tables])
        return self._action(
            protocol.ACTION_CREATE_INDEXES, request, wire.DoneResult, None
        ).count

    def create_foreign_keys(self, fks: Sequence[ForeignKeyDefinition]) -> int:
        request = wire.CreateForeignKeysRequest(
            foreign_keys=[codec.foreign_key_to_proto(f) for f in fks]
        )
        return self._action(
            protocol.ACTION_CREATE_FOREIGN_KEYS, request, wire.DoneResult, None
        ).count

    def finalize(self, tables: Sequence[TableDefinition]) -> int:
        request = wire.TablesRequest(tables=[codec.table_to_proto(t) for t in tables])
        return self._action(protocol.ACTION_FINALIZE, request, wire.DoneResult, None).count

    def chunks_done(self, run_id: str) -> list[CommittedChunk]:
        request = wire.ChunksDoneRequest(run_id=run_id)
        result = self._action(
            protocol.ACTION_CHUNKS_DONE, request, wire.ChunksDoneResult, self.timeout
        )
        return [codec.committed_chunk_from_proto(c) for c in result.chunks]

    def table_stats(
        self,
        schema_name: str,
        table_name: str,
        source_schema: pa.Schema,
        columns: Sequence[str] | None = None,
    ) -> TableStats:
        request = wire.TableStatsRequest(
            table=codec.table_ref(schema_name, table_name),
            columns=list(columns or ()),
            arrow_schema=codec.arrow_schema_to_bytes(source_schema),
        )
        return self._table_stats(request)

    def open_put(
        self,
        run_id: str,
        schema_name: str,
        table_name: str,
        chunk_id: str,
        schema: pa.Schema,
        compression: str = "zstd",
    ) -> tuple[flight.FlightStreamWriter, flight.FlightMetadataReader]:
        """Start one chunk's ``do_put`` (no timeout: a chunk may take minutes).

        The batches are IPC-compressed on this thread (``use_threads=False``):
        the transfer already runs one thread per stream.
        """
        descriptor = protocol.write_descriptor(run_id, schema_name, table_name, chunk_id)
        write_options = pa.ipc.IpcWriteOptions(
            compression=None if compression == "none" else compression, use_threads=False
        )
        with _calling(self.conn):
            sink, acks = self.conn.client.do_put(
                descriptor, schema, options=self.conn.options(None, write_options)
            )
        return sink, acks

