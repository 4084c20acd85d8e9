"""The reader's actions: ``schema``, ``table-stats`` and ``health``.

Each handler takes the parsed request proto and returns the reply proto; the
table in :func:`reader_actions` is what ``list_actions`` shows and what
``do_action`` dispatches on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.empty_pb2 import Empty
from pyarrow import flight

from bani.domain.schema import DatabaseSchema
from bani.logging import bind
from bani.reader.chunking import check_filter
from bani.reader.streams import table_schema
from bani.service.actions import ActionSpec
from bani.verify import table_stats
from bani.wire import (
    SchemaRequest,
    SchemaResult,
    TableStatsRequest,
    TableStatsResult,
)
from bani.wire.codec import database_schema_to_proto, table_ref, table_stats_to_proto
from bani.wire.errors import InvalidRequest
from bani.wire.protocol import ACTION_HEALTH, ACTION_SCHEMA, ACTION_TABLE_STATS

if TYPE_CHECKING:
    from bani.reader.server import ReaderServer

__all__ = ["reader_actions"]


def reader_actions(server: ReaderServer) -> list[ActionSpec]:
    """The reader's action table, bound to ``server``."""

    def schema(context: flight.ServerCallContext, request: SchemaRequest) -> SchemaResult:
        server.check_count("max_plan_tables", len(request.tables), "tables")
        with server.plan_slot():
            whole = server.catalog.refresh()
            if request.tables:
                tables = tuple(
                    server.catalog.table(ref.schema, ref.table) for ref in request.tables
                )
                whole = DatabaseSchema(
                    tables=tables, source_dialect=whole.source_dialect, enum_types=whole.enum_types
                )
            return SchemaResult(schema=database_schema_to_proto(whole))

    def stats(context: flight.ServerCallContext, request: TableStatsRequest) -> TableStatsResult:
        server.check_count(
            "max_plan_columns", len(request.columns), "columns", request.table.table or None
        )
        table = server.catalog.table(request.table.schema, request.table.table)
        bind(schema=table.schema_name, table=table.table_name)
        filter_sql = None
        if request.HasField("filter_sql"):
            if not server.settings.enable_filters:
                raise InvalidRequest(
                    "this reader does not accept filters (start it with --enable-filters)",
                    setting="--enable-filters",
                    table=table.table_name,
                )
            filter_sql = check_filter(request.filter_sql, server.source.dialect, table)
        schema = table_schema(table, list(request.columns))
        source = server.source_for(filter_sql)
        batches = source.read_chunk(
            table.table_name,
            table.schema_name,
            columns=list(schema.names),
            filter_sql=filter_sql,
            batch_size=server.settings.batch_rows,
        )
        result = table_stats(server.checked(batches, context), schema)
        return TableStatsResult(
            table=table_ref(table.schema_name, table.table_name),
            stats=table_stats_to_proto(result),
        )

    def health(context: flight.ServerCallContext, request: Empty) -> object:
        return server.health_result(context)

    return [
        ActionSpec(ACTION_SCHEMA, "describe the source's tables and enum types (SchemaRequest "
                   "-> SchemaResult)", SchemaRequest, schema),
        ActionSpec(ACTION_TABLE_STATS, "exact row count and order-independent checksum of a "
                   "table (TableStatsRequest -> TableStatsResult)", TableStatsRequest, stats),
        ActionSpec(ACTION_HEALTH, "version, security and database readiness (-> HealthResult)",
                   Empty, health),  # type: ignore[arg-type]
    ]
