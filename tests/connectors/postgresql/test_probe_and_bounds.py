"""ping, key_bounds, and the reader's filtered-source options on PostgreSQL."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bani.connectors.postgresql import PostgreSQLConnector
from bani.domain.project import ConnectionConfig
from bani.errors import BaniError


@pytest.fixture
def numbers(pg_conn: Any) -> str:
    pg_conn.execute('CREATE TABLE "Order" (id bigint PRIMARY KEY, v text)')
    pg_conn.execute("""INSERT INTO "Order" SELECT g * 3, 'v' || g FROM generate_series(0, 999) g""")
    return "Order"


def test_key_bounds_and_ping(numbers: str, pg: PostgreSQLConnector) -> None:
    pg.ping()
    assert pg.key_bounds(numbers, "public", "id") == (0, 2997, 1000)
    assert pg.key_bounds(numbers, "public", "id", "id >= 30") == (30, 2997, 990)
    assert pg.key_bounds(numbers, "public", "id", "id < 0") == (None, None, 0)


def test_filtered_source_options(numbers: str, pg_config: ConnectionConfig) -> None:
    """The reader opens its filtered source with these two options."""
    options = {**dict(pg_config.options), "statement_timeout_ms": "200", "read_only": "true"}
    config = dataclasses.replace(pg_config, options=options)
    with PostgreSQLConnector() as connector:
        connector.connect(config)
        with pytest.raises(BaniError) as info:
            list(connector.read_table(numbers, "public", filter_sql="pg_sleep(5) IS NOT NULL"))
        assert info.value.context.table == numbers
        assert sum(b.num_rows for b in connector.read_table(numbers, "public")) == 1000
        with pytest.raises(BaniError):
            connector.execute_sql("CREATE TABLE should_fail (x int)")


def test_a_bad_statement_timeout_names_the_option(pg_config: ConnectionConfig) -> None:
    config = dataclasses.replace(pg_config, options={"statement_timeout_ms": "soon"})
    with pytest.raises(BaniError) as info, PostgreSQLConnector() as connector:
        connector.connect(config)
    assert info.value.context.setting == "statement_timeout_ms"
