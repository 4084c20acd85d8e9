"""Which source tables a migration moves, where they land, and in what shape.

The client knows no SQL dialect; this module only chooses among the tables the
reader serves and maps each one to a place on the writer:

* ``include`` / ``exclude`` are shell globs (``fnmatch``, case-sensitive)
  matched against a table's bare name and its ``schema.table`` name.  An
  include pattern that matches nothing is an error naming the pattern and the
  tables that exist, so a typo never silently migrates nothing.
* The target schema: by default ``""``, which the writer reads as *its own
  configured schema or database* -- the source's schema name is never a place
  to write.  ``target_schema`` sends every table to one named schema;
  ``schema_map`` sends source schemas one-to-one.  Two source tables that
  would land on the same target name are refused here, before anything runs.
* Per-table options: a ``filter`` (a WHERE body in the *source's* dialect,
  which the reader accepts only when started with filters enabled) and a
  ``columns`` subset (checked against the reader's columns; the primary key
  columns are required so chunks and resumes stay exact).

Everything here is pure: it takes what the reader listed and returns what to
move, so it is unit-tested without a server.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from bani.errors import ConfigurationError, TableNotFound, closest_match

__all__ = [
    "SelectedTable",
    "Selection",
    "SourceTable",
    "TableOptions",
    "select_tables",
]


@dataclass(frozen=True)
class SourceTable:
    """A table as the reader lists it (what selection chooses among)."""

    schema_name: str
    table_name: str
    columns: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()
    estimated_rows: int | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.table_name}" if self.schema_name else self.table_name


@dataclass(frozen=True)
class TableOptions:
    """Shaping for one table: a source-side filter and a column subset."""

    filter: str | None = None
    columns: tuple[str, ...] | None = None


def _freeze(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


def _freeze_options(mapping: Mapping[str, TableOptions] | None) -> Mapping[str, TableOptions]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Selection:
    """The user's choice of tables and their shaping, as given (not yet resolved).

    ``tables`` is keyed by a table's bare name or its ``schema.table`` name.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    target_schema: str | None = None
    schema_map: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, TableOptions] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "schema_map", _freeze(self.schema_map))
        object.__setattr__(self, "tables", _freeze_options(self.tables))
        for pattern in (*self.include, *self.exclude):
            if not pattern.strip():
                raise ConfigurationError(
                    "an empty table pattern selects nothing", setting="include"
                )
        if self.target_schema is not None and self.schema_map:
            raise ConfigurationError(
                "give either a target schema or a schema map, not both",
                setting="target_schema",
            )

    def merged(self, other: Selection) -> Selection:
        """This selection with every field ``other`` sets replacing ours (CLI over file).

        A target schema and a schema map exclude each other, so whichever one
        ``other`` sets replaces both of ours.
        """
        target_schema, schema_map = self.target_schema, self.schema_map
        if other.target_schema is not None or other.schema_map:
            target_schema, schema_map = other.target_schema, other.schema_map
        return Selection(
            include=other.include or self.include,
            exclude=other.exclude or self.exclude,
            target_schema=target_schema,
            schema_map=schema_map,
            tables={**self.tables, **other.tables},
        )

    def as_dict(self) -> dict[str, object]:
        """A JSON-able form for the local run file."""
        return {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "target_schema": self.target_schema,
            "schema_map": dict(self.schema_map),
            "tables": {
                name: {
                    "filter": opts.filter,
                    "columns": list(opts.columns) if opts.columns is not None else None,
                }
                for name, opts in self.tables.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Selection:
        """Inverse of :meth:`as_dict` (for a stored run file)."""
        raw_tables = data.get("tables") or {}
        assert isinstance(raw_tables, Mapping)
        tables: dict[str, TableOptions] = {}
        for name, opts in raw_tables.items():
            assert isinstance(opts, Mapping)
            columns = opts.get("columns")
            tables[str(name)] = TableOptions(
                filter=opts.get("filter"),
                columns=tuple(columns) if columns is not None else None,
            )
        include = data.get("include") or ()
        exclude = data.get("exclude") or ()
        schema_map = data.get("schema_map") or {}
        target = data.get("target_schema")
        assert isinstance(include, list | tuple) and isinstance(exclude, list | tuple)
        assert isinstance(schema_map, Mapping)
        return cls(
            include=tuple(str(p) for p in include),
            exclude=tuple(str(p) for p in exclude),
            target_schema=str(target) if target is not None else None,
            schema_map={str(k): str(v) for k, v in schema_map.items()},
            tables=tables,
        )


@dataclass(frozen=True)
class SelectedTable:
    """One table to move: where it comes from, where it goes, and its shape.

    ``target_schema`` of ``""`` means the writer's configured default.
    ``columns`` is None for every column.
    """

    source: SourceTable
    target_schema: str
    target_table: str
    columns: tuple[str, ...] | None = None
    filter: str | None = None

    @property
    def target_name(self) -> str:
        return f"{self.target_schema}.{self.target_table}" if self.target_schema else (
            self.target_table
        )


def _matches(pattern: str, table: SourceTable) -> bool:
    return fnmatch.fnmatchcase(table.table_name, pattern) or fnmatch.fnmatchcase(
        table.qualified_name, pattern
    )


def _names(tables: Iterable[SourceTable]) -> list[str]:
    return sorted({t.qualified_name for t in tables})


def _unknown_table(pattern: str, available: Sequence[SourceTable], setting: str) -> TableNotFound:
    names = _names(available)
    hint = closest_match(pattern, [*names, *(t.table_name for t in available)])
    suggestion = f"; did you mean {hint!r}?" if hint else ""
    listed = ", ".join(names) if names else "none"
    return TableNotFound(
        f"{setting} {pattern!r} matches no table the reader serves{suggestion} "
        f"(tables: {listed})",
        table=pattern,
        setting=setting,
    )


def _options_for(table: SourceTable, selection: Selection) -> TableOptions:
    return selection.tables.get(table.qualified_name) or selection.tables.get(
        table.table_name, TableOptions()
    )


def _target_schema(table: SourceTable, selection: Selection) -> str:
    if selection.target_schema is not None:
        return selection.target_schema
    if selection.schema_map:
        mapped = selection.schema_map.get(table.schema_name)
        if mapped is None:
            raise ConfigurationError(
                f"the schema map has no entry for source schema {table.schema_name!r} "
                f"(table {table.qualified_name}); map it or exclude the table",
                schema=table.schema_name,
                setting="schema_map",
            )
        return mapped
    return ""


def _checked_columns(table: SourceTable, wanted: tuple[str, ...]) -> tuple[str, ...]:
    if not wanted:
        raise ConfigurationError(
            f"an empty column list for {table.qualified_name} would move nothing",
            table=table.table_name,
            setting=f"tables.{table.table_name}.columns",
        )
    if table.columns:
        known = set(table.columns)
        for name in wanted:
            if name not in known:
                hint = closest_match(name, table.columns)
                suggestion = f"; did you mean {hint!r}?" if hint else ""
                raise ConfigurationError(
                    f"table {table.qualified_name} has no column {name!r}{suggestion}",
                    schema=table.schema_name,
                    table=table.table_name,
                    column=name,
                    setting=f"tables.{table.table_name}.columns",
                )
    missing_key = [k for k in table.primary_key if k not in wanted]
    if missing_key:
        raise ConfigurationError(
            f"the column subset of {table.qualified_name} must keep its primary key "
            f"({', '.join(missing_key)} missing), so chunks can be resumed exactly",
            schema=table.schema_name,
            table=table.table_name,
            column=missing_key[0],
            setting=f"tables.{table.table_name}.columns",
        )
    if len(set(wanted)) != len(wanted):
        raise ConfigurationError(
            f"the column subset of {table.qualified_name} names a column twice",
            table=table.table_name,
            setting=f"tables.{table.table_name}.columns",
        )
    if table.columns:
        # The stream and the target table keep the source's column order.
        chosen = set(wanted)
        return tuple(c for c in table.columns if c in chosen)
    return wanted


def select_tables(available: Sequence[SourceTable], selection: Selection) -> list[SelectedTable]:
    """Resolve ``selection`` against what the reader serves.

    Returns the chosen tables in the reader's order.  Raises
    :class:`~bani.errors.TableNotFound` for an include pattern or a per-table
    option that names no table, and :class:`~bani.errors.ConfigurationError`
    for an unknown column, a subset without the key, an unmapped schema or two
    tables landing on one target name.
    """
    for pattern in selection.include:
        if not any(_matches(pattern, t) for t in available):
            raise _unknown_table(pattern, available, "include")
    for name in selection.tables:
        if not any(name in (t.table_name, t.qualified_name) for t in available):
            raise _unknown_table(name, available, f"tables.{name}")

    chosen: list[SelectedTable] = []
    landing: dict[tuple[str, str], SourceTable] = {}
    for table in available:
        if selection.include and not any(_matches(p, table) for p in selection.include):
            continue
        if any(_matches(p, table) for p in selection.exclude):
            continue
        options = _options_for(table, selection)
        columns = _checked_columns(table, options.columns) if options.columns is not None else None
        target_schema = _target_schema(table, selection)
        key = (target_schema, table.table_name)
        clash = landing.get(key)
        if clash is not None:
            where = f"{target_schema}.{table.table_name}" if target_schema else table.table_name
            raise ConfigurationError(
                f"{clash.qualified_name} and {table.qualified_name} would both land on {where}; "
                "map their schemas apart with a schema map or exclude one",
                table=table.table_name,
                setting="schema_map",
            )
        landing[key] = table
        chosen.append(
            SelectedTable(
                source=table,
                target_schema=target_schema,
                target_table=table.table_name,
                columns=columns,
                filter=options.filter,
            )
        )
    if not chosen:
        raise ConfigurationError(
            "the selection leaves no table to migrate "
            f"(include={list(selection.include)}, exclude={list(selection.exclude)})",
            setting="exclude" if selection.exclude else "include",
        )
    return chosen
