"""The writer's side of the put protocol: one chunk per ``do_put``, exactly once.

:func:`receive_chunk` runs one put:

1. decode the ``WriteDescriptor`` and refuse a target schema outside the
   writer's allowed set before anything else happens;
2. check the stream's Arrow schema against the target table before a row is
   written (a mismatch names the columns);
3. hand an :class:`IncomingChunk` to the sink's ``write_chunk``, which writes
   the rows and the chunk's marker in one transaction.  The iterator yields
   the client's batches as they arrive and, when the stream ends, raises
   unless the client's final ``PutCommit`` confirms exactly the rows received
   -- so a stream that ends early, cleanly or not, is rolled back;
4. answer with one ``PutAck`` on the metadata stream.

Two limits bound what one put can hold: a record batch larger than
``--max-batch-bytes`` is refused (``invalid_request``) before it is written,
and a put that sends nothing for ``--stream-idle-timeout`` seconds is ended
with ``stream_idle`` -- its chunk rolled back and its connection returned to
the pool at once (:mod:`bani.writer._put_stream` explains how the blocked
read is ended).

If the chunk was already committed in that run, ``write_chunk`` writes
nothing and does not touch the iterator; the stream is then drained (so the
client's writes do not fail mid-stream), its commit compared with the
recorded row count, and the ack says ``ALREADY_COMMITTED``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Final

import pyarrow as pa
from pyarrow import flight

from bani.connectors.base import SinkConnector, SourceConnector
from bani.domain.arrow_fields import parse_arrow_type
from bani.domain.chunks import RESERVED_PREFIX, ChunkMarker, is_reserved_name
from bani.domain.schema import DatabaseSchema, TableDefinition
from bani.errors import (
    BaniError,
    ChunkConflict,
    ErrorContext,
    SchemaMismatch,
    TableNotFound,
    closest_match,
)
from bani.logging import bind, get_logger
from bani.service.auth import CallState
from bani.service.runtime import ServiceRuntime
from bani.wire import PutAck, PutCommit, WriteDescriptor
from bani.wire.codec import decode
from bani.wire.errors import ChunkNotConfirmed, InvalidRequest, SchemaNotAllowed, StreamIdle
from bani.wire.protocol import DESCRIPTOR_VERSION
from bani.writer._put_stream import PutStream

__all__ = [
    "IncomingChunk",
    "TargetCatalog",
    "check_allowed",
    "check_stream_schema",
    "compatible",
    "receive_chunk",
]

log = get_logger("bani.writer")

_ID: Final = re.compile(r"^[\w.:\[\],()\-/=+@#%~]{1,512}$")
CATALOG_TTL: Final = 60.0
_LISTED_NAMES: Final = 20


#: Longer than any supported database's identifier limit (PostgreSQL 63 bytes,
#: MySQL 64 characters); the database names its own limit below this.
MAX_NAME_CHARS = 1024


def check_name(kind: str, name: str | None, **where: str | None) -> None:
    """Refuse an empty name, a name with a NUL or one over :data:`MAX_NAME_CHARS`.

    Databases treat those differently (PostgreSQL cuts a name at its NUL,
    SQLite and MySQL fail with an internal error), so the writer refuses them
    before any DDL is rendered.
    """
    if name is None:
        return
    shown = name if len(name) <= 80 else name[:77] + "..."
    if not name:
        raise InvalidRequest(f"the {kind} name is empty", None, **where)
    if "\x00" in name:
        raise InvalidRequest(f"the {kind} name {shown!r} contains a NUL character", None,
                             **where)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(
            f"the {kind} name {shown!r} is {len(name)} characters; at most {MAX_NAME_CHARS}",
            None,
            **where,
        )


def check_table_names(table: TableDefinition) -> None:
    """Every name a table definition carries passes :func:`check_name`."""
    where = {"schema": table.schema_name[:MAX_NAME_CHARS],
             "table": table.table_name[:MAX_NAME_CHARS]}
    check_name("schema", table.schema_name, **where)
    check_name("table", table.table_name, **where)
    for column in table.columns:
        check_name("column", column.name, **where)
    for index in table.indexes:
        check_name("index", index.name, **where)
        for name in index.columns:
            check_name("index column", name, **where)
    for check in table.check_constraints:
        check_name("constraint", check.name, **where)
    for fk in table.foreign_keys:
        check_name("foreign key", fk.name, **where)
        for name in (*fk.source_columns, *fk.referenced_columns, fk.referenced_table,
                     fk.referenced_schema):
            check_name("foreign key column or table", name, **where)


def check_allowed(schema: str, allowed: Sequence[str], table: str | None = None) -> None:
    """Refuse a target schema outside the writer's allowed set, and any bookkeeping table."""
    check_name("table", table, schema=schema, table=table)
    if table is not None and is_reserved_name(table):
        raise InvalidRequest(
            f"{table!r} is a reserved name: tables starting with {RESERVED_PREFIX!r} hold the "
            "writer's own bookkeeping, and no request may create, drop, write or alter them",
            schema=schema,
            table=table,
        )
    if schema not in allowed:
        raise SchemaNotAllowed(
            f"this writer only writes into {', '.join(repr(s) for s in allowed)}, "
            f"not into {schema!r}",
            schema=schema,
            table=table,
            setting="--allowed-schemas",
        )


class TargetCatalog:
    """The target's tables as introspected, reused for a minute, dropped after DDL."""

    def __init__(self, sink: SinkConnector, ttl: float = CATALOG_TTL) -> None:
        self._sink = sink
        self._ttl = ttl
        self._lock = threading.Lock()
        self._schema: DatabaseSchema | None = None
        self._read_at = 0.0

    @property
    def can_introspect(self) -> bool:
        return isinstance(self._sink, SourceConnector)

    def invalidate(self) -> None:
        with self._lock:
            self._schema = None

    def refresh(self) -> DatabaseSchema:
        if not isinstance(self._sink, SourceConnector):
            return DatabaseSchema(tables=())
        schema = self._sink.introspect_schema()
        with self._lock:
            self._schema = schema
            self._read_at = time.monotonic()
        return schema

    def table(self, schema_name: str, table_name: str) -> TableDefinition | None:
        with self._lock:
            cached = self._schema
            fresh = cached is not None and time.monotonic() - self._read_at < self._ttl
        if cached is not None and fresh:
            found = cached.get_table(table_name, schema_name)
            if found is not None:
                return found
        return self.refresh().get_table(table_name, schema_name)

    def require(self, schema_name: str, table_name: str) -> TableDefinition | None:
        """The table, or TableNotFound listing what the schema has (None if not introspectable)."""
        if not self.can_introspect:
            if not self._sink.table_exists(table_name, schema_name):
                raise TableNotFound(
                    f"the target has no table {schema_name}.{table_name}",
                    schema=schema_name,
                    table=table_name,
                )
            return None
        found = self.table(schema_name, table_name)
        if found is None:
            names = sorted(
                t.table_name for t in (self._schema.tables if self._schema else ())
                if t.schema_name == schema_name and not t.table_name.startswith("_bani_flight")
            )
            shown = ", ".join(names[:_LISTED_NAMES]) or "no tables"
            hint = closest_match(table_name, names)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise TableNotFound(
                f"the target has no table {schema_name}.{table_name} (create it with "
                f"create-tables first); {schema_name} has {shown}{suggestion}",
                schema=schema_name,
                table=table_name,
            )
        return found


_FAMILIES: Final = (
    ("number", (pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating,
                pa.types.is_decimal)),
    ("text", (pa.types.is_string, pa.types.is_large_string)),
    ("binary", (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary)),
    ("datetime", (pa.types.is_date, pa.types.is_timestamp)),
    ("time", (pa.types.is_time,)),
    ("duration", (pa.types.is_duration, pa.types.is_interval)),
    ("nested", (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map)),
)


def _family(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        return _family(arrow_type.value_type)
    for name, predicates in _FAMILIES:
        if any(predicate(arrow_type) for predicate in predicates):
            return name
    return str(arrow_type)


def compatible(incoming: pa.DataType, target: pa.DataType) -> bool:
    """Whether values of ``incoming`` type can be written into a ``target`` column.

    Same family (numbers, text, binary, date/time, …) is compatible; a text
    target accepts anything (JSON, enums and other types a dialect keeps as
    text); an all-NULL column fits anywhere.  Exact conversion is the sink's
    business; this check exists to refuse plainly wrong data before a row is
    written.
    """
    if pa.types.is_null(incoming):
        return True
    family = _family(target)
    return family == "text" or _family(incoming) == family


def check_stream_schema(
    incoming: pa.Schema, target: TableDefinition, *, chunk_id: str | None = None
) -> None:
    """Refuse a put whose columns do not fit the target table; names every bad column."""
    columns = {c.name: c for c in target.columns}
    missing = [name for name in incoming.names if name not in columns]
    problems: list[str] = []
    if missing:
        problems.append(
            f"the target has no column {', '.join(repr(m) for m in missing)}"
        )
    mismatched: list[str] = []
    for field in incoming:
        column = columns.get(field.name)
        if column is None or not column.arrow_type_str:
            continue
        try:
            target_type = parse_arrow_type(column.arrow_type_str)
        except BaniError:
            continue
        if not compatible(field.type, target_type):
            declared = column.data_type or target_type
            mismatched.append(f"{field.name!r} ({field.type} into {declared})")
    if mismatched:
        problems.append("incompatible types for " + ", ".join(mismatched))
    required = [
        c.name for c in target.columns
        if c.name not in incoming.names
        and not c.nullable and c.default_value is None and not c.is_identity
    ]
    if required:
        problems.append(
            "required column(s) "
            + ", ".join(repr(r) for r in required)
            + " missing from the stream"
        )
    if problems:
        first = (missing or [m.split(" ", 1)[0].strip("'") for m in mismatched] or required)[0]
        raise SchemaMismatch(
            "the put does not fit the target table: " + "; ".join(problems),
            schema=target.schema_name,
            table=target.table_name,
            column=first,
            chunk_id=chunk_id,
        )


class IncomingChunk:
    """The put's batches as an iterator that only ends if the client's commit matches.

    ``max_batch_bytes`` and ``idle_timeout`` default to the runtime's
    settings (``--max-batch-bytes``, ``--stream-idle-timeout``);
    ``drop_connection`` ends the client's connection when a silent client
    must be let go (see :class:`~bani.writer._put_stream.PutStream`).
    Call :meth:`close` when the put is over, however it ended.
    """

    def __init__(
        self,
        reader: flight.MetadataRecordBatchReader,
        context: flight.ServerCallContext,
        runtime: ServiceRuntime,
        descriptor: WriteDescriptor,
        state: CallState | None,
        *,
        max_batch_bytes: int | None = None,
        idle_timeout: float | None = None,
        drop_connection: Callable[[], bool] = lambda: False,
    ) -> None:
        self._reader = reader
        self._context = context
        self._runtime = runtime
        self._descriptor = descriptor
        self._state = state
        settings = runtime.settings
        self.max_batch_bytes = (
            settings.max_batch_bytes if max_batch_bytes is None else max_batch_bytes
        )
        self._stream = PutStream(
            reader,
            idle_timeout=settings.stream_idle_timeout if idle_timeout is None else idle_timeout,
            drop_connection=drop_connection,
        )
        self.started = False
        self.finished = False
        self.rows = 0
        self.batches = 0
        self.nbytes = 0
        self.commit: PutCommit | None = None

    def _where(self) -> ErrorContext:
        target = self._descriptor.target
        return ErrorContext(
            schema=target.schema, table=target.table, chunk_id=self._descriptor.chunk_id
        )

    def _check(self) -> None:
        self._runtime.check(self._context, "put")

    def _idle(self, seconds: float) -> StreamIdle:
        target = self._descriptor.target
        log.warning("put_idle", seconds=round(seconds, 1), rows=self.rows)
        return StreamIdle(
            f"the put of chunk {self._descriptor.chunk_id} into {target.schema}.{target.table} "
            f"sent nothing for {seconds:.1f} s (this writer's --stream-idle-timeout is "
            f"{self._stream.idle_timeout:g} s) after {self.rows} rows; the chunk was rolled back",
            self._where().merged(setting="--stream-idle-timeout"),
        )

    def _check_size(self, batch: pa.RecordBatch) -> int:
        nbytes = int(batch.nbytes)
        if nbytes > self.max_batch_bytes:
            target = self._descriptor.target
            raise InvalidRequest(
                f"a record batch of {nbytes} bytes ({batch.num_rows} rows) for "
                f"{target.schema}.{target.table} is larger than this writer's --max-batch-bytes "
                f"({self.max_batch_bytes} bytes); send smaller batches.  Chunk "
                f"{self._descriptor.chunk_id} was rolled back",
                self._where().merged(setting="--max-batch-bytes"),
            )
        return nbytes

    def close(self) -> None:
        """End the reading helper; after an error, give a silent client one more idle period."""
        grace = 1.0 if self._runtime.cancelled else self._stream.idle_timeout
        self._stream.close(0.0 if self.finished else grace)

    def _next_message(self) -> flight.FlightStreamChunk | None:
        self._check()
        try:
            return self._stream.next_message(self._check, self._idle)
        except (flight.FlightError, pa.ArrowException, OSError) as exc:
            raise ChunkNotConfirmed(
                f"the put stream broke after {self.rows} rows ({type(exc).__name__}); "
                "the chunk was rolled back",
                self._where(),
            ) from None

    def _take_commit(self, metadata: pa.Buffer) -> None:
        if self.commit is not None:
            raise InvalidRequest("the put sent its commit twice", self._where())
        self.commit = decode(PutCommit, metadata, "put commit metadata")

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        self.started = True
        table = self._descriptor.target.table
        while True:
            message = self._next_message()
            if message is None:
                break
            if message.data is not None:
                if self.commit is not None:
                    raise InvalidRequest("the put sent a batch after its commit", self._where())
                batch = message.data
                nbytes = self._check_size(batch)
                self.rows += batch.num_rows
                self.batches += 1
                self.nbytes += nbytes
                self._runtime.count_batch(table, "in", batch.num_rows, nbytes)
                if self._state is not None:
                    self._state.add(received_rows=batch.num_rows, bytes=nbytes, batches=1)
                yield batch
            if message.app_metadata is not None:
                self._take_commit(message.app_metadata)
        self.finished = True
        self._verify()

    def _verify(self) -> None:
        if self.commit is None:
            raise ChunkNotConfirmed(
                f"the put ended after {self.rows} rows without the client's commit; "
                "the chunk was rolled back",
                self._where(),
            )
        if self.commit.rows != self.rows:
            raise ChunkNotConfirmed(
                f"the client confirmed {self.commit.rows} rows but {self.rows} arrived; "
                "the chunk was rolled back",
                self._where(),
            )

    def drain(self) -> None:
        """Read (and drop) the rest of a stream whose chunk is already committed."""
        while (message := self._next_message()) is not None:
            if message.data is not None:
                self._check_size(message.data)
                self.rows += message.data.num_rows
            if message.app_metadata is not None:
                self._take_commit(message.app_metadata)
        self.finished = True


def _descriptor(raw: flight.FlightDescriptor) -> WriteDescriptor:
    if raw.descriptor_type != flight.DescriptorType.CMD:
        raise InvalidRequest("a put descriptor is a WriteDescriptor command, not a path")
    descriptor = decode(WriteDescriptor, raw.command, "the put descriptor")
    if descriptor.version != DESCRIPTOR_VERSION:
        raise InvalidRequest(f"put descriptor version {descriptor.version} is not supported")
    for name, value in (("run_id", descriptor.run_id), ("chunk_id", descriptor.chunk_id)):
        if not _ID.match(value):
            raise InvalidRequest(
                f"the put descriptor's {name} {value[:80]!r} is empty, too long or has "
                "characters outside letters, digits and .:[],()-/=+@#%~_",
                setting=name,
            )
    if not descriptor.target.table:
        raise InvalidRequest("the put descriptor names no target table")
    return descriptor


def receive_chunk(
    sink: SinkConnector,
    catalog: TargetCatalog,
    allowed: Sequence[str],
    raw_descriptor: flight.FlightDescriptor,
    reader: flight.MetadataRecordBatchReader,
    writer: flight.FlightMetadataWriter,
    *,
    context: flight.ServerCallContext,
    runtime: ServiceRuntime,
    state: CallState | None,
    drop_connection: Callable[[], bool] = lambda: False,
) -> PutAck:
    """Run one put (see the module docstring) and send its acknowledgement.

    ``drop_connection`` shuts the client's connection down; it is used only
    when a put that was ended for silence stays silent (see
    :class:`~bani.writer._put_stream.PutStream`).
    """
    started = time.monotonic()
    descriptor = _descriptor(raw_descriptor)
    target = descriptor.target
    where = {"schema": target.schema, "table": target.table, "chunk_id": descriptor.chunk_id,
             "run_id": descriptor.run_id}
    bind(**where)
    if state is not None:
        state.note(**where)
    check_allowed(target.schema, allowed, target.table)
    definition = catalog.require(target.schema, target.table)
    if definition is not None:
        check_stream_schema(reader.schema, definition, chunk_id=descriptor.chunk_id)
    incoming = IncomingChunk(
        reader, context, runtime, descriptor, state, drop_connection=drop_connection
    )
    marker = ChunkMarker(descriptor.run_id, descriptor.chunk_id)
    try:
        rows = sink.write_chunk(target.table, target.schema, incoming, marker)
        if not incoming.started:
            incoming.drain()
    finally:
        incoming.close()
    if not incoming.started:
        if incoming.commit is not None and incoming.commit.rows != rows:
            raise ChunkConflict(
                f"chunk {descriptor.chunk_id} of run {descriptor.run_id} was committed with "
                f"{rows} rows, but this put confirms {incoming.commit.rows}",
                schema=target.schema, table=target.table, chunk_id=descriptor.chunk_id,
            )
        status = PutAck.ALREADY_COMMITTED
        log.info("chunk_already_committed", rows=rows)
    else:
        if not incoming.finished:
            raise ChunkConflict(
                "the sink returned before reading the whole put stream",
                schema=target.schema, table=target.table, chunk_id=descriptor.chunk_id,
            )
        status = PutAck.COMMITTED
        log.info(
            "chunk_committed",
            rows=rows,
            bytes=incoming.nbytes,
            batches=incoming.batches,
            seconds=round(time.monotonic() - started, 3),
        )
    ack = PutAck(chunk_id=descriptor.chunk_id, status=status, rows=rows)
    writer.write(pa.py_buffer(ack.SerializeToString()))
    if state is not None:
        state.note(rows=rows, status_detail=PutAck.Status.Name(status).lower())
    return ack
