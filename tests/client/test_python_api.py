"""The Python API mirrors the CLI: ``MigrationClient(...).plan()/.migrate()/.verify()``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bani.errors import TableNotFound
from bani_flight import MigrationClient, Selection, TransferOptions
from tests.client._shop import ROWS, create_shop, open_db, sqlite_dsn


def test_plan_migrate_verify_and_a_repeated_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    create_shop(sqlite_dsn(tmp_path / "source.db"))
    selection = Selection(include=("regions", "customers", "events"))
    options = TransferOptions(parallel=2, chunk_rows=1000)
    with MigrationClient(
        "sqlite:///source.db", "sqlite:///target.db", selection=selection, options=options
    ) as client:
        report = client.plan()
        assert [t.source_table for t in report.tables] == [
            "main.regions", "main.customers", "main.events",
        ]  # referenced tables first
        assert not report.refused
        assert all(t.statements for t in report.tables)
        if (tmp_path / "target.db").exists():  # plan created no table
            planned_only = open_db(sqlite_dsn(tmp_path / "target.db"))
            try:
                assert not {t for t in planned_only.tables() if not t.startswith("_bani")}
            finally:
                planned_only.close()

        result = client.migrate()
        assert result.ok and not result.resumed
        assert {t.source_table: t.rows for t in result.tables} == {
            "main.regions": ROWS["regions"],
            "main.customers": ROWS["customers"],
            "main.events": ROWS["events"],
        }
        events = next(t for t in result.tables if t.source_table == "main.events")
        assert events.chunks_total == events.chunks_moved > 1

        assert client.verify().ok

        # Resuming a finished run is harmless: every chunk is already committed.
        again = client.migrate(resume=result.run_id)
        assert again.ok and again.resumed and again.rows == 0
        assert again.chunks_moved == 0
        assert again.chunks_skipped == sum(t.chunks_total for t in result.tables)

    target = open_db(sqlite_dsn(tmp_path / "target.db"))
    try:
        assert target.count("events") == ROWS["events"]
    finally:
        target.close()


def test_errors_are_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    create_shop(sqlite_dsn(tmp_path / "source.db"))
    with MigrationClient(
        "sqlite:///source.db", "sqlite:///target.db", selection=Selection(include=("nope",))
    ) as client, pytest.raises(TableNotFound) as caught:
        client.migrate()
    assert caught.value.context.setting == "include"
