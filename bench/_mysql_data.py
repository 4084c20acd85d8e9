"""The benchmark table: 16 columns of the kinds a real OLTP table has.

Generated column-wise with Arrow kernels (no per-row Python), written as the
CSV the ``mysql`` client loads for the ``LOAD DATA`` baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["TABLE_DDL", "make_batch", "write_csv"]

TABLE_DDL = """(
  id BIGINT NOT NULL PRIMARY KEY,
  qty INT NOT NULL,
  views INT UNSIGNED NULL,
  big BIGINT NULL,
  price DECIMAL(12,2) NULL,
  rate DECIMAL(20,6) NULL,
  score DOUBLE NULL,
  weight FLOAT NULL,
  code VARCHAR(32) NULL,
  label VARCHAR(100) NULL,
  note TEXT NULL,
  born DATE NULL,
  seen DATETIME(6) NULL,
  changed TIMESTAMP NULL,
  active TINYINT(1) NULL,
  tag CHAR(10) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""


def make_batch(start: int, count: int) -> pa.RecordBatch:
    """Rows ``start .. start+count-1`` (ids from 1), about 10 % NULLs in ``note``."""
    ids = np.arange(start, start + count, dtype=np.int64)
    id_arr = pa.array(ids)
    text_ids = pc.cast(id_arr, pa.string())
    seconds = pa.array(ids * 37 % 900_000_000 + 100_000_000, pa.int64())
    micros = pa.array(ids * 1_000_003 % 86_400_000_000, pa.int64())
    note = pc.binary_join_element_wise("comment ", text_ids, " with some text", "")
    note = pc.if_else(pa.array(ids % 10 == 0), pa.scalar(None, pa.string()), note)
    columns = {
        "id": id_arr,
        "qty": pa.array((ids % 100_000).astype(np.int32)),
        "views": pa.array((ids * 7 % 4_000_000_000).astype(np.uint32)),
        "big": pa.array(ids * 1_000_003),
        "price": pc.cast(pa.array((ids % 1_000_000) / 100.0), pa.decimal128(12, 2)),
        "rate": pc.cast(pa.array(np.round(ids / 7.0, 6)), pa.decimal128(20, 6)),
        "score": pa.array(ids / 3.0),
        "weight": pa.array((ids / 9.0).astype(np.float32)),
        "code": pc.binary_join_element_wise("name-", text_ids, ""),
        "label": pc.utf8_rpad(
            pc.binary_join_element_wise("L", text_ids, ""), width=40, padding="x"
        ),
        "note": note,
        "born": pa.array((ids % 9000 + 10957).astype(np.int32)).cast(pa.date32()),
        "seen": pa.array(seconds.to_numpy() * 1_000_000 + micros.to_numpy() % 1_000_000).cast(
            pa.timestamp("us")
        ),
        "changed": seconds.cast(pa.timestamp("s", tz="UTC")),
        "active": pa.array(ids % 2 == 0),
        "tag": pc.utf8_lpad(pc.cast(pa.array(ids % 1000), pa.string()), width=10, padding="x"),
    }
    return pa.RecordBatch.from_pydict(columns)


def write_csv(path: Path, rows: int, chunk: int = 200_000) -> None:
    """The table as CSV for ``LOAD DATA`` (``NULL`` unquoted, values quoted)."""
    options = pacsv.WriteOptions(
        include_header=False, null_string="NULL", quoting_style="all_valid"
    )
    first = make_batch(1, min(chunk, rows))
    schema = pa.schema([pa.field(f.name, pa.string()) for f in first.schema])
    with pacsv.CSVWriter(str(path), schema, write_options=options) as writer:
        for start in range(1, rows + 1, chunk):
            batch = make_batch(start, min(chunk, rows - start + 1))
            as_text = [_csv_text(batch.column(i)) for i in range(batch.num_columns)]
            writer.write_batch(pa.RecordBatch.from_arrays(as_text, schema=schema))


def _csv_text(array: pa.Array) -> pa.Array:
    if pa.types.is_boolean(array.type):
        return pc.cast(pc.cast(array, pa.uint8()), pa.string())
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        return pc.cast(array.cast(pa.timestamp(array.type.unit)), pa.string())
    return pc.cast(array, pa.string())
