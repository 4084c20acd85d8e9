"""The reader's filters (``--enable-filters``) against a hostile peer, on three sources.

A filter is a WHERE body sent as text.  Today's guard only checks quotes,
``;``, comments and parentheses with a generic quote model, which each
dialect breaks in its own way: PostgreSQL's ``E'\\''`` strings and ``$$``
quotes, MariaDB's backslash escapes and ``#`` comments, SQLite's ``[name]``
quoting.  Through them a UNION returns a file or another table as rows, and
even a plain filter is an oracle on other relations (``(SELECT count(*) FROM
pg_shadow) > 0``).

What must hold:

* every payload in :data:`._payloads.FILTERS` is refused with
  ``invalid_request`` -- by get_flight_info, with and without explicit key
  ranges (which skip the key-bounds query), and by the reader's
  ``table-stats`` -- and no secret (the sentinel row, ``/etc/passwd``, the
  schema's DDL) appears in any returned batch or error text;
* legitimate filters -- comparisons, LIKE, BETWEEN, NOT, IN lists, CASE,
  allow-listed functions, a literal with an embedded quote -- still return
  exactly the right rows.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import flight

from bani.wire import KeyRange, ReadRequest, TableStatsRequest
from bani.wire.codec import table_ref
from bani.wire.protocol import read_descriptor
from tests.security._catalog import PgCatalog, mysql_connect
from tests.security._payloads import FILTERS, MARKER, Context, render
from tests.security._peer import Outcome, Peer, attempt
from tests.security._targets import DIALECTS
from tests.security.conftest import StartService
from tests.services._harness import Security, connect

pytestmark = pytest.mark.slow

SECRET_VALUE = f"TOPSECRET_{secrets.token_hex(6)}"
#: Text that must never come back: the sentinel, /etc/passwd, the schema's DDL.
LEAKS = (SECRET_VALUE, "root:x:0:0", "CREATE TABLE", "/bin/bash", "/usr/sbin/nologin")

ROWS = [
    (1, "alpha", "1.50", False),
    (2, "anna", "3.00", False),
    (3, "bob", "4.99", True),
    (4, "O'Brien", "7.00", False),
    (5, "x", "2.00", False),
    (6, "X", "9.00", False),
]

#: Filters a real migration uses, and the ids they select.
LEGIT: tuple[tuple[str, list[int]], ...] = (
    ("id < 3", [1, 2]),
    ("name LIKE 'a%'", [1, 2]),
    ("price BETWEEN 1 AND 5 AND NOT deleted", [1, 2, 5]),
    ("lower(name) = 'x'", [5, 6]),
    ("id IN (1, 2, 3)", [1, 2, 3]),
    ("name = 'O''Brien'", [4]),
    ("upper(name) = 'BOB' OR abs(price - 7) < 0.5", [3, 4]),
    ("coalesce(price, 0) > 8 AND length(name) = 1", [6]),
    ("CASE WHEN deleted THEN 1 ELSE 0 END = 1", [3]),
    ("name IS NOT NULL AND id BETWEEN 4 AND 5", [4, 5]),
    ("substr(name, 1, 1) = 'a' AND NOT (id = 2)", [1]),
    ("(id = 1 OR id = 6) AND price IS NOT NULL", [1, 6]),
)

#: SELECT lists matching the reader's projection of ``items`` per dialect.
UNION_COLUMNS = {
    "postgresql": {
        "<COLS_FILE>": "0, pg_read_file($$/etc/passwd$$, 0, 200), NULL::numeric, false",
        "<COLS_SECRET>": "k, v, NULL::numeric, false",
    },
    "mysql": {
        "<COLS_FILE>": "0, load_file(0x2f6574632f706173737764), NULL, 0",
        "<COLS_SECRET>": "k, v, NULL, 0",
    },
    "sqlite": {
        "<COLS_SECRET>": "rowid, s, NULL, s, 0",
        "<COLS_MASTER>": "0, sql, NULL, sql, 0",
    },
}


@dataclass
class ReaderEnv:
    dialect: str
    schema: str
    peer: Peer
    context: Context

    def payload(self, template: str) -> str:
        text = render(template, self.context)
        for placeholder, columns in UNION_COLUMNS[self.dialect].items():
            text = text.replace(placeholder, columns)
        return text


def _install_pg(dsn: str) -> None:
    catalog = PgCatalog(dsn)
    try:
        catalog.execute(
            "CREATE TABLE public.items (id integer PRIMARY KEY, name text NOT NULL,"
            " price numeric(10,2), deleted boolean NOT NULL DEFAULT false)"
        )
        for row in ROWS:
            catalog.execute("INSERT INTO public.items VALUES (%s, %s, %s, %s)", row)
        catalog.execute("CREATE TABLE public.hidden (s text)")
        catalog.execute("INSERT INTO public.hidden VALUES (%s)", (SECRET_VALUE,))
        catalog.execute("CREATE SCHEMA secret")
        catalog.execute("CREATE TABLE secret.keep (k integer PRIMARY KEY, v text)")
        catalog.execute("INSERT INTO secret.keep VALUES (1, %s)", (SECRET_VALUE,))
    finally:
        catalog.close()


def _install_mysql(dsn: str) -> tuple[str, str]:
    database = dsn.rsplit("/", 1)[1]
    conn = mysql_connect(dsn, database)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL,"
                " price DECIMAL(10,2), deleted BOOLEAN NOT NULL DEFAULT 0)"
            )
            cur.executemany("INSERT INTO items VALUES (%s, %s, %s, %s)", ROWS)
            cur.execute("CREATE TABLE hidden (s VARCHAR(64))")
            cur.execute("INSERT INTO hidden VALUES (%s)", (SECRET_VALUE,))
            cur.execute(f"CREATE TABLE `{database}_secret`.keep (k INT PRIMARY KEY, v TEXT)")
            cur.execute(f"INSERT INTO `{database}_secret`.keep VALUES (1, %s)",  # noqa: S608
                        (SECRET_VALUE,))
    finally:
        conn.close()
    return database, f"`{database}_secret`.keep"


def _install_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " price NUMERIC(10,2), deleted BOOLEAN NOT NULL DEFAULT 0)"
        )
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?)",
                         [(i, n, float(p), int(d)) for i, n, p, d in ROWS])
        conn.execute("CREATE TABLE hidden (s TEXT)")
        conn.execute("INSERT INTO hidden VALUES (?)", (SECRET_VALUE,))


@pytest.fixture(scope="module", params=DIALECTS)
def reader(
    request: pytest.FixtureRequest,
    start_service: StartService,
    security: Security,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReaderEnv]:
    dialect = request.param
    if dialect == "postgresql":
        source = request.getfixturevalue("pg_module_dsn")
        _install_pg(source)
        schema, secret = "public", '"secret".keep'
    elif dialect == "mysql":
        source = request.getfixturevalue("mysql_module_dsn")
        schema, secret = _install_mysql(source)
    else:
        path = tmp_path_factory.mktemp("filters") / "source.db"
        _install_sqlite(path)
        source, schema, secret = f"sqlite:///{path}", "main", "hidden"
    process = start_service("reader", "--source", source, "--enable-filters",
                            *security.service_args())
    peer = Peer(connect(process.location, security), security.token)
    yield ReaderEnv(dialect, schema, peer, Context(secret=secret, pwn_table=f"{MARKER}_t"))


# -- reading -----------------------------------------------------------------------------


@dataclass
class Read:
    """What one filtered read gave: the planning outcome, then each chunk's."""

    planned: Outcome
    batches: list[pa.RecordBatch]
    errors: list[str]


def read(env: ReaderEnv, filter_sql: str, *, key_ranges: bool = False) -> Read:
    request = ReadRequest(table=table_ref(env.schema, "items"), filter_sql=filter_sql)
    if key_ranges:
        request.key_ranges.append(KeyRange(column="id"))
    planned = attempt(lambda: env.peer.client.get_flight_info(read_descriptor(request),
                                                              env.peer.options()))
    batches: list[pa.RecordBatch] = []
    errors: list[str] = []
    if planned.accepted:
        for endpoint in planned.reply.endpoints:
            try:
                reader = env.peer.client.do_get(endpoint.ticket, env.peer.options())
                batches += reader.read_all().to_batches()
            except (flight.FlightError, pa.ArrowException) as exc:
                errors.append(str(exc))
    if not planned.accepted:
        errors.append(planned.text)
    return Read(planned, batches, errors)


def _ids(batches: list[pa.RecordBatch]) -> list[int]:
    if not batches:
        return []
    table = pa.Table.from_batches(batches)
    return sorted(int(v) for v in table.column("id").to_pylist())


def _leaks(read_result: Read) -> list[str]:
    texts = list(read_result.errors)
    for batch in read_result.batches:
        for column in batch.columns:
            texts += [str(v) for v in column.to_pylist() if v is not None]
    return [leak for leak in LEAKS if any(leak in t for t in texts)]


# -- the tests -----------------------------------------------------------------------------


def test_filter_bypasses_are_refused_and_leak_nothing(reader: ReaderEnv) -> None:
    findings: list[str] = []
    templates = FILTERS[reader.dialect]
    for template in templates:
        text = reader.payload(template)
        for key_ranges in (False, True):
            result = read(reader, text, key_ranges=key_ranges)
            how = "with key ranges" if key_ranges else "planned by the reader"
            leaked = _leaks(result)
            if leaked:
                findings.append(f"{text!r} ({how}) LEAKED {leaked}")
            if result.planned.accepted:
                findings.append(f"{text!r} ({how}) was accepted; rows "
                                f"{sum(b.num_rows for b in result.batches)}, chunk errors "
                                f"{[e[:120] for e in result.errors]}")
            elif result.planned.code != "invalid_request":
                findings.append(f"{text!r} ({how}) refused as {result.planned.code!r}, not "
                                f"invalid_request: {result.planned.describe()}")
        stats = reader.peer.action("table-stats", TableStatsRequest(
            table=table_ref(reader.schema, "items"), filter_sql=text))
        if stats.accepted:
            findings.append(f"{text!r} accepted by table-stats")
        elif stats.code != "invalid_request":
            findings.append(f"{text!r} refused by table-stats as {stats.code!r}")
        if any(leak in stats.text for leak in LEAKS):
            findings.append(f"{text!r} LEAKED through the table-stats error")
    assert reader.peer.health().accepted, "the reader stopped answering"
    print(f"{reader.dialect}: {len(templates)} filter bypasses, {len(findings)} findings")
    if findings:
        shown = "\n  ".join(f[:400] for f in findings)
        pytest.fail(f"{len(findings)} finding(s) in {len(templates)} filter payloads on "
                    f"{reader.dialect}:\n  {shown}", pytrace=False)


@pytest.mark.parametrize(("filter_sql", "expected"), LEGIT, ids=[f for f, _ in LEGIT])
def test_legit_filters_return_the_right_rows(reader: ReaderEnv, filter_sql: str,
                                             expected: list[int]) -> None:
    for key_ranges in (False, True):
        result = read(reader, filter_sql, key_ranges=key_ranges)
        assert result.planned.accepted, result.planned.describe()
        assert not result.errors, result.errors
        assert _ids(result.batches) == expected
    stats = reader.peer.action("table-stats", TableStatsRequest(
        table=table_ref(reader.schema, "items"), filter_sql=filter_sql))
    assert stats.accepted, stats.describe()


def test_reader_still_serves_unfiltered_reads(reader: ReaderEnv) -> None:
    request = ReadRequest(table=table_ref(reader.schema, "items"))
    info = reader.peer.client.get_flight_info(read_descriptor(request), reader.peer.options())
    batches = [b for e in info.endpoints
               for b in reader.peer.client.do_get(e.ticket, reader.peer.options())
               .read_all().to_batches()]
    assert _ids(batches) == [r[0] for r in ROWS]
