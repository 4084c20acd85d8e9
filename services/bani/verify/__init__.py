"""Verification of migrated data: exact row counts and an order-free checksum.

The definition of the checksum lives in :mod:`bani.verify.checksum`.
"""

from bani.verify.checksum import (
    EMPTY,
    SLICE_ROWS,
    ChecksumAccumulator,
    TableStats,
    table_stats,
)

__all__ = ["EMPTY", "SLICE_ROWS", "ChecksumAccumulator", "TableStats", "table_stats"]
