"""Moving chunks: ``do_get`` from the reader straight into ``do_put`` on the writer.

Each chunk is one stream pair.  Batches are written to the writer as they
arrive from the reader and dropped; the client never holds more than the
batch in hand plus gRPC's flow-control windows, so its memory does not grow
with the table.  After the last batch the client sends the put commit (rows
and batches it sent); the writer commits the chunk with its marker in one
transaction only if the count matches, and acknowledges.

``parallel`` worker threads take chunks from one queue ordered largest table
first.  A transient failure (service unavailable, deadline, a transient
database error, a put the writer rolled back) is retried for that chunk with
exponential backoff; an expired ticket is refreshed from the reader for the
chunk's exact stored range.  A terminal failure, or retries running out,
stops the queue: running chunks finish or are cancelled (the writer rolls a
cut stream back), and the error is raised -- the run can then be resumed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa
from pyarrow import flight

from bani import wire
from bani.errors import BaniError, ChunkConflict, ConnectionFailed, Transient
from bani.logging import carry_context, get_logger
from bani.wire import protocol
from bani.wire.errors import TicketExpired
from bani_flight.progress import Progress
from bani_flight.remote import ReadChunk, ReaderClient, WriterClient
from bani_flight.runs import PlannedChunk, PlannedTable

__all__ = [
    "ChunkJob",
    "ChunkOutcome",
    "TicketBook",
    "TransferInterrupted",
    "Transferer",
]

log = get_logger("bani_flight.transfer")

_POLL_SECONDS: Final = 0.2


class TransferInterrupted(Exception):
    """The user interrupted the transfer (Ctrl-C); committed chunks stay committed."""


@dataclass(frozen=True)
class ChunkJob:
    """One chunk to move, with the table it belongs to."""

    table: PlannedTable
    chunk: PlannedChunk

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.table.target_schema, self.table.target_table, self.chunk.chunk_id)


@dataclass(frozen=True)
class ChunkOutcome:
    """A chunk the writer acknowledged."""

    job: ChunkJob
    rows: int
    bytes: int
    started: float
    finished: float
    attempts: int
    already_committed: bool


@dataclass
class TicketBook:
    """Signed tickets for chunks, refreshed from the reader for exactly the stored range.

    ``batch_rows`` maps a source table to the batch size its tickets ask for.
    ``issued`` holds the tickets the reader handed out while planning (a new
    run); a resumed run starts empty and asks per table, once, for every
    pending range at the same time.
    """

    reader: ReaderClient
    batch_rows: Mapping[tuple[str, str], int] = field(default_factory=dict)
    chunk_rows: int | None = None
    issued: dict[tuple[str, str, str], ReadChunk] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prefetch(self, table: PlannedTable, chunks: Sequence[PlannedChunk]) -> None:
        """Get tickets for ``chunks`` of ``table`` in one call (resume)."""
        fresh = self._request(table, chunks)
        with self._lock:
            self.issued.update(fresh)

    def ticket(self, job: ChunkJob) -> ReadChunk:
        with self._lock:
            found = self.issued.pop(job.key, None)
        if found is not None:
            return found
        return self._request(job.table, [job.chunk])[job.key]

    def _request(
        self, table: PlannedTable, chunks: Sequence[PlannedChunk]
    ) -> dict[tuple[str, str, str], ReadChunk]:
        ranged = [c for c in chunks if c.key_column is not None]
        from bani.domain.chunks import KeyRange

        ranges = [KeyRange(c.key_column or "", c.lower, c.upper) for c in ranged]
        _, endpoints = self.reader.chunks(
            table.source_schema,
            table.source_table,
            columns=table.columns,
            filter_sql=table.filter,
            key_ranges=ranges,
            batch_rows=self.batch_rows.get((table.source_schema, table.source_table)),
            chunk_rows=self.chunk_rows,
        )
        out: dict[tuple[str, str, str], ReadChunk] = {}
        if ranged:
            by_range = {
                (e.key_range.lower, e.key_range.upper): e
                for e in endpoints
                if e.key_range is not None
            }
            for chunk in ranged:
                endpoint = by_range.get((chunk.lower, chunk.upper))
                if endpoint is None:
                    raise ChunkConflict(
                        f"the reader did not sign the stored range [{chunk.lower}, "
                        f"{chunk.upper}) of chunk {chunk.chunk_id}",
                        table=table.source_table,
                        schema=table.source_schema,
                        chunk_id=chunk.chunk_id,
                    )
                out[(table.target_schema, table.target_table, chunk.chunk_id)] = endpoint
        unranged = [c for c in chunks if c.key_column is None]
        if unranged:
            if len(unranged) != 1 or len(endpoints) != 1 or endpoints[0].key_range is not None:
                raise ChunkConflict(
                    f"the reader now splits {table.source_name}, which the run planned as one "
                    "chunk; start a new run",
                    table=table.source_table,
                    schema=table.source_schema,
                )
            out[(table.target_schema, table.target_table, unranged[0].chunk_id)] = endpoints[0]
        return out


class _Stop(Exception):
    """Internal: the queue was stopped while a chunk waited to be retried."""


class Transferer:
    """Runs a set of chunk jobs over ``parallel`` streams with per-chunk retries."""

    def __init__(
        self,
        reader: ReaderClient,
        writer: WriterClient,
        run_id: str,
        tickets: TicketBook,
        progress: Progress,
        *,
        parallel: int,
        retries: int,
        backoff_seconds: float,
        max_backoff_seconds: float,
        compression: str = "zstd",
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.run_id = run_id
        self.tickets = tickets
        self.progress = progress
        self.parallel = parallel
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.compression = compression
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str, str], flight.FlightStreamReader] = {}
        self._outcomes: list[ChunkOutcome] = []
        self._errors: list[BaseException] = []

    # -- one chunk ------------------------------------------------------------

    def _move(self, job: ChunkJob, ticket: ReadChunk) -> tuple[int, int, bool]:
        """Stream one chunk; returns (rows, bytes, already committed)."""
        name = job.table.source_name
        with self.reader.calling():
            source = self.reader.open_chunk(ticket.ticket)
        with self._lock:
            self._active[job.key] = source
        rows = batches = nbytes = 0
        try:
            with self.reader.calling():
                schema = source.schema
            sink, acks = self.writer.open_put(
                self.run_id,
                job.table.target_schema,
                job.table.target_table,
                job.chunk.chunk_id,
                schema,
                self.compression,
            )
            closed = False
            try:
                while not self._stop.is_set():
                    with self.reader.calling():
                        try:
                            piece = source.read_chunk()
                        except StopIteration:
                            break
                    batch = piece.data
                    if batch is None:
                        continue
                    size = pa.ipc.get_record_batch_size(batch)
                    with self.writer.calling():
                        sink.write_batch(batch)
                    rows += batch.num_rows
                    batches += 1
                    nbytes += size
                    self.progress.rows_moved(name, batch.num_rows, size)
                    del batch, piece
                if self._stop.is_set():
                    raise _Stop()
                with self.writer.calling():
                    sink.write_metadata(protocol.put_commit(rows, batches))
                    sink.done_writing()
                    reply = acks.read()
                if reply is None:
                    # No acknowledgement.  If the writer refused the chunk, closing
                    # the stream raises its typed error; if not, it went away (or
                    # its connection did) and the chunk is unconfirmed: transient.
                    closed = True
                    with self.writer.calling():
                        sink.close()
                    raise ConnectionFailed(
                        f"{self.writer.conn.label} ended the put of chunk "
                        f"{job.chunk.chunk_id} without acknowledging it",
                        table=job.table.target_table,
                        chunk_id=job.chunk.chunk_id,
                    )
                ack = protocol.parse_put_ack(reply)
            finally:
                if not closed:
                    try:
                        with self.writer.calling():
                            sink.close()
                    except BaniError:
                        pass  # the put already failed, and that failure is what we report
        except BaseException:
            self.progress.chunk_failed(name, job.chunk.chunk_id, rows, nbytes)
            source.cancel()
            raise
        finally:
            with self._lock:
                self._active.pop(job.key, None)
        already = ack.status == wire.PutAck.ALREADY_COMMITTED
        if not already and ack.rows != rows:
            raise ChunkConflict(
                f"the writer acknowledged {ack.rows} rows for chunk {job.chunk.chunk_id}, "
                f"but {rows} were sent",
                table=job.table.target_table,
                chunk_id=job.chunk.chunk_id,
            )
        if already:
            # Nothing new was written: do not count the rows as moved now.
            self.progress.chunk_failed(name, job.chunk.chunk_id, rows, nbytes)
            return int(ack.rows), 0, True
        return rows, nbytes, False

    def _run_job(self, job: ChunkJob) -> ChunkOutcome:
        name = job.table.source_name
        started = time.monotonic()
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            self.progress.chunk_started(name, job.chunk.chunk_id)
            try:
                ticket = self.tickets.ticket(job)
                rows, nbytes, already = self._move(job, ticket)
                finished = time.monotonic()
                self.progress.chunk_done(
                    name, job.chunk.chunk_id, rows if not already else 0, nbytes,
                    finished - started,
                )
                return ChunkOutcome(job, rows, nbytes, started, finished, attempt, already)
            except _Stop:
                raise
            except TicketExpired:
                # A long run outlived the tickets issued at planning: ask the reader
                # for a fresh one for the same stored range, once, at no retry cost.
                if refreshed or self._stop.is_set():
                    raise
                refreshed = True
                attempt -= 1
                continue
            except BaniError as exc:
                if not isinstance(exc, Transient) or attempt > self.retries or self._stop.is_set():
                    raise exc.with_context(
                        table=job.table.source_table, chunk_id=job.chunk.chunk_id
                    ) from None
                delay = min(
                    self.backoff_seconds * (2 ** (attempt - 1)), self.max_backoff_seconds
                )
                self.progress.chunk_retry(name, job.chunk.chunk_id, attempt, delay, str(exc))
                if self._sleep(delay):
                    raise _Stop() from None

    # -- the queue --------------------------------------------------------------

    def _worker(self, jobs: queue.SimpleQueue[ChunkJob | None]) -> None:
        while not self._stop.is_set():
            job = jobs.get()
            if job is None:
                return
            try:
                outcome = self._run_job(job)
            except _Stop:
                return
            except BaseException as exc:
                with self._lock:
                    self._errors.append(exc)
                self.stop()
                return
            with self._lock:
                self._outcomes.append(outcome)

    def stop(self) -> None:
        """Stop taking chunks and cancel the running streams (they roll back)."""
        self._stop.set()
        with self._lock:
            streams = list(self._active.values())
        for stream in streams:
            with contextlib.suppress(Exception):  # best effort: the stream may have ended
                stream.cancel()

    def run(self, jobs: Sequence[ChunkJob]) -> list[ChunkOutcome]:
        """Move every job; raises the first terminal error after all workers stopped."""
        work: queue.SimpleQueue[ChunkJob | None] = queue.SimpleQueue()
        for job in jobs:
            work.put(job)
        count = min(self.parallel, max(len(jobs), 1))
        for _ in range(count):
            work.put(None)
        threads = [
            threading.Thread(
                target=carry_context(self._worker), args=(work,), name=f"bani-chunk-{i}",
                daemon=True,
            )
            for i in range(count)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(_POLL_SECONDS)
        except KeyboardInterrupt:
            self.stop()
            for thread in threads:
                thread.join(10)
            raise TransferInterrupted() from None
        if self._errors:
            raise self._errors[0]
        return list(self._outcomes)

    @property
    def outcomes(self) -> list[ChunkOutcome]:
        with self._lock:
            return list(self._outcomes)
