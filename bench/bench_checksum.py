"""Throughput of the verification checksum on a 1M-row x 16-column table.

Run: ``.venv/bin/python bench/bench_checksum.py [--rows N] [--batch-rows N] [--repeat N]``

The table mixes what migrated tables hold: integers, floats, a boolean,
decimals, a timestamp with zone, a date, and short, medium and long text, with
about 5 % NULLs in the nullable columns.  The data is built once (not timed);
the timed part is exactly what ``table-stats`` does per batch, cast included
(the batches arrive in the source schema, so the cast is a no-op here).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa

from bani.verify import ChecksumAccumulator, TableStats


def make_table(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)

    def nulls() -> np.ndarray:
        return rng.random(rows) < 0.05

    def text(min_len: int, max_len: int) -> pa.Array:
        lengths = rng.integers(min_len, max_len + 1, rows)
        offsets = np.zeros(rows + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        data = rng.integers(97, 123, int(offsets[-1]), dtype=np.uint8)
        return pa.StringArray.from_buffers(
            rows, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data.tobytes())
        )

    ids = np.arange(rows, dtype=np.int64)
    columns: dict[str, pa.Array] = {
        "id": pa.array(ids),
        "customer_id": pa.array(rng.integers(0, 1_000_000, rows), mask=nulls()),
        "quantity": pa.array(rng.integers(0, 1000, rows).astype(np.int32), mask=nulls()),
        "status": pa.array(rng.integers(0, 10, rows).astype(np.int16)),
        "flags": pa.array(rng.integers(0, 2**62, rows), mask=nulls()),
        "version": pa.array(rng.integers(0, 100, rows).astype(np.int32)),
        "weight": pa.array(rng.random(rows), mask=nulls()),
        "ratio": pa.array(rng.standard_normal(rows)),
        "active": pa.array(rng.random(rows) < 0.5, mask=nulls()),
        "price": pa.array(rng.integers(0, 10**9, rows)).cast(pa.decimal128(22, 2)),
        "tax": pa.array(rng.integers(0, 10**6, rows).astype(np.int32)).cast(pa.decimal128(12, 2)),
        "created_at": pa.array(
            rng.integers(0, 2 * 10**15, rows), pa.timestamp("us", tz="UTC"), mask=nulls()
        ),
        "birthday": pa.array(rng.integers(-20000, 20000, rows).astype(np.int32), pa.date32()),
        "code": text(4, 12),
        "email": text(15, 40),
        "note": text(50, 150),
    }
    return pa.table(columns)


def run(table: pa.Table, batch_rows: int) -> tuple[float, TableStats]:
    batches = table.to_batches(max_chunksize=batch_rows)
    accumulator = ChecksumAccumulator(table.schema)
    start = time.perf_counter()
    for batch in batches:
        accumulator.update(batch)
    return time.perf_counter() - start, accumulator.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    table = make_table(args.rows).combine_chunks()
    nbytes = table.nbytes
    print(
        f"table: {table.num_rows:,} rows x {table.num_columns} columns, "
        f"{nbytes / 2**20:.1f} MiB in Arrow; batches of {args.batch_rows:,} rows"
    )
    run(table.slice(0, min(args.rows, 10_000)), args.batch_rows)  # warm up imports and caches
    times: list[float] = []
    result: TableStats | None = None
    for _ in range(args.repeat):
        seconds, stats = run(table, args.batch_rows)
        if result is not None and stats != result:
            raise SystemExit(f"checksum not deterministic: {stats} != {result}")
        result = stats
        times.append(seconds)
    best, median = min(times), statistics.median(times)
    assert result is not None
    print(f"stats: rows={result.rows:,} checksum={result.hex}")
    print(
        f"best {best:.3f} s = {table.num_rows / best:,.0f} rows/s "
        f"({nbytes / best / 2**20:,.0f} MiB/s); median {median:.3f} s over {args.repeat} runs"
    )


if __name__ == "__main__":
    main()
