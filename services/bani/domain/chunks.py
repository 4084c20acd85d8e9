"""Chunks: the unit of exactly-once transfer.

A table is moved as chunks.  A chunk is what one Flight stream carries and one
target transaction commits: its rows *and* a marker row in the target's
bookkeeping table ``_bani_flight_chunks``.  A marker is keyed by
``(run_id, schema, table, chunk_id)``: chunk ids are unique within a table of a
run, not across tables (every table may have a chunk ``0000``).  A chunk whose marker exists is
never written again, which makes a resumed run exactly-once.

A :class:`KeyRange` picks a chunk's rows by a single integer key as a
half-open interval ``lower <= key < upper``; either end may be open (None).
Connectors turn it into *bound parameters*, never into SQL text from a caller.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bani.errors import ConfigurationError

__all__ = [
    "BOOKKEEPING_TABLE",
    "RESERVED_PREFIX",
    "RUNS_TABLE",
    "ChunkMarker",
    "CommittedChunk",
    "KeyRange",
    "is_reserved_name",
]

#: The target-side table that records committed chunks.
BOOKKEEPING_TABLE = "_bani_flight_chunks"
#: The target-side table that records each run's chunk plan (``begin-run``).
RUNS_TABLE = "_bani_flight_runs"

#: Every object whose name starts so belongs to the writer's bookkeeping; no
#: request may create, drop, truncate, write, index or alter one.
RESERVED_PREFIX = "_bani_flight_"


def is_reserved_name(name: str) -> bool:
    """Whether ``name`` is (a case or compatibility-form variant of) a bookkeeping name."""
    return unicodedata.normalize("NFKC", name).casefold().startswith(RESERVED_PREFIX)


@dataclass(frozen=True)
class KeyRange:
    """Rows whose ``column`` value is in ``[lower, upper)``; None leaves a side open."""

    column: str
    lower: int | None = None
    upper: int | None = None

    def __post_init__(self) -> None:
        for side in (self.lower, self.upper):
            if side is not None and (isinstance(side, bool) or not isinstance(side, int)):
                raise ConfigurationError(
                    f"key range bounds must be integers, got {side!r}", column=self.column
                )
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ConfigurationError(
                f"empty key range [{self.lower}, {self.upper})", column=self.column
            )
        if not self.column:
            raise ConfigurationError("a key range needs a column name", setting="key_range")

    def contains(self, value: int) -> bool:
        return (self.lower is None or value >= self.lower) and (
            self.upper is None or value < self.upper
        )


@dataclass(frozen=True)
class ChunkMarker:
    """Which chunk of which run is being written (the marker row's key)."""

    run_id: str
    chunk_id: str

    def __post_init__(self) -> None:
        if not self.run_id or not self.chunk_id:
            raise ConfigurationError("a chunk marker needs a run id and a chunk id")


@dataclass(frozen=True)
class CommittedChunk:
    """A marker row as stored: the chunk was committed with ``rows`` rows."""

    run_id: str
    schema_name: str
    table_name: str
    chunk_id: str
    rows: int
