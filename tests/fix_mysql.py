"""MariaDB/MySQL fixtures: one freshly created database per test, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from bani.domain.project import ConnectionConfig
from tests.fix_servers import docker_available, unavailable, unique_database_name

_ENV = "BANI_TEST_MYSQL_DSN"


def _connect_args(dsn: str, database: str | None = None) -> dict[str, Any]:
    parts = urlsplit(dsn)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": database,
        "charset": "utf8mb4",
        "autocommit": True,
        "local_infile": True,
    }


@pytest.fixture(scope="session")
def mysql_server_dsn() -> Iterator[str]:
    """DSN of a MariaDB/MySQL server the suite may create databases on."""
    import os

    dsn = os.environ.get(_ENV)
    if dsn:
        yield dsn
        return
    if not docker_available():
        unavailable(f"MySQL tests need {_ENV} or a Docker engine for testcontainers")
    from testcontainers.mysql import MySqlContainer

    with MySqlContainer("mariadb:10.11", username="root", password="test") as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(3306)
        yield f"mysql://root:test@{host}:{port}/test"


@pytest.fixture
def mysql_dsn(mysql_server_dsn: str) -> Iterator[str]:
    """DSN of a new, empty database that is dropped when the test ends."""
    pymysql = pytest.importorskip("pymysql")
    name = unique_database_name()
    admin = pymysql.connect(**_connect_args(mysql_server_dsn))
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        admin.close()
    parts = urlsplit(mysql_server_dsn)
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        admin = pymysql.connect(**_connect_args(mysql_server_dsn))
        try:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            admin.close()


@pytest.fixture
def mysql_dsn_2(mysql_server_dsn: str) -> Iterator[str]:
    """A second new, empty database (a same-server target), dropped when the test ends."""
    yield from mysql_dsn.__wrapped__(mysql_server_dsn)  # type: ignore[attr-defined]


@pytest.fixture
def mysql_config(mysql_dsn: str) -> ConnectionConfig:
    """A :class:`ConnectionConfig` for the test's own database."""
    return ConnectionConfig.from_url(mysql_dsn)


@pytest.fixture
def mysql_conn(mysql_dsn: str) -> Iterator[Any]:
    """An autocommit pymysql connection to the test's own database (for setup/asserts)."""
    pymysql = pytest.importorskip("pymysql")
    parts = urlsplit(mysql_dsn)
    conn = pymysql.connect(**_connect_args(mysql_dsn, parts.path.lstrip("/")))
    try:
        yield conn
    finally:
        conn.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    import os

    dsn = os.environ.get(_ENV)
    if not dsn:
        return [f"mysql: {_ENV} unset (testcontainers if Docker answers)"]
    try:
        import pymysql

        conn = pymysql.connect(**_connect_args(dsn), connect_timeout=3)
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
        conn.close()
        version = row[0] if row else "?"
    except Exception as exc:
        version = f"unreachable ({type(exc).__name__})"
    return [f"mysql: {version} from {_ENV}"]
