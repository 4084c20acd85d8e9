"""The domain model: immutability, credentials, secrets and the bani.* field metadata."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from bani.domain.arrow_fields import (
    arrow_schema_for_table,
    column_from_field,
    field_for_column,
    parse_arrow_type,
    table_from_arrow_schema,
)
from bani.domain.chunks import ChunkMarker, KeyRange
from bani.domain.project import ConnectionConfig, Secret, resolve_credential
from bani.domain.schema import (
    ColumnDefinition,
    DatabaseSchema,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import (
    BaniError,
    ChunkConflict,
    ConfigurationError,
    ConnectionFailed,
    ErrorContext,
    Terminal,
    Transient,
    TransientWriteFailed,
    TypeMappingError,
    WriteFailed,
    lookup,
)

FULL_COLUMN = ColumnDefinition(
    name="prix ünïcode",
    data_type="numeric(12,2) unsigned",
    arrow_type_str="decimal128(12, 2)",
    nullable=False,
    default_value="0.00",
    is_identity=True,
    ordinal_position=3,
    char_length=40,
    numeric_precision=12,
    numeric_scale=2,
    unsigned=True,
    enum_values=("small", "médium", 'with "quote"'),
    timezone="UTC",
)


# -- immutability ----------------------------------------------------------------


def test_domain_objects_are_frozen() -> None:
    table = TableDefinition("public", "t", (FULL_COLUMN,), primary_key=("prix ünïcode",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.table_name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL_COLUMN.nullable = True  # type: ignore[misc]
    assert isinstance(table.columns, tuple)
    assert hash(table) == hash(TableDefinition("public", "t", (FULL_COLUMN,), ("prix ünïcode",)))


def test_connection_options_are_read_only() -> None:
    config = ConnectionConfig(dialect="postgresql", options={"sslmode": "require"})
    with pytest.raises(TypeError):
        config.options["sslmode"] = "disable"  # type: ignore[index]


def test_schema_lookup() -> None:
    t1 = TableDefinition("a", "t", ())
    t2 = TableDefinition("b", "t", ())
    schema = DatabaseSchema((t1, t2))
    assert schema.get_table("t", "b") is t2
    assert schema.get_table("t") is t1
    assert schema.get_table("missing") is None


# -- credentials and secrets -------------------------------------------------------


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANI_TEST_PW", "s3cret")
    assert resolve_credential("${env:BANI_TEST_PW}") == "s3cret"
    assert resolve_credential("BANI_TEST_PW") == "s3cret"  # the guide's bare form
    assert resolve_credential(None) is None


def test_file_reference(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("from-file\n")
    assert resolve_credential(f"${{file:{secret_file}}}") == "from-file"


def test_missing_references_name_the_setting_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BANI_NOT_SET", raising=False)
    with pytest.raises(ConfigurationError) as info:
        resolve_credential("${env:BANI_NOT_SET}", setting="password_env")
    assert info.value.context.setting == "password_env"
    assert "BANI_NOT_SET" in str(info.value)
    with pytest.raises(ConfigurationError, match="/no/such/file"):
        resolve_credential("${file:/no/such/file}")
    with pytest.raises(ConfigurationError, match="not"):
        resolve_credential("${vault:x}")


def test_password_in_dsn_never_shows() -> None:
    config = ConnectionConfig.from_url("postgresql://app:hunter2@db.example:5433/sales?sslmode=require")
    assert config.resolve_password() == "hunter2"
    assert config.username == "app"
    assert config.port == 5433
    assert config.database == "sales"
    assert config.options["sslmode"] == "require"
    for text in (repr(config), str(config), config.describe(), repr(config.password)):
        assert "hunter2" not in text
    assert "***" in repr(Secret("x"))


def test_reference_wins_over_dsn_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANI_TEST_PW", "from-env")
    config = ConnectionConfig.from_url("mysql://u:inline@h/db", password_env="${env:BANI_TEST_PW}")
    assert config.dialect == "mysql"
    assert config.resolve_password() == "from-env"


@pytest.mark.parametrize(
    ("url", "dialect", "database"),
    [
        ("sqlite:///relative.db", "sqlite", "relative.db"),
        ("sqlite:////abs/path.db", "sqlite", "/abs/path.db"),
        ("postgres://u@h/db", "postgresql", "db"),
        ("mariadb://u@h:3306/db", "mysql", "db"),
    ],
)
def test_dsn_forms(url: str, dialect: str, database: str) -> None:
    config = ConnectionConfig.from_url(url)
    assert (config.dialect, config.database) == (dialect, database)


def test_bad_dsn_names_the_problem_without_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        ConnectionConfig.from_url("oracle://u:topsecret@h/db")
    assert "oracle" in str(info.value)
    assert "topsecret" not in str(info.value)
    with pytest.raises(ConfigurationError):
        ConnectionConfig.from_url("sqlite://relative.db")


# -- chunks ------------------------------------------------------------------------


def test_key_range_validation() -> None:
    assert KeyRange("id", 0, 10).contains(9)
    assert not KeyRange("id", 0, 10).contains(10)
    assert KeyRange("id", None, 5).contains(-(2**63))
    with pytest.raises(ConfigurationError):
        KeyRange("id", 10, 10)
    with pytest.raises(ConfigurationError):
        KeyRange("id", "1; DROP TABLE x", 10)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        KeyRange("id", True, 10)
    with pytest.raises(ConfigurationError):
        ChunkMarker("", "c1")


# -- Arrow type strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "arrow_type",
    [
        pa.bool_(),
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
        pa.float16(),
        pa.float32(),
        pa.float64(),
        pa.string(),
        pa.large_string(),
        pa.binary(),
        pa.large_binary(),
        pa.binary(16),
        pa.date32(),
        pa.date64(),
        pa.time32("ms"),
        pa.time64("us"),
        pa.timestamp("us"),
        pa.timestamp("us", tz="UTC"),
        pa.timestamp("ns", tz="Europe/Paris"),
        pa.duration("us"),
        pa.month_day_nano_interval(),
        pa.decimal128(38, 10),
        pa.decimal128(10, 2),
        pa.decimal256(65, 30),
        pa.list_(pa.int32()),
        pa.list_(pa.list_(pa.string())),
        pa.large_list(pa.timestamp("us", tz="UTC")),
        pa.null(),
    ],
    ids=str,
)
def test_arrow_type_strings_round_trip(arrow_type: pa.DataType) -> None:
    assert parse_arrow_type(str(arrow_type)) == arrow_type


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("float", pa.float32()),
        ("float32", pa.float32()),
        ("double", pa.float64()),
        ("float64", pa.float64()),
        ("date32[day]", pa.date32()),
        ("date32", pa.date32()),
        ("decimal(50, 4)", pa.decimal256(50, 4)),
        ("decimal(12,2)", pa.decimal128(12, 2)),
        ("list<item: int64 not null>", pa.list_(pa.int64())),
    ],
)
def test_arrow_type_aliases(spelling: str, expected: pa.DataType) -> None:
    assert parse_arrow_type(spelling) == expected


def test_unknown_arrow_type_string_is_an_error() -> None:
    with pytest.raises(TypeMappingError, match="wibble"):
        parse_arrow_type("wibble<3>")


# -- bani.* field metadata -----------------------------------------------------------------


def test_every_column_fact_round_trips_through_field_metadata() -> None:
    field = field_for_column(FULL_COLUMN, dialect="postgresql")
    assert field.type == pa.decimal128(12, 2)
    assert field.nullable is False
    assert field.metadata[b"bani.dialect"] == b"postgresql"
    assert column_from_field(field) == FULL_COLUMN


def test_bare_column_round_trips() -> None:
    bare = ColumnDefinition(name="x", data_type="TEXT", arrow_type_str="string")
    assert column_from_field(field_for_column(bare)) == bare


def test_field_without_metadata_gives_a_bare_column() -> None:
    column = column_from_field(pa.field("n", pa.int64(), nullable=False))
    assert (column.name, column.arrow_type_str, column.nullable) == ("n", "int64", False)


def test_table_round_trips_through_arrow_schema() -> None:
    other = ColumnDefinition(name="id", data_type="bigint", arrow_type_str="int64", nullable=False,
                             ordinal_position=1)
    table = TableDefinition(
        schema_name="sales",
        table_name="order lines",
        columns=(other, FULL_COLUMN),
        primary_key=("id", "prix ünïcode"),
        source_dialect="postgresql",
    )
    schema = arrow_schema_for_table(table)
    assert schema.names == ["id", "prix ünïcode"]
    back = table_from_arrow_schema(schema)
    assert back.columns == table.columns
    assert (back.schema_name, back.table_name, back.primary_key, back.source_dialect) == (
        "sales",
        "order lines",
        ("id", "prix ünïcode"),
        "postgresql",
    )
    subset = arrow_schema_for_table(table, ["prix ünïcode"])
    assert subset.names == ["prix ünïcode"]


def test_index_and_fk_keep_order() -> None:
    index = IndexDefinition("ix", ("b", "a"), prefix_lengths=(10, None))
    fk = ForeignKeyDefinition("fk", "s", "child", ("b", "a"), "s", "parent", ("y", "x"), "CASCADE")
    assert index.columns == ("b", "a")
    assert fk.referenced_columns == ("y", "x")


# -- errors ----------------------------------------------------------------------------------


def test_errors_carry_context_and_codes() -> None:
    error = ChunkConflict("rows differ", table="orders", schema="public", chunk_id="7")
    assert error.context == ErrorContext(schema="public", table="orders", chunk_id="7")
    assert 'table "public"."orders"' in str(error)
    assert lookup(error.code) is ChunkConflict
    assert lookup("no-such-code") is BaniError
    rebuilt = pickle.loads(pickle.dumps(error))
    assert type(rebuilt) is ChunkConflict
    assert rebuilt.context == error.context


def test_transient_and_terminal_by_type() -> None:
    assert isinstance(ConnectionFailed("x"), Transient)
    assert isinstance(TransientWriteFailed("x"), Transient)
    assert isinstance(TransientWriteFailed("x"), WriteFailed)
    assert not isinstance(WriteFailed("x"), Transient)
    assert isinstance(ConfigurationError("x"), Terminal)


def test_with_context_fills_only_missing_fields() -> None:
    error = WriteFailed("boom", column="c")
    error.with_context(table="t", column="other")
    assert error.context.table == "t"
    assert error.context.column == "c"
