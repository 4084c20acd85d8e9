"""Fixtures for the PostgreSQL connector tests: a connected connector on the test's database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import sql

from bani.connectors.postgresql import PostgreSQLConnector
from bani.domain.project import ConnectionConfig
from tests.connectors.postgresql._zoo import MOOD_LABELS, ROWS, ZOO


@pytest.fixture
def pg(pg_config: ConnectionConfig) -> Iterator[PostgreSQLConnector]:
    """A PostgreSQL connector connected to the test's own database (pool of 2)."""
    connector = PostgreSQLConnector()
    connector.connect(pg_config, pool_size=2)
    try:
        yield connector
    finally:
        connector.disconnect()


def create_zoo(conn: Any, schema: str = "public", table: str = "zoo") -> None:
    """The type-zoo table: ``id`` plus one column per zoo entry, rows 1-4 and a NULL row 5."""
    conn.execute(
        sql.SQL("CREATE TYPE {} AS ENUM ({})").format(
            sql.Identifier(schema, "mood"), sql.SQL(", ").join(map(sql.Literal, MOOD_LABELS))
        )
    )
    columns = [sql.SQL("id integer PRIMARY KEY")] + [
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.declared)) for c in ZOO
    ]
    conn.execute(
        sql.SQL("CREATE TABLE {} ({})").format(
            sql.Identifier(schema, table), sql.SQL(", ").join(columns)
        )
    )
    names = sql.SQL(", ").join(sql.Identifier(n) for n in ["id", *(c.name for c in ZOO)])
    for row in range(ROWS):
        values = [sql.Literal(row + 1)] + [sql.SQL(c.sql[row]) for c in ZOO]
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(schema, table), names, sql.SQL(", ").join(values)
            )
        )
    conn.execute(
        sql.SQL("INSERT INTO {} (id) VALUES ({})").format(
            sql.Identifier(schema, table), sql.Literal(ROWS + 1)
        )
    )
