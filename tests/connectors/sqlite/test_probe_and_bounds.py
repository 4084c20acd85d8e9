"""ping, key_bounds and the statement timeout of filtered reads on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bani.connectors.sqlite import SQLiteConnector
from bani.domain.project import ConnectionConfig
from bani.errors import ConfigurationError, ReadFailed


def _make(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE TABLE "order" (id INTEGER PRIMARY KEY, v TEXT)')
        conn.executemany(
            'INSERT INTO "order" VALUES (?, ?)', [(i * 3, f"v{i}") for i in range(rows)]
        )


def test_key_bounds_answer_from_the_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _make(path, 1000)
    with SQLiteConnector() as connector:
        connector.connect(ConnectionConfig(dialect="sqlite", database=str(path)))
        assert connector.key_bounds("order", "main", "id") == (0, 2997, 1000)
        assert connector.key_bounds("order", "main", "id", "id >= 30") == (30, 2997, 990)
        assert connector.key_bounds("order", "main", "id", "id < 0") == (None, None, 0)


def test_ping_fails_once_the_file_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _make(path, 1)
    with SQLiteConnector() as connector:
        connector.connect(ConnectionConfig(dialect="sqlite", database=str(path)))
        connector.ping()
        path.unlink()
        with pytest.raises(ConfigurationError, match="does not exist"):
            connector.ping()


def test_a_filtered_read_stops_at_the_statement_timeout(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _make(path, 10)
    config = ConnectionConfig(
        dialect="sqlite", database=str(path), options={"statement_timeout_ms": "50"}
    )
    # A recursive CTE that never ends: only the timeout can stop it.
    endless = (
        "id IN (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
        "SELECT x FROM n WHERE x < 0)"
    )
    with SQLiteConnector() as connector:
        connector.connect(config)
        with pytest.raises(ReadFailed) as info:
            list(connector.read_table("order", "main", filter_sql=endless))
        assert info.value.context.setting == "statement_timeout_ms"
        # Ordinary reads under the same timeout work.
        assert sum(b.num_rows for b in connector.read_table("order", "main")) == 10


def test_a_bad_statement_timeout_names_the_option(tmp_path: Path) -> None:
    config = ConnectionConfig(
        dialect="sqlite", database=str(tmp_path / "x.db"), options={"statement_timeout_ms": "-1"}
    )
    with pytest.raises(ConfigurationError) as info, SQLiteConnector() as connector:
        connector.connect(config)
    assert info.value.context.setting == "options.statement_timeout_ms"
