"""What ``introspect_schema`` reports for a SQLite file, fact by fact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bani.connectors.sqlite.schema_reader import introspect
from bani.domain.chunks import ChunkMarker
from bani.domain.schema import CheckConstraint, ForeignKeyDefinition, IndexDefinition
from bani.errors import ConfigurationError, TableNotFound
from tests.connectors.sqlite.conftest import open_connector

SCHEMA = """
CREATE TABLE parent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code CHAR(3) NOT NULL UNIQUE,
    name VARCHAR(80) DEFAULT 'unnamed',
    price NUMERIC(10,2) CHECK (price >= 0),
    created DATETIME DEFAULT (datetime('now')),
    CONSTRAINT "code upper" CHECK (code = upper(code))
);
CREATE TABLE child (
    b TEXT NOT NULL,
    a INTEGER NOT NULL,
    parent_id INTEGER,
    parent_code CHAR(3),
    amount REAL,
    area REAL GENERATED ALWAYS AS (amount * 2) VIRTUAL,
    PRIMARY KEY (b, a),
    FOREIGN KEY (parent_id) REFERENCES parent ON DELETE SET NULL ON UPDATE CASCADE,
    FOREIGN KEY (parent_code) REFERENCES parent (code)
);
CREATE INDEX child_amount ON child (amount DESC) WHERE amount IS NOT NULL AND b <> 'where';
CREATE INDEX child_expr ON child (lower(b));
CREATE TABLE plain (k INTEGER PRIMARY KEY, v);
CREATE TABLE wide (k INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID;
CREATE TABLE fresh (k INTEGER PRIMARY KEY AUTOINCREMENT);
CREATE VIEW parent_names AS SELECT name FROM parent;
"""


@pytest.fixture
def database(sqlite_path: Path) -> Path:
    with sqlite3.connect(sqlite_path) as conn:
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO parent (code, price) VALUES ('ABC', 1.5), ('DEF', 2)")
        conn.execute("INSERT INTO plain VALUES (7, 'x')")
        conn.execute("ANALYZE")  # creates sqlite_stat1, which must not be reported
    return sqlite_path


def test_tables_exclude_sqlite_internal_bookkeeping_views_and_virtual(database: Path) -> None:
    with open_connector(database) as connector:
        connector.write_chunk("plain", "", [], ChunkMarker("r", "c"))  # creates the marker table
        connector.store_run("r", b"plan")
        names = [t.table_name for t in connector.introspect_schema().tables]
    assert names == ["child", "fresh", "parent", "plain", "wide"]


def test_columns_carry_every_fact(database: Path) -> None:
    with open_connector(database) as connector:
        parent = connector.introspect_schema().get_table("parent")
    assert parent is not None
    assert parent.schema_name == "main"
    assert parent.source_dialect == "sqlite"
    facts = {
        c.name: (c.data_type, c.arrow_type_str, c.nullable, c.default_value, c.is_identity)
        for c in parent.columns
    }
    assert facts == {
        "id": ("INTEGER", "int64", False, None, True),
        "code": ("CHAR(3)", "string", False, None, False),
        "name": ("VARCHAR(80)", "string", True, "'unnamed'", False),
        "price": ("NUMERIC(10,2)", "decimal128(10, 2)", True, None, False),
        "created": ("DATETIME", "timestamp[us]", True, "datetime('now')", False),
    }
    by_name = {c.name: c for c in parent.columns}
    assert by_name["code"].char_length == 3
    assert (by_name["price"].numeric_precision, by_name["price"].numeric_scale) == (10, 2)
    assert [c.ordinal_position for c in parent.columns] == [1, 2, 3, 4, 5]
    assert parent.primary_key == ("id",)
    assert parent.row_count_estimate == 2
    assert parent.check_constraints == (
        CheckConstraint("parent_ck_1", "price >= 0"),
        CheckConstraint("code upper", "code = upper(code)"),
    )


def test_identity_and_counters(database: Path) -> None:
    with open_connector(database) as connector:
        schema = connector.introspect_schema()

    def table(name: str):  # type: ignore[no-untyped-def]
        found = schema.get_table(name)
        assert found is not None
        return found

    assert table("parent").identity_counter == 3  # sqlite_sequence says 2 handed out
    assert table("fresh").identity_counter == 1  # AUTOINCREMENT, nothing handed out yet
    assert table("plain").identity_counter is None  # rowid alias without AUTOINCREMENT
    assert table("plain").column("k").is_identity
    assert not table("wide").column("k").is_identity  # WITHOUT ROWID: no rowid alias
    assert not table("child").column("a").is_identity


def test_composite_keys_indexes_and_foreign_keys(database: Path) -> None:
    with open_connector(database) as connector:
        schema = connector.introspect_schema()
    child = schema.get_table("child")
    parent = schema.get_table("parent")
    assert child is not None and parent is not None
    assert child.primary_key == ("b", "a")  # key order, not column order
    assert [c.name for c in child.columns] == ["b", "a", "parent_id", "parent_code", "amount"]
    assert child.indexes == (
        IndexDefinition(
            "child_amount",
            ("amount",),
            is_unique=False,
            prefix_lengths=(None,),
            filter_predicate="amount IS NOT NULL AND b <> 'where'",
        ),
    )
    assert parent.indexes == (
        IndexDefinition("parent_code_key", ("code",), is_unique=True, prefix_lengths=(None,)),
    )
    assert child.foreign_keys == (
        ForeignKeyDefinition(
            "child_fk_1", "main", "child", ("parent_id",), "main", "parent", ("id",),
            on_delete="SET NULL", on_update="CASCADE",
        ),
        ForeignKeyDefinition(
            "child_fk_2", "main", "child", ("parent_code",), "main", "parent", ("code",)
        ),
    )


def test_introspection_is_one_query_per_kind_however_many_tables(tmp_path: Path) -> None:
    def statements(count: int) -> int:
        path = tmp_path / f"{count}.db"
        with sqlite3.connect(path) as conn:
            for n in range(count):
                conn.execute(f"CREATE TABLE t{n} (k INTEGER PRIMARY KEY, v TEXT UNIQUE, w REAL)")
        conn = sqlite3.connect(path, isolation_level=None)
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        introspect(conn, with_counts=False)
        conn.close()
        # the trace also shows each pragma function's inner steps as "-- PRAGMA" comments
        return len([s for s in seen if not s.startswith("--")])

    assert statements(2) == statements(40) <= 8


def test_a_missing_source_is_an_error_naming_it_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    with open_connector(missing) as connector:
        with pytest.raises(ConfigurationError) as raised:
            connector.introspect_schema()
        with pytest.raises(ConfigurationError):
            connector.read_table("t", "main")
    assert str(missing) in str(raised.value)
    assert raised.value.context.setting == "database"
    assert not missing.exists()


def test_a_file_that_is_not_a_database_is_refused_at_connect(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are not the pages you are looking for " * 200)
    with pytest.raises(ConfigurationError) as raised:
        open_connector(bogus)
    assert "not a SQLite database" in str(raised.value)


def test_a_missing_directory_and_memory_databases_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        open_connector(tmp_path / "no" / "such" / "dir.db")
    with pytest.raises(ConfigurationError) as raised:
        open_connector(Path(":memory:"))
    assert raised.value.context.setting == "database"


def test_unknown_tables_and_schemas_name_what_exists(database: Path) -> None:
    with open_connector(database) as connector:
        with pytest.raises(TableNotFound) as raised:
            connector.read_table("parnet", "main")
        assert "child, fresh, parent, plain, wide" in str(raised.value)
        assert raised.value.context.table == "parnet"
        with pytest.raises(TableNotFound):
            connector.estimate_row_count("parent", "public")
        assert connector.estimate_row_count("PARENT", "") == 2
