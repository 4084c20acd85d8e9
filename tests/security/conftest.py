"""Fixtures of the hostile-peer suite: PKI and tokens, module-scoped databases, services.

Starting a service and creating a database are the slow parts, so every
fixture here lives for a whole test module: one writer (or reader) per
dialect per module takes all of that module's payloads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests._certs import make_test_pki
from tests.fix_servers import unique_database_name
from tests.security._catalog import mysql_connect
from tests.services._harness import Security, ServiceProcess, make_security

StartService = Callable[..., ServiceProcess]


@pytest.fixture(scope="module")
def security(tmp_path_factory: pytest.TempPathFactory) -> Security:
    directory = tmp_path_factory.mktemp("security")
    return make_security(make_test_pki(directory / "pki"), directory)


@pytest.fixture(scope="module")
def start_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartService]:
    """Start a service subprocess; every one is stopped when the module ends."""
    started: list[ServiceProcess] = []
    logs = tmp_path_factory.mktemp("logs")

    def start(service: str, *args: str, env: dict[str, str] | None = None) -> ServiceProcess:
        process = ServiceProcess(
            service, list(args), logs / f"{service}-{len(started)}.log", env=env or {}
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def pg_module_dsn(pg_server_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the whole module, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    name = unique_database_name()
    with psycopg.connect(pg_server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(pg_server_dsn)._replace(path="/" + name))
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def mysql_module_dsn(mysql_server_dsn: str) -> Iterator[str]:
    """A fresh MariaDB database (and its ``<name>_secret`` sibling) for the whole module."""
    pytest.importorskip("pymysql")
    name = unique_database_name()
    admin = mysql_connect(mysql_server_dsn, None)
    try:
        with admin.cursor() as cur:
            for database in (name, f"{name}_secret"):
                cur.execute(
                    f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
    finally:
        admin.close()
    try:
        yield urlunsplit(urlsplit(mysql_server_dsn)._replace(path="/" + name))
    finally:
        admin = mysql_connect(mysql_server_dsn, None)
        try:
            with admin.cursor() as cur:
                for database in (name, f"{name}_secret"):
                    cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        finally:
            admin.close()
