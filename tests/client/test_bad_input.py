"""Bad input: one line of error, a non-zero exit, and nothing written to the target.

Each case runs the ``bani-flight`` command against real reader and writer
processes (or a port nobody listens on) and then looks at the target database
the writer serves: no table was created and no run was stored.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bani.domain.chunks import BOOKKEEPING_TABLE, RUNS_TABLE
from tests.client._processes import CliResult, ServiceProcess, run_cli, start_service
from tests.client._shop import create_shop, open_db, sqlite_dsn


@dataclass
class Setup:
    reader: ServiceProcess
    writer: ServiceProcess
    target: Path
    workdir: Path

    @property
    def where(self) -> list[str]:
        return ["--reader", self.reader.uri, "--writer", self.writer.uri]

    def assert_nothing_written(self) -> None:
        """No user table, no stored run, no chunk marker on the target."""
        if not self.target.exists():
            return
        db = open_db(sqlite_dsn(self.target))
        try:
            tables = db.tables()
            assert tables <= {BOOKKEEPING_TABLE, RUNS_TABLE}, tables
            for bookkeeping in tables:
                assert db.count(bookkeeping) == 0, bookkeeping
        finally:
            db.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    source = tmp_path / "source.db"
    create_shop(sqlite_dsn(source))
    target = tmp_path / "target.db"
    reader = start_service("reader", sqlite_dsn(source), tmp_path)
    try:
        writer = start_service("writer", sqlite_dsn(target), tmp_path)
    except BaseException:
        reader.stop()
        raise
    try:
        yield Setup(reader, writer, target, tmp_path)
    finally:
        reader.stop()
        writer.stop()


def assert_one_line_error(result: CliResult, *, status: int, mentions: tuple[str, ...]) -> str:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("bani-flight: error: "), line
    for word in mentions:
        assert word in line, (word, line)
    assert "Traceback" not in result.stderr
    return line


def test_unknown_table_in_include(setup: Setup) -> None:
    result = run_cli(["migrate", *setup.where, "--include", "customers,custmers"], setup.workdir)
    line = assert_one_line_error(result, status=2, mentions=("custmers", "customers"))
    assert "did you mean 'customers'" in line
    setup.assert_nothing_written()


def test_malformed_migration_file(setup: Setup) -> None:
    broken = setup.workdir / "broken.toml"
    broken.write_text('[migration]\nparallel = = 4\ninclude = ["customers"]\n')
    result = run_cli(["migrate", *setup.where, "--file", str(broken)], setup.workdir)
    assert_one_line_error(result, status=2, mentions=("broken.toml", "not valid TOML"))
    setup.assert_nothing_written()


def test_unknown_key_in_migration_file_is_named(setup: Setup) -> None:
    typo = setup.workdir / "typo.toml"
    typo.write_text('[migration]\nparalel = 4\n\n[tables.customers]\ncolumns = ["id"]\n')
    result = run_cli(["migrate", *setup.where, "--file", str(typo)], setup.workdir)
    line = assert_one_line_error(result, status=2, mentions=("migration.paralel",))
    assert "did you mean 'parallel'" in line
    setup.assert_nothing_written()


def test_unreachable_reader(setup: Setup) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = run_cli(
        ["migrate", "--reader", f"grpc://127.0.0.1:{closed_port}", "--writer", setup.writer.uri],
        setup.workdir,
    )
    assert_one_line_error(
        result, status=3, mentions=("cannot reach the reader", f"127.0.0.1:{closed_port}")
    )
    setup.assert_nothing_written()


def test_wrong_token(setup: Setup) -> None:
    result = run_cli(["migrate", *setup.where], setup.workdir, token="not-the-token")
    line = assert_one_line_error(result, status=3, mentions=("reader",))
    assert "not-the-token" not in line  # a token is never echoed
    setup.assert_nothing_written()


def test_plaintext_to_a_remote_host_is_refused_before_connecting(tmp_path: Path) -> None:
    result = run_cli(
        ["ping", "--reader", "grpc://192.0.2.10:8815", "--writer", "grpc://192.0.2.11:8815"],
        tmp_path,
    )
    assert_one_line_error(result, status=2, mentions=("plaintext", "--insecure"))
