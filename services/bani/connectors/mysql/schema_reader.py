"""Introspection in bulk from ``information_schema``.

One query per catalog view for *all* tables of the introspected databases,
grouped by table in Python: TABLES (row estimates, AUTO_INCREMENT), COLUMNS
(``COLUMN_TYPE`` for unsigned/length/labels, ``EXTRA`` for auto_increment),
STATISTICS (indexes with prefix lengths, and the primary key),
KEY_COLUMN_USAGE joined to REFERENTIAL_CONSTRAINTS (foreign keys with their
actions) and CHECK_CONSTRAINTS where the server records them.  Five
statements for one table or for a thousand.

Flavour differences handled here:

* MariaDB keeps ``JSON`` as ``longtext`` plus a column-level CHECK
  ``json_valid(`col`)``; that check marks the column as ``json`` and is not
  reported as a table constraint.
* MariaDB's CHECK_CONSTRAINTS has ``TABLE_NAME`` (constraint names are per
  table); MySQL 8.0.16+ lacks it (names are per database) and is joined
  through TABLE_CONSTRAINTS.  Older MySQL has no such view and reports none.
* ``COLUMN_DEFAULT`` is normalised to a MySQL default *expression*: MariaDB
  already quotes literals and prints ``NULL`` as text; MySQL 8 prints literals
  bare and marks expressions with ``DEFAULT_GENERATED`` in ``EXTRA``.
* Column labels are selected by position, so MySQL 8 returning upper-case
  ``information_schema`` column names does not matter.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

import structlog

from bani.connectors.mysql._connection import ServerInfo
from bani.connectors.mysql._sql import placeholders
from bani.connectors.mysql.type_mapper import MySQLTypeMapper, parse_column_type, quote_string
from bani.domain.chunks import BOOKKEEPING_TABLE, RUNS_TABLE
from bani.domain.schema import (
    CheckConstraint,
    ColumnDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)

__all__ = ["DIALECT", "SchemaReader", "normalize_default"]

log = structlog.get_logger(__name__)

DIALECT: Final = "mysql"
_HIDDEN_TABLES: Final = frozenset({BOOKKEEPING_TABLE, RUNS_TABLE})
_NUMERIC_NAMES: Final = frozenset(
    {
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "integer",
        "bigint",
        "decimal",
        "numeric",
        "float",
        "double",
        "real",
        "year",
        "bit",
        "bool",
        "boolean",
    }
)
_CURRENT_TIMESTAMP: Final = re.compile(r"^current_timestamp(\(\d?\))?$", re.IGNORECASE)

_TABLES_SQL: Final = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS, AUTO_INCREMENT "
    "FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA IN ({schemas}) AND TABLE_TYPE = 'BASE TABLE'{table_filter} "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME"
)
_COLUMNS_SQL: Final = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, "
    "IS_NULLABLE, COLUMN_TYPE, EXTRA "
    "FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA IN ({schemas}){table_filter} "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
)
_STATISTICS_SQL: Final = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, "
    "SUB_PART, INDEX_TYPE "
    "FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA IN ({schemas}){table_filter} "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
)
_FOREIGN_KEYS_SQL: Final = (
    "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, "
    "k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
    "r.UPDATE_RULE, r.DELETE_RULE "
    "FROM information_schema.KEY_COLUMN_USAGE k "
    "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
    "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
    "AND r.TABLE_NAME = k.TABLE_NAME "
    "WHERE k.TABLE_SCHEMA IN ({schemas}) AND k.REFERENCED_TABLE_NAME IS NOT NULL{table_filter} "
    "ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
)
_CHECKS_MARIADB_SQL: Final = (
    "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, LEVEL, CHECK_CLAUSE "
    "FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA IN ({schemas}){table_filter} "
    "ORDER BY CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME"
)
_CHECKS_MYSQL_SQL: Final = (
    "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, c.CONSTRAINT_NAME, 'Table', c.CHECK_CLAUSE "
    "FROM information_schema.TABLE_CONSTRAINTS t "
    "JOIN information_schema.CHECK_CONSTRAINTS c "
    "ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME "
    "WHERE t.CONSTRAINT_TYPE = 'CHECK' AND t.TABLE_SCHEMA IN ({schemas}){table_filter} "
    "ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME, c.CONSTRAINT_NAME"
)

TableKey = tuple[str, str]


def normalize_default(
    raw: str | None, column_type: str, extra: str, server: ServerInfo
) -> str | None:
    """The column default as a MySQL expression (literals quoted), or None.

    MariaDB 10.2.7+ prints ``COLUMN_DEFAULT`` as an expression already (string
    literals quoted, ``NULL`` as the text ``NULL``); MySQL prints literals
    bare and flags expression defaults with ``DEFAULT_GENERATED``.
    """
    if raw is None:
        return None
    if server.is_mariadb:
        return None if raw == "NULL" else raw
    if "default_generated" in extra.lower():
        return raw if _CURRENT_TIMESTAMP.match(raw) else f"({raw})"
    name = parse_column_type(column_type).name
    if name in _NUMERIC_NAMES:
        return raw
    return quote_string(raw)


def _json_check(level: str, name: str, clause: str) -> bool:
    """MariaDB's implicit ``CHECK (json_valid(`col`))`` on a JSON column."""
    quoted = "`" + name.replace("`", "``") + "`"
    return level.lower() == "column" and clause.replace(" ", "").lower() == (
        f"json_valid({quoted})".lower()
    )


class SchemaReader:
    """Reads table definitions for a set of databases in five statements."""

    def __init__(self, mapper: MySQLTypeMapper, server: ServerInfo) -> None:
        self._mapper = mapper
        self._server = server

    def read(
        self, cursor: Any, schemas: Sequence[str], table: str | None = None
    ) -> tuple[TableDefinition, ...]:
        """Every base table of ``schemas`` (or only ``table``), bookkeeping tables excluded."""
        if not schemas:
            return ()
        params: list[Any] = list(schemas)
        filters = {"schemas": placeholders(len(schemas)), "table_filter": ""}
        if table is not None:
            params.append(table)

        def run(template: str, table_column: str) -> list[tuple[Any, ...]]:
            if table is not None:
                filters["table_filter"] = f" AND {table_column} = %s"
            cursor.execute(template.format(**filters), params)
            return list(cursor.fetchall())

        tables = run(_TABLES_SQL, "TABLE_NAME")
        columns = run(_COLUMNS_SQL, "TABLE_NAME")
        statistics = run(_STATISTICS_SQL, "TABLE_NAME")
        foreign_keys = run(_FOREIGN_KEYS_SQL, "k.TABLE_NAME")
        checks: list[tuple[Any, ...]] = []
        if self._server.has_check_constraints:
            if self._server.is_mariadb:
                checks = run(_CHECKS_MARIADB_SQL, "TABLE_NAME")
            else:
                checks = run(_CHECKS_MYSQL_SQL, "t.TABLE_NAME")
        return self._assemble(tables, columns, statistics, foreign_keys, checks)

    def _assemble(
        self,
        tables: list[tuple[Any, ...]],
        columns: list[tuple[Any, ...]],
        statistics: list[tuple[Any, ...]],
        foreign_keys: list[tuple[Any, ...]],
        checks: list[tuple[Any, ...]],
    ) -> tuple[TableDefinition, ...]:
        json_columns: set[tuple[str, str, str]] = set()
        table_checks: dict[TableKey, list[CheckConstraint]] = defaultdict(list)
        for schema, table, name, level, clause in checks:
            if _json_check(str(level), str(name), str(clause)):
                json_columns.add((schema, table, name))
            else:
                table_checks[(schema, table)].append(CheckConstraint(name, str(clause)))

        table_columns: dict[TableKey, list[ColumnDefinition]] = defaultdict(list)
        for schema, table, name, ordinal, default, nullable, column_type, extra in columns:
            extra_text = str(extra or "")
            try:
                column = self._mapper.column_definition(
                    name=name,
                    column_type=str(column_type),
                    nullable=nullable == "YES",
                    default=normalize_default(default, str(column_type), extra_text, self._server),
                    is_identity="auto_increment" in extra_text.lower(),
                    ordinal=int(ordinal),
                    is_json=(schema, table, name) in json_columns,
                )
            except Exception:
                log.warning(
                    "column_type_unparsed",
                    schema=schema,
                    table=table,
                    column=name,
                    column_type=column_type,
                )
                raise
            table_columns[(schema, table)].append(column)

        primary: dict[TableKey, list[str]] = defaultdict(list)
        index_rows: dict[tuple[str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
        for schema, table, index, non_unique, _seq, column, sub_part, index_type in statistics:
            if column is None:
                # MySQL 8 functional index part: an expression, not a column.
                log.warning("functional_index_skipped", schema=schema, table=table, index=index)
                index_rows[(schema, table, index)].append(("__skip__", None, None, None))
                continue
            if index == "PRIMARY":
                primary[(schema, table)].append(column)
            else:
                index_rows[(schema, table, index)].append(
                    (column, sub_part, int(non_unique), index_type)
                )
        table_indexes: dict[TableKey, list[IndexDefinition]] = defaultdict(list)
        for (schema, table, index), parts in index_rows.items():
            if any(part[0] == "__skip__" for part in parts):
                continue
            prefixes = tuple(int(p[1]) if p[1] is not None else None for p in parts)
            table_indexes[(schema, table)].append(
                IndexDefinition(
                    name=index,
                    columns=tuple(p[0] for p in parts),
                    is_unique=parts[0][2] == 0,
                    prefix_lengths=prefixes if any(p is not None for p in prefixes) else (),
                    method=str(parts[0][3]) if parts[0][3] else None,
                )
            )

        fk_rows: dict[tuple[str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
        for row in foreign_keys:
            fk_rows[(row[0], row[1], row[2])].append(row)
        table_fks: dict[TableKey, list[ForeignKeyDefinition]] = defaultdict(list)
        for (schema, table, name), rows in fk_rows.items():
            first = rows[0]
            table_fks[(schema, table)].append(
                ForeignKeyDefinition(
                    name=name,
                    source_schema=schema,
                    source_table=table,
                    source_columns=tuple(r[3] for r in rows),
                    referenced_schema=first[4],
                    referenced_table=first[5],
                    referenced_columns=tuple(r[6] for r in rows),
                    on_delete=str(first[8]),
                    on_update=str(first[7]),
                )
            )

        result: list[TableDefinition] = []
        for schema, table, rows_estimate, auto_increment in tables:
            if table in _HIDDEN_TABLES:
                continue
            key = (schema, table)
            result.append(
                TableDefinition(
                    schema_name=schema,
                    table_name=table,
                    columns=tuple(table_columns.get(key, ())),
                    primary_key=tuple(primary.get(key, ())),
                    indexes=tuple(sorted(table_indexes.get(key, ()), key=lambda i: i.name)),
                    foreign_keys=tuple(sorted(table_fks.get(key, ()), key=lambda f: f.name)),
                    check_constraints=tuple(table_checks.get(key, ())),
                    row_count_estimate=int(rows_estimate) if rows_estimate is not None else None,
                    identity_counter=int(auto_increment) if auto_increment is not None else None,
                    source_dialect=DIALECT,
                )
            )
        return tuple(result)
