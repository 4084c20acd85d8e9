"""What a database's schema is, independent of any database.

These dataclasses are the one description every connector produces and
consumes: a source's introspection fills them, a sink builds DDL from them,
and the wire contract carries them.  They are frozen and use tuples, so a
schema can be shared between threads and hashed; they import no connector and
do no I/O.

A :class:`ColumnDefinition` holds more than its native type: it also holds
what *another* dialect needs to declare the column (length, precision and
scale, unsigned, enum/set labels, time zone), because a native type string
from one database means nothing to another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CheckConstraint",
    "ColumnDefinition",
    "DatabaseSchema",
    "EnumTypeDefinition",
    "ForeignKeyDefinition",
    "IndexDefinition",
    "TableDefinition",
]


@dataclass(frozen=True)
class ColumnDefinition:
    """One column.

    ``data_type`` is the native declaration as the source spells it
    (``varchar(255)``, ``numeric(12,2)``, ``int unsigned``); ``arrow_type_str``
    is ``str()`` of the Arrow type the source's mapper chose for it.
    ``default_value`` is the source's default expression as text, or None.
    ``ordinal_position`` counts from 1.  ``enum_values`` holds the labels of
    an enum or set column in declaration order.  ``timezone`` is set for
    columns whose values are instants (``timestamptz``, MySQL ``TIMESTAMP``):
    the zone the Arrow values are expressed in (``UTC``).
    """

    name: str
    data_type: str
    arrow_type_str: str = ""
    nullable: bool = True
    default_value: str | None = None
    is_identity: bool = False
    ordinal_position: int = 0
    char_length: int | None = None
    numeric_precision: int | None = None
    numeric_scale: int | None = None
    unsigned: bool = False
    enum_values: tuple[str, ...] = ()
    timezone: str | None = None


@dataclass(frozen=True)
class IndexDefinition:
    """A secondary index (the primary key is on the table, not here).

    ``prefix_lengths`` runs parallel to ``columns``; None means the whole
    column (MySQL's ``KEY (name(10))`` has 10).  ``filter_predicate`` is a
    partial index's WHERE body in the source's dialect.
    """

    name: str
    columns: tuple[str, ...]
    is_unique: bool = False
    prefix_lengths: tuple[int | None, ...] = ()
    filter_predicate: str | None = None
    method: str | None = None


@dataclass(frozen=True)
class ForeignKeyDefinition:
    """A foreign key from ``source_table`` to ``referenced_table``.

    Columns are in constraint order on both sides.  ``on_delete`` and
    ``on_update`` use SQL spelling (``CASCADE``, ``SET NULL``, ``RESTRICT``,
    ``NO ACTION``, ``SET DEFAULT``).
    """

    name: str
    source_schema: str
    source_table: str
    source_columns: tuple[str, ...]
    referenced_schema: str
    referenced_table: str
    referenced_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"


@dataclass(frozen=True)
class CheckConstraint:
    """A CHECK constraint; the expression is in the source's dialect."""

    name: str
    expression: str


@dataclass(frozen=True)
class EnumTypeDefinition:
    """A user-defined enum type (PostgreSQL ``CREATE TYPE … AS ENUM``)."""

    schema_name: str
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class TableDefinition:
    """One table: columns in ordinal order and everything needed to recreate it.

    ``row_count_estimate`` comes from statistics and may be stale or None.
    ``identity_counter`` is the next value the source would hand out for its
    identity / auto-increment / serial column, where it has one, so the target
    continues from there rather than from max(id) + 1.
    """

    schema_name: str
    table_name: str
    columns: tuple[ColumnDefinition, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexDefinition, ...] = ()
    foreign_keys: tuple[ForeignKeyDefinition, ...] = ()
    check_constraints: tuple[CheckConstraint, ...] = ()
    row_count_estimate: int | None = None
    identity_counter: int | None = None
    source_dialect: str = ""

    @property
    def qualified_name(self) -> str:
        """``schema.table`` for messages (not for SQL: connectors quote)."""
        return f"{self.schema_name}.{self.table_name}" if self.schema_name else self.table_name

    def column(self, name: str) -> ColumnDefinition:
        """The column called ``name``; KeyError if there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class DatabaseSchema:
    """Every table a source serves, plus its user-defined enum types."""

    tables: tuple[TableDefinition, ...]
    source_dialect: str = ""
    enum_types: tuple[EnumTypeDefinition, ...] = field(default=())

    def get_table(self, table_name: str, schema_name: str | None = None) -> TableDefinition | None:
        """The table with that name (and schema, if given), or None."""
        for table in self.tables:
            if table.table_name == table_name and (
                schema_name is None or table.schema_name == schema_name
            ):
                return table
        return None
