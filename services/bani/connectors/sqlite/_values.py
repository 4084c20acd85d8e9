"""Column-wise value conversion between SQLite's storage classes and Arrow.

SQLite stores five storage classes (NULL, INTEGER, REAL, TEXT, BLOB) and
keeps dates and times as text.  Both directions work on whole columns with
``pyarrow.compute``; Python touches single values only on the fallback paths
(a timestamp text with a zone offset, a column Arrow has no SQLite form for).

Text forms written for dates and times are the ones SQLite's date functions
produce and compare against:

* ``date32`` → ``YYYY-MM-DD`` (what ``date()`` returns);
* ``timestamp`` → ``YYYY-MM-DD HH:MM:SS`` when the fraction is zero (what
  ``datetime()`` returns), ``…SS.fff`` when it is whole milliseconds (what
  ``strftime('%Y-%m-%d %H:%M:%f')`` returns), ``…SS.ffffff`` otherwise;
  time-zone-aware values are converted to UTC first and written without an
  offset, as SQLite's own ``'now'`` is;
* ``time`` → ``HH:MM:SS`` with the same fraction rule.

So a value SQLite's functions produced reads back into Arrow and writes back
to the very same text.  Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from bani.errors import TypeNotRepresentable

__all__ = [
    "INT64_MAX",
    "date_text",
    "decimal_from_storage",
    "exact_text_from_storage",
    "parse_date",
    "parse_time",
    "parse_timestamp",
    "read_bool",
    "read_date",
    "read_time",
    "read_timestamp",
    "time_text",
    "timestamp_text",
    "to_sqlite_values",
]

INT64_MAX: Final = 2**63 - 1
_MICROS: Final = 1_000_000
_MICROS_PER_UNIT: Final = {"s": _MICROS, "ms": 1000}
_LONG_FRACTION: Final = re.compile(r"(\.\d{6})\d+")
_UTC: Final = dt.UTC

# -- Arrow -> SQLite text -----------------------------------------------------------


def _fraction_text(micros: pa.Array) -> pa.Array:
    """``''``, ``'.fff'`` or ``'.ffffff'`` for sub-second microseconds (0 ≤ micros < 10⁶)."""
    millis = pc.divide(micros, 1000)
    whole_ms = pc.equal(pc.multiply(millis, 1000), micros)
    ms_text = pc.binary_join_element_wise(
        ".", pc.utf8_lpad(pc.cast(millis, pa.string()), width=3, padding="0"), ""
    )
    us_text = pc.binary_join_element_wise(
        ".", pc.utf8_lpad(pc.cast(micros, pa.string()), width=6, padding="0"), ""
    )
    return pc.if_else(pc.equal(micros, 0), "", pc.if_else(whole_ms, ms_text, us_text))


def _to_micros(array: pa.Array) -> pa.Array:
    """A naive ``timestamp[us]`` holding the UTC wall time of any timestamp array."""
    unit = array.type.unit
    naive = array.cast(pa.timestamp(unit)) if array.type.tz is not None else array
    if unit == "ns":
        naive = pc.floor_temporal(naive, unit="microsecond")
    return naive.cast(pa.timestamp("us"))


def timestamp_text(array: pa.Array) -> pa.Array:
    """SQLite's text form of a timestamp column (see the module docstring)."""
    micros = _to_micros(array)
    seconds = pc.floor_temporal(micros, unit="second")
    # Arrow prints a naive timestamp[s] as "YYYY-MM-DD HH:MM:SS"; the cast is ~40x
    # faster than pc.strftime with the same pattern.
    base = seconds.cast(pa.timestamp("s")).cast(pa.string())
    fraction = pc.subtract(micros.cast(pa.int64()), seconds.cast(pa.int64()))
    return pc.binary_join_element_wise(base, _fraction_text(fraction), "")


def date_text(array: pa.Array) -> pa.Array:
    """``YYYY-MM-DD`` for a date32/date64 column."""
    days = array.cast(pa.date32(), safe=False) if pa.types.is_date64(array.type) else array
    return days.cast(pa.string())


def time_text(array: pa.Array) -> pa.Array:
    """``HH:MM:SS[.fff|.ffffff]`` for a time32/time64 column."""
    unit = array.type.unit
    raw = array.cast(pa.int64() if pa.types.is_time64(array.type) else pa.int32()).cast(pa.int64())
    if unit == "ns":
        micros = pc.divide(raw, 1000)
    elif unit == "us":
        micros = raw
    else:
        micros = pc.multiply(raw, _MICROS_PER_UNIT[unit])
    whole = pc.divide(micros, _MICROS)
    base = whole.cast(pa.int32()).cast(pa.time32("s")).cast(pa.string())
    fraction = pc.subtract(micros, pc.multiply(whole, _MICROS))
    return pc.binary_join_element_wise(base, _fraction_text(fraction), "")


def _plain(array: pa.Array) -> list[object]:
    return array.to_pylist()  # type: ignore[no-any-return]


def _floats(array: pa.Array) -> list[object]:
    return array.cast(pa.float64()).to_pylist()  # type: ignore[no-any-return]


def _uint64(array: pa.Array) -> list[object]:
    largest = pc.max(array).as_py()
    if largest is not None and largest > INT64_MAX:
        raise TypeNotRepresentable(
            f"value {largest} is above SQLite's largest integer {INT64_MAX}"
        )
    return array.to_pylist()  # type: ignore[no-any-return]


def _as_text(convert: Callable[[pa.Array], pa.Array]) -> Callable[[pa.Array], list[object]]:
    def convert_to_list(array: pa.Array) -> list[object]:
        values: list[object] = convert(array).to_pylist()
        return values

    return convert_to_list


def _decimals(array: pa.Array) -> list[object]:
    return array.cast(pa.string()).to_pylist()  # type: ignore[no-any-return]


def _durations(array: pa.Array) -> list[object]:
    return array.cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]


def _nulls(array: pa.Array) -> list[object]:
    return [None] * len(array)


def _json(array: pa.Array) -> list[object]:
    return [
        None if v is None else json.dumps(v, ensure_ascii=False, default=str)
        for v in array.to_pylist()
    ]


def _is_plain(t: pa.DataType) -> bool:
    return (
        pa.types.is_boolean(t)
        or pa.types.is_signed_integer(t)
        or (pa.types.is_unsigned_integer(t) and t != pa.uint64())
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or str(t) in ("string_view", "binary_view")
    )


#: How an Arrow column becomes SQLite parameters, by type predicate, in order.
_Writer = tuple[Callable[[pa.DataType], bool], Callable[[pa.Array], list[object]]]
_WRITERS: Final[tuple[_Writer, ...]] = (
    (_is_plain, _plain),
    (pa.types.is_float16, _floats),
    (lambda t: t == pa.uint64(), _uint64),
    (pa.types.is_date, _as_text(date_text)),
    (pa.types.is_timestamp, _as_text(timestamp_text)),
    (pa.types.is_time, _as_text(time_text)),
    (pa.types.is_decimal, _decimals),
    (pa.types.is_duration, _durations),
    (pa.types.is_null, _nulls),
)


def to_sqlite_values(array: pa.Array | pa.ChunkedArray) -> list[object]:
    """One Arrow column as the Python values sqlite3 binds (None for NULL).

    Dates and times become SQLite's text forms, decimals their exact decimal
    text (SQLite's column affinity then decides how to store it), nested and
    other types without a SQLite form become JSON text.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    for matches, convert in _WRITERS:
        if matches(array.type):
            return convert(array)
    return _json(array)


# -- SQLite storage -> Arrow ----------------------------------------------------------


def exact_text_from_storage(
    reals: Sequence[object], others: Sequence[object], target: pa.DataType
) -> pa.Array:
    """Text (or its bytes) for a column that mixes storage classes, losing nothing.

    ``reals`` holds the REAL values (None elsewhere), ``others`` the INTEGER
    values as decimal text and TEXT/BLOB values as stored.  A double becomes
    the shortest text that reads back as the same double (``0.99``, not
    ``0.98999999999999999``).
    """
    other_array = pa.array(others, target)
    real_array = pa.array(reals, pa.float64())
    if real_array.null_count == len(real_array):
        return other_array
    return pc.coalesce(real_array.cast(pa.string()).cast(target), other_array)


def decimal_from_storage(
    reals: Sequence[object], texts: Sequence[object], target: pa.DataType
) -> pa.Array:
    """Decimals at the declared scale from REAL values and INTEGER/TEXT values.

    A REAL is rounded at the declared scale (0.99 stored as the double nearest
    to 0.99 arrives as exactly 0.99); integer and text values are parsed
    exactly, so a 30-digit value kept as text loses no digit.
    """
    text_array = pa.array(texts, pa.string()).cast(target)
    real_array = pa.array(reals, pa.float64())
    if real_array.null_count == len(real_array):
        return text_array
    return pc.coalesce(real_array.cast(target), text_array)


def read_bool(values: Sequence[object]) -> pa.Array:
    """SQLite keeps booleans as the integers 0 and 1; any non-zero is true."""
    return pc.not_equal(pa.array(values, pa.int64()), 0)


def _describe(value: object) -> str:
    kind = {int: "an INTEGER", float: "a REAL", bytes: "a BLOB"}.get(type(value), "a value")
    return f"{kind} ({value!r})"


def parse_timestamp(value: object) -> dt.datetime | None:
    """One timestamp text as a naive UTC datetime (offsets applied, ``Z`` accepted)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{_describe(value)} where ISO-8601 text was expected")
    parsed = dt.datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", value.strip()))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_UTC).replace(tzinfo=None)
    return parsed


def parse_date(value: object) -> dt.date | None:
    """One date text; a timestamp text at midnight is accepted, one with a time is not."""
    stamp = parse_timestamp(value)
    if stamp is None:
        return None
    if stamp.time() != dt.time(0):
        raise ValueError(f"{value!r} has a time of day, which a DATE cannot keep")
    return stamp.date()


def parse_time(value: object) -> dt.time | None:
    """One time-of-day text (``HH:MM[:SS[.f…]]``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{_describe(value)} where a time text was expected")
    parsed = dt.time.fromisoformat(_LONG_FRACTION.sub(r"\1", value.strip()))
    return parsed.replace(tzinfo=None)


def _with_fallback(
    values: Sequence[object],
    fast: Callable[[pa.Array], pa.Array],
    slow: Callable[[object], object],
    target: pa.DataType,
) -> pa.Array:
    """``fast`` on the text column; per-value ``slow`` only if ``fast`` refuses it."""
    try:
        return fast(pa.array(values, pa.string()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([slow(v) for v in values], target)


def read_date(values: Sequence[object]) -> pa.Array:
    """``date32`` from ``YYYY-MM-DD`` text."""
    return _with_fallback(values, lambda a: a.cast(pa.date32()), parse_date, pa.date32())


def read_timestamp(values: Sequence[object], target: pa.DataType) -> pa.Array:
    """``timestamp[us]`` (or ``[us, tz=UTC]``) from SQLite's timestamp texts.

    Text without an offset is UTC for a zone-aware target and wall time for a
    naive one; text with an offset is converted to UTC.
    """
    naive = pa.timestamp("us")
    array = _with_fallback(values, lambda a: a.cast(naive), parse_timestamp, naive)
    return array.cast(target) if target != naive else array


def read_time(values: Sequence[object]) -> pa.Array:
    """``time64[us]`` from ``HH:MM[:SS[.fff]]`` text."""

    def fast(texts: pa.Array) -> pa.Array:
        stamps = pc.binary_join_element_wise("1970-01-01 ", texts, "").cast(pa.timestamp("us"))
        return stamps.cast(pa.time64("us"))

    return _with_fallback(values, fast, parse_time, pa.time64("us"))
