"""SQLite fixtures: a database file per test under pytest's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from bani.domain.project import ConnectionConfig


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "source.db"


@pytest.fixture
def sqlite_config(sqlite_path: Path) -> ConnectionConfig:
    return ConnectionConfig(dialect="sqlite", database=str(sqlite_path))
