"""SQL text from the wire, parsed with the database's own grammar and rendered again.

A peer holding a valid token may send any string in a definition: a column
type, a default, a CHECK expression, a partial index's predicate, a reader
filter.  None of them is ever pasted into SQL.  Each is parsed with the
target's real parser -- ``pglast`` (PostgreSQL's own parser) for PostgreSQL,
``sqlglot`` for MySQL/MariaDB and SQLite -- and accepted only when it is *one
expression* built from a closed set of parts:

* column references: names of the table's own columns (or any bare column
  name, where the statement can only see that table's columns anyway);
* literals, operators, ``CASE``, ``IN (list)``, ``BETWEEN``, ``LIKE``,
  ``IS [NOT] NULL``, casts to plain types;
* calls to the functions allow-listed for that use in :mod:`._functions`
  (string, numeric, date/time and null-handling functions; never a file,
  admin, sleep or catalog function).

Subqueries, other relations, parameters, qualified names, statement
separators and anything the allow-list does not name are refused with an
:class:`~bani.errors.InvalidRequest` naming the table and column (or the
constraint / index / setting).  What is accepted is rendered again from the
parse tree, so the SQL that runs is text this code produced: comments are gone,
string literals are re-escaped in the target's standard form, and a second
statement cannot survive the round trip.

:func:`render_type` does the same for column types with the target's type
grammar: a (possibly qualified) type name, integer modifiers, array bounds.
"""

from __future__ import annotations

from bani.sqlguard._api import Purpose, Where, render_expression, render_type

__all__ = ["Purpose", "Where", "render_expression", "render_type"]
