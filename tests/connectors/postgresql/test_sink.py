"""The sink: awkward identifiers, counters, exactly-once chunks, DDL policy, errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from bani.connectors.postgresql import PostgreSQLConnector
from bani.connectors.registry import ConnectorRegistry
from bani.domain.chunks import ChunkMarker
from bani.domain.project import ConnectionConfig
from bani.domain.schema import ColumnDefinition, TableDefinition
from bani.errors import (
    ChunkConflict,
    ConfigurationError,
    ConnectionFailed,
    SchemaError,
    SchemaMismatch,
    TypeNotRepresentable,
    WriteFailed,
)

pytestmark = pytest.mark.pg


def _batches(pg: PostgreSQLConnector, table: str, schema: str) -> list[pa.RecordBatch]:
    return list(pg.read_table(table, schema, batch_size=1000))


def _copy_table(pg: PostgreSQLConnector, table: str, source: str, target: str) -> TableDefinition:
    """PostgreSQL -> PostgreSQL: create in ``target``, one chunk, indexes, then FKs."""
    database = pg.introspect_schema()
    definition = database.get_table(table, source)
    assert definition is not None
    copy = dataclasses.replace(definition, schema_name=target)
    pg.create_enum_types(database.enum_types, target)
    pg.create_table(copy)
    pg.write_chunk(table, target, _batches(pg, table, source), ChunkMarker("run", f"{table}-0"))
    pg.create_indexes(table, target, copy.indexes)
    return copy


# -- identifiers ----------------------------------------------------------------------------


def test_reserved_words_and_mixed_case_identifiers_round_trip(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg_conn.execute('CREATE SCHEMA "Select"')
    pg_conn.execute(
        'CREATE TABLE "Select"."order" ("user" int, "Group" text, "from" date, "sp ace" int,'
        ' "quo""te" text, "MixedCase" bigint, PRIMARY KEY ("Group", "user"))'
    )
    pg_conn.execute('CREATE INDEX "Where Index" ON "Select"."order" ("MixedCase", "from")')
    pg_conn.execute(
        "INSERT INTO \"Select\".\"order\" VALUES (1, 'a', '2024-01-01', 7, 'q\"', 10),"
        " (2, 'b', NULL, NULL, NULL, NULL)"
    )
    copy = _copy_table(pg, "order", "Select", "Table")
    rows = pg_conn.execute(
        'SELECT "user", "Group", "from", "sp ace", "quo""te", "MixedCase"'
        ' FROM "Table"."order" ORDER BY "user"'
    ).fetchall()
    assert [r[:2] for r in rows] == [(1, "a"), (2, "b")]
    assert rows[0][4] == 'q"'
    copied = pg.introspect_schema().get_table("order", "Table")
    assert copied is not None
    assert [c.name for c in copied.columns] == [
        "user",
        "Group",
        "from",
        "sp ace",
        'quo"te',
        "MixedCase",
    ]
    assert copied.primary_key == ("Group", "user")
    assert [(i.name, i.columns) for i in copied.indexes] == [("Where Index", ("MixedCase", "from"))]
    assert copy.primary_key == copied.primary_key


# -- counters -------------------------------------------------------------------------------


def test_sequence_ahead_of_max_id_continues_from_the_counter(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg_conn.execute("CREATE TABLE s (id serial PRIMARY KEY, v text)")
    pg_conn.execute("INSERT INTO s (v) SELECT 'r' || g FROM generate_series(1, 5) g")
    pg_conn.execute("SELECT setval('s_id_seq', 1000)")  # e.g. rows 6..1000 deleted
    pg_conn.execute("CREATE TABLE g (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)")
    pg_conn.execute("INSERT INTO g (v) SELECT 'r' FROM generate_series(1, 10)")
    pg_conn.execute("DELETE FROM g WHERE id > 3")

    for table, expected_next in (("s", 1001), ("g", 11)):
        definition = pg.introspect_schema().get_table(table, "public")
        assert definition is not None
        assert definition.identity_counter == expected_next
        copy = _copy_table(pg, table, "public", "copy")
        pg.finalize(copy)
        new_id = pg_conn.execute(
            f"INSERT INTO copy.\"{table}\" (v) VALUES ('new') RETURNING id"  # noqa: S608
        ).fetchone()
        assert new_id == (expected_next,)


def test_finalize_uses_max_plus_one_when_the_counter_is_behind(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    definition = TableDefinition(
        schema_name="public",
        table_name="items",
        columns=(
            ColumnDefinition("id", "bigint unsigned", "uint64", nullable=False, is_identity=True),
            ColumnDefinition("name", "varchar(20)", "string", char_length=20),
        ),
        primary_key=("id",),
        identity_counter=3,
        source_dialect="mysql",
    )
    plan = pg.plan_table(definition)
    assert [i.kind for i in plan.issues] == ["lossy"]  # uint64 identity -> bigint identity
    pg.create_table(definition)
    batch = pa.record_batch(
        {"id": pa.array([1, 5], pa.uint64()), "name": pa.array(["a", "b"], pa.large_string())}
    )
    assert pg.write_chunk("items", "public", [batch], ChunkMarker("r", "items-0")) == 2
    pg.finalize(definition)
    assert pg_conn.execute("INSERT INTO items (name) VALUES ('c') RETURNING id").fetchone() == (6,)


# -- exactly-once chunks -----------------------------------------------------------------------


def _simple_table(pg: PostgreSQLConnector) -> TableDefinition:
    definition = TableDefinition(
        schema_name="public",
        table_name="t",
        columns=(
            ColumnDefinition("id", "int", "int64", nullable=False),
            ColumnDefinition("label", "text", "string"),
        ),
        primary_key=("id",),
        source_dialect="sqlite",
    )
    pg.create_table(definition)
    return definition


def _batch(start: int, count: int) -> pa.RecordBatch:
    ids = list(range(start, start + count))
    return pa.record_batch({"id": pa.array(ids, pa.int64()), "label": [f"r{i}" for i in ids]})


def _count(pg_conn: Any, table: str = "t") -> int:
    row = pg_conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608
    return int(row[0])


def test_write_chunk_twice_writes_once(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    _simple_table(pg)
    marker = ChunkMarker("run-1", "t-0")
    assert pg.write_chunk("t", "public", [_batch(0, 100), _batch(100, 50)], marker) == 150

    def must_not_be_read() -> Iterator[pa.RecordBatch]:
        raise AssertionError("a committed chunk's batches were consumed")
        yield  # pragma: no cover

    assert pg.write_chunk("t", "public", must_not_be_read(), marker) == 150
    assert _count(pg_conn) == 150
    committed = pg.committed_chunks("run-1")
    assert [(c.table_name, c.chunk_id, c.rows) for c in committed] == [("t", "t-0", 150)]
    assert pg.committed_chunks("another-run") == ()


def test_a_failing_batch_stream_leaves_no_rows_and_no_marker(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    _simple_table(pg)

    def failing() -> Iterator[pa.RecordBatch]:
        yield _batch(0, 1000)
        raise RuntimeError("the Flight stream broke")

    with pytest.raises(RuntimeError, match="the Flight stream broke"):
        pg.write_chunk("t", "public", failing(), ChunkMarker("run-1", "t-0"))
    assert _count(pg_conn) == 0
    assert pg.committed_chunks("run-1") == ()
    # The same chunk can be written afterwards, and the connection is healthy.
    assert pg.write_chunk("t", "public", [_batch(0, 10)], ChunkMarker("run-1", "t-0")) == 10


def test_a_rejected_row_rolls_the_chunk_back(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    _simple_table(pg)
    pg.write_chunk("t", "public", [_batch(0, 10)], ChunkMarker("run-1", "t-0"))
    with pytest.raises(WriteFailed) as caught:
        pg.write_chunk("t", "public", [_batch(20, 10), _batch(5, 1)], ChunkMarker("run-1", "t-1"))
    assert caught.value.context.constraint == "t_pkey"
    assert caught.value.context.sqlstate == "23505"
    assert caught.value.context.chunk_id == "t-1"
    assert not caught.value.retryable
    assert _count(pg_conn) == 10
    assert [c.chunk_id for c in pg.committed_chunks("run-1")] == ["t-0"]


def test_a_value_the_column_cannot_hold_names_the_column(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    pg_conn.execute("CREATE TABLE small (id smallint)")
    batch = pa.record_batch({"id": pa.array([1, 70_000], pa.int64())})
    with pytest.raises(TypeNotRepresentable) as caught:
        pg.write_chunk("small", "public", [batch], ChunkMarker("r", "small-0"))
    assert caught.value.context.column == "id"
    assert _count(pg_conn, "small") == 0
    with pytest.raises(SchemaMismatch, match="nope"):
        pg.write_batch("small", "public", pa.record_batch({"nope": [1]}))


def test_two_writers_racing_on_one_chunk_commit_it_once(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    _simple_table(pg)
    marker = ChunkMarker("run-1", "t-0")
    second_done = threading.Event()
    results: dict[str, int] = {}

    def slow_first() -> Iterator[pa.RecordBatch]:
        yield _batch(0, 100)
        assert second_done.wait(10)  # the other writer commits meanwhile

    def first() -> None:
        results["first"] = pg.write_chunk("t", "public", slow_first(), marker)

    thread = threading.Thread(target=first)
    thread.start()
    while pg_conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%' AND state = 'active'"
    ).fetchone() == (0,):
        pass
    results["second"] = pg.write_chunk("t", "public", [_batch(0, 100)], marker)
    second_done.set()
    thread.join()
    assert results == {"first": 100, "second": 100}
    assert _count(pg_conn) == 100


def test_parallel_chunks_use_the_pool(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    _simple_table(pg)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            pg.write_chunk("t", "public", [_batch(n * 1000, 1000)], ChunkMarker("run", f"t-{n}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(pg_conn) == 6000
    assert len(pg.committed_chunks("run")) == 6


# -- runs, drop, truncate -----------------------------------------------------------------------


def test_run_plans_are_stored_once(pg: PostgreSQLConnector) -> None:
    assert pg.load_run("run-1") is None
    pg.store_run("run-1", b"\x00plan")
    pg.store_run("run-1", b"\x00plan")
    assert pg.load_run("run-1") == b"\x00plan"
    with pytest.raises(ChunkConflict):
        pg.store_run("run-1", b"another plan")


def test_drop_never_cascades_and_forgets_the_markers(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    _simple_table(pg)
    pg.write_chunk("t", "public", [_batch(0, 5)], ChunkMarker("run-1", "t-0"))
    pg_conn.execute("CREATE TABLE child (id int REFERENCES t)")
    with pytest.raises(SchemaError) as caught:
        pg.drop_table("t", "public")
    assert caught.value.context.sqlstate == "2BP01"  # dependent objects still exist
    assert pg.table_exists("t", "public")
    assert len(pg.committed_chunks("run-1")) == 1  # nothing happened
    with pytest.raises(SchemaError):
        pg.truncate_table("t", "public")  # referenced by a foreign key: no CASCADE either
    assert _count(pg_conn) == 5

    pg_conn.execute("DROP TABLE child")
    pg.truncate_table("t", "public")
    assert _count(pg_conn) == 0
    assert pg.committed_chunks("run-1") == ()
    pg.write_chunk("t", "public", [_batch(0, 5)], ChunkMarker("run-1", "t-0"))
    pg.drop_table("t", "public")
    assert not pg.table_exists("t", "public")
    assert pg.committed_chunks("run-1") == ()


def test_bookkeeping_lives_in_the_configured_schema(
    pg_config: ConnectionConfig, pg_conn: Any
) -> None:
    config = dataclasses.replace(pg_config, options={"schema": "bani_meta"})
    with PostgreSQLConnector() as pg:
        pg.connect(config)
        _simple_table(pg)
        pg.write_chunk("t", "public", [_batch(0, 3)], ChunkMarker("run-1", "t-0"))
        assert pg.introspect_schema().get_table("_bani_flight_chunks") is None
    row = pg_conn.execute(
        "SELECT table_name, row_count FROM bani_meta._bani_flight_chunks"
    ).fetchone()
    assert row == ("t", 3)


# -- cross-dialect DDL and values -----------------------------------------------------------------


def test_other_dialects_get_postgresql_types_from_arrow_and_facts(
    pg: PostgreSQLConnector, pg_conn: Any
) -> None:
    definition = TableDefinition(
        schema_name="public",
        table_name="m",
        columns=(
            ColumnDefinition("id", "int", "int32", nullable=False, is_identity=True),
            ColumnDefinition("big", "bigint unsigned", "uint64", unsigned=True),
            ColumnDefinition("tiny", "tinyint", "int8"),
            ColumnDefinition("price", "decimal(12,4)", "decimal128(12, 4)", default_value="0.0000"),
            ColumnDefinition("code", "char(3)", "string", char_length=3, default_value="'abc'"),
            ColumnDefinition("name", "varchar(40)", "string", char_length=40),
            ColumnDefinition("body", "longtext", "string", char_length=4294967295),
            ColumnDefinition(
                "size",
                "enum('s','m','l')",
                "string",
                enum_values=("s", "m", "l"),
                default_value="'m'",
            ),
            ColumnDefinition(
                "at",
                "timestamp",
                "timestamp[us, tz=UTC]",
                timezone="UTC",
                default_value="current_timestamp()",
            ),
            ColumnDefinition("born", "date", "date32[day]"),
            ColumnDefinition("doc", "json", "string"),
            ColumnDefinition("raw", "blob", "binary"),
            ColumnDefinition("made", "datetime(6)", "timestamp[ns]", default_value="my_func()"),
        ),
        primary_key=("id",),
        source_dialect="mysql",
    )
    plan = pg.plan_table(definition)
    statement = plan.statements[0]
    for expected in (
        '"id" integer GENERATED BY DEFAULT AS IDENTITY NOT NULL',
        '"big" numeric(20,0)',
        '"tiny" smallint',
        '"price" numeric(12,4) DEFAULT 0.0000',
        "\"code\" char(3) DEFAULT 'abc'",
        '"name" varchar(40)',
        '"body" text',
        "\"size\" text DEFAULT 'm'",
        '"at" timestamptz DEFAULT CURRENT_TIMESTAMP',
        '"doc" jsonb',
        '"raw" bytea',
        "CHECK (\"size\" IN ('s', 'm', 'l'))",
    ):
        assert expected in statement, expected
    assert {(i.column, i.kind) for i in plan.issues} == {
        ("made", "lossy"),
        ("made", "default_dropped"),
    }
    pg.create_table(definition)

    batch = pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int32()),
            "big": pa.array([2**64 - 1, 0], pa.uint64()),
            "tiny": pa.array([-128, 127], pa.int8()),
            "price": pa.array([Decimal("12345678.1234"), None], pa.decimal128(12, 4)),
            "size": pa.array(["s", "l"]).dictionary_encode(),
            "doc": pa.array(['{"k": [1, 2]}', None]),
            "raw": pa.array([b"\x00\x01", b""]),
            "made": pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns")),
        }
    )
    assert pg.write_chunk("m", "public", [batch], ChunkMarker("r", "m-0")) == 2
    rows = pg_conn.execute(
        "SELECT big::text, tiny, price, size, doc::text, raw, made::text, code FROM m ORDER BY id"
    ).fetchall()
    assert rows == [
        (
            "18446744073709551615",
            -128,
            Decimal("12345678.1234"),
            "s",
            '{"k": [1, 2]}',
            b"\x00\x01",
            "2023-11-14 22:13:20.123456",
            "abc",
        ),
        ("0", 127, None, "l", None, b"", None, "abc"),
    ]
    with pytest.raises(WriteFailed):  # the CHECK carries the enum's labels
        pg.write_chunk(
            "m", "public", [pa.record_batch({"id": [3], "size": ["xl"]})], ChunkMarker("r", "m-1")
        )


def test_a_type_with_no_mapping_is_refused_by_name(pg: PostgreSQLConnector) -> None:
    definition = TableDefinition(
        schema_name="public",
        table_name="n",
        columns=(ColumnDefinition("nested", "", "list<item: list<item: int32>>"),),
        source_dialect="sqlite",
    )
    assert [i.kind for i in pg.plan_table(definition).issues] == ["refused"]
    with pytest.raises(TypeNotRepresentable) as caught:
        pg.create_table(definition)
    assert caught.value.context.column == "nested"
    assert not pg.table_exists("n", "public")


# -- connection errors and the driver -------------------------------------------------------


def test_connection_errors_name_the_server_never_the_password(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Sup3r-S3cret-pw"
    unreachable = ConnectionConfig.from_url(f"postgresql://postgres:{secret}@127.0.0.1:1/nowhere")
    with pytest.raises(ConnectionFailed) as caught:
        PostgreSQLConnector().connect(unreachable)
    error = caught.value
    assert "127.0.0.1:1/nowhere" in str(error)
    assert error.retryable
    for text in (str(error), repr(error), repr(error.context), str(error.__cause__)):
        assert secret not in text

    monkeypatch.setenv("BANI_TEST_SECRET_PW", secret)
    host_port = pg_dsn.split("@", 1)[1].split("/", 1)[0]
    missing_db = dataclasses.replace(
        ConnectionConfig.from_url(f"postgresql://postgres@{host_port}/no_such_database"),
        password_env="${env:BANI_TEST_SECRET_PW}",
    )
    with pytest.raises(ConfigurationError) as caught_db:
        PostgreSQLConnector().connect(missing_db)
    assert "no_such_database" in str(caught_db.value)
    assert not caught_db.value.retryable
    for text in (str(caught_db.value), repr(caught_db.value), str(caught_db.value.__cause__)):
        assert secret not in text


def test_unknown_connection_options_are_configuration_errors(pg_config: ConnectionConfig) -> None:
    bad = dataclasses.replace(pg_config, options={"sslmode": "sometimes"})
    with pytest.raises((ConfigurationError, ConnectionFailed), match="sslmode"):
        PostgreSQLConnector().connect(bad)
    with pytest.raises(ConfigurationError, match="password_env"):
        PostgreSQLConnector().connect(dataclasses.replace(pg_config, options={"password": "x"}))


def test_statement_timeout_option_applies_to_the_session(
    pg_config: ConnectionConfig, pg_conn: Any
) -> None:
    pg_conn.execute("CREATE TABLE t (id int)")
    pg_conn.execute("INSERT INTO t VALUES (1)")
    config = dataclasses.replace(pg_config, options={"statement_timeout": "1234ms"})
    with PostgreSQLConnector() as pg:
        pg.connect(config)
        check = "current_setting('statement_timeout') = '1234ms'"
        assert sum(b.num_rows for b in pg.read_table("t", "public", filter_sql=check)) == 1


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return result.stdout.strip()


def test_importing_the_connector_does_not_import_the_driver() -> None:
    out = _python("import sys\nimport bani.connectors.postgresql\nprint('psycopg' in sys.modules)")
    assert out == "False"


def test_a_missing_driver_names_the_extra() -> None:
    out = _python(
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from bani.connectors.postgresql import PostgreSQLConnector\n"
        "from bani.domain.project import ConnectionConfig\n"
        "try:\n"
        "    PostgreSQLConnector().connect(ConnectionConfig.from_url('postgresql://u@h/db'))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    assert out.startswith("DriverMissing")
    assert "bani-flight[postgresql]" in out


def test_both_dialect_names_find_the_connector() -> None:
    ConnectorRegistry.discover()
    assert ConnectorRegistry.get("postgresql") is PostgreSQLConnector
    assert ConnectorRegistry.get("postgres") is PostgreSQLConnector
    capabilities = PostgreSQLConnector.capabilities
    assert capabilities.atomic_chunks and capabilities.transactional_ddl
    assert capabilities.bulk_path == "copy_binary"
    assert capabilities.max_identifier_length == 63
