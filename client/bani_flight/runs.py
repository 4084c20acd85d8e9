"""Runs: an id and a chunk plan fixed when a migration starts, kept to resume it.

A run's plan -- every selected table with its target, columns, filter and the
exact key range of each chunk -- is fixed at the start and stored twice: by
the writer (``begin-run``, in the target's bookkeeping table) and in a local
run file, ``<runs dir>/<run id>.json`` (``.bani-runs/`` under the working
directory unless ``--runs-dir`` or ``BANI_FLIGHT_RUNS_DIR`` says otherwise).
Resuming re-requests tickets for exactly those ranges, so the chunks a resumed
run moves are the ones the cut-off run planned, never a re-split that could
overlap what the writer already committed.

The run file holds no secrets: endpoints are described without passwords or
tokens, and a run is resumed with the same credentials options as it started.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from bani import wire
from bani.errors import ConfigurationError

__all__ = [
    "RUNS_DIR_ENV",
    "PlannedChunk",
    "PlannedTable",
    "RunPlan",
    "RunStatus",
    "RunStore",
    "new_run_id",
]

RUNS_DIR_ENV: Final = "BANI_FLIGHT_RUNS_DIR"
_RUN_FILE_VERSION: Final = 1
_RUN_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

RunStatus = Literal["planned", "running", "failed", "transferred", "complete"]


def new_run_id(now: float | None = None) -> str:
    """``20250101T120000Z-3fa2c1``: sortable by start time, unique by its random tail."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    """A run id is a file name and a marker key: letters, digits, ``_.-``, up to 64."""
    if not _RUN_ID.match(run_id):
        raise ConfigurationError(
            f"run id {run_id!r} is not valid (letters, digits, '_', '.', '-'; up to 64)",
            setting="run_id",
        )
    return run_id


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk: a half-open key range ``[lower, upper)`` on ``key_column``.

    A table without a single integer key is one chunk with no range.
    """

    chunk_id: str
    key_column: str | None = None
    lower: int | None = None
    upper: int | None = None
    estimated_rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "key_column": self.key_column,
            "lower": self.lower,
            "upper": self.upper,
            "estimated_rows": self.estimated_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedChunk:
        return cls(
            chunk_id=str(data["chunk_id"]),
            key_column=data.get("key_column"),
            lower=data.get("lower"),
            upper=data.get("upper"),
            estimated_rows=data.get("estimated_rows"),
        )


@dataclass(frozen=True)
class PlannedTable:
    """One table of a run: source, target, shape and chunks."""

    source_schema: str
    source_table: str
    target_schema: str
    target_table: str
    columns: tuple[str, ...] | None = None
    filter: str | None = None
    estimated_rows: int | None = None
    chunks: tuple[PlannedChunk, ...] = ()

    @property
    def source_name(self) -> str:
        return (
            f"{self.source_schema}.{self.source_table}" if self.source_schema else self.source_table
        )

    @property
    def target_name(self) -> str:
        return (
            f"{self.target_schema}.{self.target_table}" if self.target_schema else self.target_table
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_schema": self.source_schema,
            "source_table": self.source_table,
            "target_schema": self.target_schema,
            "target_table": self.target_table,
            "columns": list(self.columns) if self.columns is not None else None,
            "filter": self.filter,
            "estimated_rows": self.estimated_rows,
            "chunks": [c.as_dict() for c in self.chunks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedTable:
        columns = data.get("columns")
        return cls(
            source_schema=str(data["source_schema"]),
            source_table=str(data["source_table"]),
            target_schema=str(data["target_schema"]),
            target_table=str(data["target_table"]),
            columns=tuple(columns) if columns is not None else None,
            filter=data.get("filter"),
            estimated_rows=data.get("estimated_rows"),
            chunks=tuple(PlannedChunk.from_dict(c) for c in data.get("chunks", ())),
        )


@dataclass(frozen=True)
class RunPlan:
    """A run: its id, where it reads and writes, and its tables' chunk plans.

    ``settings`` holds what a resume must repeat exactly (if-exists policy,
    batch size ...); ``file_digest`` ties a run to the migration file that
    started it, so rerunning an unchanged file resumes it.
    """

    run_id: str
    created_at: float
    source: str
    target: str
    tables: tuple[PlannedTable, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    file_digest: str | None = None
    status: RunStatus = "planned"
    error: str | None = None
    phases_done: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_run_id(self.run_id)

    @property
    def chunk_count(self) -> int:
        return sum(len(t.chunks) for t in self.tables)

    def with_status(self, status: RunStatus, error: str | None = None) -> RunPlan:
        return replace(self, status=status, error=error)

    def with_phase(self, phase: str) -> RunPlan:
        """This run with ``phase`` (``create-tables``, ``indexes`` ...) recorded as done."""
        if phase in self.phases_done:
            return self
        return replace(self, phases_done=(*self.phases_done, phase))

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": _RUN_FILE_VERSION,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "source": self.source,
            "target": self.target,
            "settings": dict(self.settings),
            "file_digest": self.file_digest,
            "status": self.status,
            "error": self.error,
            "phases_done": list(self.phases_done),
            "tables": [t.as_dict() for t in self.tables],
        }

    def to_proto(self) -> wire.RunPlan:
        """The plan as ``begin-run`` stores it on the writer.

        What the client needs back to resume without its local file (the
        settings and endpoint descriptions) travels as JSON in ``client_state``.
        """
        state = {
            "source": self.source,
            "target": self.target,
            "settings": dict(self.settings),
            "file_digest": self.file_digest,
        }
        tables = []
        for table in self.tables:
            planned = wire.PlannedTable(
                source=wire.TableRef(schema=table.source_schema, table=table.source_table),
                target=wire.TableRef(schema=table.target_schema, table=table.target_table),
                columns=list(table.columns or ()),
            )
            if table.filter is not None:
                planned.filter_sql = table.filter
            for chunk in table.chunks:
                item = planned.chunks.add(
                    chunk_id=chunk.chunk_id,
                    estimated_rows=chunk.estimated_rows if chunk.estimated_rows is not None else -1,
                )
                if chunk.key_column is not None:
                    item.key_range.column = chunk.key_column
                    if chunk.lower is not None:
                        item.key_range.lower = chunk.lower
                    if chunk.upper is not None:
                        item.key_range.upper = chunk.upper
            tables.append(planned)
        return wire.RunPlan(
            run_id=self.run_id,
            tables=tables,
            created_at_ms=round(self.created_at * 1000),
            client_state=json.dumps(state, sort_keys=True).encode("utf-8"),
        )

    @classmethod
    def from_proto(cls, message: wire.RunPlan) -> RunPlan:
        """The run as the writer stored it (a resume without the local run file)."""
        try:
            state = json.loads(message.client_state or b"{}")
        except ValueError:
            state = {}
        tables = []
        for planned in message.tables:
            chunks = []
            for chunk in planned.chunks:
                ranged = chunk.HasField("key_range")
                chunks.append(
                    PlannedChunk(
                        chunk_id=chunk.chunk_id,
                        key_column=chunk.key_range.column if ranged else None,
                        lower=chunk.key_range.lower
                        if ranged and chunk.key_range.HasField("lower")
                        else None,
                        upper=chunk.key_range.upper
                        if ranged and chunk.key_range.HasField("upper")
                        else None,
                        estimated_rows=chunk.estimated_rows if chunk.estimated_rows >= 0 else None,
                    )
                )
            estimates = [c.estimated_rows for c in chunks if c.estimated_rows is not None]
            tables.append(
                PlannedTable(
                    source_schema=planned.source.schema,
                    source_table=planned.source.table,
                    target_schema=planned.target.schema,
                    target_table=planned.target.table,
                    columns=tuple(planned.columns) if planned.columns else None,
                    filter=planned.filter_sql if planned.HasField("filter_sql") else None,
                    estimated_rows=sum(estimates) if estimates else None,
                    chunks=tuple(chunks),
                )
            )
        return cls(
            run_id=message.run_id,
            created_at=message.created_at_ms / 1000,
            source=str(state.get("source", "")),
            target=str(state.get("target", "")),
            tables=tuple(tables),
            settings=dict(state.get("settings") or {}),
            file_digest=state.get("file_digest"),
            status="running",
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunPlan:
        version = data.get("version")
        if version != _RUN_FILE_VERSION:
            raise ConfigurationError(
                f"run file version {version!r} is not {_RUN_FILE_VERSION}", setting="run_file"
            )
        return cls(
            run_id=str(data["run_id"]),
            created_at=float(data.get("created_at", 0.0)),
            source=str(data.get("source", "")),
            target=str(data.get("target", "")),
            tables=tuple(PlannedTable.from_dict(t) for t in data.get("tables", ())),
            settings=dict(data.get("settings") or {}),
            file_digest=data.get("file_digest"),
            status=data.get("status", "planned"),
            error=data.get("error"),
            phases_done=tuple(data.get("phases_done") or ()),
        )


class RunStore:
    """The local run files in one directory; writes are atomic (write, then rename)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        chosen = directory or os.environ.get(RUNS_DIR_ENV) or ".bani-runs"
        self.directory = Path(chosen)

    def path_for(self, run_id: str) -> Path:
        return self.directory / f"{check_run_id(run_id)}.json"

    def save(self, plan: RunPlan) -> Path:
        """Write ``plan`` atomically, so a crash never leaves half a run file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(plan.run_id)
        fd, tmp = tempfile.mkstemp(prefix=f".{plan.run_id}.", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(plan.as_dict(), handle, indent=1, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def load(self, run_id: str) -> RunPlan | None:
        """The stored run, or None when this directory has no file for it."""
        path = self.path_for(run_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the run file {path}: {exc.strerror}", setting="run_file"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"the run file {path} is not valid JSON: {exc}", setting="run_file"
            ) from None
        return RunPlan.from_dict(data)

    def runs(self) -> Iterator[RunPlan]:
        """Every readable run file, newest first."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json"), reverse=True):
            try:
                plan = self.load(path.stem)
            except (ConfigurationError, KeyError, TypeError, ValueError):
                continue
            if plan is not None:
                yield plan

    def unfinished_for_file(self, digest: str) -> RunPlan | None:
        """The newest run started from a migration file with this content that did not finish."""
        for plan in self.runs():
            if plan.file_digest == digest and plan.status != "complete":
                return plan
        return None
