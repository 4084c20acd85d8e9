"""Fixtures for the MySQL connector tests: connected connectors and a second database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bani.connectors.mysql import MySQLConnector
from bani.domain.project import ConnectionConfig
from tests.fix_mysql import _connect_args
from tests.fix_servers import unique_database_name

ConnectorFactory = Callable[..., MySQLConnector]


@pytest.fixture
def connect_mysql(mysql_config: ConnectionConfig) -> Iterator[ConnectorFactory]:
    """``connect_mysql(**options)`` -> a connected connector on the test's database."""
    opened: list[MySQLConnector] = []

    def make(
        pool_size: int = 2, config: ConnectionConfig | None = None, **options: str
    ) -> MySQLConnector:
        base = config or mysql_config
        merged = {**dict(base.options), **options}
        cfg = ConnectionConfig(
            dialect=base.dialect,
            host=base.host,
            port=base.port,
            database=base.database,
            username=base.username,
            password=base.password,
            options=merged,
        )
        connector = MySQLConnector()
        connector.connect(cfg, pool_size=pool_size)
        opened.append(connector)
        return connector

    try:
        yield make
    finally:
        for connector in opened:
            connector.disconnect()


@pytest.fixture
def second_database(mysql_server_dsn: str) -> Iterator[str]:
    """Another fresh database on the same server (a write target), dropped afterwards."""
    import pymysql

    name = unique_database_name()
    admin = pymysql.connect(**_connect_args(mysql_server_dsn))
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def second_dsn(mysql_dsn: str, second_database: str) -> str:
    parts = urlsplit(mysql_dsn)
    return urlunsplit(parts._replace(path="/" + second_database))


def column_types(conn: Any, schema: str, table: str) -> list[tuple[str, str, str]]:
    """(name, COLUMN_TYPE, IS_NULLABLE) of a table, in order."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        return [tuple(r) for r in cur.fetchall()]


def count_rows(conn: Any, schema: str, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{schema}`.`{table}`")  # noqa: S608 (test identifiers)
        return int(cur.fetchone()[0])
