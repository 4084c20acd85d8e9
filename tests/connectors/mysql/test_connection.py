"""Connecting: credentials, errors that never show the password, options, the pool,
lazy drivers."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Generator, Iterator
from typing import Any, cast
from urllib.parse import quote, urlsplit

import pytest

from bani.connectors.mysql import MySQLConnector
from bani.connectors.registry import ConnectorRegistry
from bani.domain.project import ConnectionConfig
from bani.errors import (
    AuthFailed,
    ConfigurationError,
    ConnectionFailed,
    DriverMissing,
    Transient,
)
from tests.connectors.mysql.conftest import ConnectorFactory

pytestmark = pytest.mark.mysql

PASSWORD = "S3cret-p@ss:w/rd%?#"


@pytest.fixture
def database_user(mysql_conn: Any) -> Iterator[tuple[str, str]]:
    """A user with a password full of URL metacharacters, allowed on the test's database."""
    name = f"bani_u_{uuid.uuid4().hex[:8]}"
    db = mysql_conn.db.decode() if isinstance(mysql_conn.db, bytes) else mysql_conn.db
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, d decimal(65,30))")
        cur.execute("INSERT INTO t VALUES (1, 0.5), (2, NULL)")
        cur.execute(f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY %s", (PASSWORD,))
        cur.execute(f"GRANT ALL ON `{db}`.* TO '{name}'@'127.0.0.1'")
    try:
        yield name, db
    finally:
        with mysql_conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'127.0.0.1'")


def _dsn(mysql_dsn: str, user: str, password: str, **query: str) -> str:
    parts = urlsplit(mysql_dsn)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return parts._replace(netloc=netloc, query=params).geturl()


def test_a_wrong_password_is_an_auth_error_that_never_shows_it(
    database_user: tuple[str, str], mysql_dsn: str
) -> None:
    user, db = database_user
    wrong = "Wr0ng-" + PASSWORD
    config = ConnectionConfig.from_url(_dsn(mysql_dsn, user, wrong))
    with pytest.raises(AuthFailed) as caught:
        MySQLConnector().connect(config)
    error = caught.value
    parts = urlsplit(mysql_dsn)
    assert f"{parts.hostname}:{parts.port}/{db}" in str(error)
    for text in (str(error), repr(error), repr(config), str(error.__cause__), str(error.context)):
        assert wrong not in text
        assert quote(wrong, safe="") not in text
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize("transport", ["connectorx", "pymysql"])
def test_a_password_from_the_dsn_or_the_environment_reads_on_both_transports(
    database_user: tuple[str, str],
    mysql_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    from decimal import Decimal

    user, db = database_user
    from_dsn = ConnectionConfig.from_url(_dsn(mysql_dsn, user, PASSWORD, read_driver=transport))
    monkeypatch.setenv("BANI_TEST_SECRET", PASSWORD)
    from_env = ConnectionConfig.from_url(
        _dsn(mysql_dsn, user, "not-this-one", read_driver=transport),
        password_env="${env:BANI_TEST_SECRET}",
    )
    for config in (from_dsn, from_env):
        with MySQLConnector() as connector:
            connector.connect(config)
            assert connector.read_transport == transport
            rows = [b.to_pylist() for b in connector.read_table("t", db)]
            assert rows == [[{"id": 1, "d": Decimal("0.5" + "0" * 29)}, {"id": 2, "d": None}]]


def test_unknown_database_and_unreachable_server(mysql_dsn: str) -> None:
    parts = urlsplit(mysql_dsn)
    missing = ConnectionConfig.from_url(parts._replace(path="/bani_no_such_db").geturl())
    with pytest.raises(ConfigurationError) as caught:
        MySQLConnector().connect(missing)
    assert caught.value.context.setting == "database"
    assert "bani_no_such_db" in str(caught.value)
    closed = ConnectionConfig.from_url("mysql://root@127.0.0.1:1/x?connect_timeout=2")
    with pytest.raises(ConnectionFailed) as refused:
        MySQLConnector().connect(closed)
    assert isinstance(refused.value, Transient)
    assert "127.0.0.1:1/x" in str(refused.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("zero_date", "nul"),
        ("tinyint1", "yes"),
        ("local_infile", "maybe"),
        ("read_driver", "odbc"),
        ("charset", "latin1"),
        ("ssl_mode", "sometimes"),
        ("connect_timeout", "-3"),
    ],
)
def test_a_bad_option_is_refused_at_connect_naming_it(
    mysql_config: ConnectionConfig, option: str, value: str
) -> None:
    config = ConnectionConfig(
        dialect="mysql",
        host=mysql_config.host,
        port=mysql_config.port,
        database=mysql_config.database,
        username=mysql_config.username,
        options={option: value},
    )
    with pytest.raises(ConfigurationError) as caught:
        MySQLConnector().connect(config)
    assert caught.value.context.setting == option


def test_registered_as_mysql_and_mariadb() -> None:
    assert ConnectorRegistry.get("mysql") is MySQLConnector
    assert ConnectorRegistry.get("mariadb") is MySQLConnector
    caps = MySQLConnector.capabilities
    assert (caps.atomic_chunks, caps.bulk_path, caps.supports_unsigned) == (True, "load_data", True)
    assert (caps.max_identifier_length, caps.max_decimal_precision) == (64, 65)
    assert caps.transactional_ddl is False


def test_importing_the_connector_imports_no_driver() -> None:
    code = (
        "import sys, bani.connectors.mysql; "
        "assert 'pymysql' not in sys.modules and 'connectorx' not in sys.modules, "
        "sorted(m for m in sys.modules if 'mysql' in m or 'connectorx' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_driver_names_the_extra(
    mysql_config: ConnectionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)
    with pytest.raises(DriverMissing) as caught:
        MySQLConnector().connect(mysql_config)
    assert "bani-flight[mysql]" in str(caught.value)


def test_an_abandoned_stream_frees_its_connection_without_draining(
    mysql_conn: Any, connect_mysql: ConnectorFactory
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE nums (id int PRIMARY KEY)")
        cur.execute(
            "INSERT INTO nums SELECT a.seq FROM (SELECT 1 AS seq UNION SELECT 2 UNION SELECT 3 "
            "UNION SELECT 4 UNION SELECT 5 UNION SELECT 6) a"
        )
    db = mysql_conn.db.decode() if isinstance(mysql_conn.db, bytes) else mysql_conn.db
    connector = connect_mysql(pool_size=1, read_driver="pymysql", pool_timeout="0.5")
    stream = cast(Generator[Any, None, None], connector.read_table("nums", db, batch_size=2))
    try:
        assert next(stream).num_rows == 2
        # The only pooled connection is busy with the unfinished stream.
        with pytest.raises(ConnectionFailed) as caught:
            connector.estimate_row_count("nums", db)
        assert caught.value.context.setting == "pool_timeout"
    finally:
        # Even on failure: an open stream holds a metadata lock that would make
        # the fixture's DROP DATABASE wait forever.
        stream.close()
    assert sum(b.num_rows for b in connector.read_table("nums", db)) == 6
    assert connector.table_exists("nums", db)


def test_every_session_is_utc_and_strict(mysql_conn: Any, connect_mysql: ConnectorFactory) -> None:
    connector = connect_mysql()
    connector.execute_sql(
        "CREATE TABLE session_probe AS SELECT @@session.time_zone AS tz, "
        "@@session.sql_mode AS mode, @@session.net_write_timeout AS net"
    )
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT tz, mode, net FROM session_probe")
        tz, mode, net = cur.fetchone()
    assert tz == "+00:00"
    assert {"STRICT_ALL_TABLES", "NO_ZERO_DATE", "NO_ZERO_IN_DATE", "NO_AUTO_VALUE_ON_ZERO"} <= set(
        mode.split(",")
    )
    assert "NO_BACKSLASH_ESCAPES" not in mode
    assert int(net) == 3600
