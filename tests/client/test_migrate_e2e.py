"""End to end: the ``bani-flight`` command against real reader and writer processes.

One body runs over the source -> target pairs a user would run: the ten-table
shop (identity keys, composite keys, eleven foreign keys, unique and
multi-column indexes) is migrated by ``bani-flight migrate``, ``verify``
passes, and the target holds the rows, the indexes, the foreign keys and
identity counters that continue where the source's would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._certs import make_test_pki
from tests.client._processes import (
    TOKEN,
    CliResult,
    ServiceProcess,
    run_cli,
    start_service,
)
from tests.client._shop import (
    FOREIGN_KEYS,
    INDEXES,
    ROWS,
    TABLES,
    create_shop,
    open_db,
    sqlite_dsn,
)

#: The source's regions sequence is moved here, past max(id) = 6.
SEQUENCE_AHEAD = 1000


@dataclass(frozen=True)
class Pair:
    source: str
    target: str

    @property
    def id(self) -> str:
        return f"{self.source}-to-{self.target}"


PAIRS = [
    Pair("sqlite", "sqlite"),
    Pair("sqlite", "pg"),
    Pair("sqlite", "mysql"),
    Pair("pg", "mysql"),
    Pair("mysql", "pg"),
]
_MARKS = {"pg": pytest.mark.pg, "mysql": pytest.mark.mysql}


def _params() -> list[object]:
    params: list[object] = []
    for pair in PAIRS:
        marks = [_MARKS[d] for d in {pair.source, pair.target} if d in _MARKS]
        params.append(pytest.param(pair, id=pair.id, marks=marks))
    return params


def _dsn(dialect: str, request: pytest.FixtureRequest, path: Path) -> str:
    if dialect == "sqlite":
        return sqlite_dsn(path)
    fixture = "pg_dsn" if dialect == "pg" else "mysql_dsn"
    return str(request.getfixturevalue(fixture))


def explain(result: CliResult, *services: ServiceProcess) -> str:
    """What to read when an assertion fails: the CLI's output and the services' logs."""
    parts = [f"exit {result.returncode}", result.stdout[-3000:], result.stderr[-4000:]]
    parts += [f"--- {s.role} log ---\n{s.log()[-4000:]}" for s in services]
    return "\n".join(parts)


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    """Started services, always stopped at the end of the test."""
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        service.stop()


@pytest.mark.parametrize("pair", _params())
def test_migrate_then_verify_across_dialects(
    pair: Pair, request: pytest.FixtureRequest, tmp_path: Path, services: list[ServiceProcess]
) -> None:
    source_dsn = _dsn(pair.source, request, tmp_path / "source.db")
    target_dsn = _dsn(pair.target, request, tmp_path / "target.db")
    create_shop(source_dsn, sequence_ahead=SEQUENCE_AHEAD if pair.source == "pg" else None)
    reader = start_service("reader", source_dsn, tmp_path)
    services.append(reader)
    writer = start_service("writer", target_dsn, tmp_path)
    services.append(writer)
    where = ["--reader", reader.uri, "--writer", writer.uri]

    migrated = run_cli(
        ["migrate", *where, "--chunk-rows", "700", "--parallel", "3", "--json"], tmp_path
    )
    assert migrated.returncode == 0, explain(migrated, reader, writer)
    summary = migrated.json()
    assert summary["ok"] is True
    by_table = {t["source_table"].rsplit(".", 1)[-1]: t for t in summary["tables"]}
    assert set(by_table) == set(TABLES)
    for table, rows in ROWS.items():
        assert by_table[table]["rows"] == rows, table
        assert by_table[table]["verification"]["outcome"] == "ok", by_table[table]
    assert by_table["events"]["chunks_total"] > 1  # a multi-chunk table moved in parallel

    verified = run_cli(["verify", *where, "--json"], tmp_path)
    assert verified.returncode == 0, explain(verified, reader, writer)
    assert {t["outcome"] for t in verified.json()["tables"]} == {"ok"}

    target = open_db(target_dsn)
    try:
        assert set(TABLES) <= target.tables()
        assert {t for t in target.tables() if not t.startswith("_bani_flight")} == set(TABLES)
        for table, rows in ROWS.items():
            assert target.count(table) == rows, table
        for table, expected in INDEXES.items():
            assert expected <= target.indexes(table), (table, target.indexes(table))
        for table, expected_fks in FOREIGN_KEYS.items():
            assert expected_fks <= target.foreign_keys(table), (table, target.foreign_keys(table))
        new_id = target.insert_region("added on the target")
    finally:
        target.close()
    # The identity continues from the source's counter: PostgreSQL's sequence was
    # ahead of max(id), the other sources' counters are at max(id) = 6.
    assert new_id == (SEQUENCE_AHEAD + 1 if pair.source == "pg" else ROWS["regions"] + 1)

    # verify notices a changed value on the target, and names only that table
    # (regions now has an extra row, so it differs too).
    target = open_db(target_dsn)
    try:
        target.execute("UPDATE customers SET name = 'changed' WHERE id = 42")
        if target.dialect == "sqlite":
            target.conn.commit()
    finally:
        target.close()
    differs = run_cli(["verify", *where, "--include", "customers,orders,regions"], tmp_path)
    assert differs.returncode == 1, explain(differs, reader, writer)
    verdict = differs.stdout.strip().splitlines()[-1]
    assert verdict.startswith("verify: FAILED") and "customers" in verdict, differs.stdout
    assert "regions" in verdict and "orders" not in verdict, differs.stdout


def test_tls_and_mutual_tls_with_tokens(
    tmp_path: Path, services: list[ServiceProcess]
) -> None:
    """grpc+tls:// URIs with the CA, a client certificate and a token from a file."""
    pki = make_test_pki(tmp_path / "pki")
    source = tmp_path / "source.db"
    create_shop(sqlite_dsn(source))
    reader = start_service("reader", sqlite_dsn(source), tmp_path, pki=pki)
    services.append(reader)
    writer = start_service("writer", sqlite_dsn(tmp_path / "target.db"), tmp_path, pki=pki)
    services.append(writer)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    tls = [
        "--reader", reader.uri, "--writer", writer.uri, "--tls-roots", str(pki.ca_cert),
        "--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key),
        "--token-file", str(token_file),
    ]  # fmt: skip
    pinged = run_cli(["ping", *tls, "--json"], tmp_path, token=None)
    assert pinged.returncode == 0, explain(pinged, reader, writer)
    report = pinged.json()
    assert [s["role"] for s in report["services"]] == ["reader", "writer"]
    for status in report["services"]:
        assert status["tls"] and status["mutual_tls"] and status["auth"] and status["ready"]
        assert status["client_identity"]  # the writer/reader saw our certificate

    migrated = run_cli(["migrate", *tls, "--include", "regions,customers", "--json"], tmp_path,
                       token=None)
    assert migrated.returncode == 0, explain(migrated, reader, writer)
    assert {t["source_table"] for t in migrated.json()["tables"]} == {
        "main.regions", "main.customers",
    }

    # Without the client certificate the mutual-TLS services refuse the connection.
    no_cert = run_cli(
        ["tables", "--reader", reader.uri, "--tls-roots", str(pki.ca_cert),
         "--token-file", str(token_file)],
        tmp_path, token=None,
    )  # fmt: skip
    assert no_cert.returncode == 3, no_cert.stderr
    assert len(no_cert.error_lines()) == 1


def test_embedded_mode_runs_the_readme_commands(tmp_path: Path) -> None:
    """``sample-db`` then ``migrate --source … --target …``: no services to deploy."""
    created = run_cli(["sample-db", "sample.db"], tmp_path, token=None)
    assert created.returncode == 0, created.stderr
    migrated = run_cli(
        ["migrate", "--source", "sqlite:///sample.db", "--target", "sqlite:///copy.db"],
        tmp_path,
        token=None,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "ok" in migrated.stdout.splitlines()[-1]
    for table in ("customers", "products", "orders", "order_lines"):
        assert f"main.{table}" in migrated.stdout
    source, copy = open_db(sqlite_dsn(tmp_path / "sample.db")), open_db(
        sqlite_dsn(tmp_path / "copy.db")
    )
    try:
        for table in ("customers", "products", "orders", "order_lines"):
            query = f"SELECT * FROM {table} ORDER BY 1, 2"  # noqa: S608
            assert source.query(query) == copy.query(query), table
    finally:
        source.close()
        copy.close()


def test_migration_file_with_a_filter_and_a_column_subset(tmp_path: Path) -> None:
    """A versioned TOML file selects tables, filters rows and narrows columns."""
    create_shop(sqlite_dsn(tmp_path / "source.db"))
    (tmp_path / "migration.toml").write_text(
        '[source]\ndsn = "sqlite:///source.db"\n\n'
        '[target]\ndsn = "sqlite:///target.db"\n\n'
        '[migration]\nparallel = 2\ninclude = ["regions", "customers", "orders"]\n\n'
        "[tables.orders]\nfilter = \"status = 'paid'\"\n\n"
        '[tables.customers]\ncolumns = ["id", "region_id", "name", "created_at"]\n'
    )
    migrated = run_cli(["migrate", "-f", "migration.toml", "--json"], tmp_path, token=None)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr[-3000:]
    result = migrated.json()
    assert {t["verification"]["outcome"] for t in result["tables"]} == {"ok"}
    target = open_db(sqlite_dsn(tmp_path / "target.db"))
    try:
        assert {t for t in target.tables() if not t.startswith("_bani")} == {
            "regions", "customers", "orders",
        }
        paid = sum(1 for i in range(1, 601) if i % 3 == 1)
        assert target.query("SELECT COUNT(*), MIN(status), MAX(status) FROM orders")[0] == (
            paid, "paid", "paid",
        )
        columns = [r[1] for r in target.query('PRAGMA table_info("customers")')]
        assert columns == ["id", "region_id", "name", "created_at"]
        assert target.count("customers") == ROWS["customers"]
        assert (("customer_id",), "customers", ("id",)) in target.foreign_keys("orders")
    finally:
        target.close()
