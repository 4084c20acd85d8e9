"""The mapping both ways, the Arrow<->text codec, options and error translation: no server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pymysql
import pytest

from bani.connectors.mysql._codec import decode_column, encode_column, hex_encode
from bani.connectors.mysql._connection import ServerInfo, translate_error
from bani.connectors.mysql._ddl import plan_table
from bani.connectors.mysql._options import parse_options
from bani.connectors.mysql.schema_reader import SchemaReader, normalize_default
from bani.connectors.mysql.type_mapper import (
    MySQLTypeMapper,
    ReadKind,
    parse_column_type,
)
from bani.domain.arrow_fields import field_for_column
from bani.domain.project import ConnectionConfig
from bani.domain.schema import ColumnDefinition, TableDefinition
from bani.errors import (
    AuthFailed,
    ConfigurationError,
    ReadFailed,
    SchemaError,
    TableNotFound,
    Transient,
    TransientReadFailed,
    TransientWriteFailed,
    WriteFailed,
)
from tests.connectors.mysql._zoo import ZOO

MAPPER = MySQLTypeMapper()
MARIADB = ServerInfo.from_handshake("5.5.5-10.11.19-MariaDB-0+deb12u1")
MYSQL8 = ServerInfo.from_handshake("8.0.36")


# -- MySQL -> Arrow -----------------------------------------------------------------


@pytest.mark.parametrize("column", ZOO, ids=lambda c: c.name)
def test_every_zoo_type_maps_as_the_table_says(column: Any) -> None:
    declared = column.declared.replace(" NULL", "")
    assert MAPPER.map_type_text(declared) == column.arrow


@pytest.mark.parametrize(
    ("mariadb", "mysql8"),
    [
        ("int(11)", "int"),
        ("int(10) unsigned", "int unsigned"),
        ("bigint(20) unsigned", "bigint unsigned"),
        ("tinyint(4)", "tinyint"),
        ("year(4)", "year"),
        ("smallint(5) unsigned zerofill", "smallint unsigned zerofill"),
    ],
)
def test_display_widths_do_not_change_the_mapping(mariadb: str, mysql8: str) -> None:
    assert MAPPER.map_type_text(mariadb) == MAPPER.map_type_text(mysql8)


def test_tinyint1_and_time_rules_follow_the_options() -> None:
    assert MAPPER.map_type_text("tinyint(1)") == pa.bool_()
    assert MAPPER.map_type_text("tinyint(1) unsigned") == pa.bool_()
    assert MAPPER.map_type_text("tinyint(2)") == pa.int8()
    as_int = MySQLTypeMapper(tinyint1="int")
    assert as_int.map_type_text("tinyint(1)") == pa.int8()
    assert as_int.map_type_text("tinyint(1) unsigned") == pa.uint8()
    assert MAPPER.map_type_text("time(3)") == pa.duration("us")
    assert MySQLTypeMapper(time_as="time").map_type_text("time") == pa.time64("us")
    assert MAPPER.read_kind(parse_column_type("decimal(5,2)")) is ReadKind.DECIMAL
    assert MAPPER.map_type_text("inet6") == pa.string()  # MariaDB's own types, as text
    assert MAPPER.map_type_text("vector(3)") == pa.string()  # unknown: text, not a crash


def test_enum_and_set_labels_are_unescaped() -> None:
    parsed = parse_column_type("enum('a''b','c\\\\d','e,f','g)h','')")
    assert parsed.labels == ("a'b", "c\\d", "e,f", "g)h", "")
    assert parse_column_type(parsed.render()) == parsed
    column = MAPPER.column_definition(
        name="e",
        column_type="set('x','y')",
        nullable=True,
        default=None,
        is_identity=False,
        ordinal=1,
    )
    assert column.enum_values == ("x", "y") and column.arrow_type_str == "string"


def test_column_facts_travel_as_field_metadata() -> None:
    column = MAPPER.column_definition(
        name="price",
        column_type="decimal(65,30) unsigned",
        nullable=False,
        default="0.5",
        is_identity=False,
        ordinal=3,
    )
    field = field_for_column(column, "mysql")
    assert field.type == pa.decimal256(65, 30)
    meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    assert meta["bani.precision"] == "65" and meta["bani.scale"] == "30"
    assert meta["bani.unsigned"] == "true" and meta["bani.native_type"] == "decimal(65,30) unsigned"


# -- Arrow -> MySQL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrow", "declared"),
    [
        ("bool", "tinyint(1)"),
        ("int8", "tinyint"),
        ("int16", "smallint"),
        ("int32", "int"),
        ("int64", "bigint"),
        ("uint8", "tinyint unsigned"),
        ("uint32", "int unsigned"),
        ("uint64", "bigint unsigned"),
        ("halffloat", "float"),
        ("float", "float"),
        ("float32", "float"),
        ("double", "double"),
        ("float64", "double"),
        ("date32[day]", "date"),
        ("date32", "date"),
        ("date64[ms]", "date"),
        ("decimal128(12, 2)", "decimal(12,2)"),
        ("decimal256(65, 30)", "decimal(65,30)"),
        ("timestamp[s]", "datetime"),
        ("timestamp[ms]", "datetime(3)"),
        ("timestamp[us]", "datetime(6)"),
        ("timestamp[us, tz=UTC]", "datetime(6)"),
        ("time64[us]", "time(6)"),
        ("time32[s]", "time"),
        ("duration[us]", "time(6)"),
        ("string", "longtext"),
        ("large_string", "longtext"),
        ("binary", "longblob"),
        ("fixed_size_binary[16]", "binary(16)"),
        ("list<item: int64>", "json"),
    ],
)
def test_from_arrow_type_accepts_the_guides_string_form(arrow: str, declared: str) -> None:
    assert MySQLTypeMapper.from_arrow_type(arrow) == declared


def test_from_arrow_type_uses_the_columns_facts() -> None:
    field = pa.field("name", pa.string(), metadata={"bani.char_length": "40"})
    assert MySQLTypeMapper.from_arrow_type(field) == "varchar(40)"
    char = ColumnDefinition("c", "character(2)", "string", char_length=2)
    assert MySQLTypeMapper.from_arrow_type(char) == "char(2)"
    long = ColumnDefinition("c", "varchar(50000)", "string", char_length=50_000)
    assert MySQLTypeMapper.from_arrow_type(long) == "mediumtext"
    labels = ColumnDefinition("s", "mood", "string", enum_values=("sad", "o'k"))
    assert MySQLTypeMapper.from_arrow_type(labels) == "enum('sad','o''k')"
    key = MAPPER.column_ddl(ColumnDefinition("k", "text", "string"), in_key=True)
    assert key.type_sql == "varchar(255)" and key.issues[0].kind == "lossy"
    same = MAPPER.column_ddl(
        ColumnDefinition("b", "bigint(20) unsigned zerofill", "uint64"), same_dialect=True
    )
    assert same.type_sql == "bigint(20) unsigned zerofill"


def test_wide_varchars_from_another_dialect_fit_the_row_limit() -> None:
    columns = tuple(
        ColumnDefinition(f"c{i}", "character varying(2000)", "string", char_length=2000)
        for i in range(10)
    )
    table = TableDefinition(
        "s",
        "wide",
        (ColumnDefinition("id", "int", "int32", False), *columns),
        primary_key=("id",),
        source_dialect="postgresql",
    )
    plan = plan_table(table, MAPPER, "s")
    fallbacks = [i.column for i in plan.issues if i.kind == "fallback"]
    assert fallbacks and all(c.startswith("c") for c in fallbacks)
    statement = plan.statements[0]
    kept = statement.count("varchar(2000)")
    assert kept * (4 * 2000 + 2) <= 65_535 and kept + len(fallbacks) == 10


@pytest.mark.parametrize(
    ("default", "declared", "expected"),
    [
        ("0.00", "decimal(5,2)", "DEFAULT 0.00"),
        ("'x''y'::character varying", "varchar(5)", "DEFAULT 'x''y'"),
        ("'a\\b'", "varchar(5)", "DEFAULT 'a\\\\b'"),
        ("true", "tinyint(1)", "DEFAULT 1"),
        ("now()", "datetime(3)", "DEFAULT CURRENT_TIMESTAMP(6)"),
        ("CURRENT_TIMESTAMP", "datetime", "DEFAULT CURRENT_TIMESTAMP"),
        ("CURRENT_DATE", "date", "DEFAULT (CURRENT_DATE)"),
        ("'t'", "longtext", "DEFAULT ('t')"),
    ],
)
def test_cross_dialect_defaults(default: str, declared: str, expected: str) -> None:
    arrow = str(MAPPER.map_type_text(declared))
    facts: dict[str, Any] = {}
    parsed = parse_column_type(declared)
    if parsed.length and parsed.name == "varchar":
        facts["char_length"] = parsed.length
    column = ColumnDefinition("c", declared, arrow, default_value=default, **facts)
    plan = plan_table(
        TableDefinition("s", "t", (column,), source_dialect="postgresql"), MAPPER, "s"
    )
    assert expected in plan.statements[0]
    assert plan.issues == () or all(i.kind != "default_dropped" for i in plan.issues)


def test_expression_defaults_from_another_dialect_are_dropped_and_reported() -> None:
    column = ColumnDefinition("c", "int", "int32", default_value="nextval('s'::regclass)")
    plan = plan_table(
        TableDefinition("s", "t", (column,), source_dialect="postgresql"), MAPPER, "s"
    )
    assert "`c` int NULL\n" in plan.statements[0]
    assert [(i.column, i.kind) for i in plan.issues] == [("c", "default_dropped")]


def test_quoting_identifiers() -> None:
    column = ColumnDefinition("we`ird col", "int", "int32")
    plan = plan_table(
        TableDefinition("d`b", "t`1", (column,), source_dialect="mysql"), MAPPER, "d`b"
    )
    assert plan.statements[0].startswith("CREATE TABLE `d``b`.`t``1` (\n  `we``ird col` int NULL")


# -- the codec -----------------------------------------------------------------------


def test_hex_encoding_keeps_nulls_and_offsets() -> None:
    values = pa.array([b"\x00\xff", None, b"", b"ab\x00"], pa.binary())
    assert hex_encode(values).to_pylist() == ["00FF", None, "", "616200"]
    assert hex_encode(values.slice(1)).to_pylist() == [None, "", "616200"]
    large = values.cast(pa.large_binary()).slice(2)
    assert hex_encode(large).to_pylist() == ["", "616200"]
    assert hex_encode(pa.array([], pa.binary())).to_pylist() == []


def _encode(values: pa.Array, declared: str) -> list[Any]:
    return list(
        encode_column(values, name="c", target=parse_column_type(declared)).values.to_pylist()
    )


def test_values_are_encoded_as_the_text_mysql_parses_back() -> None:
    assert _encode(pa.array([True, None, False]), "tinyint(1)") == ["1", None, "0"]
    durations = pa.array(
        [
            dt.timedelta(hours=-838, minutes=-59, seconds=-59),
            dt.timedelta(microseconds=1),
            dt.timedelta(hours=25, seconds=1, microseconds=500000),
        ],
        pa.duration("us"),
    )
    assert _encode(durations, "time(6)") == [
        "-838:59:59.000000",
        "0:00:00.000001",
        "25:00:01.500000",
    ]
    instants = pa.array([dt.datetime(2100, 1, 2, 3, 4, 5, 6)], pa.timestamp("us", tz="Asia/Tokyo"))
    assert _encode(instants, "datetime(6)") == ["2100-01-02 03:04:05.000006"]  # UTC wall time
    nanos = pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))
    assert _encode(nanos, "datetime(6)") == ["2023-11-14 22:13:20.123456"]
    decimals = pa.array([Decimal("0.0000000001"), Decimal("-1.50")], pa.decimal128(20, 10))
    assert _encode(decimals, "decimal(20,10)") == ["1E-10", "-1.5000000000"]
    assert _encode(pa.array(["é"]), "varbinary(4)") == ["C3A9"]
    assert encode_column(
        pa.array([5]), name="b", target=parse_column_type("bit(8)")
    ).expression == ("CAST({} AS UNSIGNED)")
    with pytest.raises(WriteFailed) as caught:
        encode_column(pa.array([1.0, float("inf")]), name="f", target=parse_column_type("double"))
    assert caught.value.context.column == "f"


def test_text_is_decoded_columnar_to_the_declared_types() -> None:
    times = pa.array(["-838:59:59", "123:45:56.123456", "00:00:00.5", None])
    decoded = decode_column(times, ReadKind.TIME, pa.duration("us"), column="t").array
    assert decoded.to_pylist() == [
        -dt.timedelta(hours=838, minutes=59, seconds=59),
        dt.timedelta(hours=123, minutes=45, seconds=56, microseconds=123456),
        dt.timedelta(microseconds=500000),
        None,
    ]
    dates = pa.array(["2020-01-01", "0000-00-00", "2020-05-00", None])
    result = decode_column(dates, ReadKind.DATE, pa.date32(), column="d")
    assert result.array.to_pylist() == [dt.date(2020, 1, 1), None, None, None]
    assert result.zero_dates == 2
    with pytest.raises(ReadFailed) as caught:
        decode_column(dates, ReadKind.DATE, pa.date32(), column="d", zero_date="error")
    assert caught.value.context.setting == "zero_date"
    with pytest.raises(ReadFailed):  # an invalid (not zero) date is never silently NULL
        decode_column(pa.array(["2020-02-31"]), ReadKind.DATE, pa.date32(), column="d")
    big = pa.array(["99999999999999999999999999999999999.999999999999999999999999999999"])
    exact = decode_column(big, ReadKind.DECIMAL, pa.decimal256(65, 30), column="x").array
    assert str(exact[0].as_py()) == big[0].as_py()


# -- options, server flavours, errors ---------------------------------------------------


def test_options_defaults_and_tls_modes() -> None:
    defaults = parse_options({})
    assert (defaults.zero_date, defaults.tinyint1, defaults.local_infile) == ("null", "bool", True)
    assert defaults.ssl_context() is None
    assert parse_options({"ssl_verify": "false"}).ssl_mode == "required"
    assert parse_options({"ssl_ca": "/ca.pem"}).ssl_mode == "verify_identity"
    required = parse_options({"ssl_mode": "required"}).ssl_context()
    assert required is not None and required.check_hostname is False
    assert parse_options({"schemas": "a, b"}).schemas == ("a", "b")
    with pytest.raises(ConfigurationError) as caught:
        parse_options({"ssl_ca": "/no/such/ca.pem"}).ssl_context()
    assert caught.value.context.setting == "ssl_ca"


def test_server_flavours() -> None:
    assert MARIADB.is_mariadb and MARIADB.version == (10, 11, 19) and MARIADB.has_check_constraints
    assert MYSQL8.is_mysql8 and MYSQL8.has_check_constraints
    assert not ServerInfo.from_handshake("8.0.15").has_check_constraints
    assert not ServerInfo.from_handshake("5.7.44-log").is_mysql8


def test_mysql8_defaults_are_normalised_to_expressions() -> None:
    assert normalize_default("abc", "varchar(5)", "", MYSQL8) == "'abc'"
    assert normalize_default("it's", "varchar(5)", "", MYSQL8) == "'it''s'"
    assert normalize_default("1.50", "decimal(5,2)", "", MYSQL8) == "1.50"
    assert normalize_default("CURRENT_TIMESTAMP", "datetime", "DEFAULT_GENERATED", MYSQL8) == (
        "CURRENT_TIMESTAMP"
    )
    assert normalize_default("uuid()", "char(36)", "DEFAULT_GENERATED", MYSQL8) == "(uuid())"
    assert normalize_default("NULL", "int(11)", "", MARIADB) is None
    assert normalize_default("'x'", "varchar(5)", "", MARIADB) == "'x'"


class _RecordingCursor:
    """Answers every catalog query with no rows and remembers the SQL."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)

    def fetchall(self) -> list[Any]:
        return []


@pytest.mark.parametrize(
    ("server", "statements", "check_view"),
    [
        (MARIADB, 5, "CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA"),
        (MYSQL8, 5, "JOIN information_schema.CHECK_CONSTRAINTS"),
        (ServerInfo.from_handshake("5.7.44"), 4, None),
    ],
)
def test_check_constraints_are_read_the_way_each_server_records_them(
    server: ServerInfo, statements: int, check_view: str | None
) -> None:
    cursor = _RecordingCursor()
    assert SchemaReader(MAPPER, server).read(cursor, ["db"]) == ()
    assert len(cursor.statements) == statements
    if check_view:
        assert check_view in cursor.statements[-1]


CONFIG = ConnectionConfig(dialect="mysql", host="db.example", port=3307, database="shop")


@pytest.mark.parametrize(
    ("code", "action", "expected"),
    [
        (1213, "write", TransientWriteFailed),
        (1205, "write", TransientWriteFailed),
        (2013, "read", TransientReadFailed),
        (2006, "schema", TransientReadFailed),
        (1045, "connect", AuthFailed),
        (1146, "read", TableNotFound),
        (1062, "write", WriteFailed),
        (1050, "ddl", SchemaError),
    ],
)
def test_driver_errors_become_bani_errors_by_number(
    code: int, action: Any, expected: type[Exception]
) -> None:
    error = translate_error(
        pymysql.err.OperationalError(code, "something with hunter2 inside"),
        action,
        CONFIG,
        secrets=("hunter2",),
        table="orders",
    )
    assert type(error) is expected
    assert isinstance(error, Transient) is (code in (1213, 1205, 2013, 2006))
    assert "db.example:3307/shop" in str(error) and f"MySQL error {code}" in str(error)
    assert "hunter2" not in str(error)
    assert error.context.table == "orders" and error.context.connector == "mysql"
    unknown_db = translate_error(
        pymysql.err.OperationalError(1049, "Unknown database"), "connect", CONFIG
    )
    assert isinstance(unknown_db, ConfigurationError)
    assert unknown_db.context.setting == "database"
