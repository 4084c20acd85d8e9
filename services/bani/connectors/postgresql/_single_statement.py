"""A psycopg cursor that never uses the simple query protocol.

Without parameters psycopg sends a query with ``PQsendQuery`` (the simple
protocol), which runs every ``;``-separated statement in the text.  Every
statement this connector sends is composed by it, but "one execute, one
statement" should not depend on that alone: this cursor always uses the
extended protocol, where PostgreSQL itself refuses a second statement
("cannot insert multiple commands into a prepared statement").
"""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["SingleStatementCursor"]


class SingleStatementCursor(psycopg.Cursor[Any]):
    """``psycopg.Cursor`` whose every ``execute`` goes through Parse/Bind/Execute."""

    def _execute_send(self, query: Any, *, force_extended: bool = False,
                      binary: bool | None = None) -> None:
        super()._execute_send(query, force_extended=True, binary=binary)
