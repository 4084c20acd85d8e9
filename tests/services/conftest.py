"""Fixtures of the service tests: PKI, tokens, source databases, service processes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._certs import make_test_pki
from tests.services._harness import Security, ServiceProcess, make_security

BIG_ROWS = 500_000

StartService = Callable[..., ServiceProcess]


@pytest.fixture(scope="session")
def security(tmp_path_factory: pytest.TempPathFactory) -> Security:
    directory = tmp_path_factory.mktemp("security")
    return make_security(make_test_pki(directory / "pki"), directory)


def build_small_source(path: Path) -> None:
    """``items`` (integer key, 3,000 rows), ``pairs`` and ``tags`` (text key)."""
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE items (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                price NUMERIC(10, 2),
                note TEXT,
                made DATE
            );
            CREATE TABLE pairs (id INTEGER PRIMARY KEY, a TEXT, b TEXT);
            CREATE TABLE tags (name TEXT PRIMARY KEY, weight REAL);
            """
        )
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?)",
            (
                (
                    i,
                    f"item {i} ü",
                    f"{i % 1000}.{i % 100:02d}",
                    None if i % 7 == 0 else f"note {i}",
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                )
                for i in range(1, 3001)
            ),
        )
        conn.executemany(
            "INSERT INTO pairs VALUES (?, ?, ?)", [(1, "ab", "c"), (2, "x", None), (3, "", "y")]
        )
        conn.executemany("INSERT INTO tags VALUES (?, ?)", [("red", 1.5), ("blue", None)])


def build_big_source(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE big (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, label TEXT, "
            "amount REAL, price NUMERIC(12, 2))"
        )
        conn.executemany(
            "INSERT INTO big VALUES (?, ?, ?, ?, ?)",
            (
                (i, i * 7 % 1000, None if i % 11 == 0 else f"label-{i}", i / 3.0,
                 f"{i % 100000}.{i % 100:02d}")
                for i in range(1, rows + 1)
            ),
        )


@pytest.fixture(scope="session")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.db"
    build_big_source(path, BIG_ROWS)
    return path


@pytest.fixture(scope="module")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "source.db"
    build_small_source(path)
    return path


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
