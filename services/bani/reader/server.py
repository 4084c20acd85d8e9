"""The reader: an Arrow Flight server in front of a source database.

* ``list_flights``: one ``FlightInfo`` per table (path ``[schema, table]``,
  the Arrow schema with ``bani.*`` metadata, estimated rows).
* ``get_flight_info``: one endpoint per chunk, each with a signed ticket and a
  ``ChunkInfo`` in its ``app_metadata``.  A table with a single integer
  primary key is cut into key ranges; a request may name the ranges itself
  (a resumed run); other tables are one chunk.
* ``get_schema``: the Arrow schema of a table.
* ``do_get``: redeems a ticket and streams its chunk (bounded batches, IPC
  compression, cancellation checked between batches).
* ``do_action``: see :mod:`bani.reader.actions`.

Planning is bounded: a request naming more key ranges, tables or columns than
``--max-plan-ranges`` / ``--max-plan-tables`` / ``--max-plan-columns`` is
refused before any work, the reader never plans more than
``--max-plan-ranges`` chunks for a table (a huge table gets larger chunks),
and at most ``--max-concurrent-plans`` plan requests (``get_flight_info``,
``list_flights``, the ``schema`` action) run at once; others wait up to
``--pool-wait-timeout`` and then get a transient ``busy`` error.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar, Final

import pyarrow as pa
from pyarrow import flight

from bani.connectors.base import SinkConnector, SourceConnector
from bani.connectors.registry import ConnectorRegistry
from bani.domain.chunks import KeyRange
from bani.domain.schema import TableDefinition
from bani.errors import ConfigurationError, TransientReadFailed
from bani.logging import bind, carry_context_iter, get_logger
from bani.reader._tickets import ChunkGrant, TicketSigner
from bani.reader.actions import reader_actions
from bani.reader.chunking import (
    check_filter,
    check_key_ranges,
    chunk_id_for,
    integer_key,
    plan_key_ranges,
)
from bani.reader.streams import SchemaCatalog, chunk_batches, key_bounds, table_schema
from bani.service.actions import ActionSpec
from bani.service.auth import MIDDLEWARE_KEY, CallState, TokenSet
from bani.service.errors import flight_boundary, guard_stream
from bani.service.lifecycle import RunningService, start_service
from bani.service.runtime import ServiceRuntime
from bani.service.server import BaniFlightServer, with_pool_wait
from bani.service.settings import ServiceSettings, setting
from bani.wire import ChunkInfo, HealthResult, ReadRequest
from bani.wire.codec import decode, key_range_from_proto, key_range_to_proto, table_ref
from bani.wire.errors import InvalidRequest, ServiceBusy

__all__ = ["ReaderServer", "ReaderService"]

log = get_logger("bani.reader")

#: Default seconds a do_get waits for a free database connection before answering
#: "busy" (the service uses its --pool-wait-timeout).
STREAM_SLOT_WAIT: Final = 30.0
#: Option asking a connector for a statement timeout (honoured where the dialect has one).
STATEMENT_TIMEOUT_OPTION: Final = "statement_timeout_ms"


def _open_source(
    settings: ServiceSettings, options: dict[str, str] | None = None
) -> SourceConnector:
    config = with_pool_wait(settings.connection_config(), settings.pool_wait_timeout)
    if options:
        config = dataclasses.replace(config, options={**config.options, **options})
    cls = ConnectorRegistry.get(config.dialect)
    if not issubclass(cls, SourceConnector):
        raise ConfigurationError(
            f"the {config.dialect} connector cannot read (it is not a SourceConnector)",
            connector=config.dialect,
            setting="--source",
        )
    source = cls()
    source.connect(config, pool_size=settings.pool_size)
    return source


class ReaderServer(BaniFlightServer):
    """The reader's Flight server (see the module docstring)."""

    service_name: ClassVar[str] = "reader"

    def __init__(
        self, settings: ServiceSettings, runtime: ServiceRuntime, tokens: TokenSet | None
    ) -> None:
        self.signer = TicketSigner.from_reference(settings.ticket_secret, settings.ticket_ttl)
        self.source = _open_source(settings)
        self.filtered_source: SourceConnector | None = None
        try:
            if settings.enable_filters:
                timeout_ms = str(int(settings.filter_timeout * 1000))
                self.filtered_source = _open_source(
                    settings, {STATEMENT_TIMEOUT_OPTION: timeout_ms, "read_only": "true"}
                )
            self.catalog = SchemaCatalog(self.source)
            self._slots = threading.BoundedSemaphore(settings.pool_size)
            self._plans = threading.BoundedSemaphore(settings.max_concurrent_plans)
            # use_threads=False: compressing on Arrow's thread pool while the
            # GeneratorStream holds the GIL deadlocks under parallel streams;
            # each stream already has its own gRPC thread.
            self._ipc_options = pa.ipc.IpcWriteOptions(
                compression=None if settings.compression == "none" else settings.compression,
                use_threads=False,
            )
            super().__init__(settings, runtime, tokens)
        except BaseException:
            self.close()
            raise

    # -- service hooks -------------------------------------------------------------------

    def action_specs(self) -> Sequence[ActionSpec]:
        return reader_actions(self)

    def database(self) -> SourceConnector | SinkConnector:
        return self.source

    def close(self) -> None:
        for source in (self.source, self.filtered_source):
            if source is not None:
                try:
                    source.disconnect()
                except Exception as exc:
                    log.warning("disconnect_failed", error=str(exc))
        super().close()

    def database_description(self) -> tuple[str, str]:
        config = self.settings.connection_config()
        return config.dialect, config.describe()

    def health_result(self, context: flight.ServerCallContext) -> HealthResult:
        result = super().health_result(context)
        result.filters_enabled = self.settings.enable_filters
        return result

    # -- request limits (cheap checks, before any work) ---------------------------------------

    @contextmanager
    def plan_slot(self) -> Iterator[None]:
        """One of the ``--max-concurrent-plans`` slots for the block, or ServiceBusy."""
        wait = self.settings.pool_wait_timeout
        if not self._plans.acquire(timeout=wait):
            raise ServiceBusy(
                f"the reader is already answering {self.settings.max_concurrent_plans} plan "
                f"requests ({setting('max_concurrent_plans').where()}) and none finished "
                f"within {wait:g} s; retry later",
                setting="--max-concurrent-plans",
            )
        try:
            yield
        finally:
            self._plans.release()

    def check_count(self, name: str, count: int, what: str, table: str | None = None) -> None:
        """Refuse ``count`` items of a request over the cap setting ``name``."""
        cap = int(getattr(self.settings, name))
        if count > cap:
            row = setting(name)
            raise InvalidRequest(
                f"the request names {count} {what}; this reader accepts at most {cap} "
                f"per request ({row.where()})",
                setting=row.flag,
                table=table,
            )

    def check_read_request(self, request: ReadRequest) -> None:
        """Key ranges and columns of a ReadRequest within their caps."""
        table = request.table.table or None
        where = f" of {request.table.schema}.{request.table.table}" if table else ""
        self.check_count("max_plan_ranges", len(request.key_ranges), "key ranges" + where, table)
        self.check_count("max_plan_columns", len(request.columns), "columns" + where, table)

    # -- helpers used by the actions ---------------------------------------------------------

    def source_for(self, filter_sql: str | None) -> SourceConnector:
        """The connection for a read: the statement-timeout one when a filter runs."""
        if filter_sql is not None and self.filtered_source is not None:
            return self.filtered_source
        return self.source

    def checked(
        self, batches: Iterable[pa.RecordBatch], context: flight.ServerCallContext
    ) -> Iterator[pa.RecordBatch]:
        """``batches`` with the cancellation check between them."""
        for batch in batches:
            self.runtime.check(context, "table-stats")
            yield batch

    def _request(self, descriptor: flight.FlightDescriptor) -> ReadRequest:
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            path = [p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p)
                    for p in descriptor.path]
            if len(path) == 1:
                path = ["", path[0]]
            if len(path) != 2:
                raise InvalidRequest(
                    f"a path descriptor is [schema, table], not {len(path)} parts"
                )
            return ReadRequest(table=table_ref(path[0], path[1]))
        return decode(ReadRequest, descriptor.command, "the get_flight_info descriptor command")

    def _filter(self, request: ReadRequest, table: TableDefinition) -> str | None:
        if not request.HasField("filter_sql"):
            return None
        if not self.settings.enable_filters:
            raise InvalidRequest(
                "this reader does not accept filters (start it with --enable-filters)",
                setting="--enable-filters",
                table=table.table_name,
            )
        return check_filter(request.filter_sql, self.source.dialect, table)

    def _chunks(
        self, request: ReadRequest, table: TableDefinition, filter_sql: str | None
    ) -> tuple[list[KeyRange | None], int]:
        """The chunk ranges of a request and the total row count (-1 if unknown)."""
        key = integer_key(table)
        if request.key_ranges:
            ranges = [key_range_from_proto(r) for r in request.key_ranges]
            checked: list[KeyRange | None] = list(
                check_key_ranges(ranges, key, table.table_name)
            )
            return checked, -1
        if key is None:
            estimate = table.row_count_estimate
            return [None], estimate if estimate is not None else -1
        bounds = key_bounds(self.source_for(filter_sql), table, key, filter_sql)
        if bounds.minimum is None or bounds.maximum is None:
            return [KeyRange(key)], bounds.rows
        chunk_rows = int(request.chunk_rows) or self.settings.chunk_rows
        # Never more than --max-plan-ranges chunks: a huge table gets larger ones.
        cap = self.settings.max_plan_ranges
        chunk_rows = max(chunk_rows, -(-max(bounds.rows, 0) // cap))
        planned: list[KeyRange | None] = list(
            plan_key_ranges(key, bounds.minimum, bounds.maximum, bounds.rows, chunk_rows)
        )
        return planned, bounds.rows

    # -- RPCs --------------------------------------------------------------------------------

    @flight_boundary("list_flights")
    def list_flights(
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        with self.plan_slot():
            tables = self.catalog.refresh().tables
        infos = []
        for table in tables:
            estimate = table.row_count_estimate
            infos.append(
                flight.FlightInfo(
                    table_schema(table, []),
                    flight.FlightDescriptor.for_path(table.schema_name, table.table_name),
                    [],
                    estimate if estimate is not None else -1,
                    -1,
                )
            )
        return iter(infos)

    @flight_boundary("get_schema")
    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        request = self._request(descriptor)
        self.check_read_request(request)
        table = self.catalog.table(request.table.schema, request.table.table)
        return flight.SchemaResult(table_schema(table, list(request.columns)))

    @flight_boundary("get_flight_info")
    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        request = self._request(descriptor)
        self.check_read_request(request)
        with self.plan_slot():
            return self._flight_info(context, descriptor, request)

    def _flight_info(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        request: ReadRequest,
    ) -> flight.FlightInfo:
        table = self.catalog.table(request.table.schema, request.table.table)
        bind(schema=table.schema_name, table=table.table_name)
        schema = table_schema(table, list(request.columns))
        filter_sql = self._filter(request, table)
        batch_rows = min(int(request.batch_rows) or self.settings.batch_rows,
                         self.settings.batch_rows)
        ranges, total = self._chunks(request, table, filter_sql)
        per_chunk = total // len(ranges) if total >= 0 else -1
        locations = [self.settings.advertise_uri] if self.settings.advertise_uri else []
        endpoints = []
        for key_range in ranges:
            chunk_id = chunk_id_for(table.schema_name, table.table_name, key_range)
            grant = ChunkGrant(
                schema=table.schema_name,
                table=table.table_name,
                chunk_id=chunk_id,
                columns=tuple(schema.names) if request.columns else (),
                key_range=key_range,
                filter_sql=filter_sql,
                batch_rows=batch_rows,
            )
            ticket, expires_ms = self.signer.issue(grant)
            info = ChunkInfo(
                chunk_id=chunk_id,
                table=table_ref(table.schema_name, table.table_name),
                estimated_rows=per_chunk,
            )
            if key_range is not None:
                info.key_range.CopyFrom(key_range_to_proto(key_range))
            endpoints.append(
                flight.FlightEndpoint(
                    ticket,
                    locations,
                    expiration_time=pa.scalar(expires_ms, pa.timestamp("ms", tz="UTC")),
                    app_metadata=info.SerializeToString(),
                )
            )
        state: CallState | None = context.get_middleware(MIDDLEWARE_KEY)
        if state is not None:
            state.note(schema=table.schema_name, table=table.table_name, chunks=len(endpoints))
        return flight.FlightInfo(schema, descriptor, endpoints, total, -1)

    @flight_boundary("do_get")
    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        grant = self.signer.redeem(ticket.ticket)
        bind(schema=grant.schema, table=grant.table, chunk_id=grant.chunk_id)
        state: CallState | None = context.get_middleware(MIDDLEWARE_KEY)
        if state is not None:
            state.note(schema=grant.schema, table=grant.table, chunk_id=grant.chunk_id)
        table = self.catalog.table(grant.schema, grant.table)
        schema = table_schema(table, list(grant.columns))
        if not self._slots.acquire(timeout=self.settings.pool_wait_timeout):
            raise TransientReadFailed(
                f"all {self.settings.pool_size} source connections are busy; retry the chunk",
                table=grant.table,
                chunk_id=grant.chunk_id,
            )
        try:
            batches = chunk_batches(
                self.source_for(grant.filter_sql),
                grant,
                schema,
                batch_rows=grant.batch_rows or self.settings.batch_rows,
                batch_bytes=self.settings.batch_bytes,
                runtime=self.runtime,
                context=context,
                state=state,
            )
            stream = carry_context_iter(
                self._release_after(guard_stream(batches, state, self.service_name))
            )
        except BaseException:
            self._slots.release()
            raise
        return flight.GeneratorStream(schema, stream, options=self._ipc_options)

    def _release_after(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        finally:
            self._slots.release()


class ReaderService:
    """Start a reader in this process: ``ReaderService.start(settings) -> RunningService``."""

    @staticmethod
    def start(settings: ServiceSettings) -> RunningService:
        """Start a reader (settings.service must be "reader"); see :class:`RunningService`."""
        if settings.service != "reader":
            settings = settings.replace(service="reader")
        return start_service(ReaderServer, settings)
