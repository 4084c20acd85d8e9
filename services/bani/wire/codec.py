"""Proto messages <-> ``bani.domain`` dataclasses, and safe decoding of bytes.

The domain model is the one description every part of bani-flight uses; the
wire carries it as protobuf.  Each ``*_to_proto`` / ``*_from_proto`` pair here
is lossless for every field the domain holds (a test round-trips them).

Bytes that arrive from the network are untrusted: :func:`decode` parses them
with a size limit and turns any failure into
:class:`~bani.wire.errors.InvalidRequest` naming what was being decoded,
never a crash or a traceback.
"""

from __future__ import annotations

from typing import Final, TypeVar

import pyarrow as pa
from google.protobuf.message import DecodeError, Message

from bani.domain import chunks as domain_chunks
from bani.domain import schema as domain
from bani.domain.plans import ColumnIssue, TablePlan
from bani.errors import BaniError, ErrorContext
from bani.verify import TableStats
from bani.wire._generated import common_pb2, schema_pb2, writer_pb2
from bani.wire.errors import InvalidRequest

__all__ = [
    "MAX_MESSAGE_BYTES",
    "arrow_schema_from_bytes",
    "arrow_schema_to_bytes",
    "column_from_proto",
    "column_to_proto",
    "committed_chunk_from_proto",
    "committed_chunk_to_proto",
    "context_from_proto",
    "context_to_proto",
    "database_schema_from_proto",
    "database_schema_to_proto",
    "decode",
    "enum_type_from_proto",
    "enum_type_to_proto",
    "foreign_key_from_proto",
    "foreign_key_to_proto",
    "key_range_from_proto",
    "key_range_to_proto",
    "table_from_proto",
    "table_plan_from_proto",
    "table_plan_to_proto",
    "table_ref",
    "table_stats_from_proto",
    "table_stats_to_proto",
    "table_to_proto",
]

#: Upper bound for one encoded request, ticket or descriptor (a schema of many
#: thousands of tables still fits; anything bigger is refused before parsing).
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

M = TypeVar("M", bound=Message)


def decode(message_type: type[M], data: bytes | memoryview | pa.Buffer, what: str) -> M:
    """Parse untrusted bytes as ``message_type``; an :class:`InvalidRequest` if they are not one.

    ``what`` names the thing in the error (``"ticket"``, ``"action body of create-tables"``).
    """
    raw = data.to_pybytes() if isinstance(data, pa.Buffer) else bytes(data)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidRequest(f"{what} is {len(raw)} bytes, more than {MAX_MESSAGE_BYTES}")
    message = message_type()
    try:
        message.ParseFromString(raw)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InvalidRequest(
            f"{what} is not a valid {message_type.DESCRIPTOR.full_name}: {exc}"
        ) from None
    return message


def _opt(message: Message, name: str) -> object | None:
    return getattr(message, name) if message.HasField(name) else None


def _opt_str(message: Message, name: str) -> str | None:
    value = _opt(message, name)
    return str(value) if value is not None else None


def _opt_int(message: Message, name: str) -> int | None:
    value = _opt(message, name)
    return int(value) if isinstance(value, int) else None


# -- references, ranges, context -----------------------------------------------------


def table_ref(schema: str, table: str) -> common_pb2.TableRef:
    return common_pb2.TableRef(schema=schema, table=table)


def key_range_to_proto(key_range: domain_chunks.KeyRange) -> common_pb2.KeyRange:
    message = common_pb2.KeyRange(column=key_range.column)
    for side in ("lower", "upper"):
        value = getattr(key_range, side)
        if value is None:
            continue
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidRequest(
                f"key range bound {value} does not fit in 64 bits", column=key_range.column
            )
        setattr(message, side, value)
    return message


def key_range_from_proto(message: common_pb2.KeyRange) -> domain_chunks.KeyRange:
    """The domain range; bounds that make no range are an :class:`InvalidRequest`."""
    try:
        return domain_chunks.KeyRange(
            column=message.column,
            lower=_opt_int(message, "lower"),
            upper=_opt_int(message, "upper"),
        )
    except BaniError as exc:
        raise InvalidRequest(exc.message, exc.context) from None


_CONTEXT_FIELDS: Final = (
    "connector",
    "schema",
    "table",
    "column",
    "chunk_id",
    "setting",
    "sqlstate",
)


def context_to_proto(context: ErrorContext) -> common_pb2.ErrorContext:
    message = common_pb2.ErrorContext()
    for name in _CONTEXT_FIELDS:
        value = getattr(context, name)
        if value is not None:
            setattr(message, name, str(value))
    return message


def context_from_proto(message: common_pb2.ErrorContext) -> ErrorContext:
    return ErrorContext(**{name: _opt_str(message, name) for name in _CONTEXT_FIELDS})


# -- schema ----------------------------------------------------------------------------


def column_to_proto(column: domain.ColumnDefinition) -> schema_pb2.ColumnDefinition:
    message = schema_pb2.ColumnDefinition(
        name=column.name,
        data_type=column.data_type,
        arrow_type=column.arrow_type_str,
        nullable=column.nullable,
        is_identity=column.is_identity,
        ordinal_position=column.ordinal_position,
        unsigned=column.unsigned,
        enum_values=list(column.enum_values),
    )
    if column.default_value is not None:
        message.default_value = column.default_value
    if column.char_length is not None:
        message.char_length = column.char_length
    if column.numeric_precision is not None:
        message.numeric_precision = column.numeric_precision
    if column.numeric_scale is not None:
        message.numeric_scale = column.numeric_scale
    if column.timezone is not None:
        message.timezone = column.timezone
    return message


def column_from_proto(message: schema_pb2.ColumnDefinition) -> domain.ColumnDefinition:
    return domain.ColumnDefinition(
        name=message.name,
        data_type=message.data_type,
        arrow_type_str=message.arrow_type,
        nullable=message.nullable,
        default_value=_opt_str(message, "default_value"),
        is_identity=message.is_identity,
        ordinal_position=message.ordinal_position,
        char_length=_opt_int(message, "char_length"),
        numeric_precision=_opt_int(message, "numeric_precision"),
        numeric_scale=_opt_int(message, "numeric_scale"),
        unsigned=message.unsigned,
        enum_values=tuple(message.enum_values),
        timezone=_opt_str(message, "timezone"),
    )


def _index_to_proto(index: domain.IndexDefinition) -> schema_pb2.IndexDefinition:
    message = schema_pb2.IndexDefinition(
        name=index.name,
        columns=list(index.columns),
        is_unique=index.is_unique,
        prefix_lengths=[length or 0 for length in index.prefix_lengths],
    )
    if index.filter_predicate is not None:
        message.filter_predicate = index.filter_predicate
    if index.method is not None:
        message.method = index.method
    return message


def _index_from_proto(message: schema_pb2.IndexDefinition) -> domain.IndexDefinition:
    return domain.IndexDefinition(
        name=message.name,
        columns=tuple(message.columns),
        is_unique=message.is_unique,
        prefix_lengths=tuple(length or None for length in message.prefix_lengths),
        filter_predicate=_opt_str(message, "filter_predicate"),
        method=_opt_str(message, "method"),
    )


def foreign_key_to_proto(fk: domain.ForeignKeyDefinition) -> schema_pb2.ForeignKeyDefinition:
    return schema_pb2.ForeignKeyDefinition(
        name=fk.name,
        source_schema=fk.source_schema,
        source_table=fk.source_table,
        source_columns=list(fk.source_columns),
        referenced_schema=fk.referenced_schema,
        referenced_table=fk.referenced_table,
        referenced_columns=list(fk.referenced_columns),
        on_delete=fk.on_delete,
        on_update=fk.on_update,
    )


def foreign_key_from_proto(message: schema_pb2.ForeignKeyDefinition) -> domain.ForeignKeyDefinition:
    return domain.ForeignKeyDefinition(
        name=message.name,
        source_schema=message.source_schema,
        source_table=message.source_table,
        source_columns=tuple(message.source_columns),
        referenced_schema=message.referenced_schema,
        referenced_table=message.referenced_table,
        referenced_columns=tuple(message.referenced_columns),
        on_delete=message.on_delete or "NO ACTION",
        on_update=message.on_update or "NO ACTION",
    )


def enum_type_to_proto(enum: domain.EnumTypeDefinition) -> schema_pb2.EnumTypeDefinition:
    return schema_pb2.EnumTypeDefinition(
        schema_name=enum.schema_name, name=enum.name, labels=list(enum.labels)
    )


def enum_type_from_proto(message: schema_pb2.EnumTypeDefinition) -> domain.EnumTypeDefinition:
    return domain.EnumTypeDefinition(
        schema_name=message.schema_name, name=message.name, labels=tuple(message.labels)
    )


def table_to_proto(table: domain.TableDefinition) -> schema_pb2.TableDefinition:
    message = schema_pb2.TableDefinition(
        schema_name=table.schema_name,
        table_name=table.table_name,
        columns=[column_to_proto(c) for c in table.columns],
        primary_key=list(table.primary_key),
        indexes=[_index_to_proto(i) for i in table.indexes],
        foreign_keys=[foreign_key_to_proto(f) for f in table.foreign_keys],
        check_constraints=[
            schema_pb2.CheckConstraint(name=c.name, expression=c.expression)
            for c in table.check_constraints
        ],
        source_dialect=table.source_dialect,
    )
    if table.row_count_estimate is not None:
        message.row_count_estimate = table.row_count_estimate
    if table.identity_counter is not None:
        message.identity_counter = table.identity_counter
    return message


def table_from_proto(message: schema_pb2.TableDefinition) -> domain.TableDefinition:
    return domain.TableDefinition(
        schema_name=message.schema_name,
        table_name=message.table_name,
        columns=tuple(column_from_proto(c) for c in message.columns),
        primary_key=tuple(message.primary_key),
        indexes=tuple(_index_from_proto(i) for i in message.indexes),
        foreign_keys=tuple(foreign_key_from_proto(f) for f in message.foreign_keys),
        check_constraints=tuple(
            domain.CheckConstraint(name=c.name, expression=c.expression)
            for c in message.check_constraints
        ),
        row_count_estimate=_opt_int(message, "row_count_estimate"),
        identity_counter=_opt_int(message, "identity_counter"),
        source_dialect=message.source_dialect,
    )


def database_schema_to_proto(schema: domain.DatabaseSchema) -> schema_pb2.DatabaseSchema:
    return schema_pb2.DatabaseSchema(
        tables=[table_to_proto(t) for t in schema.tables],
        source_dialect=schema.source_dialect,
        enum_types=[enum_type_to_proto(e) for e in schema.enum_types],
    )


def database_schema_from_proto(message: schema_pb2.DatabaseSchema) -> domain.DatabaseSchema:
    return domain.DatabaseSchema(
        tables=tuple(table_from_proto(t) for t in message.tables),
        source_dialect=message.source_dialect,
        enum_types=tuple(enum_type_from_proto(e) for e in message.enum_types),
    )


# -- plans, chunks, stats ---------------------------------------------------------------


def table_plan_to_proto(plan: TablePlan) -> writer_pb2.TablePlan:
    return writer_pb2.TablePlan(
        table=table_ref(plan.schema_name, plan.table_name),
        statements=list(plan.statements),
        issues=[
            writer_pb2.ColumnIssue(column=i.column, kind=i.kind, reason=i.reason)
            for i in plan.issues
        ],
    )


_ISSUE_KINDS: Final = frozenset({"lossy", "refused", "default_dropped", "fallback"})


def table_plan_from_proto(message: writer_pb2.TablePlan) -> TablePlan:
    issues: list[ColumnIssue] = []
    for issue in message.issues:
        kind = issue.kind if issue.kind in _ISSUE_KINDS else "fallback"
        issues.append(ColumnIssue(column=issue.column, kind=kind, reason=issue.reason))  # type: ignore[arg-type]
    return TablePlan(
        schema_name=message.table.schema,
        table_name=message.table.table,
        statements=tuple(message.statements),
        issues=tuple(issues),
    )


def committed_chunk_to_proto(chunk: domain_chunks.CommittedChunk) -> writer_pb2.CommittedChunk:
    return writer_pb2.CommittedChunk(
        run_id=chunk.run_id,
        table=table_ref(chunk.schema_name, chunk.table_name),
        chunk_id=chunk.chunk_id,
        rows=chunk.rows,
    )


def committed_chunk_from_proto(message: writer_pb2.CommittedChunk) -> domain_chunks.CommittedChunk:
    return domain_chunks.CommittedChunk(
        run_id=message.run_id,
        schema_name=message.table.schema,
        table_name=message.table.table,
        chunk_id=message.chunk_id,
        rows=message.rows,
    )


def table_stats_to_proto(stats: TableStats) -> common_pb2.TableStats:
    return common_pb2.TableStats(rows=stats.rows, checksum=stats.checksum)


def table_stats_from_proto(message: common_pb2.TableStats) -> TableStats:
    return TableStats(rows=message.rows, checksum=message.checksum)


# -- Arrow schemas --------------------------------------------------------------------


def arrow_schema_to_bytes(schema: pa.Schema) -> bytes:
    """The Arrow IPC encoding of a schema (metadata included)."""
    return bytes(schema.serialize().to_pybytes())


def arrow_schema_from_bytes(data: bytes, what: str = "arrow_schema") -> pa.Schema:
    """Parse an Arrow IPC schema message; an :class:`InvalidRequest` if it is not one."""
    if not data:
        raise InvalidRequest(f"{what} is empty")
    try:
        return pa.ipc.read_schema(pa.py_buffer(data))
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise InvalidRequest(f"{what} is not an Arrow IPC schema: {exc}") from None
