"""The type zoo against the real server: declared Arrow types, exact values, both transports,
the MariaDB -> MariaDB round trip through ``write_chunk``, zero dates and the tinyint(1) rule."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pyarrow as pa
import pytest

from bani.domain.chunks import ChunkMarker
from bani.errors import ReadFailed
from tests.connectors.mysql._zoo import ROWS, ZOO, create_zoo, expected_column
from tests.connectors.mysql.conftest import ConnectorFactory, column_types

pytestmark = pytest.mark.mysql

TRANSPORTS = ["connectorx", "pymysql"]


@pytest.fixture
def zoo(mysql_conn: Any) -> str:
    with mysql_conn.cursor() as cur:
        create_zoo(cur)
    return str(mysql_conn.db.decode() if isinstance(mysql_conn.db, bytes) else mysql_conn.db)


def _read(connector: Any, table: str, schema: str, **kwargs: Any) -> pa.Table:
    batches = list(connector.read_table(table, schema, **kwargs))
    return pa.Table.from_batches(batches).sort_by("id")


def test_introspected_arrow_types_follow_the_mapping_table(
    zoo: str, connect_mysql: ConnectorFactory
) -> None:
    table = connect_mysql().introspect_schema().get_table("zoo", zoo)
    assert table is not None
    by_name = {c.name: c for c in table.columns}
    for column in ZOO:
        assert by_name[column.name].arrow_type_str == str(column.arrow), column.name
    # The facts another dialect needs to declare the column.
    assert by_name["c_bigint_u"].unsigned and not by_name["c_bigint"].unsigned
    assert (by_name["c_dec65"].numeric_precision, by_name["c_dec65"].numeric_scale) == (65, 30)
    assert by_name["c_dec_u"].unsigned
    assert by_name["c_varchar"].char_length == 50
    assert by_name["c_char"].char_length == 10
    assert by_name["c_varbinary"].char_length == 16
    assert by_name["c_text"].char_length is None
    assert by_name["c_enum"].enum_values == ("a", "b", "c d", "")
    assert by_name["c_set"].enum_values == ("x", "y", "z")
    assert by_name["c_timestamp"].timezone == "UTC"
    assert by_name["c_datetime"].timezone is None
    assert by_name["c_json"].data_type == "json"
    assert table.primary_key == ("id",)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_zoo_values_come_out_of_the_arrow_batches_exactly(
    zoo: str, connect_mysql: ConnectorFactory, transport: str
) -> None:
    connector = connect_mysql(read_driver=transport)
    assert connector.read_transport == transport
    batches = list(connector.read_table("zoo", zoo, batch_size=2))
    assert [b.num_rows for b in batches] == [2, 2, 1]
    data = pa.Table.from_batches(batches).sort_by("id")
    assert data.num_rows == ROWS
    for column in ZOO:
        assert data.schema.field(column.name).type == column.arrow, column.name
        assert data[column.name].to_pylist() == expected_column(column), column.name
    field = data.schema.field("c_enum")
    assert field.metadata[b"bani.enum_values"] == b'["a", "b", "c d", ""]'


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_column_subset_filter_and_key_range(
    zoo: str, connect_mysql: ConnectorFactory, transport: str
) -> None:
    from bani.domain.chunks import KeyRange

    connector = connect_mysql(read_driver=transport)
    data = _read(
        connector,
        "zoo",
        zoo,
        columns=["id", "c_dec65", "c_bigint_u"],
        filter_sql="`c_varchar` LIKE '%' OR `c_varchar` IS NULL",
        key_range=KeyRange("id", 2, 5),
    )
    assert data.column_names == ["id", "c_dec65", "c_bigint_u"]
    assert data["id"].to_pylist() == [2, 3, 4]
    assert data["c_bigint_u"].to_pylist() == [0, 2**63, 1]


@pytest.mark.parametrize("local_infile", ["true", "false"])
def test_mariadb_to_mariadb_keeps_every_value_and_declared_type(
    zoo: str,
    second_database: str,
    connect_mysql: ConnectorFactory,
    mysql_conn: Any,
    local_infile: str,
) -> None:
    source = connect_mysql()
    sink = connect_mysql(local_infile=local_infile)
    table = source.introspect_schema().get_table("zoo", zoo)
    assert table is not None
    sink.create_table(replace(table, schema_name=second_database))
    written = sink.write_chunk(
        "zoo", second_database, source.read_table("zoo", zoo, batch_size=3), ChunkMarker("r1", "c0")
    )
    assert written == ROWS
    assert sink.uses_load_data is (local_infile == "true")
    assert column_types(mysql_conn, second_database, "zoo") == column_types(mysql_conn, zoo, "zoo")
    original = _read(source, "zoo", zoo)
    copied = _read(sink, "zoo", second_database)
    for column in ZOO:
        assert copied[column.name].to_pylist() == expected_column(column), column.name
    assert copied.equals(original)
    # Byte-exact on the server too (not just after our decoding).
    with mysql_conn.cursor() as cur:
        cur.execute(
            f"SELECT COUNT(*) FROM `{zoo}`.zoo s JOIN `{second_database}`.zoo t USING (id) "  # noqa: S608 (test identifiers)
            "WHERE NOT (s.c_longblob <=> t.c_longblob AND s.c_dec65 <=> t.c_dec65 "
            "AND s.c_varchar <=> t.c_varchar AND s.c_time6 <=> t.c_time6 "
            "AND s.c_bit64 <=> t.c_bit64 AND s.c_float <=> t.c_float "
            "AND s.c_geometry <=> t.c_geometry AND s.c_timestamp <=> t.c_timestamp)"
        )
        assert cur.fetchone()[0] == 0


def _zero_dates(mysql_conn: Any) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(
            "CREATE TABLE zd (id int PRIMARY KEY, "
            "d date NOT NULL DEFAULT '0000-00-00', "
            "t datetime(3) NOT NULL DEFAULT '0000-00-00 00:00:00', "
            "ts timestamp NULL, ok date NULL)"
        )
        cur.execute(
            "INSERT INTO zd VALUES (1, '0000-00-00', '2020-00-00 00:00:00', '0000-00-00 00:00:00', "
            "'2020-01-02'), (2, '2020-05-00', '2021-01-01 10:00:00.123', '2021-01-01 10:00:00', "
            "NULL), (3, '2022-02-02', '0000-00-00 00:00:00', NULL, '1999-12-31')"
        )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_zero_dates_read_as_null_and_are_counted_per_column(
    mysql_conn: Any, connect_mysql: ConnectorFactory, transport: str
) -> None:
    _zero_dates(mysql_conn)
    connector = connect_mysql(read_driver=transport)
    schema = connector.introspect_schema()
    table = schema.get_table("zd")
    assert table is not None
    # NULL is how a zero date arrives, so NOT NULL date columns are reported nullable.
    assert {c.name: c.nullable for c in table.columns}["d"] is True
    data = _read(connector, "zd", table.schema_name, batch_size=2)
    import datetime as dt

    assert data["d"].to_pylist() == [None, None, dt.date(2022, 2, 2)]
    assert data["t"].to_pylist() == [None, dt.datetime(2021, 1, 1, 10, 0, 0, 123000), None]
    assert data["ts"].to_pylist() == [
        None,
        dt.datetime(2021, 1, 1, 10, tzinfo=dt.UTC),
        None,
    ]
    assert data["ok"].to_pylist() == [dt.date(2020, 1, 2), None, dt.date(1999, 12, 31)]
    counts = connector.zero_date_counts()
    assert counts == {
        (table.schema_name, "zd", "d"): 2,
        (table.schema_name, "zd", "t"): 2,
        (table.schema_name, "zd", "ts"): 1,
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_zero_dates_are_an_error_naming_the_column_when_asked(
    mysql_conn: Any, connect_mysql: ConnectorFactory, transport: str
) -> None:
    _zero_dates(mysql_conn)
    connector = connect_mysql(read_driver=transport, zero_date="error")
    table = connector.introspect_schema().get_table("zd")
    assert table is not None
    assert {c.name: c.nullable for c in table.columns}["d"] is False
    with pytest.raises(ReadFailed) as caught:
        list(connector.read_table("zd", table.schema_name, columns=["id", "ok", "d"]))
    assert caught.value.context.column == "d"
    assert caught.value.context.setting == "zero_date"
    assert caught.value.context.table == "zd"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tinyint1_holding_other_values_is_an_error_unless_read_as_int(
    mysql_conn: Any, connect_mysql: ConnectorFactory, transport: str
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE flags (id int PRIMARY KEY, f tinyint(1), u tinyint(1) unsigned)")
        cur.execute("INSERT INTO flags VALUES (1, 1, 0), (2, 2, 1), (3, -1, NULL)")
    strict = connect_mysql(read_driver=transport)
    schema_name = strict.introspect_schema().tables[0].schema_name
    with pytest.raises(ReadFailed) as caught:
        list(strict.read_table("flags", schema_name))
    assert caught.value.context.column == "f"
    assert caught.value.context.setting == "tinyint1"
    assert _read(strict, "flags", schema_name, columns=["id", "u"])["u"].to_pylist() == [
        False,
        True,
        None,
    ]
    as_int = connect_mysql(read_driver=transport, tinyint1="int")
    data = _read(as_int, "flags", schema_name)
    assert data.schema.field("f").type == pa.int8()
    assert data.schema.field("u").type == pa.uint8()
    assert data["f"].to_pylist() == [1, 2, -1]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_time_can_be_read_as_time_of_day(
    mysql_conn: Any, connect_mysql: ConnectorFactory, transport: str
) -> None:
    import datetime as dt

    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE clock (id int PRIMARY KEY, t time(3))")
        cur.execute("INSERT INTO clock VALUES (1, '00:00:00'), (2, '23:59:59.999'), (3, NULL)")
    connector = connect_mysql(read_driver=transport, time_as="time")
    schema_name = connector.introspect_schema().tables[0].schema_name
    data = _read(connector, "clock", schema_name)
    assert data.schema.field("t").type == pa.time64("us")
    assert data["t"].to_pylist() == [dt.time(0), dt.time(23, 59, 59, 999000), None]
    with mysql_conn.cursor() as cur:
        cur.execute("INSERT INTO clock VALUES (4, '24:00:00')")
    with pytest.raises(ReadFailed) as caught:
        list(connector.read_table("clock", schema_name))
    assert caught.value.context.setting == "time_as"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_failing_query_is_a_read_error_naming_the_table(
    zoo: str, connect_mysql: ConnectorFactory, transport: str
) -> None:
    from bani.errors import Transient

    connector = connect_mysql(read_driver=transport)
    with pytest.raises(ReadFailed) as caught:
        list(connector.read_table("zoo", zoo, filter_sql="no_such_column = 1"))
    assert not isinstance(caught.value, Transient)
    assert caught.value.context.table == "zoo"
    assert "no_such_column" in str(caught.value)
    # The connector is still usable.
    assert sum(b.num_rows for b in connector.read_table("zoo", zoo, columns=["id"])) == ROWS
