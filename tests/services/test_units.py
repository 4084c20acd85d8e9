"""The pure parts of the services, without sockets or databases: codecs, tickets,
chunk planning, stream-schema checks, settings and error translation."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest
from pyarrow import flight

from bani.domain.chunks import KeyRange
from bani.domain.schema import (
    CheckConstraint,
    ColumnDefinition,
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import ConfigurationError, SchemaMismatch, TableNotFound
from bani.reader._tickets import ChunkGrant, TicketSigner
from bani.reader.chunking import (
    check_filter,
    check_key_ranges,
    chunk_id_for,
    integer_key,
    plan_key_ranges,
    slice_batch,
)
from bani.service.settings import SETTINGS, ServiceSettings, parse_args, settings_markdown
from bani.wire import ErrorDetail
from bani.wire.codec import (
    database_schema_from_proto,
    database_schema_to_proto,
    decode,
)
from bani.wire.errors import (
    InternalError,
    InvalidRequest,
    InvalidTicket,
    SchemaNotAllowed,
    TicketExpired,
    from_flight_error,
    to_flight_error,
)
from bani.writer.chunks import check_stream_schema

FULL_SCHEMA = DatabaseSchema(
    tables=(
        TableDefinition(
            schema_name="public",
            table_name="order",
            columns=(
                ColumnDefinition("id", "bigint", "int64", nullable=False, is_identity=True,
                                 ordinal_position=1),
                ColumnDefinition("price", "numeric(12,2)", "decimal128(12, 2)",
                                 numeric_precision=12, numeric_scale=2, default_value="0",
                                 ordinal_position=2),
                ColumnDefinition("state", "mood", "string", enum_values=("ok", "sad"),
                                 char_length=None, ordinal_position=3),
                ColumnDefinition("at", "timestamptz", "timestamp[us, tz=UTC]", timezone="UTC",
                                 ordinal_position=4, unsigned=False),
                ColumnDefinition("name", "varchar(20)", "string", char_length=20,
                                 ordinal_position=5),
            ),
            primary_key=("id",),
            indexes=(IndexDefinition("ix_name", ("name", "state"), is_unique=True,
                                     prefix_lengths=(10, None), filter_predicate="id > 0",
                                     method="btree"),),
            foreign_keys=(ForeignKeyDefinition("fk", "public", "order", ("id",), "other", "t",
                                               ("tid",), on_delete="CASCADE"),),
            check_constraints=(CheckConstraint("ck", "price >= 0"),),
            row_count_estimate=42,
            identity_counter=43,
            source_dialect="postgresql",
        ),
        TableDefinition(schema_name="public", table_name="empty", columns=()),
    ),
    source_dialect="postgresql",
    enum_types=(EnumTypeDefinition("public", "mood", ("ok", "sad")),),
)


def test_schema_round_trips_through_proto() -> None:
    encoded = database_schema_to_proto(FULL_SCHEMA).SerializeToString()
    assert database_schema_from_proto(decode(type(database_schema_to_proto(FULL_SCHEMA)),
                                             encoded, "schema")) == FULL_SCHEMA


def test_decode_refuses_garbage_with_a_typed_error() -> None:
    with pytest.raises(InvalidRequest, match="not a valid bani.flight.v1.ErrorDetail"):
        decode(ErrorDetail, b"\xff\xff\xff", "detail")


# -- tickets -------------------------------------------------------------------------


def _grant() -> ChunkGrant:
    return ChunkGrant("main", "t", "main.t:id[1,5)", ("id",), KeyRange("id", 1, 5), None, 100)


def test_ticket_round_trip_and_tampering() -> None:
    signer = TicketSigner(b"k" * 32, 60)
    ticket, _ = signer.issue(_grant())
    granted = signer.redeem(ticket)
    assert (granted.table, granted.key_range, granted.columns) == ("t", KeyRange("id", 1, 5),
                                                                   ("id",))
    for bad in (b"", b"garbage", ticket[:-2], bytes([ticket[0] ^ 1]) + ticket[1:]):
        with pytest.raises(InvalidTicket):
            signer.redeem(bad)
    with pytest.raises(InvalidTicket, match="signature"):
        TicketSigner(b"o" * 32, 60).redeem(ticket)


def test_expired_ticket_names_its_chunk() -> None:
    now = [1_000.0]
    signer = TicketSigner(b"k" * 32, 10, clock=lambda: now[0])
    ticket, expires = signer.issue(_grant())
    assert expires == 1_010_000
    now[0] = 1_011.0
    with pytest.raises(TicketExpired) as caught:
        signer.redeem(ticket)
    assert caught.value.context.chunk_id == "main.t:id[1,5)"


def test_short_ticket_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        TicketSigner(b"short", 60)


# -- chunking --------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high", "rows", "chunk"), [
    (1, 500_000, 500_000, 100_000), (-50, 50, 101, 7), (5, 5, 1, 10), (1, 10**12, 3, 1),
])
def test_planned_ranges_cover_every_key_once(low: int, high: int, rows: int, chunk: int) -> None:
    ranges = plan_key_ranges("id", low, high, rows, chunk)
    assert ranges[0].lower is None and ranges[-1].upper is None
    for left, right in zip(ranges, ranges[1:], strict=False):
        assert left.upper == right.lower
    assert len(ranges) == min(-(-rows // chunk), high - low + 1)
    for key in (low - 10, low, (low + high) // 2, high, high + 10):
        assert sum(r.contains(key) for r in ranges) == 1
    assert len({chunk_id_for("main", "t", r) for r in ranges}) == len(ranges)


def test_chunk_ids_differ_between_tables_and_escape_names() -> None:
    whole = {chunk_id_for(s, t, None) for s, t in [("a.b", "c"), ("a", "b.c"), ("a", "b:c")]}
    assert len(whole) == 3
    assert chunk_id_for("main", "my table", KeyRange("id", None, 10)) == "main.my%20table:id[,10)"


def test_explicit_ranges_must_fit_the_key() -> None:
    ok = check_key_ranges([KeyRange("id", 20), KeyRange("id", 10, 20)], "id", "t")
    assert [r.lower for r in ok] == [10, 20]
    with pytest.raises(InvalidRequest, match="overlap"):
        check_key_ranges([KeyRange("id", None, 15), KeyRange("id", 10, 20)], "id", "t")
    with pytest.raises(InvalidRequest, match="key is 'id'"):
        check_key_ranges([KeyRange("other", 1, 2)], "id", "t")
    with pytest.raises(InvalidRequest, match="single integer primary key"):
        check_key_ranges([KeyRange("id", 1, 2)], None, "t")


def test_integer_key_needs_one_integer_column() -> None:
    assert integer_key(FULL_SCHEMA.tables[0]) == "id"
    text_key = TableDefinition("main", "t", (ColumnDefinition("k", "TEXT", "string"),),
                               primary_key=("k",))
    assert integer_key(text_key) is None


def test_slice_batch_caps_rows_and_bytes() -> None:
    batch = pa.record_batch([pa.array(range(10_000), pa.int64())], names=["x"])
    assert [b.num_rows for b in slice_batch(batch, 3_000, 1 << 30)] == [3000, 3000, 3000, 1000]
    pieces = list(slice_batch(batch, 100_000, 8_000))
    assert all(p.nbytes <= 8_000 for p in pieces) and sum(p.num_rows for p in pieces) == 10_000


_FILTERED = TableDefinition(
    "main", "t", (ColumnDefinition("id", "INTEGER", "int64"), ColumnDefinition("name", "TEXT")),
)
_DIALECTS = ("sqlite", "postgresql", "mysql")


@pytest.mark.parametrize("dialect", _DIALECTS)
@pytest.mark.parametrize("bad", ["1=1; DROP TABLE t", "(id = 1", "id = 1)", "name = 'open", "",
                                 "id IN (SELECT 1)", "other = 1", "sleep(1) = 0",
                                 "id = 1 UNION SELECT 1"])
def test_filters_that_could_escape_are_refused(dialect: str, bad: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_filter(bad, dialect, _FILTERED)
    assert refused.value.context.table == "t"


@pytest.mark.parametrize("dialect", _DIALECTS)
def test_ordinary_filters_are_rendered_again(dialect: str) -> None:
    rendered = check_filter(" name = 'it''s; fine' AND (id > 3) -- note", dialect, _FILTERED)
    assert "it''s; fine" in rendered and "--" not in rendered and "id > 3" in rendered


# -- the writer's stream check ---------------------------------------------------------------


def test_stream_schema_check_names_the_columns() -> None:
    table = FULL_SCHEMA.tables[0]
    fine = pa.schema([("id", pa.int64()), ("price", pa.decimal128(12, 2)), ("name", pa.string())])
    check_stream_schema(fine, table)
    with pytest.raises(SchemaMismatch) as caught:
        check_stream_schema(pa.schema([("id", pa.string()), ("nope", pa.int8())]), table)
    assert caught.value.context.column == "nope"
    assert "'nope'" in caught.value.message and "'id' (string" in caught.value.message


# -- settings --------------------------------------------------------------------------------


def test_flags_win_over_environment_over_defaults() -> None:
    env = {"BANI_SOURCE": "sqlite:///a.db", "BANI_CHUNK_ROWS": "7", "BANI_ENABLE_FILTERS": "true"}
    settings = parse_args("reader", ["--chunk-rows", "9"], env)
    assert (settings.source, settings.chunk_rows, settings.enable_filters) == (
        "sqlite:///a.db", 9, True)
    assert settings.port == 8815 and settings.health_port == 8816 and settings.metrics_port == 9464


def test_every_setting_has_a_flag_and_an_env_var() -> None:
    for row in SETTINGS:
        assert row.flag.startswith("--") and row.env.startswith("BANI_")
        assert row.env == "BANI_" + row.flag[2:].upper().replace("-", "_")
        assert hasattr(ServiceSettings(), row.name)
    assert "`--allowed-schemas`" in settings_markdown()


@pytest.mark.parametrize(("args", "setting"), [
    (["--host", "0.0.0.0"], "--tls-cert"),
    (["--host", "0.0.0.0", "--tls-cert", "c", "--tls-key", "k"], "--auth-tokens"),
    (["--tls-client-ca", "ca.pem"], "--tls-client-ca"),
    (["--compression", "gzip"], "--compression"),
])
def test_unsafe_or_wrong_settings_are_refused(args: list[str], setting: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_args("reader", ["--source", "sqlite:///a.db", *args], {})
    assert caught.value.context.setting == setting


def test_insecure_allows_a_plain_public_address_but_still_needs_a_ticket_secret() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_args("reader", ["--source", "sqlite:///a.db", "--host", "0.0.0.0", "--insecure"],
                   {})
    assert caught.value.context.setting == "--ticket-secret"
    writer = parse_args("writer", ["--target", "sqlite:///b.db", "--host", "0.0.0.0",
                                   "--insecure"], {})
    assert writer.insecure


def test_a_dsn_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_args("writer", ["--target", "postgresql://u:hunter2@db/x"], {})
    assert "hunter2" not in str(caught.value)
    assert "--target-password" in str(caught.value)


def test_help_shows_the_settings_table() -> None:
    result = subprocess.run([sys.executable, "-m", "bani.writer", "--help"],
                            capture_output=True, text=True, check=True)
    assert "BANI_ALLOWED_SCHEMAS" in result.stdout and "BANI_GRACE_PERIOD" in result.stdout
    assert "9464" in result.stdout and "8816" in result.stdout


# -- errors across the wire -----------------------------------------------------------------


@pytest.mark.parametrize(("error", "flight_class"), [
    (TableNotFound("no table x", table="x", schema="main"), flight.FlightServerError),
    (SchemaNotAllowed("not there", schema="temp"), flight.FlightUnauthorizedError),
    (TicketExpired("old", chunk_id="c"), flight.FlightServerError),
    (InternalError("boom"), flight.FlightInternalError),
])
def test_errors_cross_the_wire_with_class_and_context(error: Exception, flight_class: type
                                                      ) -> None:
    assert isinstance(error, TableNotFound | SchemaNotAllowed | TicketExpired | InternalError)
    sent = to_flight_error(error, request_id="r1", service="writer")
    assert isinstance(sent, flight_class)
    back = from_flight_error(sent)
    assert type(back) is type(error)
    assert back.context == error.context and back.message == error.message
    assert getattr(back, "request_id", None) == "r1"


_LONG_ACCENTED = "é" * 8000


def test_a_huge_non_ascii_error_fits_the_trailers() -> None:
    """The worst case of what ends up in gRPC trailers stays under its 8 KiB soft limit."""
    error = SchemaNotAllowed(f"not into {_LONG_ACCENTED!r}", schema=_LONG_ACCENTED,
                             table=_LONG_ACCENTED, column=_LONG_ACCENTED)
    sent = to_flight_error(error, request_id="r" * 36, service="writer")
    text = str(sent).encode("utf-8")
    percent_encoded = sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in text)
    base64_text = (len(text) + 2) // 3 * 4
    base64_detail = (len(sent.extra_info) + 2) // 3 * 4
    assert percent_encoded + base64_text + base64_detail < 6 * 1024
    back = from_flight_error(sent)
    assert type(back) is SchemaNotAllowed and back.message.startswith("not into 'ééé")


class _RefusingServer(flight.FlightServerBase):
    """Answers every action with an error that echoes a long non-ASCII name."""

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> None:
        raise to_flight_error(SchemaNotAllowed(f"not into {_LONG_ACCENTED!r}",
                                               schema=_LONG_ACCENTED))


def test_a_huge_non_ascii_error_arrives_typed_every_time() -> None:
    """gRPC drops oversized trailers at random, so one call proves little: make many."""
    server = _RefusingServer("grpc://127.0.0.1:0")
    try:
        client = flight.connect(f"grpc://127.0.0.1:{server.port}")
        for _ in range(60):
            with pytest.raises(flight.FlightUnauthorizedError) as caught:
                list(client.do_action(flight.Action("x", b"")))
            assert type(from_flight_error(caught.value)) is SchemaNotAllowed
        client.close()
    finally:
        server.shutdown()
