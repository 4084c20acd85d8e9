"""Introspection: five bulk catalog queries, grouped by table in Python.

The queries (``_catalog.py``) each cover every selected table at once --
tables with row estimates, columns, constraints, indexes, enum types -- so
introspecting one table or a thousand costs the same five round trips (plus
one that sets the search path, see ``_catalog.SEARCH_PATH``), in one
transaction.  What
is selected (ordinary and partitioned tables, not partitions, views or
extension tables) is documented there.

Choices made here, deliberately:

* a domain column is described by its base type (the domain's constraint is
  not carried); a generated column is read as a plain column and its
  generation expression is not carried as a default;
* unique constraints appear as unique indexes (that is what they are);
  expression indexes have no column list and are skipped with a warning;
* a column that owns a sequence (serial or identity) is an identity column,
  and the table's ``identity_counter`` is that sequence's next value, so a
  target continues from the source's counter, not from ``max(id) + 1``;
* types without an Arrow equivalent fall back to their text form, logged
  once per column with what was done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import structlog

from bani.connectors.postgresql import _catalog
from bani.connectors.postgresql.data_reader import ReadableTable
from bani.connectors.postgresql.type_mapper import PgType, Wire, map_pg_type
from bani.domain.schema import (
    CheckConstraint,
    ColumnDefinition,
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["DIALECT", "read_schema"]

DIALECT: Final = "postgresql"

log = structlog.get_logger(__name__)

#: ``pg_constraint.confupdtype`` / ``confdeltype`` codes.
_FK_ACTIONS: Final = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}

TableKey = tuple[str, str]


def read_schema(
    conn: psycopg.Connection[Any],
    schemas: Sequence[str] | None,
    tables: Sequence[str] | None = None,
) -> tuple[DatabaseSchema, dict[TableKey, ReadableTable]]:
    """Introspect the selected schemas (optionally only the named tables)."""
    params = {
        "schemas": list(schemas) if schemas else None,
        "tables": list(tables) if tables else None,
    }
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_catalog.SEARCH_PATH, params)
        table_rows = cur.execute(_catalog.TABLES, params).fetchall()
        column_rows = cur.execute(_catalog.COLUMNS, params).fetchall()
        constraint_rows = cur.execute(_catalog.CONSTRAINTS, params).fetchall()
        index_rows = cur.execute(_catalog.INDEXES, params).fetchall()
        enum_rows = cur.execute(_catalog.ENUM_TYPES, params).fetchall()

    columns: dict[TableKey, list[tuple[ColumnDefinition, Wire]]] = defaultdict(list)
    counters: dict[TableKey, int] = {}
    for row in column_rows:
        key = (row[0], row[1])
        column, wire, counter = _column(row, len(columns[key]) + 1)
        columns[key].append((column, wire))
        if counter is not None and key not in counters:
            counters[key] = counter

    primary: dict[TableKey, tuple[str, ...]] = {}
    foreign: dict[TableKey, list[ForeignKeyDefinition]] = defaultdict(list)
    checks: dict[TableKey, list[CheckConstraint]] = defaultdict(list)
    for row in constraint_rows:
        schema, table, name, kind, cols, ref_schema, ref_table, ref_cols, upd, dele, check = row
        key = (schema, table)
        if kind == "p":
            primary[key] = tuple(cols)
        elif kind == "f":
            foreign[key].append(
                ForeignKeyDefinition(
                    name=name,
                    source_schema=schema,
                    source_table=table,
                    source_columns=tuple(cols),
                    referenced_schema=ref_schema,
                    referenced_table=ref_table,
                    referenced_columns=tuple(ref_cols),
                    on_delete=_FK_ACTIONS.get(dele, "NO ACTION"),
                    on_update=_FK_ACTIONS.get(upd, "NO ACTION"),
                )
            )
        elif kind == "c" and check:
            checks[key].append(CheckConstraint(name=name, expression=_check_body(check)))

    indexes: dict[TableKey, list[IndexDefinition]] = defaultdict(list)
    for schema, table, name, unique, method, predicate, cols, has_expr in index_rows:
        if has_expr or any(c is None for c in cols):
            log.warning(
                "expression_index_skipped",
                schema=schema,
                table=table,
                index=name,
                reason="an index on expressions has no column list to recreate",
            )
            continue
        indexes[(schema, table)].append(
            IndexDefinition(
                name=name,
                columns=tuple(cols),
                is_unique=bool(unique),
                filter_predicate=predicate,
                method=method,
            )
        )

    definitions: list[TableDefinition] = []
    readable: dict[TableKey, ReadableTable] = {}
    for schema, table, _kind, reltuples in table_rows:
        key = (schema, table)
        cols = columns.get(key, [])
        definition = TableDefinition(
            schema_name=schema,
            table_name=table,
            columns=tuple(c for c, _ in cols),
            primary_key=primary.get(key, ()),
            indexes=tuple(indexes.get(key, ())),
            foreign_keys=tuple(foreign.get(key, ())),
            check_constraints=tuple(checks.get(key, ())),
            row_count_estimate=None if reltuples is None or reltuples < 0 else round(reltuples),
            identity_counter=counters.get(key),
            source_dialect=DIALECT,
        )
        definitions.append(definition)
        readable[key] = ReadableTable(definition, tuple(w for _, w in cols))

    enum_types = tuple(
        EnumTypeDefinition(schema_name=s, name=n, labels=tuple(labels))
        for s, n, labels in enum_rows
    )
    database = DatabaseSchema(
        tables=tuple(definitions), source_dialect=DIALECT, enum_types=enum_types
    )
    return database, readable


def _column(row: Sequence[Any], ordinal: int) -> tuple[ColumnDefinition, Wire, int | None]:
    (
        schema,
        table,
        _attnum,
        name,
        notnull,
        attidentity,
        attgenerated,
        default_expr,
        declared,
        typname,
        typtype,
        typmod,
        is_array,
        elem_typname,
        elem_typtype,
        enum_labels,
        next_value,
    ) = row
    labels = tuple(enum_labels or ())
    element = None
    if is_array:
        element = PgType(elem_typname, typmod, elem_typtype or "b", enum_labels=labels)
    pg_type = PgType(
        typname,
        typmod,
        typtype,
        is_array=bool(is_array),
        element=element,
        enum_labels=labels if typtype == "e" else (),
    )
    mapping = map_pg_type(pg_type)
    if mapping.fallback is not None:
        log.warning(
            "type_fallback",
            schema=schema,
            table=table,
            column=name,
            native_type=declared,
            arrow_type=str(mapping.arrow_type),
            reason=mapping.fallback,
        )
    default = default_expr
    if attgenerated:
        log.warning(
            "generated_column_as_plain",
            schema=schema,
            table=table,
            column=name,
            reason="the generation expression is not carried; the values are copied",
        )
        default = None
    owns_sequence = next_value is not None
    is_identity = bool(attidentity) or (
        owns_sequence and default is not None and default.lower().startswith("nextval(")
    )
    column = ColumnDefinition(
        name=name,
        data_type=declared,
        arrow_type_str=str(mapping.arrow_type),
        nullable=not notnull,
        default_value=default,
        is_identity=is_identity,
        ordinal_position=ordinal,
        char_length=mapping.char_length,
        numeric_precision=mapping.precision,
        numeric_scale=mapping.scale,
        enum_values=mapping.enum_labels,
        timezone=mapping.timezone,
    )
    return column, mapping.wire, int(next_value) if is_identity and owns_sequence else None


def _check_body(definition: str) -> str:
    """``CHECK ((a > 0)) NOT VALID`` -> ``(a > 0)``."""
    body = definition.strip()
    if body.upper().startswith("CHECK"):
        body = body[len("CHECK") :].strip()
    if body.upper().endswith("NOT VALID"):
        body = body[: -len("NOT VALID")].strip()
    return body
