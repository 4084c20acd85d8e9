"""Progress while a migration runs: bars on a terminal, log lines elsewhere.

The transfer calls one :class:`Progress` object from its worker threads:
``phase`` (create tables, transfer, indexes ...), ``table_planned``,
``rows_moved`` (per batch, cheap: counters under a lock), ``chunk_done`` and
``chunk_retry``.  Three renderings:

* :class:`TerminalProgress` on a TTY -- one bar per active table and one
  overall (rows, MB, rows/s, ETA), redrawn a few times a second on stderr;
* :class:`LogProgress` off a TTY -- structlog events, one per unit of work
  (``phase_started``, ``chunk_committed``, ``chunk_retry``, ``table_done``),
  never one per batch;
* :class:`Progress` itself renders nothing (``--quiet``, ``--json``).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import Literal, TextIO

import structlog

from bani_flight.summary import format_bytes

__all__ = [
    "LogProgress",
    "Progress",
    "ProgressMode",
    "TableProgress",
    "TerminalProgress",
    "make_progress",
]

ProgressMode = Literal["auto", "bars", "log", "none"]

log = structlog.get_logger("bani_flight")


@dataclass
class TableProgress:
    """Counters of one table during this invocation (mutated under the owner's lock)."""

    name: str
    estimated_rows: int | None
    chunks_total: int
    chunks_pending: int
    rows: int = 0
    bytes: int = 0
    chunks_done: int = 0
    started: float | None = None
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.started is not None and self.finished is None

    def seconds(self, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else (now or time.monotonic())
        return max(end - self.started, 0.0)


class Progress:
    """Collects counters; renders nothing.  Subclasses render.

    Thread-safe: every method may be called from any transfer worker.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tables: dict[str, TableProgress] = {}
        self.started = time.monotonic()

    # -- events ---------------------------------------------------------------

    def phase(self, name: str, **fields: object) -> None:
        """A step of the migration begins (``create-tables``, ``transfer`` ...)."""

    def table_planned(
        self, name: str, estimated_rows: int | None, chunks_total: int, chunks_pending: int
    ) -> None:
        with self._lock:
            self.tables[name] = TableProgress(name, estimated_rows, chunks_total, chunks_pending)

    def rows_moved(self, name: str, rows: int, nbytes: int) -> None:
        with self._lock:
            table = self.tables[name]
            if table.started is None:
                table.started = time.monotonic()
            table.rows += rows
            table.bytes += nbytes

    def chunk_started(self, name: str, chunk_id: str) -> None:
        with self._lock:
            table = self.tables[name]
            if table.started is None:
                table.started = time.monotonic()

    def chunk_done(self, name: str, chunk_id: str, rows: int, nbytes: int, seconds: float) -> None:
        with self._lock:
            table = self.tables[name]
            table.chunks_done += 1
            if table.chunks_done >= table.chunks_pending:
                table.finished = time.monotonic()
                if table.started is None:
                    table.started = table.finished
        self._on_chunk_done(name, chunk_id, rows, nbytes, seconds)

    def chunk_failed(self, name: str, chunk_id: str, rows: int, nbytes: int) -> None:
        """A chunk attempt failed; its rows were rolled back, so take them off the counters."""
        with self._lock:
            table = self.tables[name]
            table.rows -= rows
            table.bytes -= nbytes

    def chunk_retry(
        self, name: str, chunk_id: str, attempt: int, delay: float, error: str
    ) -> None:
        """A chunk failed transiently and will be tried again after ``delay`` seconds."""

    def close(self) -> None:
        """The migration ended (successfully or not); stop rendering."""

    def _on_chunk_done(
        self, name: str, chunk_id: str, rows: int, nbytes: int, seconds: float
    ) -> None:
        return None

    # -- reading --------------------------------------------------------------

    def snapshot(self) -> list[TableProgress]:
        with self._lock:
            return [TableProgress(**vars(t)) for t in self.tables.values()]


class LogProgress(Progress):
    """Structured log lines, one per unit of work, for logs collected off a terminal."""

    def phase(self, name: str, **fields: object) -> None:
        log.info("phase_started", phase=name, **fields)

    def _on_chunk_done(
        self, name: str, chunk_id: str, rows: int, nbytes: int, seconds: float
    ) -> None:
        with self._lock:
            table = self.tables[name]
            done, pending = table.chunks_done, table.chunks_pending
            finished = table.finished is not None
            table_rows, table_seconds = table.rows, table.seconds()
        log.info(
            "chunk_committed",
            table=name,
            chunk_id=chunk_id,
            rows=rows,
            bytes=nbytes,
            seconds=round(seconds, 3),
            chunks_done=done,
            chunks_pending=pending,
        )
        if finished:
            log.info("table_done", table=name, rows=table_rows, seconds=round(table_seconds, 3))

    def chunk_retry(
        self, name: str, chunk_id: str, attempt: int, delay: float, error: str
    ) -> None:
        log.warning(
            "chunk_retry",
            table=name,
            chunk_id=chunk_id,
            attempt=attempt,
            delay_seconds=round(delay, 2),
            error=error,
        )


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class TerminalProgress(Progress):
    """Bars per active table plus an overall bar, redrawn in place on a terminal."""

    _INTERVAL = 0.2

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream or sys.stderr
        self._drawn_lines = 0
        self._phase = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._draw_lock = threading.Lock()

    def phase(self, name: str, **fields: object) -> None:
        self._phase = name
        if name == "transfer" and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="bani-progress", daemon=True)
            self._thread.start()
        elif name != "transfer":
            self._draw()

    def chunk_retry(
        self, name: str, chunk_id: str, attempt: int, delay: float, error: str
    ) -> None:
        with self._draw_lock:
            self._clear()
            self._stream.write(
                f"retrying {name} chunk {chunk_id} in {delay:.1f} s "
                f"(attempt {attempt}): {error}\n"
            )
            self._drawn_lines = 0

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._draw()
        self._stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._INTERVAL):
            self._draw()

    def _clear(self) -> None:
        if self._drawn_lines:
            self._stream.write(f"\x1b[{self._drawn_lines}F\x1b[J")

    def _bar(self, label: str, done: float, total: float | None, width: int) -> str:
        if total and total > 0:
            fraction = min(done / total, 1.0)
            filled = int(fraction * width)
            return f"{label} [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:3.0f}%"
        return f"{label} [{'?' * width}]    "

    def _line(self, table: TableProgress, name_width: int, bar_width: int) -> str:
        seconds = table.seconds()
        rate = table.rows / seconds if seconds > 0 else 0.0
        estimated = table.estimated_rows
        eta = ""
        if estimated and rate > 0 and table.finished is None:
            eta = f" ETA {_duration(max(estimated - table.rows, 0) / rate)}"
        return (
            f"{self._bar(table.name.ljust(name_width), table.rows, estimated, bar_width)} "
            f"{table.rows:>12,} rows {format_bytes(table.bytes):>9} {rate:>10,.0f} rows/s{eta}"
        )

    def _draw(self) -> None:
        tables = self.snapshot()
        columns = shutil.get_terminal_size((100, 20)).columns
        name_width = min(max((len(t.name) for t in tables), default=7), 24)
        name_width = max(name_width, len("create-foreign-keys") if self._phase else 7)
        bar_width = max(10, min(30, columns - name_width - 75))
        lines: list[str] = []
        active = [t for t in tables if t.active]
        for table in active[:12]:
            lines.append(self._line(table, name_width, bar_width))
        total_rows = sum(t.rows for t in tables)
        total_bytes = sum(t.bytes for t in tables)
        estimate = sum(t.estimated_rows or 0 for t in tables) or None
        elapsed = time.monotonic() - self.started
        rate = total_rows / elapsed if elapsed > 0 else 0.0
        done_chunks = sum(t.chunks_done for t in tables)
        pending = sum(t.chunks_pending for t in tables)
        eta = ""
        if estimate and rate > 0 and done_chunks < pending:
            eta = f" ETA {_duration(max(estimate - total_rows, 0) / rate)}"
        label = "overall" if self._phase in ("transfer", "") else self._phase
        lines.append(
            f"{self._bar(label[:name_width].ljust(name_width), total_rows, estimate, bar_width)} "
            f"{total_rows:>12,} rows {format_bytes(total_bytes):>9} {rate:>10,.0f} rows/s "
            f"{done_chunks}/{pending} chunks{eta}"
        )
        with self._draw_lock:
            self._clear()
            for text in lines:
                self._stream.write(text[: columns - 1] + "\n")
            self._drawn_lines = len(lines)
            self._stream.flush()


def make_progress(mode: ProgressMode, stream: TextIO | None = None) -> Progress:
    """The progress rendering for ``mode``; ``auto`` picks bars on a TTY, logs elsewhere."""
    out = stream or sys.stderr
    if mode == "auto":
        mode = "bars" if out.isatty() else "log"
    if mode == "bars":
        return TerminalProgress(out)
    if mode == "log":
        return LogProgress()
    return Progress()
