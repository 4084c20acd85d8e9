"""DDL for a MySQL target, built as text and executed by nobody here.

``plan_table`` is the whole decision about a table: each column's declared
type (the source's exact ``COLUMN_TYPE`` when the source is MySQL, otherwise
from the Arrow type and the column's facts), nullability, default,
AUTO_INCREMENT, the primary key, CHECK constraints, and every column that will
not arrive exactly as it left.  ``create_table`` runs what the plan says.

Rules worth knowing (also in ``docs/type-mappings.md``):

* Tables are ``ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin``.
  A binary collation never merges values the source keeps apart (``'a'`` and
  ``'A'``, ``'e'`` and ``'é'``), so a unique key that held on the source
  holds on the target.
* Key columns (primary key, unique indexes, foreign keys) of unknown length
  become ``VARCHAR(255)``/``VARBINARY(255)``: MySQL cannot key a TEXT
  without a prefix, and a prefix would change what "unique" means.
* When the VARCHAR columns of a cross-dialect table would exceed MySQL's
  65,535-byte row limit, the widest non-key ones become TEXT/MEDIUMTEXT.
* Defaults from another dialect are kept when they are literals or
  ``CURRENT_TIMESTAMP``-like; anything else is dropped and reported.
* Foreign keys are added with ``foreign_key_checks = 0`` (an in-place,
  metadata-only change instead of a table copy) and then verified with one
  anti-join; orphans remove the key again and fail with an example row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import structlog

from bani.connectors.base import ColumnIssue, IssueKind, TablePlan
from bani.connectors.mysql._sql import qualified, quote_ident, quote_idents
from bani.connectors.mysql.type_mapper import (
    ColumnDDL,
    MySQLType,
    MySQLTypeMapper,
    parse_column_type,
    quote_string,
)
from bani.domain.schema import ForeignKeyDefinition, IndexDefinition, TableDefinition
from bani.errors import BaniError
from bani.sqlguard import Purpose, Where, render_expression

__all__ = [
    "MAX_IDENTIFIER_LENGTH",
    "TABLE_OPTIONS",
    "IndexPlan",
    "foreign_key_statements",
    "index_name",
    "plan_indexes",
    "plan_table",
]

log = structlog.get_logger(__name__)

MAX_IDENTIFIER_LENGTH: Final = 64
TABLE_OPTIONS: Final = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
ROW_LIMIT_BYTES: Final = 65_535
#: Prefix length given to a TEXT/BLOB column in a non-unique index that named none.
DEFAULT_INDEX_PREFIX: Final = 255
SAME_DIALECTS: Final = frozenset({"mysql", "mariadb"})

_NUMBER: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SQL_STRING: Final = re.compile(r"^'((?:[^'\\]|''|\\.)*)'$", re.DOTALL)
_ANSI_STRING: Final = re.compile(r"^'((?:[^']|'')*)'(?:\s*::\s*[\w\s\"().,\[\]]+)?$", re.DOTALL)
_BIT_LITERAL: Final = re.compile(r"^b'[01]*'$", re.IGNORECASE)
_NOW: Final = re.compile(
    r"^\(?\s*(current_timestamp|now|localtimestamp|transaction_timestamp|statement_timestamp)"
    r"\s*(\(\s*\d?\s*\))?\s*\)?$",
    re.IGNORECASE,
)
_CURRENT_DATE: Final = re.compile(r"^\(?\s*(current_date|curdate\(\s*\))\s*\)?$", re.IGNORECASE)
_CALL: Final = re.compile(r"^\(?[A-Za-z_][A-Za-z0-9_]*\s*\([^'\";`\\]*\)\)?$")
_ZERO_DATE_LITERAL: Final = re.compile(r"^'\d{4}-00|^'\d{4}-\d{2}-00|^'0000-00-00")
_FOREIGN_METHODS: Final = frozenset({"gin", "gist", "brin", "spgist", "bloom", "rtree"})
_FK_ACTIONS: Final = frozenset({"CASCADE", "SET NULL", "RESTRICT", "NO ACTION"})


def _issue(column: str, kind: IssueKind, reason: str) -> ColumnIssue:
    return ColumnIssue(column=column, kind=kind, reason=reason)


def index_name(name: str) -> str:
    """An index/constraint name within MySQL's 64 characters (hash-suffixed when cut)."""
    if len(name) <= MAX_IDENTIFIER_LENGTH:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return name[: MAX_IDENTIFIER_LENGTH - 9] + "_" + digest


# -- defaults ----------------------------------------------------------------------


def _same_dialect_default(default: str, target: MySQLType, column: str) -> str | None:
    """A MySQL source's default expression, if it is one we recognise as safe to repeat."""
    text = default.strip()
    if _ZERO_DATE_LITERAL.match(text):
        return None  # strict sql_mode refuses zero-date defaults
    if _SQL_STRING.match(text) or _BIT_LITERAL.match(text):
        return f"({text})" if target.is_lob else text
    if _NUMBER.match(text) or text.upper() == "NULL":
        return f"({text})" if target.is_lob and text.upper() != "NULL" else text
    if _NOW.match(text):
        return text
    if _CALL.match(text):
        # A function call: only an allow-listed function, rendered from its parse tree.
        return render_expression(
            text, "mysql", Purpose.DEFAULT, Where(column=column), parenthesize=True
        )
    return None


def _cross_dialect_default(default: str, target: MySQLType) -> str | None:
    """Another dialect's default, when it is a literal or the current time/date."""
    text = default.strip()
    while text.startswith("(") and text.endswith(")") and text.count("(") == 1:
        text = text[1:-1].strip()
    lowered = text.lower()
    if lowered == "null":
        return None
    if target.name in ("datetime", "timestamp") and _NOW.match(text):
        fsp = target.fsp
        return f"CURRENT_TIMESTAMP({fsp})" if fsp else "CURRENT_TIMESTAMP"
    if target.name == "date" and (_CURRENT_DATE.match(text) or _NOW.match(text)):
        return "(CURRENT_DATE)"
    literal: str | None = None
    if lowered in ("true", "false") and target.is_integer:
        literal = "1" if lowered == "true" else "0"
    elif _NUMBER.match(text):
        literal = text
    else:
        match = _ANSI_STRING.match(text)
        if match is not None:
            value = match[1].replace("''", "'")
            if target.is_integer and value.lower() in ("t", "true", "f", "false"):
                literal = "1" if value.lower() in ("t", "true") else "0"
            else:
                literal = quote_string(value)
    if literal is None:
        return None
    return f"({literal})" if target.is_lob else literal


# -- tables ----------------------------------------------------------------------------


def _byte_width(t: MySQLType) -> int:
    if t.name == "varchar":
        return 4 * (t.length or 0) + 2
    if t.name == "char":
        return 4 * (t.length or 0)
    if t.name == "varbinary":
        return (t.length or 0) + 2
    if t.name == "binary":
        return t.length or 0
    return 12


def _fit_row_limit(
    ddls: dict[str, ColumnDDL], keys: set[str], issues: list[ColumnIssue]
) -> dict[str, ColumnDDL]:
    """Turn the widest non-key VARCHARs into TEXT until the row fits 65,535 bytes."""
    total = sum(_byte_width(d.mysql_type) for d in ddls.values())
    if total <= ROW_LIMIT_BYTES:
        return ddls
    movable = sorted(
        (
            name
            for name, d in ddls.items()
            if d.mysql_type.name in ("varchar", "varbinary") and name not in keys
        ),
        key=lambda n: -_byte_width(ddls[n].mysql_type),
    )
    result = dict(ddls)
    for name in movable:
        if total <= ROW_LIMIT_BYTES:
            break
        current = result[name].mysql_type
        total -= _byte_width(current) - 12
        if current.name == "varchar":
            replacement = "text" if 4 * (current.length or 0) <= 65_535 else "mediumtext"
        else:
            replacement = "blob"
        result[name] = ColumnDDL(replacement, parse_column_type(replacement), result[name].issues)
        issues.append(
            _issue(
                name,
                "fallback",
                f"declared {replacement} instead of {current.render()}: the table's "
                "VARCHAR columns exceed MySQL's 65,535-byte row limit",
            )
        )
    return result


def _auto_increment_key(table_def: TableDefinition, column: str) -> str:
    """The index an AUTO_INCREMENT column not leading the primary key needs in CREATE.

    MySQL requires the column to lead some index at CREATE time.  The
    source's own index on it is declared here (``create_indexes`` later skips
    it as existing); without one, a ``bani_ai_<column>`` index is added.
    """
    for index in table_def.indexes:
        if index.columns and index.columns[0] == column and not index.filter_predicate:
            kind = "UNIQUE KEY" if index.is_unique else "KEY"
            prefixes = list(index.prefix_lengths) + [None] * len(index.columns)
            parts = ", ".join(
                quote_ident(c) + (f"({p})" if p is not None else "")
                for c, p in zip(index.columns, prefixes, strict=False)
            )
            return f"{kind} {quote_ident(index_name(index.name))} ({parts})"
    return f"KEY {quote_ident(index_name('bani_ai_' + column))} ({quote_ident(column)})"


def plan_table(table_def: TableDefinition, mapper: MySQLTypeMapper, schema_name: str) -> TablePlan:
    """``CREATE TABLE`` for ``table_def`` in ``schema_name`` and every issue; executes nothing."""
    try:
        return _plan_table(table_def, mapper, schema_name)
    except BaniError as exc:
        raise exc.with_context(schema=schema_name, table=table_def.table_name) from None


def _plan_table(table_def: TableDefinition, mapper: MySQLTypeMapper, schema_name: str
                ) -> TablePlan:
    same = table_def.source_dialect.lower() in SAME_DIALECTS
    issues: list[ColumnIssue] = []
    name = table_def.table_name
    if len(name) > MAX_IDENTIFIER_LENGTH:
        issues.append(
            _issue("*", "refused", f"table name is longer than {MAX_IDENTIFIER_LENGTH} characters")
        )
    if not table_def.columns:
        issues.append(_issue("*", "refused", "a table needs at least one column"))
    keys: set[str] = set(table_def.primary_key)
    for index in table_def.indexes:
        if index.is_unique:
            keys.update(index.columns)
    for fk in table_def.foreign_keys:
        keys.update(fk.source_columns)

    ddls: dict[str, ColumnDDL] = {}
    for column in table_def.columns:
        if len(column.name) > MAX_IDENTIFIER_LENGTH:
            issues.append(
                _issue(
                    column.name,
                    "refused",
                    f"column name is longer than {MAX_IDENTIFIER_LENGTH} characters",
                )
            )
        ddl = mapper.column_ddl(column, same_dialect=same, in_key=column.name in keys)
        issues.extend(ddl.issues)
        ddls[column.name] = ddl
    if not same:
        ddls = _fit_row_limit(ddls, keys, issues)

    identity_done = False
    lines: list[str] = []
    extra_keys: list[str] = []
    for column in table_def.columns:
        ddl = ddls[column.name]
        target = ddl.mysql_type
        parts = [quote_ident(column.name), ddl.type_sql]
        in_pk = column.name in table_def.primary_key
        if in_pk and column.nullable and not same:
            issues.append(
                _issue(column.name, "lossy", "primary key columns cannot hold NULL in MySQL")
            )
        parts.append("NOT NULL" if (in_pk or not column.nullable) else "NULL")
        auto = False
        if column.is_identity:
            if target.is_integer and not identity_done:
                auto = identity_done = True
            else:
                issues.append(
                    _issue(
                        column.name,
                        "lossy",
                        "MySQL allows one AUTO_INCREMENT integer column per table; "
                        "this column keeps its values but not its counter",
                    )
                )
        if column.default_value is not None and not auto:
            default = (
                _same_dialect_default(column.default_value, target, column.name)
                if same
                else _cross_dialect_default(column.default_value, target)
            )
            if default is None:
                issues.append(
                    _issue(
                        column.name,
                        "default_dropped",
                        f"default {column.default_value!r} has no MySQL equivalent here",
                    )
                )
            elif default.upper() != "NULL":
                parts.append("DEFAULT " + default)
        if auto:
            parts.append("AUTO_INCREMENT")
            if not table_def.primary_key or table_def.primary_key[0] != column.name:
                extra_keys.append(_auto_increment_key(table_def, column.name))
        lines.append(" ".join(parts))

    if table_def.primary_key:
        pk_parts = []
        for key in table_def.primary_key:
            key_type = ddls[key].mysql_type if key in ddls else None
            if key_type is not None and key_type.is_lob:
                pk_parts.append(f"{quote_ident(key)}({DEFAULT_INDEX_PREFIX})")
                issues.append(
                    _issue(
                        key,
                        "lossy",
                        f"a {key_type.name} primary key column is keyed on its first "
                        f"{DEFAULT_INDEX_PREFIX} characters",
                    )
                )
            else:
                pk_parts.append(quote_ident(key))
        lines.append("PRIMARY KEY (" + ", ".join(pk_parts) + ")")
    lines.extend(extra_keys)
    for check in table_def.check_constraints:
        if same:
            expression = render_expression(
                check.expression, "mysql", Purpose.CHECK,
                Where(schema=schema_name, table=name, constraint=check.name),
                [c.name for c in table_def.columns],
            )
            lines.append(
                f"CONSTRAINT {quote_ident(index_name(check.name))} CHECK ({expression})"
            )
        else:
            issues.append(
                _issue(
                    "*",
                    "fallback",
                    f"CHECK constraint {check.name!r} is in another dialect's SQL and is not "
                    "created",
                )
            )
    statement = (
        "CREATE TABLE "
        + qualified(schema_name, name)
        + " (\n  "
        + ",\n  ".join(lines)
        + "\n) "
        + TABLE_OPTIONS
    )
    return TablePlan(
        schema_name=schema_name,
        table_name=name,
        statements=(statement,),
        issues=tuple(issues),
    )


# -- indexes -------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexPlan:
    """``ALTER TABLE`` statements for a table's indexes, and what was left out."""

    statements: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


def plan_indexes(
    schema: str,
    table: str,
    indexes: Sequence[IndexDefinition],
    targets: Mapping[str, MySQLType],
    existing: frozenset[str] = frozenset(),
) -> IndexPlan:
    """One ``ALTER TABLE … ADD INDEX …, ADD INDEX …`` (InnoDB builds them in one pass).

    FULLTEXT and SPATIAL indexes get a statement each.  Indexes that exist
    already (a resumed run) are skipped silently; methods MySQL does not have
    (GIN, GiST…) and unique partial indexes (MySQL has no partial index, and
    without its WHERE a unique index would refuse rows the source accepts) are
    skipped and listed.  A TEXT/BLOB column indexed without a prefix gets 255.
    """
    adds: list[str] = []
    separate: list[str] = []
    skipped: list[tuple[str, str]] = []
    target_table = qualified(schema, table)
    for index in indexes:
        name = index_name(index.name)
        if name in existing or name == "PRIMARY":
            continue
        method = (index.method or "").lower()
        if method in _FOREIGN_METHODS:
            skipped.append((index.name, f"MySQL has no {method} index"))
            continue
        if index.filter_predicate:
            if index.is_unique:
                skipped.append(
                    (
                        index.name,
                        "MySQL has no partial index; a unique index without its WHERE "
                        "would refuse rows the source accepts",
                    )
                )
                continue
            log.warning(
                "mysql_partial_index_widened",
                index=index.name,
                table=table,
                predicate=index.filter_predicate,
            )
        missing = [c for c in index.columns if c not in targets]
        if missing:
            skipped.append((index.name, f"no column {missing[0]!r} in the target table"))
            continue
        parts: list[str] = []
        for position, column in enumerate(index.columns):
            target = targets[column]
            prefix = (
                index.prefix_lengths[position] if position < len(index.prefix_lengths) else None
            )
            if method not in ("fulltext", "spatial"):
                if prefix is not None and not (target.is_text or target.is_binary):
                    prefix = None
                if prefix is not None and target.length is not None and prefix >= target.length:
                    prefix = None
                if prefix is None and target.is_lob and not target.is_geometry:
                    prefix = DEFAULT_INDEX_PREFIX
            parts.append(quote_ident(column) + (f"({prefix})" if prefix is not None else ""))
        columns = ", ".join(parts)
        if method == "fulltext":
            separate.append(
                f"ALTER TABLE {target_table} ADD FULLTEXT INDEX {quote_ident(name)} ({columns})"
            )
        elif method == "spatial":
            separate.append(
                f"ALTER TABLE {target_table} ADD SPATIAL INDEX {quote_ident(name)} ({columns})"
            )
        else:
            kind = "UNIQUE INDEX" if index.is_unique else "INDEX"
            adds.append(f"ADD {kind} {quote_ident(name)} ({columns})")
    statements: list[str] = []
    if adds:
        statements.append(f"ALTER TABLE {target_table} " + ", ".join(adds))
    statements.extend(separate)
    return IndexPlan(tuple(statements), tuple(skipped))


# -- foreign keys --------------------------------------------------------------------


def _action(rule: str, fk: ForeignKeyDefinition) -> str:
    upper = " ".join(rule.upper().split())
    if upper in _FK_ACTIONS:
        return upper
    log.warning(
        "mysql_fk_action_replaced", foreign_key=fk.name, action=rule, replacement="NO ACTION"
    )
    return "NO ACTION"


def foreign_key_statements(
    fk: ForeignKeyDefinition, default_schema: str
) -> tuple[str, str, tuple[str, str]]:
    """``ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY``, its orphan probe, and its (schema, table)."""
    source_schema = fk.source_schema or default_schema
    referenced_schema = fk.referenced_schema or source_schema
    child = qualified(source_schema, fk.source_table)
    parent = qualified(referenced_schema, fk.referenced_table)
    add = (
        f"ALTER TABLE {child} ADD CONSTRAINT {quote_ident(index_name(fk.name))} "
        f"FOREIGN KEY ({quote_idents(fk.source_columns)}) "
        f"REFERENCES {parent} ({quote_idents(fk.referenced_columns)}) "
        f"ON DELETE {_action(fk.on_delete, fk)} ON UPDATE {_action(fk.on_update, fk)}"
    )
    not_null = " AND ".join(f"c.{quote_ident(c)} IS NOT NULL" for c in fk.source_columns)
    joined = " AND ".join(
        f"p.{quote_ident(r)} = c.{quote_ident(s)}"
        for s, r in zip(fk.source_columns, fk.referenced_columns, strict=True)
    )
    probe = (
        f"SELECT {', '.join('c.' + quote_ident(c) for c in fk.source_columns)} "  # noqa: S608 (quoted identifiers)
        f"FROM {child} AS c WHERE {not_null} "
        f"AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {joined}) LIMIT 1"
    )
    return add, probe, (source_schema, fk.source_table)
