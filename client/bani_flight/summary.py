"""Results of a command, and how they are shown: a table on a terminal, JSON for scripts.

:class:`MigrationResult` is what ``migrate`` returns (from the CLI and the
Python API alike): per table the rows and bytes moved, seconds, rows/s and the
verification outcome, plus the run's chunk counts -- how many chunks the
writer already had (a resumed run skips them) and how many this invocation
moved.  :class:`VerifyResult` is what ``verify`` returns.  Both decide the exit
code: 0 only when every table verified.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "MigrationResult",
    "TableResult",
    "TableVerification",
    "VerifyResult",
    "format_bytes",
    "render_table",
]

VerifyOutcome = Literal["ok", "mismatch", "skipped", "error"]


@dataclass(frozen=True)
class TableVerification:
    """Source and target ``table-stats`` of one table and whether they agree."""

    source_table: str
    target_table: str
    source_rows: int | None
    target_rows: int | None
    source_checksum: str | None
    target_checksum: str | None
    outcome: VerifyOutcome
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class TableResult:
    """What ``migrate`` did for one table in this invocation."""

    source_table: str
    target_table: str
    rows: int
    bytes: int
    seconds: float
    chunks_total: int
    chunks_moved: int
    chunks_skipped: int
    verification: TableVerification | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def verify_outcome(self) -> VerifyOutcome:
        return self.verification.outcome if self.verification else "skipped"


@dataclass(frozen=True)
class VerifyResult:
    """``verify``: one comparison per table."""

    tables: tuple[TableVerification, ...]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def failed(self) -> tuple[TableVerification, ...]:
        return tuple(t for t in self.tables if not t.ok)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "tables": [asdict(t) for t in self.tables]}

    def render(self) -> str:
        rows = [
            [
                t.source_table,
                t.target_table,
                _count(t.source_rows),
                _count(t.target_rows),
                t.outcome if not t.detail else f"{t.outcome}: {t.detail}",
            ]
            for t in self.tables
        ]
        table = render_table(
            ["table", "target", "source rows", "target rows", "verification"],
            rows,
            align="llrrl",
        )
        verdict = "ok" if self.ok else f"FAILED: {', '.join(t.source_table for t in self.failed)}"
        return f"{table}\nverify: {verdict}"


@dataclass(frozen=True)
class MigrationResult:
    """``migrate``: the run, each table, and whether everything verified."""

    run_id: str
    resumed: bool
    tables: tuple[TableResult, ...]
    seconds: float
    verified: bool
    run_file: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every table verified (or verification was turned off and all moved)."""
        if not self.verified:
            return True
        return all(t.verify_outcome == "ok" for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)

    @property
    def chunks_moved(self) -> int:
        return sum(t.chunks_moved for t in self.tables)

    @property
    def chunks_skipped(self) -> int:
        return sum(t.chunks_skipped for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "bytes": self.bytes,
            "chunks_moved": self.chunks_moved,
            "chunks_skipped": self.chunks_skipped,
            "verified": self.verified,
            "run_file": self.run_file,
            "warnings": list(self.warnings),
            "tables": [
                {
                    "source_table": t.source_table,
                    "target_table": t.target_table,
                    "rows": t.rows,
                    "bytes": t.bytes,
                    "seconds": round(t.seconds, 3),
                    "rows_per_second": round(t.rows_per_second, 1),
                    "chunks_total": t.chunks_total,
                    "chunks_moved": t.chunks_moved,
                    "chunks_skipped": t.chunks_skipped,
                    "verification": asdict(t.verification) if t.verification else None,
                }
                for t in self.tables
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def render(self) -> str:
        rows: list[list[str]] = []
        for t in self.tables:
            verdict: str = t.verify_outcome
            if t.verification is not None and t.verification.detail and verdict != "ok":
                verdict = f"{verdict}: {t.verification.detail}"
            rows.append(
                [
                    t.source_table,
                    t.target_table,
                    f"{t.rows:,}",
                    format_bytes(t.bytes),
                    f"{t.seconds:.2f}",
                    f"{t.rows_per_second:,.0f}",
                    f"{t.chunks_moved}/{t.chunks_total}",
                    verdict,
                ]
            )
        rows.append(
            [
                "total",
                "",
                f"{self.rows:,}",
                format_bytes(self.bytes),
                f"{self.seconds:.2f}",
                f"{self.rows / self.seconds if self.seconds else 0:,.0f}",
                f"{self.chunks_moved}/{self.chunks_moved + self.chunks_skipped}",
                "",
            ]
        )
        table = render_table(
            ["table", "target", "rows", "bytes", "seconds", "rows/s", "chunks", "verification"],
            rows,
            align="llrrrrrl",
        )
        lines = [table]
        if self.resumed:
            lines.append(
                f"resumed run {self.run_id}: {self.chunks_skipped} chunk(s) were already "
                f"committed, {self.chunks_moved} moved now"
            )
        lines.extend(f"warning: {w}" for w in self.warnings)
        if not self.verified:
            outcome = "done (verification skipped)"
        elif self.ok:
            outcome = "ok"
        else:
            bad = [t.source_table for t in self.tables if t.verify_outcome != "ok"]
            outcome = f"FAILED verification: {', '.join(bad)}"
        lines.append(f"run {self.run_id}: {outcome}")
        return "\n".join(lines)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def format_bytes(count: float) -> str:
    """``1.5 MB`` style, powers of 1000 (what network people read)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """A plain text table: padded columns, ``l``/``r`` alignment per column."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            right = i < len(align) and align[i] == "r"
            out.append(cell.rjust(widths[i]) if right else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
