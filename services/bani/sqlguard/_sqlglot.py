"""MySQL/MariaDB and SQLite expressions and types, through sqlglot's parsers."""

from __future__ import annotations

import re
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from bani.sqlguard._api import Purpose, Where
from bani.sqlguard._functions import DEFAULT_ONLY, FUNCTIONS

__all__ = ["render_expression", "render_type"]

#: Node kinds an expression may be built from, besides columns and function calls.
_STRUCTURE: Final[tuple[type[exp.Expression], ...]] = (
    exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Not, exp.Neg,
    exp.And, exp.Or, exp.Xor, exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ, exp.GT,
    exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Like, exp.ILike, exp.Glob, exp.RegexpLike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.DPipe, exp.BitwiseAnd,
    exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift,
    exp.BitwiseRightShift, exp.Between, exp.Case, exp.If, exp.Cast, exp.TryCast,
    exp.DataType, exp.DataTypeParam, exp.Tuple, exp.Escape, exp.Var, exp.Interval,
    exp.Collate,
)

#: sqlglot's own names for built-in functions it normalises (``strftime`` parses
#: to ``TimeToStr``); each is one of the allow-listed functions under another name.
_CANONICAL: Final = frozenset(
    {
        "time_to_str", "ts_or_ds_to_timestamp", "str_to_time", "time_str_to_time",
        "ts_or_ds_to_date", "date_str_to_date", "str_to_date", "utc_timestamp",
        "current_timestamp", "current_date", "current_time", "regexp_like", "unix_seconds",
    }
)

_TYPE: Final = re.compile(
    r"^(?P<name>[A-Za-z][A-Za-z0-9_]*(?:\s+(?:precision|varying))?)"
    r"\s*(?:\(\s*(?P<args>\d+(?:\s*,\s*\d+)?)\s*\))?"
    r"(?P<attrs>(?:\s+(?:unsigned|signed|zerofill))*)\s*$",
    re.IGNORECASE,
)


def render_expression(
    text: str, family: str, purpose: Purpose, where: Where, columns: frozenset[str] | None
) -> tuple[str, bool]:
    """One expression of ``family`` (``mysql``/``sqlite``) rendered again, and if it is an atom."""
    what = purpose.value
    try:
        statements = [s for s in sqlglot.parse(text, read=family) if s is not None]
    except SqlglotError as exc:
        raise where.refuse(what, text, f"it does not parse as {family} SQL ({_first(exc)})"
                           ) from None
    if len(statements) != 1:
        raise where.refuse(what, text, "it is not exactly one expression")
    tree = statements[0]
    allowed = FUNCTIONS[family] | (DEFAULT_ONLY[family] if purpose is Purpose.DEFAULT else set())
    folded = None if columns is None else {c.lower() for c in columns}
    for node in tree.walk():
        assert isinstance(node, exp.Expression)
        _check_node(node, text, what, where, purpose, allowed, folded)
    atomic = isinstance(tree, exp.Literal | exp.Null | exp.Boolean | exp.Column | exp.Func)
    return tree.sql(dialect=family), atomic


def _check_node(
    node: exp.Expression,
    text: str,
    what: str,
    where: Where,
    purpose: Purpose,
    allowed: frozenset[str] | set[str],
    columns: set[str] | None,
) -> None:
    if isinstance(node, exp.Column):
        if not purpose.allows_columns:
            raise where.refuse(what, text, f"a {what} may not reference column {node.name!r}")
        if node.args.get("db") is not None or node.args.get("catalog") is not None or (
            node.args.get("table") is not None and where.table is not None
            and node.table.lower() != where.table.lower()
        ):
            raise where.refuse(what, text, f"{node.sql()} names another relation")
        if not isinstance(node.this, exp.Identifier):
            raise where.refuse(what, text, f"{node.sql()} is not a column name")
        if columns is not None and node.name.lower() not in columns:
            raise where.refuse(what, text, f"{node.name!r} is not a column of the table")
        return
    if isinstance(node, exp.In):
        if any(node.args.get(k) is not None for k in ("query", "unnest", "field")):
            raise where.refuse(what, text, "IN takes a list of values here, not a query")
        return
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name not in allowed:
            raise where.refuse(what, text, f"function {name}() is not allowed in a {what}")
        return
    if isinstance(node, _STRUCTURE):
        return
    if isinstance(node, exp.Func):
        name = node.sql_name().lower()
        if name not in allowed and name not in _CANONICAL:
            raise where.refuse(what, text, f"function {name}() is not allowed in a {what}")
        return
    raise where.refuse(what, text, f"{type(node).__name__.lower()} is not allowed in a {what}")


def render_type(text: str, where: Where) -> str:
    """``name[(n[,m])] [unsigned|zerofill]``: the type grammar both dialects share here."""
    match = _TYPE.match(text)
    if match is None:
        raise where.refuse("column type", text, "it is not a type name with integer arguments")
    name = " ".join(match["name"].lower().split())
    args = match["args"]
    rendered = name
    if args:
        rendered += "(" + ",".join(a.strip() for a in args.split(",")) + ")"
    attrs = match["attrs"].lower().split()
    for attr in ("unsigned", "signed", "zerofill"):
        if attr in attrs:
            rendered += " " + attr
    return rendered


def _first(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
