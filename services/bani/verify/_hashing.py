"""Vectorized 64-bit value hashes for Arrow arrays (the kernels behind the checksum).

Everything here works on whole arrays with numpy: one pass of a few numpy
operations per column, per 8-byte word of variable-width data, or per list
element, never a Python loop over rows.  All arithmetic is on ``uint64``
arrays, which wrap modulo 2**64 without warnings (numpy only warns on scalar
overflow, which is why every constant below is precomputed with Python ints).

:func:`hash_array` returns, for an array of ``n`` values, the canonical 64-bit
value hash of every slot (``0`` where the slot is NULL) and the validity mask.
The module docstring of :mod:`bani.verify.checksum` is the specification; this
module is its implementation and must stay in step with it.
"""

from __future__ import annotations

from typing import Final, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = [
    "SEED",
    "UnsupportedType",
    "U64Array",
    "check_supported",
    "column_salt",
    "fmix64",
    "hash_array",
    "null_group_salt",
]

U64Array: TypeAlias = NDArray[np.uint64]
BoolArray: TypeAlias = NDArray[np.bool_]

_MASK64: Final = (1 << 64) - 1
_M1: Final = 0xFF51AFD7ED558CCD
_M2: Final = 0xC4CEB9FE1A85EC53
_GOLDEN: Final = 0x9E3779B97F4A7C15


def _fmix64_int(value: int) -> int:
    """murmur3's 64-bit finalizer on a Python int (for precomputing constants)."""
    value &= _MASK64
    value ^= value >> 33
    value = (value * _M1) & _MASK64
    value ^= value >> 33
    value = (value * _M2) & _MASK64
    value ^= value >> 33
    return value


def _const(tag: int) -> np.uint64:
    """A well-mixed 64-bit constant derived from a small tag."""
    return np.uint64(_fmix64_int((tag * _GOLDEN) & _MASK64))


# Domain-separation constants.  Their values are part of the checksum's
# definition: changing one changes every checksum ever computed.
SEED: Final = _const(1)
_C_POS: Final = np.uint64(_GOLDEN)  # per-position offset of words / list elements
_C_LEN: Final = _const(2)  # multiplies a value's byte or element count
_C_BYTES: Final = _const(3)  # string / binary values
_C_LIST: Final = _const(4)  # list values
_C_ELEM_VALID: Final = _const(5)  # a list element that is a value
_C_ELEM_NULL: Final = _const(6)  # a list element that is NULL
_C_DECIMAL: Final = _const(7)  # high words of a decimal
_C_INTERVAL: Final = _const(8)  # months and days of an interval
_C_COLUMN: Final = 1000  # column i's salt is _const(_C_COLUMN + i)
_C_NULL_GROUP: Final = 2000  # null-word group g's salt is _const(_C_NULL_GROUP + g)
_CANONICAL_NAN: Final = np.uint64(0x7FF8000000000000)
_S33: Final = np.uint64(33)
_NM1: Final = np.uint64(_M1)
_NM2: Final = np.uint64(_M2)
_US_PER_DAY: Final = 86_400_000_000
_MS_PER_DAY: Final = 86_400_000
# _TAIL_MASK[r] keeps the low r bytes of a little-endian word (r = 1..7).
_TAIL_MASK: Final = np.array([(1 << (8 * r)) - 1 if r else _MASK64 for r in range(8)], np.uint64)
# fmix64 of 0..999: the sub-microsecond nanoseconds of a ns-unit value.
_NS_REMAINDER: Final = np.array([_fmix64_int(r) for r in range(1000)], np.uint64)


def column_salt(index: int) -> np.uint64:
    """The salt of the column at 0-based position ``index``."""
    return _const(_C_COLUMN + index)


def null_group_salt(group: int) -> np.uint64:
    """The salt of the NULL bitmap word of columns ``64*group .. 64*group+63``."""
    return _const(_C_NULL_GROUP + group)


class UnsupportedType(TypeError):
    """An Arrow type the checksum has no canonical encoding for."""

    def __init__(self, arrow_type: pa.DataType) -> None:
        self.arrow_type = arrow_type
        super().__init__(str(arrow_type))


def fmix64(x: U64Array) -> U64Array:
    """murmur3's 64-bit finalizer, in place: a bijection that mixes all bits.

    Written with ``out=`` and one scratch array so it makes one allocation
    instead of six; this function is most of the checksum's running time.
    """
    scratch = np.empty_like(x)
    np.right_shift(x, _S33, out=scratch)
    np.bitwise_xor(x, scratch, out=x)
    np.multiply(x, _NM1, out=x)
    np.right_shift(x, _S33, out=scratch)
    np.bitwise_xor(x, scratch, out=x)
    np.multiply(x, _NM2, out=x)
    np.right_shift(x, _S33, out=scratch)
    np.bitwise_xor(x, scratch, out=x)
    return x


# -- type support ------------------------------------------------------------------


def _is_bytes_like(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary_view(t)
    )


def _is_list_like(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _is_decimal(t: pa.DataType) -> bool:
    return bool(pa.types.is_decimal(t))


def _is_month_day_nano(t: pa.DataType) -> bool:
    return bool(t.id == _MONTH_DAY_NANO_ID)


_MONTH_DAY_NANO_ID: Final = pa.month_day_nano_interval().id
_MONTH_DAY_NANO: Final = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])


def check_supported(t: pa.DataType) -> None:
    """Raise :class:`UnsupportedType` unless ``t`` (recursively) has an encoding."""
    if (
        pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or _is_decimal(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
        or _is_bytes_like(t)
    ):
        return
    if _is_list_like(t):
        check_supported(t.value_type)
        return
    if pa.types.is_dictionary(t):
        check_supported(t.value_type)
        return
    if _is_month_day_nano(t):
        return
    if isinstance(t, pa.BaseExtensionType):
        check_supported(t.storage_type)
        return
    raise UnsupportedType(t)


# -- helpers ---------------------------------------------------------------------------


def _validity(arr: pa.Array) -> BoolArray:
    n = len(arr)
    if arr.null_count == 0:
        return np.ones(n, dtype=np.bool_)
    if pa.types.is_null(arr.type):
        return np.zeros(n, dtype=np.bool_)
    mask: BoolArray = arr.is_valid().to_numpy(zero_copy_only=False)
    return mask


def _fixed(arr: pa.Array, dtype: str) -> NDArray[np.generic]:
    """The value buffer of a fixed-width array, offset applied (read-only view)."""
    n = len(arr)
    item = np.dtype(dtype).itemsize
    buf = arr.buffers()[1]
    if n == 0 or buf is None:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype, count=n, offset=arr.offset * item)


def _signed_to_u64(values: NDArray[np.generic]) -> U64Array:
    return values.astype(np.int64).view(np.uint64)


def _run_positions(counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(start of each run, 0-based position of every item within its run)."""
    run_start = np.cumsum(counts) - counts
    total = int(counts.sum())
    index = np.arange(total, dtype=np.int64)
    index -= np.repeat(run_start, counts)
    return run_start, index


def _sequence_hash(
    terms: U64Array,
    counts: NDArray[np.int64],
    lengths: NDArray[np.int64],
    kind: np.uint64,
    positions: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> U64Array:
    """Hash each run of ``counts[i]`` consecutive ``terms`` into one value.

    ``terms`` holds the runs back to back.  Each term gets its 1-based position
    in its run added (times ``_C_POS``) and is mixed, the mixed terms of a run
    are summed, and the sum, the value's length (``lengths[i]``: bytes for
    binary data, elements for lists) and ``kind`` are mixed into the value hash.
    Position makes order matter, length separates ``"a"`` from ``"a\\0"``, and
    an empty value still hashes to a non-zero constant.
    """
    n = len(counts)
    total = len(terms)
    run_start, index = positions if positions is not None else _run_positions(counts)
    if total:
        offset = index.view(np.uint64) + np.uint64(1)
        offset *= _C_POS
        terms += offset
        fmix64(terms)
        prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum(terms, out=prefix[1:])
        sums: U64Array = prefix[run_start + counts] - prefix[run_start]
    else:
        sums = np.zeros(n, dtype=np.uint64)
    sums += lengths.view(np.uint64) * _C_LEN
    sums ^= kind
    return fmix64(sums)


# -- per-family encodings ----------------------------------------------------------


def _hash_integers(arr: pa.Array) -> U64Array:
    t = arr.type
    dtype = f"<{'i' if pa.types.is_signed_integer(t) else 'u'}{t.bit_width // 8}"
    values = _fixed(arr, dtype)
    if pa.types.is_signed_integer(t):
        return _signed_to_u64(values)
    return values.astype(np.uint64)


def _hash_floats(arr: pa.Array) -> U64Array:
    values = _fixed(arr, f"<f{arr.type.bit_width // 8}").astype(np.float64)
    values[values == 0.0] = 0.0  # -0.0 and 0.0 are one value, as SQL compares them
    bits: U64Array = values.view(np.uint64)
    bits[np.isnan(values)] = _CANONICAL_NAN
    return bits


def _hash_booleans(arr: pa.Array) -> U64Array:
    n = len(arr)
    buf = arr.buffers()[1]
    if n == 0 or buf is None:
        return np.zeros(n, dtype=np.uint64)
    first_byte = arr.offset // 8
    last_byte = (arr.offset + n + 7) // 8
    packed = np.frombuffer(buf, dtype=np.uint8, count=last_byte - first_byte, offset=first_byte)
    bits = np.unpackbits(packed, bitorder="little")
    start = arr.offset % 8
    return bits[start : start + n].astype(np.uint64)


def _hash_decimals(arr: pa.Array) -> U64Array:
    """Two's-complement unscaled value at the column's scale, as 256 bits.

    ``x = w0 + F(w1, w2, w3)`` with ``F(a, b, c) = fmix(fmix(fmix(c ^ K) ^ b) ^ a)``
    and ``w0`` the least significant 64-bit word; narrower decimals are sign
    extended, so the same unscaled value hashes alike in every width.
    """
    width = arr.type.byte_width
    n = len(arr)
    if width <= 8:
        low = _signed_to_u64(_fixed(arr, f"<i{width}"))
        w1 = (low.view(np.int64) >> np.int64(63)).view(np.uint64)
        words = [low, w1, w1, w1]
    else:
        buf = arr.buffers()[1]
        count = width // 8
        if n == 0 or buf is None:
            return np.zeros(n, dtype=np.uint64)
        raw = np.frombuffer(buf, dtype="<u8", count=n * count, offset=arr.offset * width).reshape(
            n, count
        )
        low = raw[:, 0].copy()
        w1 = raw[:, 1].copy()
        if count == 2:
            sign = (w1.view(np.int64) >> np.int64(63)).view(np.uint64)
            words = [low, w1, sign, sign.copy()]
        else:
            words = [low, w1, raw[:, 2].copy(), raw[:, 3].copy()]
    high = words[3] ^ _C_DECIMAL
    fmix64(high)
    high ^= words[2]
    fmix64(high)
    high ^= words[1]
    fmix64(high)
    words[0] += high
    return words[0]


def _hash_intervals(arr: pa.Array) -> U64Array:
    """``x = nanoseconds + fmix((months << 32 | days as uint32) ^ K_interval)``."""
    n = len(arr)
    buf = arr.buffers()[1]
    if n == 0 or buf is None:
        return np.zeros(n, dtype=np.uint64)
    raw = np.frombuffer(buf, dtype=_MONTH_DAY_NANO, count=n, offset=arr.offset * 16)
    high: U64Array = raw["months"].astype(np.int64).view(np.uint64) << np.uint64(32)
    high |= raw["days"].astype(np.int64).view(np.uint64) & np.uint64(0xFFFFFFFF)
    high ^= _C_INTERVAL
    fmix64(high)
    high += raw["nanos"].astype(np.int64).view(np.uint64)
    return high


def _split_units(
    values: NDArray[np.int64], unit: str
) -> tuple[NDArray[np.int64], NDArray[np.int64] | None]:
    """(microseconds, sub-microsecond nanoseconds or None) for a time unit."""
    if unit == "s":
        return values * np.int64(1_000_000), None
    if unit == "ms":
        return values * np.int64(1_000), None
    if unit == "us":
        return values, None
    micros, nanos = np.divmod(values, np.int64(1_000))
    return micros, nanos


def _hash_micros(values: NDArray[np.int64], unit: str) -> U64Array:
    """``x = microseconds + fmix(ns remainder)``; the remainder is 0 above ns."""
    micros, nanos = _split_units(values, unit)
    out: U64Array = micros.astype(np.int64).view(np.uint64).copy()
    if nanos is not None:
        out += _NS_REMAINDER[nanos]
    return out


def _hash_temporal(arr: pa.Array) -> U64Array:
    t = arr.type
    if pa.types.is_date32(t):
        return _signed_to_u64(_fixed(arr, "<i4"))
    if pa.types.is_date64(t):
        millis = _fixed(arr, "<i8").astype(np.int64)
        days, rest = np.divmod(millis, np.int64(_MS_PER_DAY))
        out: U64Array = days.view(np.uint64).copy()
        if rest.any():  # Arrow requires whole days; a stray remainder still counts
            extra = rest.view(np.uint64).copy()
            out += fmix64(extra ^ _C_LEN)
        return out
    if pa.types.is_time32(t):
        return _hash_micros(_fixed(arr, "<i4").astype(np.int64), t.unit)
    # time64, timestamp (UTC instant or naive wall clock) and duration: int64 counts
    return _hash_micros(_fixed(arr, "<i8").astype(np.int64), t.unit)


def _hash_bytes(arr: pa.Array, valid: BoolArray) -> U64Array:
    """Hash each value's bytes in 8-byte little-endian words (see ``_sequence_hash``)."""
    t = arr.type
    n = len(arr)
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        arr = pc.cast(arr, pa.large_binary())
        t = arr.type
    buffers = arr.buffers()
    if pa.types.is_fixed_size_binary(t):
        width = t.byte_width
        offsets = np.arange(n + 1, dtype=np.int64) * np.int64(width) + np.int64(arr.offset * width)
        data_buf = buffers[1]
    else:
        offset_type = (
            "<i8" if (pa.types.is_large_string(t) or pa.types.is_large_binary(t)) else "<i4"
        )
        if n == 0 or buffers[1] is None:
            offsets = np.zeros(n + 1, dtype=np.int64)
        else:
            offsets = np.frombuffer(
                buffers[1],
                dtype=offset_type,
                count=n + 1,
                offset=arr.offset * (4 if offset_type == "<i4" else 8),
            ).astype(np.int64)
        data_buf = buffers[2]
    lengths = offsets[1:] - offsets[:-1]
    if not valid.all():
        lengths[~valid] = 0  # a NULL slot may span bytes; they are not part of any value
    lo = int(offsets[0]) if n else 0
    hi = int(offsets[-1]) if n else 0
    padded = np.zeros(hi - lo + 8, dtype=np.uint8)
    if hi > lo and data_buf is not None:
        padded[: hi - lo] = np.frombuffer(data_buf, dtype=np.uint8, count=hi - lo, offset=lo)
    # Every byte offset of ``padded`` seen as the start of a little-endian u64.
    windows: U64Array = np.ndarray(shape=(hi - lo + 1,), dtype="<u8", buffer=padded, strides=(1,))
    word_counts = (lengths + 7) >> 3
    run_start, index = _run_positions(word_counts)
    total = len(index)
    if total:
        # byte offset of word k of value i = start_i + 8 k = 8 j + (start_i - 8 run_start_i)
        # for the j-th word overall: one repeat instead of two.
        starts = np.arange(0, 8 * total, 8, dtype=np.int64)
        starts += np.repeat(offsets[:-1] - lo - (run_start << 3), word_counts)
        words: U64Array = windows[starts].astype(np.uint64, copy=False)
        tail = lengths & 7
        partial = tail != 0
        last = (run_start + word_counts - 1)[partial]
        words[last] &= _TAIL_MASK[tail[partial]]
    else:
        words = np.zeros(0, dtype=np.uint64)
    return _sequence_hash(words, word_counts, lengths, _C_BYTES, (run_start, index))


def _hash_lists(arr: pa.Array, valid: BoolArray) -> U64Array:
    """Hash each list from its elements' value hashes and NULL flags, in order."""
    t = arr.type
    n = len(arr)
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        child = arr.values.slice(arr.offset * size, n * size)
        offsets = np.arange(n + 1, dtype=np.int64) * np.int64(size)
    else:
        offsets = arr.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        lo, hi = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
        child = arr.values.slice(lo, hi - lo)
        offsets = offsets - np.int64(lo)
    child_hash, child_valid = hash_array(child)
    child_hash ^= np.where(child_valid, _C_ELEM_VALID, _C_ELEM_NULL).astype(np.uint64)
    counts = offsets[1:] - offsets[:-1]
    if not valid.all():
        # Elements under a NULL list are not part of any value: drop them.
        keep = np.repeat(valid, counts)
        child_hash = child_hash[keep]
        counts = np.where(valid, counts, 0)
    return _sequence_hash(child_hash, counts, counts, _C_LIST)


def hash_array(arr: pa.Array) -> tuple[U64Array, BoolArray]:
    """Value hashes (``0`` at NULLs) and validity of every slot of ``arr``."""
    t = arr.type
    n = len(arr)
    valid = _validity(arr)
    if pa.types.is_null(t):
        return np.zeros(n, dtype=np.uint64), valid
    if isinstance(t, pa.BaseExtensionType):
        return hash_array(arr.storage)
    if pa.types.is_dictionary(t):
        dict_hash, dict_valid = hash_array(arr.dictionary)
        indices = _fixed(
            arr.indices,
            f"<{'i' if pa.types.is_signed_integer(t.index_type) else 'u'}"
            f"{t.index_type.bit_width // 8}",
        ).astype(np.int64)
        indices = np.where(valid, indices, 0)
        if len(dict_hash) == 0:
            return np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.bool_)
        x = dict_hash[indices]
        valid = valid & dict_valid[indices]
    elif pa.types.is_integer(t):
        x = _hash_integers(arr)
    elif pa.types.is_floating(t):
        x = _hash_floats(arr)
    elif pa.types.is_boolean(t):
        x = _hash_booleans(arr)
    elif _is_decimal(t):
        x = _hash_decimals(arr)
    elif (
        pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
    ):
        x = _hash_temporal(arr)
    elif _is_month_day_nano(t):
        x = _hash_intervals(arr)
    elif _is_bytes_like(t):
        x = _hash_bytes(arr, valid)
    elif _is_list_like(t):
        x = _hash_lists(arr, valid)
    else:
        raise UnsupportedType(t)
    if not valid.all():
        x = np.where(valid, x, np.uint64(0))
    return x, valid
