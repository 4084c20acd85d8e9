"""The client's pure parts, without a server: selection, files, runs, URIs, plans, output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bani.domain.schema import (
    ColumnDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import ConfigurationError, TableNotFound
from bani_flight.config import DatabaseSpec, ServiceSpec, TransferOptions
from bani_flight.connection import is_loopback, open_service, parse_flight_uri, read_token
from bani_flight.migration_file import parse_migration_text
from bani_flight.plan import creation_order, target_definitions, transfer_order
from bani_flight.progress import LogProgress, Progress, TerminalProgress
from bani_flight.runs import PlannedChunk, PlannedTable, RunPlan, RunStore, new_run_id
from bani_flight.selection import Selection, SourceTable, TableOptions, select_tables
from bani_flight.summary import MigrationResult, TableResult, TableVerification

TABLES = [
    SourceTable("public", "customers", ("id", "name", "email"), ("id",), 1000),
    SourceTable("public", "orders", ("id", "customer_id", "total"), ("id",), 50_000),
    SourceTable("public", "orders_tmp", ("id",), ("id",), 5),
    SourceTable("audit", "orders", ("id", "at"), ("id",), 10),
]


# -- selection ------------------------------------------------------------------------------


def test_include_and_exclude_globs_on_bare_and_qualified_names() -> None:
    chosen = select_tables(TABLES, Selection(include=("orders*",), exclude=("*_tmp", "audit.*")))
    assert [s.source.qualified_name for s in chosen] == ["public.orders"]
    chosen = select_tables(TABLES, Selection(include=("public.*",), exclude=("*_tmp",)))
    assert [s.source.qualified_name for s in chosen] == ["public.customers", "public.orders"]


def test_unknown_include_names_the_pattern_and_suggests() -> None:
    with pytest.raises(TableNotFound) as caught:
        select_tables(TABLES, Selection(include=("custmers",)))
    assert "custmers" in str(caught.value) and "did you mean 'customers'" in str(caught.value)
    assert caught.value.context.setting == "include"


def test_two_sources_landing_on_one_target_are_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        select_tables(TABLES, Selection(include=("*orders",), target_schema="shop"))
    assert "public.orders and audit.orders would both land on shop.orders" in str(caught.value)


def test_default_target_schema_is_the_writers_not_the_sources() -> None:
    chosen = select_tables(TABLES, Selection(include=("public.customers",)))
    assert chosen[0].target_schema == ""  # "" = the writer's configured schema


def test_schema_map_one_to_one_and_unmapped_schema_refused() -> None:
    mapped = select_tables(
        TABLES, Selection(include=("*.orders",), schema_map={"public": "shop", "audit": "log"})
    )
    assert [(s.target_schema, s.target_table) for s in mapped] == [
        ("shop", "orders"),
        ("log", "orders"),
    ]
    with pytest.raises(ConfigurationError, match="no entry for source schema 'audit'"):
        select_tables(TABLES, Selection(include=("*.orders",), schema_map={"public": "shop"}))


def test_column_subset_keeps_source_order_and_requires_the_key() -> None:
    chosen = select_tables(
        TABLES,
        Selection(tables={"customers": TableOptions(columns=("name", "id"))}, include=("cu*",)),
    )
    assert chosen[0].columns == ("id", "name")
    with pytest.raises(ConfigurationError, match="must keep its primary key"):
        select_tables(
            TABLES,
            Selection(tables={"customers": TableOptions(columns=("name",))}, include=("cu*",)),
        )
    with pytest.raises(ConfigurationError, match="has no column 'emial'; did you mean 'email'"):
        select_tables(
            TABLES,
            Selection(tables={"customers": TableOptions(columns=("id", "emial"))}),
        )


def test_options_for_an_unknown_table_are_refused() -> None:
    with pytest.raises(TableNotFound, match="tables.custommers"):
        select_tables(TABLES, Selection(tables={"custommers": TableOptions(filter="id > 1")}))


def test_command_line_selection_overrides_the_file() -> None:
    from_file = Selection(include=("a",), schema_map={"public": "x"},
                          tables={"a": TableOptions(filter="1=1")})
    merged = from_file.merged(Selection(target_schema="y", tables={"b": TableOptions()}))
    assert merged.include == ("a",)
    assert merged.target_schema == "y" and not merged.schema_map
    assert set(merged.tables) == {"a", "b"}


# -- migration files ---------------------------------------------------------------------------

GOOD = """
[reader]
uri = "grpc+tls://reader.example:8815"
token_file = "/run/secrets/token"
tls_roots = "/etc/bani/ca.pem"

[target]
dsn = "postgresql://app@db:5432/shop"
password_env = "TARGET_PASSWORD"

[migration]
parallel = 8
if_exists = "truncate"
include = ["orders*", "customers"]
exclude = ["*_tmp"]

[schema_map]
public = "shop"

[tables.orders]
filter = "total > 0"
columns = ["id", "total"]
"""


def test_a_complete_migration_file() -> None:
    spec = parse_migration_text(GOOD, "m.toml")
    assert spec.source is not None and spec.source.service is not None
    assert spec.source.service.uri == "grpc+tls://reader.example:8815"
    assert spec.target is not None and spec.target.database is not None
    assert spec.target.database.password_env == "TARGET_PASSWORD"
    assert dict(spec.options) == {"parallel": 8, "if_exists": "truncate"}
    assert spec.selection.include == ("orders*", "customers")
    assert spec.selection.schema_map == {"public": "shop"}
    expected = TableOptions(filter="total > 0", columns=("id", "total"))
    assert spec.selection.tables["orders"] == expected
    assert TransferOptions(**spec.options).parallel == 8
    assert len(spec.digest) == 64


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("[migration]\nparalel = 4\n", "migration.paralel", "did you mean 'parallel'"),
        ("[migraton]\n", "migraton", "did you mean [migration]"),
        ("[tables.orders]\nfilters = 'x'\n", "tables.orders.filters", "did you mean 'filter'"),
        ("[reader]\nurl = 'grpc://x:1'\n", "reader.url", "did you mean 'uri'"),
        ("[migration]\nparallel = 'four'\n", "migration.parallel", "must be an integer"),
        ("[migration]\ninclude = 'orders'\n", "migration.include", "must be a list of strings"),
        ("[reader]\ntoken_file = 'x'\n", "reader.uri", "is required"),
        ("[reader]\nuri = 'grpc://x:1'\n[source]\ndsn = 'sqlite:///a.db'\n", "source", "not both"),
        ("[source]\ndsn = 'oracle://x/y'\n", "source.dsn", "unknown DSN scheme"),
    ],
)
def test_each_bad_key_is_one_error_naming_it(text: str, key: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_migration_text(text, "m.toml")
    message = str(caught.value)
    assert key in message and hint in message, message
    assert "\n" not in message


def test_malformed_toml_names_the_file() -> None:
    with pytest.raises(ConfigurationError, match=r"m\.toml is not valid TOML"):
        parse_migration_text("[migration\nparallel = 4", "m.toml")


def test_transfer_option_values_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="parallel must be between 1 and 64"):
        TransferOptions(parallel=0)
    with pytest.raises(ConfigurationError, match="if_exists must be one of"):
        TransferOptions(if_exists="replace")  # type: ignore[arg-type]


# -- connections --------------------------------------------------------------------------------


def test_uris_and_loopback() -> None:
    target = parse_flight_uri("grpc+tls://reader.example:8815", role="reader")
    assert target.tls and target.host == "reader.example" and target.port == 8815
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("reader.example")
    with pytest.raises(ConfigurationError, match="needs a host and a port"):
        parse_flight_uri("grpc+tls://reader.example", role="reader")
    with pytest.raises(ConfigurationError, match="must start with grpc"):
        parse_flight_uri("http://reader:80", role="reader")
    with pytest.raises(ConfigurationError, match="must not carry credentials"):
        parse_flight_uri("grpc+tls://u:p@reader:1", role="reader")


def test_plaintext_to_a_remote_host_needs_insecure() -> None:
    with pytest.raises(ConfigurationError, match="refusing a plaintext connection"):
        open_service(ServiceSpec(uri="grpc://10.1.2.3:8815"), role="reader")
    conn = open_service(ServiceSpec(uri="grpc://10.1.2.3:8815", insecure=True), role="reader")
    conn.close()
    open_service(ServiceSpec(uri="grpc://127.0.0.1:8815"), role="reader").close()


def test_tokens_from_file_or_environment_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-file\n")
    from_file = read_token(ServiceSpec(uri="grpc://h:1", token_file=str(token_file)))
    assert from_file is not None and from_file.reveal() == "s3cret-file"
    monkeypatch.setenv("MY_TOKEN", "s3cret-env")
    token = read_token(ServiceSpec(uri="grpc://h:1", token_env="MY_TOKEN"))
    assert token is not None and token.reveal() == "s3cret-env"
    assert "s3cret" not in repr(token)
    conn = open_service(ServiceSpec(uri="grpc://127.0.0.1:1", token_env="MY_TOKEN"), role="writer")
    assert "s3cret" not in repr(conn)
    assert (b"authorization", b"Bearer s3cret-env") in conn.headers()
    conn.close()
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(ConfigurationError, match="MY_TOKEN"):
        read_token(ServiceSpec(uri="grpc://h:1", token_env="MY_TOKEN"), role="writer")
    with pytest.raises(ConfigurationError, match="cannot read the reader token file"):
        read_token(ServiceSpec(uri="grpc://h:1", token_file=str(tmp_path / "nope")), role="reader")


def test_a_dsn_password_is_never_described() -> None:
    spec = DatabaseSpec(dsn="postgresql://app:hunter2@db:5432/shop")
    assert "hunter2" not in spec.describe() and "hunter2" not in repr(spec)
    assert spec.connection_config().resolve_password() == "hunter2"


# -- plans -----------------------------------------------------------------------------------------


def _table(schema: str, name: str, fks: tuple[ForeignKeyDefinition, ...] = ()) -> TableDefinition:
    return TableDefinition(
        schema_name=schema,
        table_name=name,
        columns=(
            ColumnDefinition("id", "integer", "int32", False),
            ColumnDefinition("parent_id", "integer", "int32"),
            ColumnDefinition("note", "text", "string"),
        ),
        primary_key=("id",),
        indexes=(
            IndexDefinition("ix_note", ("note",)),
            IndexDefinition("ix_parent", ("parent_id",)),
        ),
        foreign_keys=fks,
    )


def test_target_definitions_map_schemas_subsets_and_foreign_keys() -> None:
    fk = ForeignKeyDefinition("fk", "public", "child", ("parent_id",), "public", "parent", ("id",))
    dangling = ForeignKeyDefinition(
        "fk2", "public", "child", ("parent_id",), "public", "gone", ("id",)
    )
    parent, child = _table("public", "parent"), _table("public", "child", (fk, dangling))
    sources = [
        SourceTable("public", "parent", ("id", "parent_id", "note"), ("id",)),
        SourceTable("public", "child", ("id", "parent_id", "note"), ("id",)),
    ]
    selected = select_tables(
        sources,
        Selection(tables={"child": TableOptions(columns=("id", "parent_id"))}),
    )
    defs, warnings = target_definitions(
        selected, {("public", "parent"): parent, ("public", "child"): child}, "app_copy"
    )
    by_name = {d.table_name: d for d in defs}
    assert {d.schema_name for d in defs} == {"app_copy"}  # never the source's "public"
    assert [c.name for c in by_name["child"].columns] == ["id", "parent_id"]
    assert [i.name for i in by_name["child"].indexes] == ["ix_parent"]
    (mapped,) = by_name["child"].foreign_keys
    assert (mapped.source_schema, mapped.referenced_schema) == ("app_copy", "app_copy")
    assert any("ix_note" in w for w in warnings)
    assert any("fk2" in w and "not migrated" in w for w in warnings)
    assert [d.table_name for d in creation_order(defs)] == ["parent", "child"]


def test_transfer_order_is_largest_first() -> None:
    sizes = (("a", 5), ("b", 500), ("c", None))
    tables = [PlannedTable("s", n, "t", n, estimated_rows=r) for n, r in sizes]
    assert [t.source_table for t in transfer_order(tables)] == ["b", "a", "c"]


# -- runs ------------------------------------------------------------------------------------------


def _run(run_id: str, digest: str | None = None) -> RunPlan:
    chunks = (
        PlannedChunk("c1", "id", None, 100, 99),
        PlannedChunk("c2", "id", 100, None, None),
    )
    table = PlannedTable("public", "orders", "shop", "orders", ("id", "total"), "total > 0", 200,
                         chunks)
    return RunPlan(run_id, 1_700_000_000.123, "src", "dst", (table,),
                   {"if_exists": "fail"}, digest)


def test_run_files_round_trip_and_find_unfinished_runs(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    run = _run(new_run_id(), digest="abc")
    store.save(run)
    assert store.load(run.run_id) == run
    assert store.unfinished_for_file("abc") == run
    store.save(run.with_status("complete"))
    assert store.unfinished_for_file("abc") is None
    assert store.load("20990101T000000Z-000000") is None
    with pytest.raises(ConfigurationError, match="not valid"):
        store.load("../etc/passwd")


def test_run_plan_proto_round_trip_keeps_ranges_exactly() -> None:
    run = _run("r1")
    back = RunPlan.from_proto(run.to_proto())
    assert back.tables[0].chunks == run.tables[0].chunks
    assert back.tables[0].filter == "total > 0" and back.tables[0].columns == ("id", "total")
    assert back.settings == {"if_exists": "fail"}
    assert back.to_proto().tables == run.to_proto().tables


# -- output ----------------------------------------------------------------------------------------


def _result(outcome: str) -> MigrationResult:
    verification = TableVerification("public.t", "shop.t", 10, 10 if outcome == "ok" else 9,
                                     "a", "a", outcome)  # type: ignore[arg-type]
    table = TableResult("public.t", "shop.t", 10, 1234, 0.5, 3, 2, 1, verification)
    return MigrationResult("r1", True, (table,), 1.0, True)


def test_summary_table_and_json() -> None:
    ok = _result("ok")
    text = ok.render()
    assert "public.t" in text and "2/3" in text and text.splitlines()[-1] == "run r1: ok"
    assert "1 chunk(s) were already committed, 2 moved now" in text
    data = json.loads(ok.to_json())
    assert data["ok"] is True and data["chunks_skipped"] == 1 and data["chunks_moved"] == 2
    bad = _result("mismatch")
    assert not bad.ok and bad.render().splitlines()[-1] == "run r1: FAILED verification: public.t"


def test_progress_renderings(capsys: pytest.CaptureFixture[str]) -> None:
    for progress in (Progress(), LogProgress(), TerminalProgress(io.StringIO())):
        progress.table_planned("public.t", 100, 2, 2)
        progress.phase("transfer")
        progress.rows_moved("public.t", 60, 600)
        progress.chunk_done("public.t", "c1", 60, 600, 0.1)
        progress.rows_moved("public.t", 40, 400)
        progress.chunk_done("public.t", "c2", 40, 400, 0.1)
        progress.close()
        (table,) = progress.snapshot()
        assert (table.rows, table.bytes, table.chunks_done, table.active) == (100, 1000, 2, False)
    stream = io.StringIO()
    bars = TerminalProgress(stream)
    bars.table_planned("public.t", 100, 2, 2)
    bars.rows_moved("public.t", 50, 500)
    bars.close()
    assert "overall" in stream.getvalue() and "50%" in stream.getvalue()
