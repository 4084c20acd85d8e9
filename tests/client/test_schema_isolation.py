"""The source's schema name is never a place to write (MariaDB: a schema is a database).

On one MariaDB server, a migration from database ``app`` into ``app_copy``
writes only into ``app_copy``: ``app`` keeps its tables, rows and checksums,
and gets no bookkeeping table.  Asking the writer to write into the source's
database by name is refused before anything runs.  (Upstream Bani, handed a
source schema name on the target's connection, dropped the source's tables.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.client._processes import ServiceProcess, run_cli, start_service
from tests.client._shop import ROWS, TABLES, Db, create_shop, open_db
from tests.fix_servers import unique_database_name

pytestmark = pytest.mark.mysql


Snapshot = tuple[list[str], dict[str, int], dict[str, object]]


def _snapshot(db: Db) -> Snapshot:
    """Tables and, per table, its row count and MariaDB's CHECKSUM TABLE."""
    tables = sorted(db.tables())
    checksums = {t: db.query(f"CHECKSUM TABLE `{t}`")[0][1] for t in tables}
    return tables, {t: db.count(t) for t in tables}, checksums


@pytest.fixture
def copy_dsn(mysql_dsn: str) -> Iterator[str]:
    """A second fresh database on the same server, dropped afterwards."""
    name = unique_database_name() + "_copy"
    admin = open_db(mysql_dsn)
    try:
        admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield urlunsplit(urlsplit(mysql_dsn)._replace(path="/" + name))
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_migration_into_a_sibling_database_leaves_the_source_untouched(
    mysql_dsn: str, copy_dsn: str, tmp_path: Path
) -> None:
    create_shop(mysql_dsn)
    app = open_db(mysql_dsn)
    before = _snapshot(app)
    services: list[ServiceProcess] = []
    try:
        services.append(start_service("reader", mysql_dsn, tmp_path))
        services.append(start_service("writer", copy_dsn, tmp_path))
        where = ["--reader", services[0].uri, "--writer", services[1].uri]

        # Naming the source's database as the target schema is refused up front,
        # even with a policy that would drop tables.
        hostile = run_cli(
            ["migrate", *where, "--target-schema", app.schema, "--if-exists", "drop"], tmp_path
        )
        assert hostile.returncode == 3, hostile.stderr
        assert len(hostile.error_lines()) == 1, hostile.stderr
        assert app.schema in hostile.error_lines()[0]
        assert _snapshot(app) == before

        migrated = run_cli(["migrate", *where, "--if-exists", "drop", "--json"], tmp_path)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr[-3000:]
        summary = migrated.json()
        copy_schema = urlsplit(copy_dsn).path.lstrip("/")
        assert {t["target_table"] for t in summary["tables"]} == {
            f"{copy_schema}.{t}" for t in TABLES
        }
    finally:
        for service in services:
            service.stop()

    after = _snapshot(app)
    app.close()
    assert after == before
    assert not [t for t in after[0] if t.startswith("_bani_flight")]
    copy = open_db(copy_dsn)
    try:
        for table, rows in ROWS.items():
            assert copy.count(table) == rows, table
    finally:
        copy.close()
