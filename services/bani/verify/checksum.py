"""The verification checksum behind ``table-stats``: row count + order-free hash.

A migration is verified by computing :class:`TableStats` on both sides: the
reader over the source rows, the writer over what it reads back from the
target, cast to the *source* Arrow schema (which the client passes).  Equal
stats mean the same multiset of rows arrived; the definition below is exact so
that any implementation (or a later version of this one) can reproduce it.

Definition
==========

``TableStats(rows, checksum)``: ``rows`` is the exact row count; ``checksum``
is an unsigned 64-bit integer that depends on neither the order of the rows
nor how they are split into batches or chunks.

1. **Cast.**  Each batch is first cast to the source Arrow schema: columns are
   matched by name, casts are safe (no truncation, no overflow), a missing
   column or a failed cast is a :class:`~bani.errors.SchemaMismatch` naming the
   columns, and columns the schema does not name are ignored.  Representations
   that this cast removes (``int32`` vs ``int64``, the text ``'0.99'`` vs
   ``decimal128(10, 2)``, a timestamp's zone label, ``string`` vs
   ``large_string``, dictionary vs plain) therefore never count as differences.

2. **Value hash** ``x`` (uint64) of a non-NULL value, by the column's type:

   - signed integers: the two's-complement ``int64`` value read as ``uint64``;
     unsigned integers: the value.
   - float16/32/64: the IEEE-754 binary64 bit pattern of the value widened to
     float64, with every NaN replaced by ``0x7FF8000000000000`` (one canonical
     NaN) and ``-0.0`` replaced by ``+0.0``.  Zero's sign is deliberately not
     part of the value: SQL's ``=`` treats the two as equal and databases
     disagree on keeping it, so a target that drops it is not a difference.
   - boolean: 1 for true, 0 for false.
   - decimal32/64/128/256: the unscaled integer at the column's scale (0.99 in
     ``decimal(10, 2)`` is 99) as a 256-bit two's-complement number with
     64-bit words ``w0`` (least significant) .. ``w3``:
     ``x = w0 + F(w1, w2, w3)``, ``F(a, b, c) = fmix(fmix(fmix(c ^ K_dec) ^ b) ^ a)``.
   - date32: days since 1970-01-01.  date64: ``floor(ms / 86400000)`` days,
     plus ``fmix(remainder ^ K_len)`` if a remainder exists (Arrow forbids one).
   - timestamp (any unit; with a zone the stored value is the UTC instant, a
     naive timestamp is its wall-clock value read as if UTC), time32/time64
     (since midnight) and duration: ``u`` = the value in whole microseconds
     (floored for nanosecond units) and ``r`` = the nanoseconds beyond ``u``
     (0..999, always 0 for s/ms/us units); ``x = u + fmix(r)``.  As
     ``fmix(0) = 0``, a value with no sub-microsecond part hashes to its UTC
     microseconds in every unit, and nanoseconds are still never lost.
   - string/large_string/string_view as their UTF-8 bytes; binary/large_binary/
     binary_view/fixed_size_binary as their bytes.  ``L`` bytes are read as
     ``W = ceil(L / 8)`` little-endian 64-bit words ``w_1 .. w_W`` (the last
     zero-padded): ``x = fmix((Σ_k fmix(w_k + k·K_pos) + L·K_len) ^ K_bytes)``.
   - list/large_list/fixed_size_list of a supported type, element-wise: element
     ``k`` (1-based, ``L`` elements) gives ``t_k = x(e_k) ^ K_valid``, or
     ``K_null`` when the element is NULL;
     ``x = fmix((Σ_k fmix(t_k + k·K_pos) + L·K_len) ^ K_list)``.
   - month_day_nano_interval: months ``m`` and days ``d`` (int32 each) and
     nanoseconds ``ns`` (int64), kept apart as SQL intervals are (1 month is not
     30 days): ``x = ns + fmix(((m << 32) | (d & 0xFFFFFFFF)) ^ K_interval)``.
   - dictionary: the value hash of the entry it points at (equal to the plain
     type's).  Extension types (e.g. ``arrow.uuid``): the value hash of their
     storage.  null type: every value is NULL.

   Any other type (struct, map, union, list_view, run-end encoded…) is refused when
   the accumulator is built: a :class:`~bani.errors.TypeMappingError` naming
   the column.

3. **Row hash**, over the schema's columns ``i = 0 .. C-1`` in schema order,
   with ``x_i = 0`` for a NULL::

       h = SEED
       for each column i:        h = fmix(h ^ x_i ^ K_col(i))
       for each group g of 64:   h = fmix(h ^ m_g ^ K_nullgroup(g))

   where bit ``i mod 64`` of ``m_g`` is set when column ``i`` (in group
   ``g = i // 64``) is NULL.  So NULL differs from every value, ``''`` and 0
   included; the column a value sits in matters (``'ab','c'`` differs from
   ``'a','bc'``); and since ``fmix`` is a bijection, changing one integer,
   float, date or time value always changes the row hash.

4. **Table checksum** = Σ row hashes mod 2**64.  Addition is commutative and
   associative, so row order and batching do not matter, and the stats of
   disjoint chunks add up (:meth:`TableStats.__add__`).  Values swapped between
   two rows of one column change both row hashes, so they are detected.

``fmix`` is MurmurHash3's 64-bit finalizer (all arithmetic mod 2**64)::

    x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33
    x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33

Constants: ``K(t) = fmix(t · 0x9e3779b97f4a7c15)``; ``SEED = K(1)``,
``K_len = K(2)``, ``K_bytes = K(3)``, ``K_list = K(4)``, ``K_valid = K(5)``,
``K_null = K(6)``, ``K_dec = K(7)``, ``K_interval = K(8)``, ``K_col(i) = K(1000 + i)``,
``K_nullgroup(g) = K(2000 + g)``, ``K_pos = 0x9e3779b97f4a7c15``.

It is made to catch accidents (lost, duplicated, altered, shifted or swapped
values): a difference goes unnoticed with a probability of about 2**-64.  It
is not a MAC: someone who chooses the data can construct collisions.

Implementation: vectorized with numpy over whole columns (:mod:`._hashing`),
no per-row Python.  Memory is bounded by one batch: large batches are hashed
in slices of :data:`SLICE_ROWS` rows, so temporaries stay at a few times the
slice's size whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bani.errors import SchemaMismatch, TypeMappingError
from bani.verify import _hashing

__all__ = ["EMPTY", "SLICE_ROWS", "ChecksumAccumulator", "TableStats", "table_stats"]

SLICE_ROWS: Final = 16_384
"""Rows hashed at once; bounds the temporaries of one :meth:`ChecksumAccumulator.update`."""

_MOD: Final = 1 << 64


@dataclass(frozen=True)
class TableStats:
    """Exact row count and the order-independent 64-bit checksum of a table or chunk."""

    rows: int
    checksum: int

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError(f"row count must be >= 0, got {self.rows}")
        if not 0 <= self.checksum < _MOD:
            raise ValueError(f"checksum must be an unsigned 64-bit integer, got {self.checksum}")

    @property
    def hex(self) -> str:
        """The checksum as 16 hex digits (how people compare it)."""
        return f"{self.checksum:016x}"

    def __add__(self, other: TableStats) -> TableStats:
        """Stats of the union of two disjoint row sets (e.g. two chunks)."""
        if not isinstance(other, TableStats):
            return NotImplemented
        return TableStats(self.rows + other.rows, (self.checksum + other.checksum) % _MOD)

    def to_dict(self) -> dict[str, int | str]:
        """JSON-safe form; the checksum goes as hex text too (JSON readers lose 64-bit ints)."""
        return {"rows": self.rows, "checksum": self.checksum, "checksum_hex": self.hex}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableStats:
        """Inverse of :meth:`to_dict`; accepts the checksum as int or hex text."""
        try:
            rows = int(data["rows"])
            raw = data.get("checksum_hex", data.get("checksum"))
            if raw is None:
                raise KeyError("checksum")
            checksum = int(raw, 16) if isinstance(raw, str) else int(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a table-stats record: {exc}") from exc
        return cls(rows, checksum)


EMPTY: Final = TableStats(0, 0)


class ChecksumAccumulator:
    """Feed record batches in any order and batching; :meth:`result` gives the stats.

    Holds only the running count and sum, so memory does not grow with the
    table.  Not thread-safe: use one accumulator per stream and add the
    resulting :class:`TableStats` together.
    """

    def __init__(self, schema: pa.Schema) -> None:
        for field in schema:
            try:
                _hashing.check_supported(field.type)
            except _hashing.UnsupportedType as exc:
                raise TypeMappingError(
                    f"the verification checksum has no encoding for Arrow type {exc.arrow_type}"
                    f" (column {field.name!r} is {field.type})",
                    column=field.name,
                ) from None
        names = schema.names
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SchemaMismatch(
                f"schema names column(s) {', '.join(repr(n) for n in duplicated)} more than once",
                column=duplicated[0],
            )
        self._schema = schema
        self._column_salts = [_hashing.column_salt(i) for i in range(len(schema))]
        self._group_salts = [_hashing.null_group_salt(g) for g in range((len(schema) + 63) // 64)]
        self._rows = 0
        self._sum = 0

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def update(self, batch: pa.RecordBatch) -> None:
        """Cast ``batch`` to the schema and add its rows."""
        columns = self._cast(batch)
        n = batch.num_rows
        for start in range(0, n, SLICE_ROWS):
            length = min(SLICE_ROWS, n - start)
            sliced = [c.slice(start, length) for c in columns]
            self._sum = (self._sum + self._hash_rows(sliced, length)) % _MOD
        self._rows += n

    def result(self) -> TableStats:
        return TableStats(self._rows, self._sum)

    # -- internals ---------------------------------------------------------------

    def _cast(self, batch: pa.RecordBatch) -> list[pa.Array]:
        incoming = batch.schema
        missing: list[str] = []
        failed: list[tuple[str, str]] = []
        columns: list[pa.Array] = []
        for field in self._schema:
            indices = incoming.get_all_field_indices(field.name)
            if len(indices) != 1:
                missing.append(field.name)
                continue
            column = batch.column(indices[0])
            if column.type != field.type:
                try:
                    column = pc.cast(column, field.type, safe=True)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                    failed.append(
                        (field.name, f"{field.name!r} ({column.type} -> {field.type}: {exc})")
                    )
                    continue
            columns.append(column)
        if missing or failed:
            parts = []
            if missing:
                parts.append(
                    "missing or ambiguous column(s) " + ", ".join(repr(m) for m in missing)
                )
            if failed:
                parts.append(
                    "column(s) that cannot be cast to the source type: "
                    + "; ".join(text for _, text in failed)
                )
            raise SchemaMismatch(
                "cannot checksum batch against the source schema: " + "; ".join(parts),
                column=(missing or [name for name, _ in failed])[0],
            )
        return columns

    def _hash_rows(self, columns: list[pa.Array], n: int) -> int:
        h = np.full(n, _hashing.SEED, dtype=np.uint64)
        null_words = [np.zeros(n, dtype=np.uint64) for _ in self._group_salts]
        for i, column in enumerate(columns):
            x, valid = _hashing.hash_array(column)
            h ^= x
            h ^= self._column_salts[i]
            _hashing.fmix64(h)
            if not valid.all():
                null_words[i // 64] |= (~valid).astype(np.uint64) << np.uint64(i % 64)
        for word, salt in zip(null_words, self._group_salts, strict=True):
            h ^= word
            h ^= salt
            _hashing.fmix64(h)
        return int(h.sum(dtype=np.uint64))


def table_stats(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> TableStats:
    """Stats of all ``batches`` (consumed one at a time) against ``schema``."""
    accumulator = ChecksumAccumulator(schema)
    for batch in batches:
        accumulator.update(batch)
    return accumulator.result()
