"""The verification checksum: what it must detect, what it must ignore, and its definition.

A plain-Python implementation of the definition in ``bani.verify.checksum``'s
docstring (one row at a time, obviously slow) is checked against the
vectorized one on every supported type, so the documented text and the code
cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
import struct
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pytest

from bani.errors import SchemaMismatch, TypeMappingError
from bani.verify import ChecksumAccumulator, TableStats, table_stats
from bani.verify import checksum as checksum_module

# -- helpers ----------------------------------------------------------------------


def stats(table: pa.Table, schema: pa.Schema | None = None) -> TableStats:
    return table_stats(table.to_batches(), schema if schema is not None else table.schema)


def with_value(table: pa.Table, column: str, row: int, value: Any) -> pa.Table:
    """``table`` with one cell replaced (same type)."""
    index = table.schema.get_field_index(column)
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(index, table.field(column), pa.array(values, table.field(column).type))


def all_types_table() -> pa.Table:
    """Three rows over every supported type, NULLs included."""
    utc = dt.UTC
    columns: dict[str, pa.Array] = {
        "i8": pa.array([-128, 0, None], pa.int8()),
        "i16": pa.array([-1, 32767, None], pa.int16()),
        "i32": pa.array([7, -7, None], pa.int32()),
        "i64": pa.array([-(2**63), 2**63 - 1, None], pa.int64()),
        "u8": pa.array([0, 255, None], pa.uint8()),
        "u16": pa.array([1, 65535, None], pa.uint16()),
        "u32": pa.array([2, 2**32 - 1, None], pa.uint32()),
        "u64": pa.array([3, 2**64 - 1, None], pa.uint64()),
        "f16": pa.array([1.5, -2.0, None], pa.float32()).cast(pa.float16()),
        "f32": pa.array([1.25, float("inf"), None], pa.float32()),
        "f64": pa.array([math.pi, float("nan"), None], pa.float64()),
        "b": pa.array([True, False, None], pa.bool_()),
        "d32": pa.array(
            [decimal.Decimal("1.23"), decimal.Decimal("-9.99"), None], pa.decimal32(5, 2)
        ),
        "d64": pa.array(
            [decimal.Decimal("1.23"), decimal.Decimal("-9.99"), None], pa.decimal64(12, 2)
        ),
        "d128": pa.array(
            [decimal.Decimal("12345678901234567890.12"), decimal.Decimal("-0.01"), None],
            pa.decimal128(38, 2),
        ),
        "d256": pa.array(
            [decimal.Decimal("-1" + "0" * 60 + ".5"), decimal.Decimal("0.5"), None],
            pa.decimal256(70, 1),
        ),
        "date32": pa.array([dt.date(2024, 2, 29), dt.date(1, 1, 1), None], pa.date32()),
        "date64": pa.array([dt.date(2024, 2, 29), dt.date(1969, 12, 31), None], pa.date64()),
        "t32s": pa.array([dt.time(23, 59, 59), dt.time(0, 0, 1), None], pa.time32("s")),
        "t32ms": pa.array([dt.time(12, 0, 0, 1000), dt.time(0), None], pa.time32("ms")),
        "t64us": pa.array([dt.time(12, 0, 0, 1), dt.time(0), None], pa.time64("us")),
        "t64ns": pa.array([43_200_000_000_001, 0, None], pa.time64("ns")),
        "ts_s": pa.array([0, -1, None], pa.timestamp("s")),
        "ts_ms_tz": pa.array(
            [dt.datetime(2024, 1, 1, tzinfo=utc), dt.datetime(1900, 1, 1, tzinfo=utc), None],
            pa.timestamp("ms", tz="Europe/Berlin"),
        ),
        "ts_us": pa.array(
            [dt.datetime(2024, 1, 1, 12, 30, 0, 123456), dt.datetime(1, 1, 1), None],
            pa.timestamp("us"),
        ),
        "ts_ns_tz": pa.array([1_700_000_000_123_456_789, -1, None], pa.timestamp("ns", tz="UTC")),
        "dur_ms": pa.array([1500, -1, None], pa.duration("ms")),
        "dur_ns": pa.array([1_001, -1_001, None], pa.duration("ns")),
        "s": pa.array(["héllo wörld, a longer string", "", None], pa.string()),
        "ls": pa.array(["12345678", "x" * 17, None], pa.large_string()),
        "bin": pa.array([b"\x00", b"\x00\x00\x00\x00\x00\x00\x00\x00\x00", None], pa.binary()),
        "lbin": pa.array([b"abc", b"", None], pa.large_binary()),
        "fsb": pa.array([b"abcd", b"\x00\x00\x00\x00", None], pa.binary(4)),
        "list_i": pa.array([[1, None, 3], [], None], pa.list_(pa.int64())),
        "llist_s": pa.array([["a", "bc"], [None], None], pa.large_list(pa.string())),
        "fsl": pa.array([[1, 2], [None, 4], None], pa.list_(pa.int32(), 2)),
        "list_list": pa.array([[[1], [2, 3]], [[], None], None], pa.list_(pa.list_(pa.int16()))),
        "nul": pa.array([None, None, None], pa.null()),
        "interval": pa.array(
            [pa.MonthDayNano([1, -2, 3_000]), pa.MonthDayNano([-1, 30, -1]), None],
            pa.month_day_nano_interval(),
        ),
        "uuid": pa.ExtensionArray.from_storage(
            pa.uuid(), pa.array([b"0123456789abcdef", b"\x00" * 16, None], pa.binary(16))
        ),
        "dict": pa.array(["x", "y", None]).dictionary_encode(),
    }
    return pa.table(columns)


# -- a plain-Python reference of the documented definition -------------------------

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fmix(x: int) -> int:
    x &= MASK
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK
    x ^= x >> 33
    return x


def K(t: int) -> int:
    return fmix((t * GOLDEN) & MASK)


SEED, K_LEN, K_BYTES, K_LIST, K_VALID, K_NULL, K_DEC = (K(t) for t in range(1, 8))
K_POS = GOLDEN


def ref_sequence(terms: Sequence[int], length: int, kind: int) -> int:
    total = sum(fmix((t + k * K_POS) & MASK) for k, t in enumerate(terms, start=1))
    return fmix(((total + length * K_LEN) & MASK) ^ kind)


def ref_bytes(data: bytes) -> int:
    words = [
        int.from_bytes(data[i : i + 8].ljust(8, b"\x00"), "little") for i in range(0, len(data), 8)
    ]
    return ref_sequence(words, len(data), K_BYTES)


def ref_micros(raw: int, unit: str) -> int:
    if unit == "ns":
        micros, nanos = divmod(raw, 1000)
    else:
        micros, nanos = raw * {"s": 1_000_000, "ms": 1000, "us": 1}[unit], 0
    return (micros + fmix(nanos)) & MASK


def ref_value(value: Any, t: pa.DataType, raw: int | None) -> int:
    """x of one non-NULL value; ``raw`` is the stored integer for temporal types."""
    if pa.types.is_dictionary(t):
        return ref_value(value, t.value_type, raw)
    if isinstance(t, pa.BaseExtensionType):
        return ref_value(value.bytes if hasattr(value, "bytes") else value, t.storage_type, raw)
    if t == pa.month_day_nano_interval():
        months, days, nanos = int(value.months), int(value.days), int(value.nanoseconds)
        packed = ((months & MASK) << 32 | (days & 0xFFFFFFFF)) & MASK
        return (nanos + fmix(packed ^ K(8))) & MASK
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return int(value) & MASK
    if pa.types.is_floating(t):
        f = float(value)
        if math.isnan(f):
            return 0x7FF8000000000000
        if f == 0.0:
            f = 0.0
        return int(struct.unpack("<Q", struct.pack("<d", f))[0])
    if pa.types.is_decimal(t):
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        unscaled = int("".join(map(str, digits))) * 10 ** int(exponent + t.scale)
        unscaled = -unscaled if sign else unscaled
        w = [(unscaled >> (64 * i)) & MASK for i in range(4)]
        high = fmix(fmix(fmix(w[3] ^ K_DEC) ^ w[2]) ^ w[1])
        return int(w[0] + high) & MASK
    if pa.types.is_date32(t):
        return int((value - dt.date(1970, 1, 1)).days) & MASK
    if pa.types.is_date64(t):
        assert raw is not None
        days, rest = divmod(raw, 86_400_000)
        return (days + (fmix(rest ^ K_LEN) if rest else 0)) & MASK
    if pa.types.is_time(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t):
        assert raw is not None
        return ref_micros(raw, t.unit)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return ref_bytes(value.encode("utf-8"))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return ref_bytes(value)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        terms = [
            K_NULL if element is None else ref_value(element, t.value_type, None) ^ K_VALID
            for element in value
        ]
        return ref_sequence(terms, len(terms), K_LIST)
    raise AssertionError(f"reference has no encoding for {t}")


def raw_view(t: pa.DataType) -> pa.DataType | None:
    """The integer type a temporal column's stored values are read as (None: not needed)."""
    if pa.types.is_date64(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t):
        return pa.int64()
    if pa.types.is_time32(t):
        return pa.int32()
    if pa.types.is_time64(t):
        return pa.int64()
    return None


def ref_raw(column: pa.Array) -> list[int | None]:
    view = raw_view(column.type)
    if view is None:
        return [None] * len(column)
    return column.view(view).to_pylist()  # type: ignore[no-any-return]


def ref_stats(table: pa.Table) -> TableStats:
    table = table.combine_chunks()
    columns = [
        table.column(i).chunk(0) if table.num_rows else None for i in range(table.num_columns)
    ]
    raws = [ref_raw(c) for c in columns if c is not None]
    values = [
        raw if raw_view(c.type) is not None else c.to_pylist()
        for c, raw in zip([c for c in columns if c is not None], raws, strict=True)
    ]
    total = 0
    for row in range(table.num_rows):
        h = SEED
        null_words = [0] * ((table.num_columns + 63) // 64)
        for i, field in enumerate(table.schema):
            value = values[i][row]
            if pa.types.is_floating(field.type) and value is not None and math.isnan(value):
                x = 0x7FF8000000000000
            elif value is None:
                x = 0
                null_words[i // 64] |= 1 << (i % 64)
            else:
                x = ref_value(value, field.type, raws[i][row])
            h = fmix(h ^ x ^ K(1000 + i))
        for g, word in enumerate(null_words):
            h = fmix(h ^ word ^ K(2000 + g))
        total = (total + h) % (1 << 64)
    return TableStats(table.num_rows, total)


# -- the definition ---------------------------------------------------------------------


def test_vectorized_checksum_equals_the_documented_definition_on_every_type() -> None:
    table = all_types_table()
    assert stats(table) == ref_stats(table)


def test_each_column_matches_the_definition_on_its_own() -> None:
    """Pinpoints the type whose encoding drifted, if the whole-table test fails."""
    table = all_types_table()
    for name in table.column_names:
        single = table.select([name])
        assert stats(single) == ref_stats(single), name


def test_random_data_matches_the_definition() -> None:
    rng = random.Random(7)
    n = 300

    def maybe(v: Any) -> Any:
        return None if rng.random() < 0.1 else v

    table = pa.table(
        {
            "i": pa.array([maybe(rng.randrange(-(2**63), 2**63)) for _ in range(n)], pa.int64()),
            "s": pa.array(
                [
                    maybe("".join(rng.choice("aé€𝄞\x00") for _ in range(rng.randrange(0, 30))))
                    for _ in range(n)
                ],
                pa.string(),
            ),
            "d": pa.array(
                [
                    maybe(decimal.Decimal(rng.randrange(-(10**30), 10**30)).scaleb(-4))
                    for _ in range(n)
                ],
                pa.decimal128(38, 4),
            ),
            "ts": pa.array(
                [maybe(rng.randrange(-(10**18), 10**18)) for _ in range(n)],
                pa.timestamp("ns", tz="UTC"),
            ),
            "l": pa.array(
                [
                    maybe([maybe(rng.randrange(100)) for _ in range(rng.randrange(4))])
                    for _ in range(n)
                ],
                pa.list_(pa.int32()),
            ),
        }
    )
    assert stats(table) == ref_stats(table)


def test_known_answer_is_pinned() -> None:
    """Changing the definition changes every stored checksum: it must be on purpose."""
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", None, ""]})
    result = stats(table)
    assert result == ref_stats(table)
    assert result.rows == 3
    assert result.hex == PINNED_HEX


PINNED_HEX = "0718205fe914bade"


# -- what it must detect ------------------------------------------------------------------


def base_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "a": pa.array(["ab", "x", None, ""], pa.string()),
            "b": pa.array(["c", "y", "z", None], pa.string()),
            "price": pa.array(
                [decimal.Decimal(v) for v in ("0.99", "1.00", "2.50", "3.75")], pa.decimal128(10, 2)
            ),
            "at": pa.array([1, 2, 3, 4], pa.timestamp("us", tz="UTC")),
            "score": pa.array([0.5, 1.5, None, 2.5], pa.float64()),
        }
    )


@pytest.mark.parametrize(
    ("column", "row", "value"),
    [
        ("id", 0, 5),
        ("a", 1, "X"),
        ("b", 0, "c "),
        ("price", 0, decimal.Decimal("0.98")),
        ("at", 3, dt.datetime(1970, 1, 1, 0, 0, 0, 5, tzinfo=dt.UTC)),
        ("score", 0, 0.5000000000000001),
    ],
)
def test_one_changed_value_changes_the_checksum(column: str, row: int, value: Any) -> None:
    table = base_table()
    changed = with_value(table, column, row, value)
    assert stats(changed).rows == stats(table).rows
    assert stats(changed).checksum != stats(table).checksum


def test_every_type_detects_one_changed_value() -> None:
    """Replacing row 0's value by row 1's, column by column, always shows."""
    table = all_types_table()
    before = stats(table)
    for name in table.column_names:
        if name == "nul":
            continue
        column = table.column(name)
        swapped = pa.concat_arrays([column.chunk(0).slice(1, 1), column.chunk(0).slice(1)])
        changed = table.set_column(table.schema.get_field_index(name), name, swapped)
        assert stats(changed).checksum != before.checksum, name


def test_values_swapped_between_rows_of_one_column_are_detected() -> None:
    table = base_table()
    ids = table.column("id").to_pylist()
    ids[0], ids[1] = ids[1], ids[0]
    swapped = table.set_column(0, "id", pa.array(ids, pa.int64()))
    assert stats(swapped).checksum != stats(table).checksum


def test_values_swapped_between_two_columns_of_one_row_are_detected() -> None:
    table = pa.table({"a": pa.array([1, 5], pa.int64()), "b": pa.array([2, 6], pa.int64())})
    swapped = pa.table({"a": pa.array([2, 5], pa.int64()), "b": pa.array([1, 6], pa.int64())})
    assert stats(swapped).checksum != stats(table).checksum


def test_null_changed_to_empty_string_is_detected() -> None:
    table = base_table()
    assert table.column("a")[2].as_py() is None
    changed = with_value(table, "a", 2, "")
    assert stats(changed).checksum != stats(table).checksum


@pytest.mark.parametrize(
    ("arrow_type", "empty"),
    [
        (pa.int64(), 0),
        (pa.float64(), 0.0),
        (pa.binary(), b""),
        (pa.list_(pa.int8()), []),
        (pa.bool_(), False),
        (pa.date32(), dt.date(1970, 1, 1)),
    ],
)
def test_null_differs_from_the_zero_value_of_every_type(
    arrow_type: pa.DataType, empty: Any
) -> None:
    with_null = pa.table({"v": pa.array([None], arrow_type)})
    with_zero = pa.table({"v": pa.array([empty], arrow_type)})
    assert stats(with_null).checksum != stats(with_zero).checksum


def test_value_moved_across_a_column_boundary_is_detected() -> None:
    left = pa.table({"a": ["ab"], "b": ["c"]})
    right = pa.table({"a": ["a"], "b": ["bc"]})
    assert stats(left).checksum != stats(right).checksum


def test_list_boundaries_and_null_elements_are_detected() -> None:
    t = pa.list_(pa.string())
    cases = [[["ab"], ["c"]], [["a"], ["bc"]], [["a", "b"], ["c"]], [["a"], ["b", "c"]]]
    checksums = {
        stats(pa.table({"x": pa.array(c[:1], t), "y": pa.array(c[1:], t)})).checksum for c in cases
    }
    assert len(checksums) == len(cases)
    assert stats(pa.table({"x": pa.array([[None]], t)})) != stats(
        pa.table({"x": pa.array([[""]], t)})
    )
    assert stats(pa.table({"x": pa.array([[]], t)})) != stats(pa.table({"x": pa.array([None], t)}))


def test_trailing_zero_bytes_and_word_boundaries_are_detected() -> None:
    values = [b"", b"\x00", b"\x00" * 8, b"\x00" * 9, b"a", b"a\x00", b"12345678", b"123456789"]
    checksums = {stats(pa.table({"v": pa.array([v], pa.binary())})).checksum for v in values}
    assert len(checksums) == len(values)


def test_a_duplicated_row_is_not_the_same_as_two_distinct_rows() -> None:
    a = pa.table({"id": pa.array([1, 1], pa.int64())})
    b = pa.table({"id": pa.array([1, 2], pa.int64())})
    assert stats(a).rows == stats(b).rows
    assert stats(a).checksum != stats(b).checksum


def test_sub_microsecond_differences_still_count() -> None:
    a = pa.table({"t": pa.array([1000], pa.timestamp("ns"))})
    b = pa.table({"t": pa.array([1001], pa.timestamp("ns"))})
    assert stats(a).checksum != stats(b).checksum


# -- what it must ignore ----------------------------------------------------------------------


def test_row_order_and_batch_boundaries_do_not_matter() -> None:
    table = all_types_table()
    table = pa.concat_tables([table] * 7)
    indices = list(range(table.num_rows))
    random.Random(3).shuffle(indices)
    shuffled = table.take(pa.array(indices))
    one_batch = stats(table)
    # one row per batch: every column is a slice with a non-zero offset
    per_row = table_stats(shuffled.to_batches(max_chunksize=1), table.schema)
    uneven = table_stats(
        [
            shuffled.slice(0, 5).combine_chunks().to_batches()[0],
            shuffled.slice(5).combine_chunks().to_batches()[0],
        ],
        table.schema,
    )
    assert per_row == one_batch
    assert uneven == one_batch


def test_large_batches_are_hashed_in_slices_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = pa.concat_tables([all_types_table()] * 5).combine_chunks()
    whole = stats(table)
    monkeypatch.setattr(checksum_module, "SLICE_ROWS", 4)
    assert stats(table) == whole


def test_chunk_stats_add_up_to_the_table_stats() -> None:
    table = pa.concat_tables([base_table()] * 3)
    first, second = table.slice(0, 5), table.slice(5)
    assert stats(first) + stats(second) == stats(table)


def test_representations_removed_by_the_cast_to_the_source_schema_are_equal() -> None:
    source_schema = pa.schema(
        [
            ("price", pa.decimal128(10, 2)),
            ("n", pa.int64()),
            ("at", pa.timestamp("us", tz="Europe/Berlin")),
            ("name", pa.string()),
            ("kind", pa.string()),
        ]
    )
    instants = [dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.UTC), None]
    source = pa.table(
        {
            "price": pa.array(
                [decimal.Decimal("0.99"), decimal.Decimal("-12.30")], pa.decimal128(10, 2)
            ),
            "n": pa.array([1, None], pa.int64()),
            "at": pa.array(instants, pa.timestamp("us", tz="Europe/Berlin")),
            "name": pa.array(["é", ""], pa.string()),
            "kind": pa.array(["a", "b"], pa.string()),
        },
        schema=source_schema,
    )
    read_back = pa.table(
        {
            # columns in another order, an extra one, other physical types
            "kind": pa.array(["a", "b"]).dictionary_encode(),
            "extra": pa.array([1, 2]),
            "name": pa.array(["é", ""], pa.large_string()),
            "at": pa.array(
                [v.replace(tzinfo=None) if v else None for v in instants], pa.timestamp("ns")
            ).cast(pa.timestamp("ns", tz="UTC")),
            "n": pa.array([1, None], pa.int32()),
            "price": pa.array(["0.99", "-12.3"], pa.string()),
        }
    )
    assert stats(read_back, source_schema) == stats(source)


def test_nan_payloads_and_the_sign_of_zero_are_one_value() -> None:
    nan_bits = [0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000000]
    nans = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in nan_bits]
    checksums = {stats(pa.table({"f": pa.array([v], pa.float64())})).checksum for v in nans}
    assert len(checksums) == 1
    zero = stats(pa.table({"f": pa.array([0.0])}))
    assert stats(pa.table({"f": pa.array([-0.0])})) == zero
    assert stats(pa.table({"f": pa.array([float("inf")])})) != zero
    assert stats(pa.table({"f": pa.array([float("-inf")])})) != zero


def test_timestamp_units_and_zones_hash_as_utc_microseconds() -> None:
    instant = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    schema = pa.schema([("t", pa.timestamp("us", tz="UTC"))])
    variants = [
        pa.array([instant], pa.timestamp("s", tz="UTC")),
        pa.array([instant], pa.timestamp("ms", tz="America/New_York")),
        pa.array([instant], pa.timestamp("ns", tz="Asia/Kolkata")),
    ]
    expected = stats(pa.table({"t": pa.array([instant], pa.timestamp("us", tz="UTC"))}))
    for variant in variants:
        assert stats(pa.table({"t": variant}), schema) == expected, variant.type


# -- errors ----------------------------------------------------------------------------------------


def test_an_unsupported_type_is_refused_naming_the_column() -> None:
    schema = pa.schema([("id", pa.int64()), ("address", pa.struct([("city", pa.string())]))])
    with pytest.raises(TypeMappingError) as info:
        ChecksumAccumulator(schema)
    assert info.value.context.column == "address"
    assert "struct" in str(info.value)


def test_unsupported_types_nested_in_lists_are_refused() -> None:
    schema = pa.schema([("spans", pa.list_(pa.map_(pa.string(), pa.int64())))])
    with pytest.raises(TypeMappingError) as info:
        ChecksumAccumulator(schema)
    assert info.value.context.column == "spans"


def test_a_missing_column_is_a_schema_mismatch_naming_it() -> None:
    accumulator = ChecksumAccumulator(pa.schema([("id", pa.int64()), ("name", pa.string())]))
    batch = pa.record_batch({"id": pa.array([1], pa.int64())})
    with pytest.raises(SchemaMismatch) as info:
        accumulator.update(batch)
    assert info.value.context.column == "name"
    assert "'name'" in str(info.value)


def test_a_column_that_cannot_be_cast_is_a_schema_mismatch_naming_it() -> None:
    accumulator = ChecksumAccumulator(pa.schema([("id", pa.int64()), ("qty", pa.int8())]))
    batch = pa.record_batch({"id": pa.array([1]), "qty": pa.array([1000])})
    with pytest.raises(SchemaMismatch) as info:
        accumulator.update(batch)
    assert info.value.context.column == "qty"
    text = pa.record_batch({"id": pa.array(["one"]), "qty": pa.array([1], pa.int8())})
    with pytest.raises(SchemaMismatch) as info:
        accumulator.update(text)
    assert info.value.context.column == "id"


def test_stats_round_trip_through_a_dict() -> None:
    result = TableStats(rows=12, checksum=2**64 - 1)
    assert TableStats.from_dict(result.to_dict()) == result
    assert TableStats.from_dict({"rows": 12, "checksum": 2**64 - 1}) == result
    assert result.to_dict()["checksum_hex"] == "ffffffffffffffff"
    with pytest.raises(ValueError, match="table-stats"):
        TableStats.from_dict({"rows": 1})
    with pytest.raises(ValueError):
        TableStats(rows=1, checksum=2**64)


def test_empty_input_has_zero_rows_and_zero_checksum() -> None:
    schema = pa.schema([("id", pa.int64())])
    assert table_stats([], schema) == TableStats(0, 0)
    assert table_stats([pa.record_batch({"id": pa.array([], pa.int64())})], schema) == TableStats(
        0, 0
    )


def test_stats_are_the_same_on_repeated_runs() -> None:
    table = all_types_table()
    assert stats(table) == stats(table)
    assert stats(table) == stats(pa.Table.from_batches(table.to_batches()))


def test_memory_is_bounded_by_the_slice_not_the_batch() -> None:
    import tracemalloc

    import numpy as np

    rows = 400_000
    rng = np.random.default_rng(5)
    lengths = rng.integers(20, 60, rows)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = rng.integers(97, 123, int(offsets[-1]), dtype=np.uint8)
    text = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
    batch = pa.record_batch({"id": pa.array(np.arange(rows)), "text": text})
    accumulator = ChecksumAccumulator(batch.schema)
    tracemalloc.start()
    try:
        accumulator.update(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert batch.nbytes > 18 * 2**20
    assert peak < 8 * 2**20, (
        f"peak {peak / 2**20:.1f} MiB for a {batch.nbytes / 2**20:.0f} MiB batch"
    )
