"""SQLite DDL built from :class:`~bani.domain.schema.TableDefinition`, without executing it.

Pure functions: ``plan_table`` returns the ``CREATE TABLE`` statement and every
column that will not arrive exactly as it left, which is what both
``SQLiteConnector.plan_table`` (report) and ``create_table`` (execute) use.
Every identifier goes through :func:`quote`; no value is ever put into SQL
text except a source's default expression, and that only when it is a plain
literal or comes from SQLite itself.

Foreign keys are declared *inside* ``CREATE TABLE``: SQLite cannot add a
constraint to an existing table (there is no ``ALTER TABLE … ADD
CONSTRAINT``).  Forward references are allowed and enforcement is off on the
sink's connections, so tables still load in any order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import pyarrow as pa

from bani.connectors.base import ColumnIssue, TablePlan, quote_ansi_identifier
from bani.connectors.sqlite.type_mapper import SQLiteTypeMapper
from bani.domain.arrow_fields import parse_arrow_type
from bani.domain.schema import (
    ColumnDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import BaniError, TypeMappingError
from bani.sqlguard import Purpose, Where, render_expression

__all__ = [
    "FK_ACTIONS",
    "create_index_sql",
    "foreign_key_clause",
    "plan_table",
    "quote",
    "sql_default",
]

DIALECT: Final = "sqlite"

FK_ACTIONS: Final = frozenset({"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"})

#: Literals SQLite accepts after DEFAULT without parentheses.
_SQLITE_LITERAL: Final = re.compile(
    r"""^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?
        |0[xX][0-9A-Fa-f]+
        |'(?:[^']|'')*'
        |[xX]'[0-9A-Fa-f]*'
        |NULL|TRUE|FALSE|CURRENT_TIME|CURRENT_DATE|CURRENT_TIMESTAMP)$""",
    re.IGNORECASE | re.VERBOSE,
)

#: Defaults from other dialects that mean the same in SQLite: numbers, plain
#: strings (a PostgreSQL ``::type`` cast suffix is dropped), NULL, booleans.
_PORTABLE_LITERAL: Final = re.compile(
    r"""^\(?\s*(?P<literal>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?
        |'(?:[^']|'')*'
        |NULL|TRUE|FALSE)\s*\)?(?:\s*::\s*[\w\s."\[\]]+)?$""",
    re.IGNORECASE | re.VERBOSE,
)

#: Defaults from other dialects that mean "the current time".
_NOW: Final = re.compile(
    r"^(?:now\(\)|current_timestamp(?:\(\s*\d*\s*\))?|localtimestamp(?:\(\s*\d*\s*\))?"
    r"|transaction_timestamp\(\)|statement_timestamp\(\))$",
    re.IGNORECASE,
)
_TODAY: Final = re.compile(r"^(?:current_date(?:\(\))?|curdate\(\))$", re.IGNORECASE)


def quote(name: str) -> str:
    """A SQLite identifier: double quotes, embedded quotes doubled."""
    return quote_ansi_identifier(name)


def sql_default(
    column: ColumnDefinition, same_dialect: bool
) -> tuple[str | None, ColumnIssue | None]:
    """The ``DEFAULT`` expression for a column, or why it was dropped.

    SQLite's own defaults are kept (an expression goes back in parentheses,
    which ``pragma_table_info`` had stripped); another dialect's default is
    kept only when it is a literal or the current date/time.
    """
    text = column.default_value
    if text is None:
        return None, None
    text = text.strip()
    if same_dialect:
        if _SQLITE_LITERAL.match(text):
            return text, None
        default = render_expression(
            text, "sqlite", Purpose.DEFAULT, Where(column=column.name), parenthesize=True
        )
        return default, None
    if (m := _PORTABLE_LITERAL.match(text)) is not None:
        literal = m["literal"]
        return (None if literal.upper() == "NULL" else literal), None
    if _NOW.match(text):
        return "CURRENT_TIMESTAMP", None
    if _TODAY.match(text):
        return "CURRENT_DATE", None
    return None, ColumnIssue(
        column=column.name,
        kind="default_dropped",
        reason=f"the default {text!r} is not a literal SQLite can evaluate",
    )


def foreign_key_clause(fk: ForeignKeyDefinition) -> tuple[str, list[ColumnIssue]]:
    """``FOREIGN KEY (…) REFERENCES t (…) ON DELETE … ON UPDATE …`` for CREATE TABLE."""
    issues: list[ColumnIssue] = []
    actions: list[str] = []
    for clause, action in (("ON DELETE", fk.on_delete), ("ON UPDATE", fk.on_update)):
        spelled = " ".join(action.upper().split())
        if spelled not in FK_ACTIONS:
            issues.append(
                ColumnIssue(
                    column=",".join(fk.source_columns),
                    kind="lossy",
                    reason=f"foreign key {fk.name}: {clause} {action!r} is not a SQLite action; "
                    "NO ACTION is used",
                )
            )
            spelled = "NO ACTION"
        actions.append(f"{clause} {spelled}")
    columns = ", ".join(quote(c) for c in fk.source_columns)
    referenced = ", ".join(quote(c) for c in fk.referenced_columns)
    target = quote(fk.referenced_table) + (f" ({referenced})" if referenced else "")
    return f"FOREIGN KEY ({columns}) REFERENCES {target} " + " ".join(actions), issues


def create_index_sql(table: str, index: IndexDefinition, name: str, predicate: str | None) -> str:
    """``CREATE [UNIQUE] INDEX "name" ON "table" ("a", "b") [WHERE predicate]``."""
    columns = ", ".join(quote(c) for c in index.columns)
    parts = ["CREATE", "UNIQUE INDEX" if index.is_unique else "INDEX", quote(name)]
    parts += ["ON", quote(table), f"({columns})"]
    if predicate:
        parts += ["WHERE", predicate]
    return " ".join(parts)


def _is_integer(column: ColumnDefinition) -> bool:
    try:
        return bool(pa.types.is_integer(parse_arrow_type(column.arrow_type_str)))
    except TypeMappingError:
        return False


def _refusals(table_def: TableDefinition) -> list[ColumnIssue]:
    refused: list[ColumnIssue] = []
    if not table_def.columns:
        refused.append(ColumnIssue("*", "refused", "a SQLite table needs at least one column"))
    if "\x00" in table_def.table_name or not table_def.table_name:
        refused.append(ColumnIssue("*", "refused", "the table name is empty or contains NUL"))
    seen: dict[str, str] = {}
    for column in table_def.columns:
        if "\x00" in column.name or not column.name:
            refused.append(
                ColumnIssue(column.name, "refused", "the column name is empty or contains NUL")
            )
            continue
        other = seen.get(column.name.lower())
        if other is not None:
            refused.append(
                ColumnIssue(
                    column.name,
                    "refused",
                    f"SQLite compares column names without case, so {column.name!r} "
                    f"and {other!r} are the same column",
                )
            )
        seen[column.name.lower()] = column.name
    for key in table_def.primary_key:
        if key.lower() not in seen:
            refused.append(ColumnIssue(key, "refused", "a primary key column is not a column"))
    return refused


def plan_table(table_def: TableDefinition) -> TablePlan:
    """The CREATE TABLE and every issue; SQL text off the wire is rendered, never pasted."""
    try:
        return _plan_table(table_def)
    except BaniError as exc:
        raise exc.with_context(table=table_def.table_name) from None


def _plan_table(table_def: TableDefinition) -> TablePlan:
    """The ``CREATE TABLE`` for ``table_def`` and every lossy, fallback or refused column.

    Same dialect (``source_dialect == "sqlite"``): every column keeps its
    declared type, default and CHECKs.  Otherwise types come from the Arrow
    type (:class:`SQLiteTypeMapper`).  An identity column that is the whole
    primary key becomes ``INTEGER PRIMARY KEY AUTOINCREMENT`` (SQLite's only
    auto-assigned column); for a SQLite source, ``AUTOINCREMENT`` exactly when
    the source had it (``identity_counter`` is set).
    """
    same = table_def.source_dialect == DIALECT
    issues = _refusals(table_def)
    if issues:
        return TablePlan(table_def.schema_name, table_def.table_name, (), tuple(issues))

    pk = table_def.primary_key
    autoincrement_column: str | None = None
    if len(pk) == 1:
        key = next(c for c in table_def.columns if c.name.lower() == pk[0].lower())
        wanted = not same or table_def.identity_counter is not None
        if key.is_identity and wanted and (same or _is_integer(key)):
            autoincrement_column = key.name
    for column in table_def.columns:
        if column.is_identity and column.name != autoincrement_column and not same:
            issues.append(
                ColumnIssue(
                    column.name,
                    "lossy",
                    "SQLite auto-assigns only an INTEGER PRIMARY KEY; "
                    "this identity column is a plain column",
                )
            )

    lines: list[str] = []
    for column in table_def.columns:
        mapped = SQLiteTypeMapper.map_column(column, dialect=table_def.source_dialect)
        if (issue := mapped.issue(column.name)) is not None:
            issues.append(issue)
        parts = [quote(column.name)]
        if column.name == autoincrement_column:
            parts += ["INTEGER", "PRIMARY KEY AUTOINCREMENT"]
        elif mapped.ddl:
            parts.append(mapped.ddl)
        if not column.nullable:
            parts.append("NOT NULL")
        default, dropped = sql_default(column, same)
        if dropped is not None:
            issues.append(dropped)
        if default is not None:
            parts += ["DEFAULT", default]
        lines.append(" ".join(parts))

    if pk and autoincrement_column is None:
        lines.append("PRIMARY KEY (" + ", ".join(quote(c) for c in pk) + ")")

    for fk in _own_foreign_keys(table_def):
        clause, fk_issues = foreign_key_clause(fk)
        issues.extend(fk_issues)
        lines.append(clause)

    for check in table_def.check_constraints:
        if same:
            expression = render_expression(
                check.expression, "sqlite", Purpose.CHECK,
                Where(table=table_def.table_name, constraint=check.name),
                [c.name for c in table_def.columns],
            )
            lines.append(f"CONSTRAINT {quote(check.name)} CHECK ({expression})")
        else:
            issues.append(
                ColumnIssue(
                    check.name,
                    "lossy",
                    f"CHECK ({check.expression}) is written in the "
                    f"{table_def.source_dialect or 'source'} dialect and is not carried",
                )
            )

    body = ",\n    ".join(lines)
    statement = "CREATE TABLE " + quote(table_def.table_name) + " (\n    " + body + "\n)"
    return TablePlan(
        schema_name=table_def.schema_name,
        table_name=table_def.table_name,
        statements=(statement,),
        issues=tuple(issues),
    )


def _own_foreign_keys(table_def: TableDefinition) -> Sequence[ForeignKeyDefinition]:
    name = table_def.table_name.lower()
    return [fk for fk in table_def.foreign_keys if fk.source_table.lower() == name]
