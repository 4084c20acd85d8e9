"""What creating a table on a target would do: its DDL and the columns it would not keep exactly.

These are domain values, not connector internals: the planner in
:mod:`bani.connectors` produces them, the wire codec carries them to the
client and the client shows them in ``plan`` and refuses a run on them, so
they live here where all three may import them.  ``bani.connectors.base``
re-exports them under the connector guide's import path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ColumnIssue", "IssueKind", "TablePlan"]

#: ``lossy``: the value arrives changed (precision, range, zone); ``refused``: the column
#: cannot be declared at all; ``default_dropped``: the default expression does not carry
#: over; ``fallback``: a wider type stands in (the value is kept, its declared type is not).
IssueKind = Literal["lossy", "refused", "default_dropped", "fallback"]


@dataclass(frozen=True)
class ColumnIssue:
    """A column that will not arrive exactly as it left, and why."""

    column: str
    kind: IssueKind
    reason: str


@dataclass(frozen=True)
class TablePlan:
    """What ``create_table`` would execute for a table, and what it would lose."""

    schema_name: str
    table_name: str
    statements: tuple[str, ...]
    issues: tuple[ColumnIssue, ...] = ()

    @property
    def refused(self) -> tuple[ColumnIssue, ...]:
        """The issues that stop the table from being created at all."""
        return tuple(i for i in self.issues if i.kind == "refused")
