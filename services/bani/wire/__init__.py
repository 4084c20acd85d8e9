"""The wire contract of bani-flight: protobuf messages and their codecs.

``proto/bani/flight/v1`` defines every message that crosses the Flight wire;
``bani.wire._generated`` holds the modules generated from it (never edited by
hand; see :mod:`bani.wire.regenerate`).  This package is the front door:

* the generated message classes, re-exported here under their proto names;
* :mod:`bani.wire.codec`: proto messages <-> ``bani.domain`` dataclasses;
* :mod:`bani.wire.errors`: ``BaniError`` <-> ``ErrorDetail`` <-> typed
  ``FlightError``, for servers and clients alike;
* :mod:`bani.wire.protocol`: action names, header names and the helpers a
  client needs to speak the put protocol.

Services and clients import from here, never from ``_generated``.
"""

from bani.wire._generated.common_pb2 import (
    ErrorContext,
    ErrorDetail,
    HealthResult,
    KeyRange,
    TableRef,
    TableStats,
    TableStatsRequest,
    TableStatsResult,
)
from bani.wire._generated.reader_pb2 import (
    ChunkInfo,
    ReadRequest,
    SchemaRequest,
    SchemaResult,
    SignedTicket,
    TicketBody,
)
from bani.wire._generated.schema_pb2 import (
    CheckConstraint,
    ColumnDefinition,
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.wire._generated.writer_pb2 import (
    BeginRunRequest,
    BeginRunResult,
    ChunksDoneRequest,
    ChunksDoneResult,
    ColumnIssue,
    CommittedChunk,
    CreateForeignKeysRequest,
    CreateTablesRequest,
    CreateTablesResult,
    DoneResult,
    IfExists,
    PlannedChunk,
    PlannedTable,
    PlanTablesRequest,
    PlanTablesResult,
    PutAck,
    PutCommit,
    RunPlan,
    TableOutcome,
    TablePlan,
    TablesRequest,
    WriteDescriptor,
)

WIRE_VERSION = "bani.flight.v1"

__all__ = [
    "WIRE_VERSION",
    "BeginRunRequest",
    "BeginRunResult",
    "CheckConstraint",
    "ChunkInfo",
    "ChunksDoneRequest",
    "ChunksDoneResult",
    "ColumnDefinition",
    "ColumnIssue",
    "CommittedChunk",
    "CreateForeignKeysRequest",
    "CreateTablesRequest",
    "CreateTablesResult",
    "DatabaseSchema",
    "DoneResult",
    "EnumTypeDefinition",
    "ErrorContext",
    "ErrorDetail",
    "ForeignKeyDefinition",
    "HealthResult",
    "IfExists",
    "IndexDefinition",
    "KeyRange",
    "PlanTablesRequest",
    "PlanTablesResult",
    "PlannedChunk",
    "PlannedTable",
    "PutAck",
    "PutCommit",
    "ReadRequest",
    "RunPlan",
    "SchemaRequest",
    "SchemaResult",
    "SignedTicket",
    "TableDefinition",
    "TableOutcome",
    "TablePlan",
    "TableRef",
    "TableStats",
    "TableStatsRequest",
    "TableStatsResult",
    "TablesRequest",
    "TicketBody",
    "WriteDescriptor",
]
