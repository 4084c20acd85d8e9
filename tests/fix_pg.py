"""PostgreSQL fixtures: one freshly created database per test, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bani.domain.project import ConnectionConfig
from tests.fix_servers import docker_available, unavailable, unique_database_name

_ENV = "BANI_TEST_PG_DSN"


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL server the suite may create databases on."""
    import os

    dsn = os.environ.get(_ENV)
    if dsn:
        yield dsn
        return
    if not docker_available():
        unavailable(f"PostgreSQL tests need {_ENV} or a Docker engine for testcontainers")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15") as container:
        yield container.get_connection_url(driver=None)


@pytest.fixture
def pg_dsn(pg_server_dsn: str) -> Iterator[str]:
    """DSN of a new, empty database that is dropped when the test ends."""
    psycopg = pytest.importorskip("psycopg")
    name = unique_database_name()
    with psycopg.connect(pg_server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(pg_server_dsn, name)
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_dsn_2(pg_server_dsn: str) -> Iterator[str]:
    """A second new, empty database (a same-server target), dropped when the test ends."""
    yield from pg_dsn.__wrapped__(pg_server_dsn)  # type: ignore[attr-defined]


@pytest.fixture
def pg_config(pg_dsn: str) -> ConnectionConfig:
    """A :class:`ConnectionConfig` for the test's own database."""
    return ConnectionConfig.from_url(pg_dsn)


@pytest.fixture
def pg_conn(pg_dsn: str) -> Iterator[Any]:
    """An autocommit psycopg connection to the test's own database (for setup/asserts)."""
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn


def pytest_report_header(config: pytest.Config) -> list[str]:
    import os

    dsn = os.environ.get(_ENV)
    if not dsn:
        return [f"postgresql: {_ENV} unset (testcontainers if Docker answers)"]
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
    except Exception as exc:
        version = f"unreachable ({type(exc).__name__})"
    return [f"postgresql: {version} from {_ENV}"]
