"""Empty tables migrate on every source -> target pair: created, zero rows, verified, counted.

Real databases always have empty tables (a feature not used yet, an empty
partition).  An empty chunk's commit once serialised to zero bytes, which
Flight drops, so the writer rolled the chunk back and the migration failed;
this runs the whole command over all nine pairs with an empty keyed table, an
empty table without any key and a non-empty one beside them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client._processes import run_cli
from tests.client._shop import open_db, sqlite_dsn

DIALECTS = ("sqlite", "pg", "mysql")
_MARKS = {"pg": pytest.mark.pg, "mysql": pytest.mark.mysql}
_DDL = (
    "CREATE TABLE empty_keyed (id INTEGER PRIMARY KEY, label VARCHAR(20));"
    "CREATE TABLE empty_unkeyed (x INTEGER, y VARCHAR(10));"
    "CREATE TABLE filled (id INTEGER PRIMARY KEY, label VARCHAR(20));"
    "INSERT INTO filled VALUES (1, 'one'), (2, 'two'), (3, 'three')"
)
EXPECTED = {"empty_keyed": 0, "empty_unkeyed": 0, "filled": 3}


def _pairs() -> list[object]:
    params: list[object] = []
    for source in DIALECTS:
        for target in DIALECTS:
            marks = [_MARKS[d] for d in {source, target} if d in _MARKS]
            params.append(pytest.param(source, target, id=f"{source}-to-{target}", marks=marks))
    return params


def _dsn(dialect: str, role: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if dialect == "sqlite":
        return sqlite_dsn(tmp_path / f"{role}.db")
    fixture = {"pg": "pg_dsn", "mysql": "mysql_dsn"}[dialect]
    # a same-server pair needs a second database for the target
    if role == "target":
        fixture += "_2"
    return str(request.getfixturevalue(fixture))


@pytest.mark.parametrize(("source", "target"), _pairs())
def test_empty_tables_migrate_and_verify(
    source: str, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source_dsn = _dsn(source, "source", request, tmp_path)
    target_dsn = _dsn(target, "target", request, tmp_path)
    db = open_db(source_dsn)
    try:
        if db.dialect == "sqlite":
            db.conn.executescript(_DDL)
        else:
            db.script(_DDL)
    finally:
        db.close()

    migrated = run_cli(
        ["migrate", "--source", source_dsn, "--target", target_dsn, "--json", "--quiet"], tmp_path
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    summary = migrated.json()
    assert summary["ok"] is True
    by_table = {t["source_table"].rsplit(".", 1)[-1]: t for t in summary["tables"]}
    assert {name: t["rows"] for name, t in by_table.items()} == EXPECTED
    assert {t["verification"]["outcome"] for t in by_table.values()} == {"ok"}
    assert all(t["chunks_total"] >= 1 for t in by_table.values())

    target_db = open_db(target_dsn)
    try:
        assert set(EXPECTED) <= target_db.tables()
        assert {name: target_db.count(name) for name in EXPECTED} == EXPECTED
    finally:
        target_db.close()
