"""Introspecting a SQLite database into :mod:`bani.domain.schema` objects.

One query per kind of fact for *all* tables, never one per table or column:
SQLite's table-valued pragma functions (``pragma_table_xinfo(name)``,
``pragma_index_list``, ``pragma_index_xinfo``, ``pragma_foreign_key_list``)
are joined against ``sqlite_master``.  What the pragmas do not describe is
read from the stored ``CREATE`` text by :mod:`._sql_text`: CHECK constraints,
partial-index predicates, ``AUTOINCREMENT`` and ``WITHOUT ROWID``.

Conventions (documented in ``docs/type-mappings.md``):

* SQLite has one schema for a file, ``main``; tables report
  ``schema_name="main"``.
* ``sqlite_*`` tables, virtual tables and bani's bookkeeping tables
  (``_bani_flight_chunks``, ``_bani_flight_runs``) are not part of the schema.
* A rowid alias (``INTEGER PRIMARY KEY`` on a rowid table) is the identity
  column, and never NULL.  ``identity_counter`` is set for ``AUTOINCREMENT``
  tables only: ``sqlite_sequence.seq + 1``, or 1 before the first insert.  A
  plain rowid alias has no counter (SQLite hands out ``max(rowid) + 1``).
* SQLite names neither foreign keys nor UNIQUE constraints; they are named
  ``<table>_fk_<n>`` (declaration order) and ``<table>_<columns>_key``.
  Unnamed CHECKs become ``<table>_ck_<n>``.
* Generated columns and expression indexes are skipped with a warning.
* ``row_count_estimate`` is an exact ``COUNT(*)``: SQLite keeps no row count
  (``sqlite_stat1`` exists only after ``ANALYZE`` and goes stale), and a count
  walks the smallest b-tree of a local file, which is cheap next to moving the
  rows.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa
import structlog

from bani.connectors.base import quote_ansi_identifier
from bani.connectors.sqlite._sql_text import (
    check_constraints,
    has_autoincrement,
    index_predicate,
    is_without_rowid,
)
from bani.connectors.sqlite.type_mapper import SQLiteTypeMapper
from bani.domain.chunks import BOOKKEEPING_TABLE, RUNS_TABLE
from bani.domain.schema import (
    CheckConstraint,
    ColumnDefinition,
    DatabaseSchema,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import TableNotFound

__all__ = [
    "MAIN_SCHEMA",
    "RawColumn",
    "count_rows",
    "introspect",
    "list_tables",
    "read_table_definition",
    "resolve_table",
]

log = structlog.get_logger(__name__)

MAIN_SCHEMA: Final = "main"
DIALECT: Final = "sqlite"

# Every bulk query selects from ``sqlite_master AS m`` restricted to ordinary
# tables (virtual tables are skipped: their pragmas need the module loaded)
# and, when ``?1`` is not NULL, to the one table it names.  The table list
# also binds the bookkeeping table names to ``?2`` and ``?3``.
_SCOPE: Final = (
    "m.type = 'table' AND coalesce(m.sql, '') NOT LIKE 'CREATE VIRTUAL%' "
    "AND (?1 IS NULL OR m.name = ?1)"
)

_TABLES_SQL: Final = (
    "SELECT m.name, m.sql FROM sqlite_master AS m "
    "WHERE m.type = 'table' AND coalesce(m.sql, '') NOT LIKE 'CREATE VIRTUAL%' "
    "AND (?1 IS NULL OR m.name = ?1) "
    "AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name NOT IN (?2, ?3) "
    "ORDER BY m.name"
)

_COLUMNS_SQL: Final = (
    'SELECT m.name, c.cid, c.name, c.type, c."notnull", c.dflt_value, c.pk, c.hidden '
    "FROM sqlite_master AS m JOIN pragma_table_xinfo(m.name) AS c "
    "WHERE " + _SCOPE + " ORDER BY m.name, c.cid"
)

_INDEXES_SQL: Final = (
    'SELECT m.name, il.name, il."unique", il.origin, ii.seqno, ii.cid, ii.name, s.sql '
    "FROM sqlite_master AS m "
    "JOIN pragma_index_list(m.name) AS il "
    "JOIN pragma_index_xinfo(il.name) AS ii "
    "LEFT JOIN sqlite_master AS s ON s.type = 'index' AND s.name = il.name "
    "WHERE " + _SCOPE + " AND ii.key = 1 "
    "ORDER BY m.name, il.name, ii.seqno"
)

_FOREIGN_KEYS_SQL: Final = (
    'SELECT m.name, f.id, f.seq, f."table", f."from", f."to", f.on_update, f.on_delete '
    "FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f "
    "WHERE " + _SCOPE + " ORDER BY m.name, f.id DESC, f.seq"
)

_FK_ACTIONS: Final = frozenset({"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"})


@dataclass(frozen=True)
class RawColumn:
    """One row of ``pragma_table_xinfo``."""

    cid: int
    name: str
    declared: str
    notnull: bool
    default: str | None
    pk: int
    hidden: int


@dataclass
class _Facts:
    """Everything the bulk queries found, grouped by table."""

    sql: dict[str, str] = field(default_factory=dict)
    columns: dict[str, list[RawColumn]] = field(default_factory=lambda: defaultdict(list))
    indexes: dict[str, list[IndexDefinition]] = field(default_factory=lambda: defaultdict(list))
    foreign_keys: dict[str, list[ForeignKeyDefinition]] = field(
        default_factory=lambda: defaultdict(list)
    )
    sequences: dict[str, int] = field(default_factory=dict)


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction, so every query sees the same schema."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")


def list_tables(conn: sqlite3.Connection) -> list[str]:
    """Names of the user tables, sorted."""
    rows = conn.execute(_TABLES_SQL, (None, BOOKKEEPING_TABLE, RUNS_TABLE)).fetchall()
    return [str(r[0]) for r in rows]


def resolve_table(conn: sqlite3.Connection, table_name: str, schema_name: str) -> str:
    """The stored name of a table (SQLite matches names case-insensitively).

    ``schema_name`` must be ``""`` or ``main``.  A missing table is a
    :class:`TableNotFound` listing the tables that exist.
    """
    if schema_name not in ("", MAIN_SCHEMA):
        raise TableNotFound(
            f"SQLite has a single schema, {MAIN_SCHEMA!r}; there is no schema {schema_name!r}",
            connector=DIALECT,
            schema=schema_name,
            table=table_name,
        )
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
        (table_name,),
    ).fetchone()
    if row is None:
        existing = list_tables(conn)
        raise TableNotFound(
            f"no table {table_name!r} in the SQLite database; tables: "
            + (", ".join(existing) or "none"),
            connector=DIALECT,
            schema=MAIN_SCHEMA,
            table=table_name,
        )
    return str(row[0])


def _is_rowid_alias(columns: list[RawColumn], without_rowid: bool) -> str | None:
    """The rowid-alias column's name (``INTEGER PRIMARY KEY`` of a rowid table), if any."""
    pk = [c for c in columns if c.pk > 0]
    if without_rowid or len(pk) != 1:
        return None
    return pk[0].name if pk[0].declared.strip().upper() == "INTEGER" else None


def _column_definitions(
    table: str, raw: list[RawColumn], alias: str | None
) -> tuple[ColumnDefinition, ...]:
    columns: list[ColumnDefinition] = []
    for col in raw:
        if col.hidden != 0:
            log.warning(
                "sqlite_generated_column_skipped",
                table=table,
                column=col.name,
                reason="generated and hidden columns are computed by SQLite, not transferred",
            )
            continue
        facts = SQLiteTypeMapper.column_facts(col.declared)
        arrow_type = SQLiteTypeMapper.to_arrow_type(col.declared)
        is_alias = col.name == alias
        tz = arrow_type.tz if pa.types.is_timestamp(arrow_type) else None
        columns.append(
            ColumnDefinition(
                name=col.name,
                data_type=col.declared,
                arrow_type_str=str(arrow_type),
                nullable=not (col.notnull or is_alias),
                default_value=col.default,
                is_identity=is_alias,
                ordinal_position=len(columns) + 1,
                char_length=facts.char_length,
                numeric_precision=facts.precision,
                numeric_scale=facts.scale,
                unsigned=facts.unsigned,
                timezone=tz,
            )
        )
    return tuple(columns)


def _raw_column(row: tuple[object, ...]) -> RawColumn:
    cid, name, declared, notnull, default, pk, hidden = row
    return RawColumn(
        cid=int(cid),  # type: ignore[call-overload]
        name=str(name),
        declared=str(declared or ""),
        notnull=bool(notnull),
        default=None if default is None else str(default),
        pk=int(pk),  # type: ignore[call-overload]
        hidden=int(hidden),  # type: ignore[call-overload]
    )


def _collect_indexes(conn: sqlite3.Connection, facts: _Facts, only: str | None) -> None:
    grouped: dict[tuple[str, str], list[tuple[object, ...]]] = defaultdict(list)
    for row in conn.execute(_INDEXES_SQL, (only,)):
        grouped[(str(row[0]), str(row[1]))].append(tuple(row))
    for (table, index), rows in grouped.items():
        unique, origin, sql = bool(rows[0][2]), str(rows[0][3]), rows[0][7]
        if origin == "pk":
            continue  # the primary key is on the table
        names = [r[6] for r in rows]
        if any(n is None for n in names):
            log.warning(
                "sqlite_expression_index_skipped",
                table=table,
                index=index,
                reason="an index on an expression or the rowid is not carried",
            )
            continue
        columns = tuple(str(n) for n in names)
        name = index if origin == "c" else f"{table}_{'_'.join(columns)}_key"
        predicate = index_predicate(str(sql)) if sql else None
        facts.indexes[table].append(
            IndexDefinition(
                name=name,
                columns=columns,
                is_unique=unique,
                prefix_lengths=(None,) * len(columns),
                filter_predicate=predicate,
            )
        )


def _collect_foreign_keys(conn: sqlite3.Connection, facts: _Facts, only: str | None) -> None:
    grouped: dict[tuple[str, int], list[tuple[object, ...]]] = defaultdict(list)
    order: list[tuple[str, int]] = []
    for row in conn.execute(_FOREIGN_KEYS_SQL, (only,)):
        key = (str(row[0]), int(row[1]))
        if key not in grouped:
            order.append(key)
        grouped[key].append(tuple(row))
    counters: dict[str, int] = defaultdict(int)
    for table, fk_id in order:
        rows = grouped[(table, fk_id)]
        referenced = str(rows[0][3])
        from_columns = tuple(str(r[4]) for r in rows)
        to_columns = tuple(str(r[5]) for r in rows if r[5] is not None)
        if len(to_columns) != len(from_columns):
            # REFERENCES t without columns means t's primary key.
            to_columns = _primary_key_of(conn, referenced)
        counters[table] += 1
        on_update, on_delete = str(rows[0][6]).upper(), str(rows[0][7]).upper()
        facts.foreign_keys[table].append(
            ForeignKeyDefinition(
                name=f"{table}_fk_{counters[table]}",
                source_schema=MAIN_SCHEMA,
                source_table=table,
                source_columns=from_columns,
                referenced_schema=MAIN_SCHEMA,
                referenced_table=referenced,
                referenced_columns=to_columns,
                on_delete=on_delete if on_delete in _FK_ACTIONS else "NO ACTION",
                on_update=on_update if on_update in _FK_ACTIONS else "NO ACTION",
            )
        )


def _primary_key_of(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)
    ).fetchall()
    return tuple(str(r[0]) for r in rows)


def _collect_sequences(conn: sqlite3.Connection, facts: _Facts) -> None:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).fetchone()
    if exists:
        for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence"):
            facts.sequences[str(name)] = int(seq)


def _table_definition(
    conn: sqlite3.Connection, table: str, facts: _Facts, with_count: bool
) -> TableDefinition:
    sql = facts.sql.get(table, "")
    raw = facts.columns.get(table, [])
    without_rowid = is_without_rowid(sql)
    alias = _is_rowid_alias(raw, without_rowid)
    counter: int | None = None
    if alias is not None and has_autoincrement(sql):
        counter = facts.sequences.get(table, 0) + 1
    checks = tuple(
        CheckConstraint(name=name or f"{table}_ck_{n}", expression=expression)
        for n, (name, expression) in enumerate(check_constraints(sql), start=1)
    )
    count = count_rows(conn, table) if with_count else None
    return TableDefinition(
        schema_name=MAIN_SCHEMA,
        table_name=table,
        columns=_column_definitions(table, raw, alias),
        primary_key=tuple(c.name for c in sorted(raw, key=lambda c: c.pk) if c.pk > 0),
        indexes=tuple(sorted(facts.indexes.get(table, []), key=lambda i: i.name)),
        foreign_keys=tuple(facts.foreign_keys.get(table, [])),
        check_constraints=checks,
        row_count_estimate=count,
        identity_counter=counter,
        source_dialect=DIALECT,
    )


def _collect(conn: sqlite3.Connection, only: str | None) -> tuple[list[str], _Facts]:
    facts = _Facts()
    rows = conn.execute(_TABLES_SQL, (only, BOOKKEEPING_TABLE, RUNS_TABLE)).fetchall()
    tables = [str(r[0]) for r in rows]
    facts.sql = {str(r[0]): str(r[1] or "") for r in rows}
    for row in conn.execute(_COLUMNS_SQL, (only,)):
        facts.columns[str(row[0])].append(_raw_column(tuple(row[1:])))
    _collect_indexes(conn, facts, only)
    _collect_foreign_keys(conn, facts, only)
    _collect_sequences(conn, facts)
    return tables, facts


def introspect(conn: sqlite3.Connection, *, with_counts: bool = True) -> DatabaseSchema:
    """Every user table of the database, with columns, keys, indexes, FKs and checks."""
    with _snapshot(conn):
        tables, facts = _collect(conn, None)
        definitions = tuple(_table_definition(conn, t, facts, with_counts) for t in tables)
    return DatabaseSchema(tables=definitions, source_dialect=DIALECT)


def count_rows(conn: sqlite3.Connection, stored_name: str) -> int:
    """Exact row count of a table whose stored name is known."""
    row = conn.execute(f"SELECT count(*) FROM {quote_ansi_identifier(stored_name)}").fetchone()  # noqa: S608
    return int(row[0])


def read_table_definition(
    conn: sqlite3.Connection, table_name: str, schema_name: str, *, with_count: bool = False
) -> TableDefinition:
    """One table's definition, by the same queries restricted to that table."""
    stored = resolve_table(conn, table_name, schema_name)
    with _snapshot(conn):
        tables, facts = _collect(conn, stored)
        if stored not in tables:  # a bookkeeping or sqlite_ table was named
            raise TableNotFound(
                f"{table_name!r} is not a user table", connector=DIALECT, table=table_name
            )
        return _table_definition(conn, stored, facts, with_count)
