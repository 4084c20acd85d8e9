"""From the reader's schema and the selection to what the writer is asked to build.

Pure functions over :mod:`bani.domain` values -- no I/O:

* :func:`target_definitions` turns each selected source table into the
  :class:`~bani.domain.schema.TableDefinition` the writer gets: renamed into
  its target schema, narrowed to the column subset (indexes that lose a column
  are left out, as are check constraints, whose text the client cannot read),
  and with foreign keys pointing at the *target* placement of the referenced
  table.  A foreign key to a table outside the selection is left out.  Every
  omission is returned as a warning, so ``plan`` shows it.
* :func:`creation_order` puts referenced tables before the tables that
  reference them (for display; the writer creates keys after the data);
  :func:`transfer_order` puts the largest tables first, so the long pole
  starts early and small tables fill the gaps.
* :class:`PlanReport` is what ``plan`` prints: per table its target DDL, the
  lossy or refused columns with the writer's reasons, row estimate and chunks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bani.domain.arrow_fields import KEY_CHAR_LENGTH
from bani.domain.schema import (
    EnumTypeDefinition,
    ForeignKeyDefinition,
    TableDefinition,
)
from bani_flight.runs import PlannedTable
from bani_flight.selection import SelectedTable
from bani_flight.summary import render_table

__all__ = [
    "BATCH_TARGET_BYTES",
    "ColumnIssueView",
    "PlanReport",
    "TablePlanView",
    "batch_rows_for",
    "creation_order",
    "target_definitions",
    "target_enum_types",
    "transfer_order",
]


#: What the client asks one record batch to weigh.  Each stream holds a batch in
#: hand, its compressed copy for the put and what gRPC buffers on both sides, so
#: this (times --parallel) is what bounds the client's memory.  Measured on 5M
#: rows x 16 columns: 4 MiB batches peaked at ~250 MB, 2 MiB at ~185 MB, at the
#: same speed (a few thousand rows per batch keep per-batch overhead negligible).
BATCH_TARGET_BYTES = 2 * 1024 * 1024
_MIN_BATCH_ROWS = 1024
_MAX_BATCH_ROWS = 262_144
_UNKNOWN_WIDTH = 64


def _field_width(field: pa.Field) -> int:
    """Estimated bytes per value: exact for fixed widths, a guess for variable ones."""
    kind = field.type
    if pa.types.is_boolean(kind):
        return 1
    try:
        return max(int(kind.bit_width) // 8, 1)
    except ValueError:
        pass
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(
        kind
    ) or pa.types.is_large_binary(kind):
        declared = (field.metadata or {}).get(KEY_CHAR_LENGTH.encode())
        width = int(declared) if declared and declared.isdigit() else _UNKNOWN_WIDTH
        return 4 + min(max(width, 1), _UNKNOWN_WIDTH)
    return _UNKNOWN_WIDTH


def batch_rows_for(schema: pa.Schema, target_bytes: int = BATCH_TARGET_BYTES) -> int:
    """Rows per batch so a batch of ``schema`` weighs about ``target_bytes``.

    The client's memory is bounded by batch size times parallel streams, so
    the batch size is chosen in bytes, not rows: a two-column table gets big
    batches, a wide one small ones.
    """
    width = sum(_field_width(f) for f in schema) or 1
    rows = target_bytes // width
    return int(min(max(rows, _MIN_BATCH_ROWS), _MAX_BATCH_ROWS))


def _placements(selected: Iterable[SelectedTable]) -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (s.source.schema_name, s.source.table_name): (s.target_schema, s.target_table)
        for s in selected
    }


def _target_fk(
    fk: ForeignKeyDefinition,
    placed: Mapping[tuple[str, str], tuple[str, str]],
    target_schema: str,
    target_table: str,
    columns: set[str] | None,
) -> tuple[ForeignKeyDefinition | None, str | None]:
    where = f"foreign key {fk.name or '(unnamed)'} of {fk.source_schema}.{fk.source_table}"
    referenced = placed.get((fk.referenced_schema, fk.referenced_table))
    if referenced is None:
        return None, (
            f"{where} is left out: it references "
            f"{fk.referenced_schema}.{fk.referenced_table}, which is not migrated"
        )
    if columns is not None and not set(fk.source_columns) <= columns:
        return None, f"{where} is left out: the column subset drops one of its columns"
    ref_schema, ref_table = referenced
    return (
        dataclasses.replace(
            fk,
            source_schema=target_schema,
            source_table=target_table,
            referenced_schema=ref_schema,
            referenced_table=ref_table,
        ),
        None,
    )


def target_definitions(
    selected: Sequence[SelectedTable],
    definitions: Mapping[tuple[str, str], TableDefinition],
    default_schema: str,
) -> tuple[list[TableDefinition], list[str]]:
    """The writer's table definitions for ``selected``, and what had to be left out.

    ``definitions`` maps ``(source schema, source table)`` to the reader's
    description.  A target schema of ``""`` becomes ``default_schema`` (the
    writer's configured one), so every descriptor names a schema explicitly.
    """
    placed = {
        key: (schema or default_schema, table)
        for key, (schema, table) in _placements(selected).items()
    }
    out: list[TableDefinition] = []
    warnings: list[str] = []
    for sel in selected:
        source = definitions[(sel.source.schema_name, sel.source.table_name)]
        target_schema, target_table = placed[(sel.source.schema_name, sel.source.table_name)]
        wanted = set(sel.columns) if sel.columns is not None else None
        columns = tuple(c for c in source.columns if wanted is None or c.name in wanted)
        indexes = []
        for index in source.indexes:
            if wanted is None or set(index.columns) <= wanted:
                indexes.append(index)
            else:
                warnings.append(
                    f"index {index.name} of {source.qualified_name} is left out: "
                    "the column subset drops one of its columns"
                )
        fks = []
        for fk in source.foreign_keys:
            mapped, warning = _target_fk(fk, placed, target_schema, target_table, wanted)
            if mapped is not None:
                fks.append(mapped)
            if warning is not None:
                warnings.append(warning)
        checks = source.check_constraints
        if wanted is not None and checks:
            warnings.append(
                f"{len(checks)} check constraint(s) of {source.qualified_name} are left out: "
                "a column subset may drop what they test"
            )
            checks = ()
        out.append(
            dataclasses.replace(
                source,
                schema_name=target_schema,
                table_name=target_table,
                columns=columns,
                indexes=tuple(indexes),
                foreign_keys=tuple(fks),
                check_constraints=checks,
            )
        )
    return out, warnings


def target_enum_types(
    enum_types: Sequence[EnumTypeDefinition],
    selected: Sequence[SelectedTable],
    default_schema: str,
) -> list[EnumTypeDefinition]:
    """The source's enum types placed where the tables that use them land."""
    by_source_schema: dict[str, str] = {}
    for sel in selected:
        by_source_schema.setdefault(sel.source.schema_name, sel.target_schema or default_schema)
    out = []
    for enum in enum_types:
        target = by_source_schema.get(enum.schema_name)
        if target is not None:
            out.append(dataclasses.replace(enum, schema_name=target))
    return out


def creation_order(tables: Sequence[TableDefinition]) -> list[TableDefinition]:
    """Referenced tables first (a stable topological order; cycles keep input order)."""
    by_key = {(t.schema_name, t.table_name): t for t in tables}
    done: set[tuple[str, str]] = set()
    visiting: set[tuple[str, str]] = set()
    ordered: list[TableDefinition] = []

    def visit(key: tuple[str, str]) -> None:
        if key in done or key in visiting:
            return
        visiting.add(key)
        table = by_key[key]
        for fk in table.foreign_keys:
            parent = (fk.referenced_schema, fk.referenced_table)
            if parent in by_key and parent != key:
                visit(parent)
        visiting.discard(key)
        done.add(key)
        ordered.append(table)

    for table in tables:
        visit((table.schema_name, table.table_name))
    return ordered


def transfer_order(tables: Sequence[PlannedTable]) -> list[PlannedTable]:
    """Largest estimated tables first; ties keep the plan's order."""
    return sorted(tables, key=lambda t: -(t.estimated_rows or 0))


@dataclass(frozen=True)
class ColumnIssueView:
    """A column the writer says will not arrive exactly (``lossy``) or at all (``refused``)."""

    column: str
    kind: str
    reason: str


@dataclass(frozen=True)
class TablePlanView:
    """One table in ``plan``'s output."""

    source_table: str
    target_table: str
    estimated_rows: int | None
    chunks: int
    statements: tuple[str, ...]
    issues: tuple[ColumnIssueView, ...]

    @property
    def refused(self) -> tuple[ColumnIssueView, ...]:
        return tuple(i for i in self.issues if i.kind == "refused")


@dataclass(frozen=True)
class PlanReport:
    """What ``plan`` reports; nothing has been changed on either side."""

    tables: tuple[TablePlanView, ...]
    warnings: tuple[str, ...] = ()

    @property
    def refused(self) -> tuple[tuple[str, ColumnIssueView], ...]:
        return tuple((t.source_table, i) for t in self.tables for i in t.refused)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tables": [dataclasses.asdict(t) for t in self.tables],
            "warnings": list(self.warnings),
            "refused": [
                {"table": table, **dataclasses.asdict(issue)} for table, issue in self.refused
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def render(self) -> str:
        rows = [
            [
                t.source_table,
                t.target_table,
                "-" if t.estimated_rows is None else f"{t.estimated_rows:,}",
                str(t.chunks),
                str(len([i for i in t.issues if i.kind != "refused"])),
                str(len(t.refused)),
            ]
            for t in self.tables
        ]
        lines = [
            render_table(
                ["table", "target", "est. rows", "chunks", "lossy", "refused"],
                rows,
                align="llrrrr",
            )
        ]
        for t in self.tables:
            lines.append("")
            lines.append(f"-- {t.source_table} -> {t.target_table}")
            lines.extend(f"{statement.rstrip(';')};" for statement in t.statements)
            for issue in t.issues:
                lines.append(f"--   {issue.kind.upper()} column {issue.column}: {issue.reason}")
        if self.warnings:
            lines.append("")
            lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)
