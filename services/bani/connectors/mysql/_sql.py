"""Quoting for MySQL SQL text: the one ``quote_ident`` and its helpers.

Identifiers (database, table, column, index, constraint names) cannot be
bound as parameters, so they are quoted with backticks, embedded backticks
doubled, and nothing else is ever pasted into SQL text: values are bound
(``%s``) and pymysql escapes them.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["placeholders", "qualified", "quote_ident", "quote_idents"]


def quote_ident(name: str) -> str:
    """```name``` with embedded backticks doubled; NUL is refused (MySQL cannot store it)."""
    if "\x00" in name:
        raise ValueError("MySQL identifiers cannot contain NUL characters")
    if not name:
        raise ValueError("an empty MySQL identifier")
    return "`" + name.replace("`", "``") + "`"


def qualified(schema: str | None, table: str) -> str:
    """```db`.`table``` (or just the table when no database is given)."""
    return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)


def quote_idents(names: Iterable[str]) -> str:
    """A comma-separated list of quoted identifiers."""
    return ", ".join(quote_ident(n) for n in names)


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an ``IN (...)`` list of ``count`` bound values."""
    if count < 1:
        raise ValueError("an IN list needs at least one value")
    return ", ".join(["%s"] * count)
