"""The guard's entry points: which parser, which rules, and the error a refusal raises."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from bani.errors import InvalidRequest

__all__ = ["MAX_SQL_TEXT_CHARS", "Purpose", "Where", "render_expression", "render_type"]

#: Longest expression or type text accepted (a CHECK of a few hundred labels fits).
MAX_SQL_TEXT_CHARS: Final = 16_384


class Purpose(enum.Enum):
    """Where an expression will run; each use has its own rules."""

    CHECK = "CHECK constraint"
    PREDICATE = "index predicate"
    DEFAULT = "default"
    FILTER = "filter"
    GENERATED = "generated column"

    @property
    def allows_columns(self) -> bool:
        return self is not Purpose.DEFAULT


@dataclass(frozen=True)
class Where:
    """What an expression belongs to, for the error that refuses it."""

    table: str | None = None
    schema: str | None = None
    column: str | None = None
    constraint: str | None = None
    setting: str | None = None

    def refuse(self, what: str, text: str, reason: str) -> InvalidRequest:
        shown = text if len(text) <= 120 else text[:117] + "..."
        return InvalidRequest(
            f"{what} {shown!r} is refused: {reason}",
            table=self.table,
            schema=self.schema,
            column=self.column,
            constraint=self.constraint,
            setting=self.setting,
        )


def _precheck(text: str, what: str, where: Where) -> str:
    body = text.strip()
    if not body:
        raise where.refuse(what, text, "it is empty")
    if len(body) > MAX_SQL_TEXT_CHARS:
        raise where.refuse(what, text, f"it is longer than {MAX_SQL_TEXT_CHARS} characters")
    if "\x00" in body:
        raise where.refuse(what, text, "it contains a NUL character")
    return body


def _family(dialect: str) -> str:
    lowered = dialect.lower()
    if lowered in ("postgresql", "postgres"):
        return "postgresql"
    if lowered in ("mysql", "mariadb"):
        return "mysql"
    if lowered == "sqlite":
        return "sqlite"
    raise InvalidRequest(f"no SQL guard for dialect {dialect!r}; its SQL text is not rendered",
                         connector=dialect)


def render_expression(
    text: str,
    dialect: str,
    purpose: Purpose,
    where: Where,
    columns: Iterable[str] | None = None,
    *,
    parenthesize: bool | None = False,
) -> str:
    """``text`` as one safe expression of ``dialect``, rendered from its parse tree.

    ``columns`` are the names the expression may reference; None lets any bare
    column name through (for statements that can only see one table's columns,
    such as a partial index's predicate).  ``parenthesize`` wraps the result
    in parentheses: always (True), never (False), or unless it is a single
    literal, cast, column or call (None: what a ``DEFAULT`` needs).
    """
    body = _precheck(text, purpose.value, where)
    allowed = None if columns is None else frozenset(columns)
    family = _family(dialect)
    if family == "postgresql":
        from bani.sqlguard import _postgresql

        rendered, atomic = _postgresql.render_expression(body, purpose, where, allowed)
    else:
        from bani.sqlguard import _sqlglot

        rendered, atomic = _sqlglot.render_expression(body, family, purpose, where, allowed)
    wrap = (not atomic) if parenthesize is None else parenthesize
    return f"({rendered})" if wrap else rendered


def render_type(text: str, dialect: str, where: Where) -> str:
    """A column type of ``dialect``, parsed and rendered again (name, modifiers, arrays)."""
    body = _precheck(text, "column type", where)
    family = _family(dialect)
    if family == "postgresql":
        from bani.sqlguard import _postgresql

        return _postgresql.render_type(body, where)
    from bani.sqlguard import _sqlglot

    return _sqlglot.render_type(body, where)
