"""Verification: the same ``table-stats`` on both sides, compared.

The reader computes a table's exact row count and order-independent checksum
over the source rows (with the run's column subset and filter); the writer
computes them over what it reads back from the target, cast to the *source*
Arrow schema the client passes, so representations the plan calls lossless
are not differences and changed values always are (definition in
:mod:`bani.verify.checksum`).  Both sides run at once, and tables in parallel.
A table whose stats differ, or whose stats could not be computed, fails
verification and is named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from bani.errors import BaniError
from bani.logging import carry_context
from bani.verify import TableStats
from bani_flight.remote import ReaderClient, WriterClient
from bani_flight.summary import TableVerification, VerifyResult

__all__ = ["VerifyJob", "compare_stats", "verify_tables"]


@dataclass(frozen=True)
class VerifyJob:
    """One table to compare: where it is on each side and how it was read."""

    source_schema: str
    source_table: str
    target_schema: str
    target_table: str
    arrow_schema: pa.Schema
    columns: tuple[str, ...] | None = None
    filter: str | None = None

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


def compare_stats(job: VerifyJob, source: TableStats, target: TableStats) -> TableVerification:
    """Equal row counts and equal checksums, or a mismatch saying which differs."""
    problems = []
    if source.rows != target.rows:
        problems.append(f"{source.rows:,} source rows, {target.rows:,} target rows")
    if source.checksum != target.checksum:
        problems.append("checksums differ")
    return TableVerification(
        source_table=job.source_name,
        target_table=job.target_name,
        source_rows=source.rows,
        target_rows=target.rows,
        source_checksum=f"{source.checksum:016x}",
        target_checksum=f"{target.checksum:016x}",
        outcome="mismatch" if problems else "ok",
        detail="; ".join(problems),
    )


def _verify_one(
    reader: ReaderClient, writer: WriterClient, job: VerifyJob, pool: ThreadPoolExecutor
) -> TableVerification:
    columns = list(job.columns) if job.columns is not None else None
    source_future: Future[TableStats] = pool.submit(
        carry_context(reader.table_stats), job.source_schema, job.source_table, columns,
        job.filter,
    )
    try:
        target = writer.table_stats(job.target_schema, job.target_table, job.arrow_schema, columns)
        source = source_future.result()
    except BaniError as exc:
        return TableVerification(
            source_table=job.source_name,
            target_table=job.target_name,
            source_rows=None,
            target_rows=None,
            source_checksum=None,
            target_checksum=None,
            outcome="error",
            detail=exc.message,
        )
    return compare_stats(job, source, target)


def verify_tables(
    reader: ReaderClient,
    writer: WriterClient,
    jobs: Sequence[VerifyJob],
    parallel: int = 2,
    skip: Mapping[str, str] | None = None,
) -> VerifyResult:
    """Compare every job's stats; ``skip`` maps a source table name to why it is not compared."""
    skipped = skip or {}
    results: dict[int, TableVerification] = {}
    to_run = [(i, j) for i, j in enumerate(jobs) if j.source_name not in skipped]
    for i, job in enumerate(jobs):
        if job.source_name in skipped:
            results[i] = TableVerification(
                source_table=job.source_name,
                target_table=job.target_name,
                source_rows=None,
                target_rows=None,
                source_checksum=None,
                target_checksum=None,
                outcome="skipped",
                detail=skipped[job.source_name],
            )
    workers = max(1, min(parallel, len(to_run) or 1))
    with ThreadPoolExecutor(max_workers=workers) as tables, ThreadPoolExecutor(
        max_workers=workers
    ) as sources:
        futures = {
            i: tables.submit(carry_context(_verify_one), reader, writer, job, sources)
            for i, job in to_run
        }
        for i, future in futures.items():
            results[i] = future.result()
    return VerifyResult(tables=tuple(results[i] for i in range(len(jobs))))
