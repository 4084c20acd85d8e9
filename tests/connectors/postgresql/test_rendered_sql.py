"""A PostgreSQL sink runs only SQL it rendered: wire strings cannot reach the database as SQL.

Each case is one of the hostile-peer findings, tried through the connector
API on a real server, with a table in another schema (``secret.keep``) that a
stacked statement would drop, and a file path a ``COPY … TO`` would write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bani.connectors.postgresql import PostgreSQLConnector
from bani.domain.schema import (
    CheckConstraint,
    ColumnDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import BaniError, InvalidRequest

pytestmark = pytest.mark.pg

DROP = "DROP TABLE secret.keep; CREATE TABLE public.pwn (x integer)"


def _relations(pg_conn: Any) -> set[tuple[str, str]]:
    rows = pg_conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    ).fetchall()
    return {(str(s), str(r)) for s, r in rows}


@pytest.fixture
def keep(pg_conn: Any) -> set[tuple[str, str]]:
    pg_conn.execute("CREATE SCHEMA secret")
    pg_conn.execute("CREATE TABLE secret.keep (x integer)")
    return _relations(pg_conn)


def _table(**changes: Any) -> TableDefinition:
    default = (ColumnDefinition("id", "integer", "int32", False),
               ColumnDefinition("price", "numeric(12,2)", "decimal128(12, 2)"))
    columns = changes.pop("columns", default)
    return TableDefinition("public", "t", columns, primary_key=("id",),
                           source_dialect="postgresql", **changes)


@pytest.mark.parametrize(
    "table",
    [
        _table(columns=(ColumnDefinition(
            "id", f"integer); {DROP}; CREATE TABLE public.y (x integer", "int32"),)),
        _table(check_constraints=(CheckConstraint("c", f"(price > 0)); {DROP}; --"),)),
        _table(check_constraints=(CheckConstraint("c", "(price > (SELECT 0))"),)),
        _table(check_constraints=(CheckConstraint("c", "(other > 0)"),)),
    ],
    ids=["data_type", "check", "check-subquery", "check-other-column"],
)
def test_create_table_refuses_sql_in_definitions(
    pg: PostgreSQLConnector, pg_conn: Any, keep: set[tuple[str, str]], table: TableDefinition
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        pg.create_table(table)
    assert refused.value.context.table == "t"
    assert _relations(pg_conn) == keep


def test_a_default_that_is_not_a_plain_expression_is_dropped_and_reported(
    pg: PostgreSQLConnector, pg_conn: Any, keep: set[tuple[str, str]]
) -> None:
    table = _table(columns=(ColumnDefinition("id", "integer", "int32", False,
                                             default_value=f"1; {DROP}"),))
    plan = pg.plan_table(table)
    assert [(i.column, i.kind) for i in plan.issues] == [("id", "default_dropped")]
    pg.create_table(table)
    assert _relations(pg_conn) == keep | {("public", "t"), ("public", "t_pkey")}


def test_index_predicates_are_rendered_or_refused(
    pg: PostgreSQLConnector, pg_conn: Any, keep: set[tuple[str, str]], tmp_path: Path
) -> None:
    pg.create_table(_table())
    target = tmp_path / "pwn.txt"
    for predicate in (f"price > 0; {DROP}",
                      f"price > 0; COPY (SELECT 1) TO '{target}'",
                      "price > (SELECT max(x) FROM secret.keep)"):
        with pytest.raises(InvalidRequest) as refused:
            pg.create_indexes("t", "public", [IndexDefinition("ix", ("price",),
                                                              filter_predicate=predicate)])
        assert refused.value.context.constraint == "ix"
    pg.create_indexes("t", "public", [IndexDefinition("ix", ("price",),
                                                      filter_predicate="(price > 0)")])
    assert _relations(pg_conn) == keep | {("public", "t"), ("public", "t_pkey"), ("public", "ix")}
    assert not target.exists()
    predicate = pg_conn.execute(
        "SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
        " WHERE indexrelid = 'public.ix'::regclass"
    ).fetchone()[0]
    assert predicate == "(price > (0)::numeric)"


def test_the_connection_runs_one_statement_per_execute(
    pg: PostgreSQLConnector, pg_conn: Any, keep: set[tuple[str, str]]
) -> None:
    with pytest.raises(BaniError, match="multiple commands"):
        pg.execute_sql("SELECT 1; DROP TABLE secret.keep")
    assert _relations(pg_conn) == keep


def test_legitimate_definitions_still_round_trip(pg: PostgreSQLConnector, pg_conn: Any) -> None:
    pg.create_table(_table(
        columns=(ColumnDefinition("id", "integer", "int32", False),
                 ColumnDefinition("price", "numeric(12,2)", "decimal128(12, 2)",
                                  default_value="0.00"),
                 ColumnDefinition("name", "character varying(40)", "string",
                                  default_value="'none'::character varying"),
                 ColumnDefinition("made", "timestamp(3) with time zone", "timestamp[ms, tz=UTC]",
                                  default_value="now()")),
        check_constraints=(CheckConstraint("price_ok", "((price >= (0)::numeric))"),),
    ))
    rows = pg_conn.execute(
        "SELECT column_name, data_type, column_default FROM information_schema.columns"
        " WHERE table_name = 't' ORDER BY ordinal_position"
    ).fetchall()
    assert rows == [
        ("id", "integer", None),
        ("price", "numeric", "0.00"),
        ("name", "character varying", "'none'::character varying"),
        ("made", "timestamp with time zone", "now()"),
    ]
    check = pg_conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'price_ok'"
    ).fetchone()[0]
    assert check == "CHECK ((price >= (0)::numeric))"
