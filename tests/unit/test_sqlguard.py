"""The SQL guard on its own: what each dialect's parser lets through, and how it comes out."""

from __future__ import annotations

import pytest

from bani.errors import InvalidRequest
from bani.sqlguard import Purpose, Where, render_expression, render_type

WHERE = Where(schema="app", table="orders", column="price")
COLUMNS = ("id", "price", "name", "deleted_at")
DIALECTS = ("postgresql", "mysql", "sqlite")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("text", "purpose"),
    [
        ("price > 0", Purpose.CHECK),
        ("(price >= 0) AND (price < 1000)", Purpose.CHECK),
        ("deleted_at IS NULL", Purpose.PREDICATE),
        ("name LIKE 'a%' OR id IN (1, 2, 3)", Purpose.FILTER),
        ("lower(name) = 'o''brien'", Purpose.FILTER),
        ("id BETWEEN 1 AND 5 AND NOT (name IS NULL)", Purpose.FILTER),
        ("CASE WHEN price > 10 THEN 1 ELSE 0 END = 1", Purpose.FILTER),
        ("CURRENT_TIMESTAMP", Purpose.DEFAULT),
        ("'none'", Purpose.DEFAULT),
        ("coalesce(name, '') <> ''", Purpose.CHECK),
    ],
)
def test_ordinary_expressions_are_accepted_and_rendered_again(
    dialect: str, text: str, purpose: Purpose
) -> None:
    rendered = render_expression(text, dialect, purpose, WHERE, COLUMNS)
    assert rendered
    # rendering is a fixed point: what was rendered parses to the same text
    assert render_expression(rendered, dialect, purpose, WHERE, COLUMNS) == rendered


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("price > 0); DROP TABLE secret.keep; --", ""),
        ("price > 0; DROP TABLE keep", ""),
        ("id IN (SELECT id FROM secret.keep)", ""),
        ("(SELECT count(*) FROM keep) > 0", ""),
        ("other_column > 0", "not a column"),
        ("keep.id > 0", "another relation"),
        ("secret.keep.id > 0", ""),
        ("sleep(5) = 0", "not allowed"),
        ("load_file('/etc/passwd') IS NULL", "not allowed"),
        ("pg_read_file('/etc/passwd') IS NULL", "not allowed"),
        ("readfile('/etc/passwd') IS NULL", "not allowed"),
        ("count(*) > 0", ""),
        ("", "empty"),
        ("price > 0\x00", "NUL"),
    ],
)
def test_anything_beyond_one_expression_over_the_table_is_refused(
    dialect: str, text: str, reason: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        render_expression(text, dialect, Purpose.CHECK, WHERE, COLUMNS)
    assert refused.value.code == "invalid_request"
    assert (refused.value.context.table, refused.value.context.column) == ("orders", "price")
    assert reason in refused.value.message


@pytest.mark.parametrize(
    "text",
    [
        "E'\\'' = '') UNION ALL SELECT pg_read_file('/etc/passwd', 0, 200) WHERE (E'\\'' <> ''",
        "id < 3 AND (SELECT count(*) FROM pg_shadow) > 0",
        "'pg_shadow'::regclass IS NOT NULL",
        "id = 1 FROM pg_shadow",
        "id = ANY (SELECT 1)",
        "sum(id) OVER () > 0",
        "id OPERATOR(pg_catalog.=) 1",
    ],
)
def test_postgresql_filter_bypasses_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        render_expression(text, "postgresql", Purpose.FILTER, WHERE, COLUMNS)


def test_postgresql_quoting_forms_come_out_as_standard_literals() -> None:
    rendered = render_expression("name = E'it\\'s' OR name = $$a;b$$ OR name = $t$c$t$",
                                 "postgresql", Purpose.FILTER, WHERE, COLUMNS)
    assert rendered == "name = 'it''s' OR name = 'a;b' OR name = 'c'"


def test_mysql_backslash_escapes_come_out_doubled_quotes() -> None:
    rendered = render_expression("name = 'a\\'b' OR name = \"x\"", "mysql", Purpose.FILTER,
                                 WHERE, COLUMNS)
    assert "'a''b'" in rendered and "\\'" not in rendered


def test_a_default_may_not_reference_columns_and_only_a_default_may_call_nextval() -> None:
    with pytest.raises(InvalidRequest, match="may not reference column"):
        render_expression("id + 1", "postgresql", Purpose.DEFAULT, WHERE, COLUMNS)
    assert render_expression("nextval('orders_id_seq'::regclass)", "postgresql",
                             Purpose.DEFAULT, WHERE) == "nextval(CAST('orders_id_seq' AS regclass))"
    with pytest.raises(InvalidRequest, match="nextval"):
        render_expression("nextval('s') > 0", "postgresql", Purpose.FILTER, WHERE, COLUMNS)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("integer", "integer"),
        ("numeric(12,2)", "numeric(12, 2)"),
        ("character varying(255)", "varchar(255)"),
        ("timestamp(3) with time zone", "timestamp(3) with time zone"),
        ("integer[]", "integer[]"),
        ('"MyEnum"[]', '"MyEnum"[]'),
        ("public.mpaa_rating", "public.mpaa_rating"),
        ("double precision", "double precision"),
        ("integer -- a comment does not survive", "integer"),
    ],
)
def test_postgresql_types_are_parsed_and_rendered(text: str, rendered: str) -> None:
    assert render_type(text, "postgresql", WHERE) == rendered


@pytest.mark.parametrize(
    "text",
    [
        "integer); DROP TABLE secret.keep; CREATE TABLE public.pwn (x integer",
        "integer, pg_read_file('/etc/passwd')",
        "integer FROM pg_shadow",
        "integer DEFAULT 5",
        "setof integer",
        "varchar('x')",
    ],
)
def test_postgresql_types_beyond_the_grammar_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        render_type(text, "postgresql", WHERE)
    assert refused.value.context.column == "price"


@pytest.mark.parametrize(("text", "rendered"), [
    ("int(11) unsigned", "int(11) unsigned"),
    ("DECIMAL(10, 2)", "decimal(10,2)"),
    ("double precision", "double precision"),
])
def test_mysql_and_sqlite_types_share_a_closed_grammar(text: str, rendered: str) -> None:
    assert render_type(text, "mysql", WHERE) == rendered


def test_a_dialect_without_a_guard_gets_no_sql_through() -> None:
    with pytest.raises(InvalidRequest, match="no SQL guard"):
        render_expression("x > 0", "duckdb", Purpose.CHECK, WHERE)
