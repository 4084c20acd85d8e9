"""How a table is cut into chunks, and how batches are kept within bounds.

Pure functions, no I/O, unit-tested without a database:

* :func:`integer_key` finds the single integer primary key a table can be
  split on (tables without one are served as one chunk);
* :func:`plan_key_ranges` cuts ``[min, max]`` of that key into half-open
  ranges of about ``chunk_rows`` rows each.  The first range is open below
  and the last open above, so rows inserted outside the bounds seen at
  planning time still belong to exactly one chunk;
* :func:`check_key_ranges` validates ranges a client sends back (a resumed
  run): right column, no overlap;
* :func:`chunk_id_for` names a chunk by its table and range, so the same
  range gets the same id in the original and the resumed run;
* :func:`slice_batch` caps a record batch in rows and bytes;
* :func:`check_filter` accepts a filter only as one expression over the table's columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final
from urllib.parse import quote

import pyarrow as pa

from bani.domain.arrow_fields import parse_arrow_type
from bani.domain.chunks import KeyRange
from bani.domain.schema import TableDefinition
from bani.errors import BaniError
from bani.sqlguard import Purpose, Where, render_expression
from bani.wire.errors import InvalidRequest

__all__ = [
    "MAX_CHUNKS",
    "MAX_FILTER_CHARS",
    "WHOLE_TABLE",
    "check_filter",
    "check_key_ranges",
    "chunk_id_for",
    "integer_key",
    "plan_key_ranges",
    "range_label",
    "slice_batch",
]

#: The chunk id of a table served as one chunk.
WHOLE_TABLE: Final = "all"
#: Most chunks in one FlightInfo (and in one explicit request).
MAX_CHUNKS: Final = 100_000
MAX_FILTER_CHARS: Final = 8192


def integer_key(table: TableDefinition) -> str | None:
    """The table's primary-key column if the key is one column of an integer type."""
    if len(table.primary_key) != 1:
        return None
    name = table.primary_key[0]
    try:
        column = table.column(name)
        arrow_type = parse_arrow_type(column.arrow_type_str)
    except (KeyError, BaniError):
        return None
    return name if pa.types.is_integer(arrow_type) else None


def _escape(name: str) -> str:
    return quote(name, safe="").replace(".", "%2E")


def range_label(key_range: KeyRange | None) -> str:
    """``id[100,200)`` for a range (an open side left empty), ``all`` for the whole table."""
    if key_range is None:
        return WHOLE_TABLE
    lower = "" if key_range.lower is None else str(key_range.lower)
    upper = "" if key_range.upper is None else str(key_range.upper)
    return f"{_escape(key_range.column)}[{lower},{upper})"


def chunk_id_for(schema: str, table: str, key_range: KeyRange | None) -> str:
    """A chunk's id, unique within a run: ``main.orders:id[1,100001)``, ``main.tags:all``.

    Markers are keyed by run and chunk id alone, so the id names the source
    table; schema and table are percent-escaped (``.`` and ``:`` included), so
    different tables never share an id, and the same range always gets the
    same id, which is what lets a resumed run skip committed chunks.
    """
    return f"{_escape(schema)}.{_escape(table)}:{range_label(key_range)}"


def plan_key_ranges(
    column: str, minimum: int, maximum: int, rows: int, chunk_rows: int
) -> list[KeyRange]:
    """Cut the key space ``[minimum, maximum]`` into about ``rows / chunk_rows`` ranges.

    The ranges are contiguous and cover every integer: the first has no lower
    bound, the last no upper bound.  A table that fits in one chunk gets one
    range open on both sides.
    """
    if chunk_rows < 1:
        raise InvalidRequest("chunk_rows must be at least 1", setting="chunk_rows")
    if maximum < minimum:
        minimum, maximum = maximum, minimum
    count = min(MAX_CHUNKS, max(1, -(-rows // chunk_rows)))
    span = maximum - minimum + 1
    count = min(count, span)
    if count <= 1:
        return [KeyRange(column)]
    width = -(-span // count)
    bounds = [minimum + width * i for i in range(1, count) if minimum + width * i <= maximum]
    ranges: list[KeyRange] = []
    lower: int | None = None
    for bound in bounds:
        ranges.append(KeyRange(column, lower, bound))
        lower = bound
    ranges.append(KeyRange(column, lower, None))
    return ranges


def check_key_ranges(ranges: Sequence[KeyRange], key: str | None, table: str) -> list[KeyRange]:
    """Validate explicit ranges: all on ``key``, non-overlapping; returned sorted."""
    if key is None:
        raise InvalidRequest(
            "explicit key ranges need a table with a single integer primary key", table=table
        )
    if len(ranges) > MAX_CHUNKS:
        raise InvalidRequest(f"{len(ranges)} key ranges; at most {MAX_CHUNKS}", table=table)
    for key_range in ranges:
        if key_range.column != key:
            raise InvalidRequest(
                f"key range on column {key_range.column!r}, but the table's key is {key!r}",
                table=table,
                column=key_range.column,
            )

    def start(r: KeyRange) -> float:
        return float("-inf") if r.lower is None else r.lower

    ordered = sorted(ranges, key=start)
    for left, right in zip(ordered, ordered[1:], strict=False):
        left_end = float("inf") if left.upper is None else left.upper
        if left_end > start(right):
            raise InvalidRequest(
                f"key ranges {range_label(left)} and {range_label(right)} overlap",
                table=table,
                column=key,
            )
    return ordered


def slice_batch(batch: pa.RecordBatch, max_rows: int, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """``batch`` in zero-copy slices of at most ``max_rows`` rows and about ``max_bytes``.

    The byte cap uses the batch's average row size, so it holds for evenly
    sized rows; one oversized row is still sent whole (it cannot be split).
    """
    rows = batch.num_rows
    if rows == 0:
        return
    nbytes = batch.nbytes
    per_row = max(1, nbytes // rows)
    step = max(1, min(max_rows, max_bytes // per_row))
    if step >= rows:
        yield batch
        return
    for offset in range(0, rows, step):
        yield batch.slice(offset, step)


def check_filter(text: str, dialect: str, table: TableDefinition) -> str:
    """The filter as one boolean expression over ``table``'s own columns, re-rendered.

    The text is parsed with the source's own parser (:mod:`bani.sqlguard`) and
    accepted only when it is one expression of columns of this table,
    literals, operators and allow-listed functions: no subquery, no other
    relation, no file, admin or catalog function, so a filter can neither
    escape its WHERE nor read anything beyond the rows of its table.  What
    runs is the expression rendered from the parse tree.
    """
    where = Where(schema=table.schema_name, table=table.table_name, setting="filter_sql")
    body = text.strip()
    if not body:
        raise InvalidRequest("the filter is empty", setting="filter_sql", table=table.table_name)
    if len(body) > MAX_FILTER_CHARS:
        raise InvalidRequest(
            f"the filter is {len(body)} characters; at most {MAX_FILTER_CHARS}",
            setting="filter_sql",
            table=table.table_name,
        )
    return render_expression(
        body, dialect, Purpose.FILTER, where, [c.name for c in table.columns], parenthesize=True
    )
