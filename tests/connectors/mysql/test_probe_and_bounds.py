"""ping, key_bounds and the statement timeout of filtered reads on MariaDB."""

from __future__ import annotations

from typing import Any

import pytest

from bani.errors import BaniError
from tests.connectors.mysql.conftest import ConnectorFactory


@pytest.fixture
def numbers(mysql_conn: Any) -> str:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE `order` (id BIGINT PRIMARY KEY, v VARCHAR(10))")
        cur.executemany(
            "INSERT INTO `order` VALUES (%s, %s)", [(i * 3, f"v{i}") for i in range(1000)]
        )
    return "order"


def test_key_bounds_answer_from_the_database(
    numbers: str, mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    connector = connect_mysql()
    schema = connector.introspect_schema().tables[0].schema_name
    assert connector.key_bounds(numbers, schema, "id") == (0, 2997, 1000)
    assert connector.key_bounds(numbers, schema, "id", "id >= 30") == (30, 2997, 990)
    assert connector.key_bounds(numbers, schema, "id", "id < 0") == (None, None, 0)
    with pytest.raises(BaniError, match="no column"):
        connector.key_bounds(numbers, schema, "nope")


def test_ping(connect_mysql: ConnectorFactory) -> None:
    connect_mysql().ping()


def test_a_filtered_read_stops_at_the_statement_timeout(
    numbers: str, connect_mysql: ConnectorFactory
) -> None:
    connector = connect_mysql(statement_timeout_ms="200", read_only="true")
    schema = connector.introspect_schema().tables[0].schema_name
    assert connector.read_transport == "pymysql"
    with pytest.raises(BaniError) as info:
        list(connector.read_table(numbers, schema, filter_sql="SLEEP(5) = 0"))
    assert info.value.context.table == numbers
    # Ordinary reads under the same limit work.
    assert sum(b.num_rows for b in connector.read_table(numbers, schema)) == 1000
