"""PostgreSQL expressions and types, through pglast (PostgreSQL's own parser)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind
from pglast.parser import ParseError
from pglast.stream import RawStream

from bani.sqlguard._api import Purpose, Where
from bani.sqlguard._functions import DEFAULT_ONLY, FUNCTIONS

__all__ = ["render_expression", "render_type"]

_OPERATORS: Final = frozenset(
    {
        "=", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^", "||", "~~",
        "!~~", "~~*", "!~~*", "~", "!~", "~*", "!~*", "@>", "<@", "&&", "&", "|", "#",
        "<<", ">>", "->", "->>", "#>", "#>>", "?", "?|", "?&", "@", "|/", "||/",
        "BETWEEN", "NOT BETWEEN", "BETWEEN SYMMETRIC", "NOT BETWEEN SYMMETRIC",
    }
)

#: Nodes that carry no behaviour of their own: their children are checked.
_STRUCTURE: Final[tuple[type[ast.Node], ...]] = (
    ast.A_Const, ast.Integer, ast.Float, ast.Boolean, ast.String, ast.BitString,
    ast.BoolExpr, ast.NullTest, ast.BooleanTest, ast.CoalesceExpr, ast.MinMaxExpr,
    ast.CaseExpr, ast.CaseWhen, ast.SQLValueFunction, ast.A_ArrayExpr, ast.A_Indices,
    ast.CollateClause,
)

_SELECT_FIELDS_ALLOWED: Final = frozenset({"targetList", "limitOption", "op", "all"})


def _single_target(text: str, what: str, where: Where, prefix: str = "") -> ast.Node:
    """The one expression of ``SELECT <prefix><text>``; refused if it is anything more."""
    try:
        statements = parse_sql(f"SELECT {prefix}{text}")
    except ParseError as exc:
        raise where.refuse(what, text, f"it does not parse as PostgreSQL ({exc})") from None
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        raise where.refuse(what, text, "it is not exactly one expression")
    select = statements[0].stmt
    for name in _slots(select):
        present = getattr(select, name)
        if name not in _SELECT_FIELDS_ALLOWED and present not in (None, False, (), 0):
            raise where.refuse(what, text, f"it adds a {name} clause to its statement")
    if not select.targetList or len(select.targetList) != 1:
        raise where.refuse(what, text, "it is not exactly one expression")
    target = select.targetList[0]
    if target.name is not None or target.indirection:
        raise where.refuse(what, text, "it is not exactly one expression")
    value = target.val
    if not isinstance(value, ast.Node):
        raise where.refuse(what, text, "it is not an expression")
    return value


def _slots(node: ast.Node) -> tuple[str, ...]:
    slots: Any = getattr(type(node), "__slots__", ())
    return tuple(slots)


_ATOMIC: Final[tuple[type[ast.Node], ...]] = (
    ast.A_Const, ast.TypeCast, ast.FuncCall, ast.SQLValueFunction, ast.ColumnRef,
)


def render_expression(
    text: str, purpose: Purpose, where: Where, columns: frozenset[str] | None
) -> tuple[str, bool]:
    """The expression rendered again, and whether it is one atom (no parentheses needed)."""
    what = purpose.value
    node = _single_target(text, what, where)
    functions = FUNCTIONS["postgresql"]
    if purpose is Purpose.DEFAULT:
        functions = functions | DEFAULT_ONLY["postgresql"]
    for child in _walk(node):
        _check(child, text, what, where, purpose, functions, columns)
    rendered: str = RawStream()(node)
    return rendered, isinstance(node, _ATOMIC)


def _walk(node: ast.Node) -> Iterator[ast.Node]:
    yield node
    for name in _slots(node):
        value = getattr(node, name)
        if isinstance(value, ast.Node):
            yield from _walk(value)
        elif isinstance(value, tuple | list):
            for item in value:
                if isinstance(item, ast.Node):
                    yield from _walk(item)


def _names(items: tuple[ast.Node, ...] | None) -> list[str]:
    return [str(i.sval) for i in items or () if isinstance(i, ast.String)]


def _check(
    node: ast.Node,
    text: str,
    what: str,
    where: Where,
    purpose: Purpose,
    functions: frozenset[str],
    columns: frozenset[str] | None,
) -> None:
    if isinstance(node, ast.ColumnRef):
        names = _names(node.fields)
        if len(names) != len(node.fields or ()):
            raise where.refuse(what, text, "* is not a column")
        if not purpose.allows_columns:
            raise where.refuse(what, text, f"a {what} may not reference column {names[-1]!r}")
        if len(names) > 2 or (len(names) == 2 and names[0] != where.table):
            raise where.refuse(what, text, f"{'.'.join(names)} names another relation")
        if columns is not None and names[-1] not in columns:
            raise where.refuse(what, text, f"{names[-1]!r} is not a column of the table")
        return
    if isinstance(node, ast.A_Expr):
        names = _names(node.name)
        if len(names) != 1 or names[0] not in _OPERATORS:
            raise where.refuse(what, text, f"operator {'.'.join(names)} is not allowed")
        if node.kind in (A_Expr_Kind.AEXPR_OP_ANY, A_Expr_Kind.AEXPR_OP_ALL) and not isinstance(
            node.rexpr, ast.A_Const | ast.A_ArrayExpr | ast.TypeCast | ast.ColumnRef
        ):
            raise where.refuse(what, text, "ANY/ALL takes an array value here, not a query")
        return
    if isinstance(node, ast.FuncCall):
        names = _names(node.funcname)
        if len(names) == 2 and names[0] == "pg_catalog":
            names = names[1:]
        if len(names) != 1 or names[0] not in functions:
            raise where.refuse(
                what, text, f"function {'.'.join(names)}() is not allowed in a {what}"
            )
        if node.agg_filter is not None or node.over is not None or node.agg_star or (
            node.agg_order or node.agg_distinct or node.agg_within_group or node.func_variadic
        ):
            raise where.refuse(what, text, "aggregate and window calls are not allowed")
        return
    if isinstance(node, ast.TypeCast):
        if node.typeName is None:
            raise where.refuse(what, text, "a cast needs a type")
        _check_type_name(node.typeName, text, what, where, purpose)
        return
    if isinstance(node, ast.TypeName):
        _check_type_name(node, text, what, where, purpose)
        return
    if isinstance(node, ast.A_Indirection):
        if not all(isinstance(i, ast.A_Indices) for i in node.indirection or ()):
            raise where.refuse(what, text, "only array subscripts may follow a value")
        return
    if isinstance(node, _STRUCTURE):
        return
    raise where.refuse(what, text, f"{type(node).__name__} is not allowed in a {what}")


def _check_type_name(
    type_name: ast.TypeName, text: str, what: str, where: Where, purpose: Purpose
) -> None:
    names = _names(type_name.names)
    if not names or len(names) != len(type_name.names or ()) or len(names) > 2:
        raise where.refuse(what, text, "the type is not a plain type name")
    if type_name.setof or type_name.pct_type:
        raise where.refuse(what, text, "SETOF and %TYPE are not column types")
    for modifier in type_name.typmods or ():
        if not (isinstance(modifier, ast.A_Const) and isinstance(modifier.val, ast.Integer)):
            raise where.refuse(what, text, "type modifiers must be integers")
    for bound in type_name.arrayBounds or ():
        if not isinstance(bound, ast.Integer):
            raise where.refuse(what, text, "array bounds must be integers")
    if names[-1].startswith("reg") and purpose is not Purpose.DEFAULT:
        # regclass & co. look the catalog up: an oracle on other relations.
        raise where.refuse(what, text, f"a cast to {names[-1]} is not allowed in a {what}")


def render_type(text: str, where: Where) -> str:
    """A PostgreSQL column type: the type of ``NULL::<text>``, rendered from its TypeName."""
    node = _single_target(text, "column type", where, prefix="NULL::")
    if not isinstance(node, ast.TypeCast) or node.typeName is None or not (
        isinstance(node.arg, ast.A_Const) and node.arg.isnull
    ):
        raise where.refuse("column type", text, "it is not one type name")
    _check_type_name(node.typeName, text, "column type", where, Purpose.CHECK)
    rendered: str = RawStream()(node.typeName)
    return rendered
