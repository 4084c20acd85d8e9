"""Injection payloads per dialect, and a hypothesis strategy that composes more of them.

Templates name what they attack with placeholders filled per target by
:func:`render`:

``<SECRET>``  the sentinel table outside the writer's schemas (``secret.keep``)
``<PWNT>``    a table the payload tries to create in the writer's schema
``<M>``       the session's marker, ``bani_pwn_<hex>`` (every object or file a
              payload tries to create has it in its name)
``<TMP>``     ``/tmp/<M>``: where file-writing payloads write

Lists by where the string lands:

* :data:`TYPES` -- a column's ``data_type``;
* :data:`CHECKS` -- a CHECK constraint's expression;
* :data:`PREDICATES` -- a partial index's predicate;
* :data:`DEFAULTS` -- a column default;
* :data:`NAMES` -- any identifier (schema, table, column, index, constraint,
  enum type) and the other free-text fields (enum labels, run and chunk ids);
* :data:`KEYWORDS` -- fields that should be one of a few words (foreign key
  actions, index method, source dialect, Arrow type, timezone);
* :data:`FILTERS` -- the reader's ``filter_sql``: bypasses of today's guard
  and oracles on other relations.

:func:`composed` is the hypothesis strategy (legit prefix + breaker + attack +
tail) and :func:`generate` draws a deterministic list from it
(``derandomize=True``), so every run sends the same payloads.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

__all__ = [
    "CHECKS",
    "DEFAULTS",
    "FILTERS",
    "KEYWORDS",
    "MARKER",
    "NAMES",
    "ODD_NAMES",
    "PREDICATES",
    "TYPES",
    "Context",
    "composed",
    "generate",
    "payloads",
    "render",
]

#: Every object or file a payload tries to create has this in its name.
MARKER: Final = f"bani_pwn_{secrets.token_hex(4)}"

PG, MY, LITE = "postgresql", "mysql", "sqlite"
DIALECTS: Final = (PG, MY, LITE)

LONG: Final = 20_000
FULLWIDTH_APOSTROPHE: Final = "\uff07"
MODIFIER_APOSTROPHE: Final = "\u02bc"
FULLWIDTH_SEMICOLON: Final = "\uff1b"


@dataclass(frozen=True)
class Context:
    """What the placeholders mean on one target."""

    secret: str  # the sentinel table, qualified as the dialect spells it
    pwn_table: str
    marker: str = MARKER

    @property
    def tmp(self) -> str:
        return f"/tmp/{self.marker}"


def render(template: str, context: Context) -> str:
    return (
        template.replace("<SECRET>", context.secret)
        .replace("<PWNT>", context.pwn_table)
        .replace("<TMP>", context.tmp)
        .replace("<M>", context.marker)
    )


# -- column types --------------------------------------------------------------------

TYPES: Final[dict[str, tuple[str, ...]]] = {
    PG: (
        "integer); DROP TABLE <SECRET>; CREATE TABLE <PWNT> (id integer, price numeric, x integer",
        "integer); DROP TABLE <SECRET>; --",
        "integer, <M>_col integer",
        "integer); COPY (SELECT 1) TO '<TMP>_type_copy'; --",
        "integer); COPY (SELECT v FROM <SECRET>) TO '<TMP>_type_copy2'; --",
        "integer); CREATE ROLE <M>_role SUPERUSER; --",
        "integer); GRANT ALL ON <SECRET> TO PUBLIC; --",
        "integer); SELECT lo_export(lo_from_bytea(0, 'x'), '<TMP>_type_lo'); --",
        "integer /* */); DROP TABLE <SECRET>; --",
        "integer --\n); DROP TABLE <SECRET>; --",
        'text COLLATE "C"); DROP TABLE <SECRET>; --',
        "integer DEFAULT E'\\''); DROP TABLE <SECRET>; --",
        "integer DEFAULT $$'$$); DROP TABLE <SECRET>; --",
        "integer DEFAULT $q$x$q$); DROP TABLE <SECRET>; --",
        "integer\uff07); DROP TABLE <SECRET>; --",
        "integer\u02bc); DROP TABLE <SECRET>; --",
        "integer)\uff1b DROP TABLE <SECRET>\uff1b --",
        "integer\x00); DROP TABLE <SECRET>; --",
        "integer" + " " * LONG + "); DROP TABLE <SECRET>; --",
        "text DEFAULT pg_read_file('/etc/passwd')",
        "integer GENERATED ALWAYS AS (length(pg_read_file('/etc/passwd'))) STORED",
        "integer REFERENCES <SECRET> (k) ON DELETE CASCADE",
        "integer CHECK ((SELECT count(*) FROM pg_shadow) > 0)",
        "integer[]); DROP TABLE <SECRET>; --",
        "numeric(12,2)); DROP TABLE <SECRET>; --",
        "character varying(255)); DROP TABLE <SECRET>; --",
        '"; DROP TABLE <SECRET>; --',
        "integer'; DROP TABLE <SECRET>; --",
        "integer''); DROP TABLE <SECRET>; --",
        "integer\\'); DROP TABLE <SECRET>; --",
        "integer); DO $$BEGIN EXECUTE 'DROP TABLE <SECRET>'; END$$; --",
    ),
    MY: (
        "int(11), <M>_col INT",
        "int(11)) ; DROP TABLE <SECRET>; #",
        "int(11), <M>_col INT #",
        "int(11) DEFAULT 0, <M>_col INT",
        "varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, <M>_col INT",
        "enum('a','b''), <M>_col INT, x enum(''')",
        "enum('a\\'), <M>_col INT, x enum(\\'')",
        "text DEFAULT (load_file('/etc/passwd'))",
        "int(11) CHECK ((SELECT COUNT(*) FROM mysql.user) > 0)",
        "int(11) REFERENCES <SECRET> (k)",
        "int(11) /* */, <M>_col INT",
        "int(11) -- \n, <M>_col INT",
        "int(11)\uff07, <M>_col INT",
        "int(11)\x00, <M>_col INT",
        "int(11)" + " " * LONG + ", <M>_col INT",
        "decimal(10,2) unsigned`, <M>_col INT",
        "int(11) AS (load_file('/etc/passwd')) VIRTUAL",
    ),
    LITE: (
        "INTEGER, <M>_col TEXT",
        "INTEGER); ATTACH DATABASE '<TMP>_type_attach' AS p; --",
        "TEXT DEFAULT (sqlite_version()), <M>_col TEXT",
        "INTEGER CHECK (x > 0), <M>_col TEXT",
        "INTEGER REFERENCES keep(k)",
        "INTEGER /* , <M>_col TEXT */",
        "INTEGER --\n, <M>_col TEXT",
        "INTEGER\uff07, <M>_col TEXT",
        "INTEGER\x00, <M>_col TEXT",
        "INTEGER" + " " * LONG + ", <M>_col TEXT",
        "VARCHAR(20)) ; DROP TABLE keep; --",
        "TEXT GENERATED ALWAYS AS ((SELECT v FROM keep)) VIRTUAL",
    ),
}

# -- CHECK expressions ---------------------------------------------------------------
# PostgreSQL pastes the expression after CHECK as is (introspection gives it
# with its own parentheses); MariaDB and SQLite wrap it in parentheses.

CHECKS: Final[dict[str, tuple[str, ...]]] = {
    PG: (
        "(true)); DROP TABLE <SECRET>; CREATE TABLE <PWNT> (x integer",
        "(price > 0)); DROP TABLE <SECRET>; --",
        "(true), <M>_col integer, CHECK (true)",
        "(true) NO INHERIT, <M>_col integer",
        "(price > 0)); COPY (SELECT 1) TO '<TMP>_check_copy'; --",
        "(price > 0)); COPY (SELECT v FROM <SECRET>) TO '<TMP>_check_copy2'; --",
        "((SELECT count(*) FROM pg_shadow) > 0)",
        "(length(pg_read_file('/etc/passwd')) > 0)",
        "(lo_export(lo_from_bytea(0, 'x'::bytea), '<TMP>_check_lo') > 0)",
        "(price > 0 OR E'\\'' = '')); DROP TABLE <SECRET>; --",
        "(price > 0 OR $$)$$ = '')); DROP TABLE <SECRET>; --",
        "(price > 0 OR $t$'$t$ = '')); DROP TABLE <SECRET>; --",
        "(price > 0) --\n); DROP TABLE <SECRET>; --",
        "(price > 0)\x00); DROP TABLE <SECRET>; --",
        "(price > 0 AND name = 'a''b')); DROP TABLE <SECRET>; --",
        "(pg_sleep(0) IS NOT NULL)",
        "(set_config('search_path', 'secret', false) <> '')",
        "(current_setting('data_directory') <> '')",
        "(query_to_xml('select 1', true, true, '') IS NOT NULL)",
        "(name IN (SELECT v FROM <SECRET>))",
        "(price > 0)\uff09\uff1b DROP TABLE <SECRET>",
        "(price > 0" + " OR price > 0" * (LONG // 13) + ")",
        "(price > 0)); CREATE FUNCTION <M>_f() RETURNS int LANGUAGE sql AS 'SELECT 1'; --",
    ),
    MY: (
        "`price` > 0), <M>_col INT, CHECK (1",
        "price > 0), CHECK (1 = 1",
        "price > 0), UNIQUE KEY <M>_uk (name",
        "price > 0), FOREIGN KEY (qty) REFERENCES <SECRET> (k",
        "price > 0), <M>_col INT, CHECK (1",
        "price > 0)) ; DROP TABLE <SECRET>; #",
        "price > 0 # \n), <M>_col INT, CHECK (1",
        "price > 0 -- \n), <M>_col INT, CHECK (1",
        "name <> '\\'), <M>_col INT, CHECK (\\''",
        "name <> 'x'), <M>_col INT, CHECK (name <> 'y'",
        "(SELECT COUNT(*) FROM mysql.user) > 0",
        "length(load_file('/etc/passwd')) > 0",
        "sleep(0) = 0",
        "price > 0 AND name IN (SELECT v FROM <SECRET>)",
        "price > 0)\x00, <M>_col INT, CHECK (1",
        "price > 0\uff09, <M>_col INT, CHECK (1",
        "price > 0" + " OR price > 0" * (LONG // 13),
    ),
    LITE: (
        "price > 0), CHECK (1 = 1",
        "price > 0), CONSTRAINT <M>_ck CHECK (1",
        "price > 0), UNIQUE (name",
        "price > 0), FOREIGN KEY (qty) REFERENCES keep (k",
        "price > 0), <M>_col TEXT, CHECK (1",
        "price > 0 --\n), <M>_col TEXT, CHECK (1",
        "price > 0) ; ATTACH DATABASE '<TMP>_check_attach' AS p; --",
        "price > 0 AND (SELECT count(*) FROM sqlite_master) > 0",
        "price > 0 AND load_extension('<TMP>_ext') IS NULL",
        "price > 0 AND [x'] IS NULL), <M>_col TEXT, CHECK ([']",
        "price > 0)\x00, <M>_col TEXT, CHECK (1",
        "price > 0\uff09, <M>_col TEXT, CHECK (1",
        "price > 0" + " OR price > 0" * (LONG // 13),
    ),
}

PREDICATES: Final[dict[str, tuple[str, ...]]] = {
    PG: (
        "deleted_at IS NULL; DROP TABLE <SECRET>",
        "deleted_at IS NULL; DROP TABLE <SECRET>; CREATE TABLE <PWNT> (x integer)",
        "deleted_at IS NULL; COPY (SELECT 1) TO '<TMP>_pred_copy'",
        "(deleted_at IS NULL); CREATE ROLE <M>_role SUPERUSER",
        "(SELECT count(*) FROM pg_shadow) > 0",
        "length(pg_read_file('/etc/passwd')) > 0",
        "deleted_at IS NULL OR E'\\'' = ''; DROP TABLE <SECRET>",
        "deleted_at IS NULL OR $$'$$ = ''; DROP TABLE <SECRET>",
        "deleted_at IS NULL --\n; DROP TABLE <SECRET>",
        "deleted_at IS NULL\x00; DROP TABLE <SECRET>",
        "deleted_at IS NULL\uff1b DROP TABLE <SECRET>",
        "name IN (SELECT v FROM <SECRET>)",
    ),
    MY: (
        "deleted_at IS NULL; DROP TABLE <SECRET>",
        "(SELECT COUNT(*) FROM mysql.user) > 0",
        "deleted_at IS NULL # ; DROP TABLE <SECRET>",
    ),
    LITE: (
        "deleted_at IS NULL; DROP TABLE keep",
        "deleted_at IS NULL; ATTACH DATABASE '<TMP>_pred_attach' AS p",
        "(SELECT count(*) FROM sqlite_master) > 0",
        "deleted_at IS NULL --\n; DROP TABLE keep",
        "deleted_at IS NULL\x00; DROP TABLE keep",
        "deleted_at IS NULL AND [x'] IS NULL; DROP TABLE keep; --']",
    ),
}

DEFAULTS: Final[dict[str, tuple[str, ...]]] = {
    PG: (
        "now()); DROP TABLE <SECRET>; --",
        "'abc'::text); DROP TABLE <SECRET>; --",
        "'abc'::text, <M>_col integer",
        "pg_read_file('/etc/passwd')",
        "(SELECT v FROM <SECRET> LIMIT 1)",
        "E'\\''); DROP TABLE <SECRET>; --",
        "$$x$$); DROP TABLE <SECRET>; --",
        "'abc'::text); DROP TABLE <SECRET>; CREATE TABLE <PWNT> (id integer, price numeric",
        "'abc'\x00); DROP TABLE <SECRET>; --",
        "'abc'::text\uff09\uff1b DROP TABLE <SECRET>",
    ),
    MY: (
        "abs(1)), <M>_col INT DEFAULT (abs(1)",
        "now()), <M>_col INT DEFAULT (now()",
        "'x'), <M>_col INT DEFAULT ('y'",
        "'x\\'), <M>_col INT DEFAULT (\\''",
        "(load_file('/etc/passwd'))",
        "((SELECT v FROM <SECRET> LIMIT 1))",
        "abs(1)) #\n, <M>_col INT DEFAULT (1",
        "'x'\x00), <M>_col INT DEFAULT ('y'",
    ),
    LITE: (
        "1), <M>_col TEXT, <M>_c2 INT DEFAULT (1",
        "'x'), <M>_col TEXT DEFAULT ('y'",
        "sqlite_version()), <M>_col TEXT DEFAULT (1",
        "(SELECT v FROM keep)",
        "1 --\n), <M>_col TEXT DEFAULT (1",
        "1)\x00, <M>_col TEXT",
    ),
}

NAMES: Final[tuple[str, ...]] = (
    'x"; DROP TABLE <SECRET>; --',
    "x`; DROP TABLE <SECRET>; #",
    "x'; DROP TABLE <SECRET>; --",
    "x]; DROP TABLE <SECRET>; --",
    'x" integer); DROP TABLE <SECRET>; CREATE TABLE <PWNT> ("y',
    'x"" integer, ""<M>_col',
    "x` INT, <M>_col INT, KEY (`x",
    'x\\"; DROP TABLE <SECRET>; --',
    "x" * 70,
    "x" * 300,
    "x\uff07\uff1b DROP TABLE <SECRET>",
    "x\u02bc",
    "x/*",
    "x--",
    "x#",
    " ",
    "x\ny",
    "x.y",
    "secret.keep",
    "$1",
    "%s",
    "%(x)s",
    "{x}",
    "x%",
    "<M>_n",
)

#: Names no database can hold: a NUL, and 20,000 characters.  Kept apart from
#: :data:`NAMES` because what they show is the error path (a typed, readable
#: error that fits gRPC's 16 KiB metadata), not injection.
ODD_NAMES: Final[tuple[str, ...]] = ("x\x00y", "x" * LONG, "\x00", "<M>" + "é" * 8000, "")

KEYWORDS: Final[tuple[str, ...]] = (
    "CASCADE; DROP TABLE <SECRET>; --",
    "NO ACTION; DROP TABLE <SECRET>",
    "SET NULL\x00",
    "CASCADE\uff07",
    "RESTRICT DEFERRABLE INITIALLY DEFERRED; DROP TABLE <SECRET>",
    "btree); DROP TABLE <SECRET>; --",
    "gin; DROP TABLE <SECRET>",
    "hash (x); COPY (SELECT 1) TO '<TMP>_kw_copy'",
    "postgresql'; --",
    "mysql; DROP",
    "int32; DROP TABLE <SECRET>",
    "decimal128(12, 2)); DROP TABLE <SECRET>; --",
    "list<item: string>'); DROP",
    "UTC'; DROP TABLE <SECRET>; --",
    "Europe/Paris'; SELECT pg_sleep(1); --",
    "",
)

# -- reader filters ------------------------------------------------------------------
# <COLS_FILE>, <COLS_SECRET>, <COLS_MASTER> are SELECT lists that match the
# reader's own projection of ``items`` (test_filters.py fills them in), so a
# UNION that gets through returns a file, the sentinel or the schema as rows.

FILTERS: Final[dict[str, tuple[str, ...]]] = {
    PG: (
        # E'' strings: today's guard ends the string at \' while PostgreSQL does not
        "id < 3 AND E'\\'' = '') UNION ALL SELECT <COLS_FILE> WHERE (E'\\'' <> ''",
        "id < 3 AND E'\\'' = '') UNION ALL SELECT <COLS_SECRET> FROM <SECRET> WHERE (E'\\'' <> ''",
        # dollar quotes: the guard sees a quote where PostgreSQL sees none
        "id < 3 AND $$'$$ = $$x$$) UNION ALL SELECT <COLS_SECRET> FROM <SECRET> "
        "WHERE ($$'$$ = $$x$$",
        "id < 3 AND $q$'$q$ = $q$x$q$) UNION ALL SELECT <COLS_FILE> WHERE ($q$'$q$ = $q$x$q$",
        # comments hidden in E'' / $$ strings
        "id < 3 OR E'\\'' = '') OR (true) --'",
        "id < 3 OR $$'$$ = '' OR (true) /*'",
        # subqueries, other relations, file and admin functions
        "id < 3 AND (SELECT count(*) FROM pg_shadow) > 0",
        "id < 3 AND EXISTS (SELECT 1 FROM pg_authid WHERE rolname = 'postgres')",
        "id IN (SELECT k FROM <SECRET>)",
        "name IN (SELECT v FROM <SECRET>)",
        "id < 3 AND length(pg_read_file('/etc/passwd', 0, 200)) > 0",
        "substr(pg_read_file('/etc/passwd'), 1, 4) = 'root'",
        "CAST(pg_read_file('/etc/passwd', 0, 200) AS integer) = 1",
        "CAST((SELECT v FROM <SECRET> LIMIT 1) AS integer) = 1",
        "CAST((SELECT s FROM public.hidden LIMIT 1) AS integer) = 1",
        "id < 3 AND pg_sleep(0) IS NOT NULL",
        "id < 3 AND set_config('statement_timeout', '0', false) IS NOT NULL",
        "id < 3 AND current_setting('data_directory') IS NOT NULL",
        "id < 3 AND query_to_xml('select * from pg_shadow', true, true, '') IS NOT NULL",
        "id < 3 AND public.hidden.s IS NOT NULL",
        "id < 3 AND (lo_import('/etc/passwd') > 0)",
        "id < 3 AND pg_ls_dir('.') IS NOT NULL",
        "id < 3 AND (TABLE public.hidden) IS NOT NULL",
        "id < 3 AND id::regclass IS NOT NULL",
        "id < 3\uff09 UNION ALL SELECT <COLS_FILE> WHERE (true",
    ),
    MY: (
        # backslash escapes: today's guard ends the string at \' while MariaDB does not
        "name = '\\' AND '' = ') UNION ALL SELECT <COLS_SECRET> FROM <SECRET> #'",
        "name = '\\' AND '' = ') UNION ALL SELECT <COLS_FILE> #'",
        "name = 'a\\' OR id < 3 OR name = ' OR (SELECT COUNT(*) FROM mysql.user) > 0 OR '\\'",
        # '#' comments are not known to today's guard
        "id < 3 # \n OR (SELECT COUNT(*) FROM mysql.user) > 0",
        "id < 3 # (\n) UNION ALL SELECT <COLS_SECRET> FROM <SECRET> WHERE (1 # )\n= 1",
        # subqueries, other relations, file functions, error-based leaks
        "id < 3 AND (SELECT COUNT(*) FROM mysql.user) > 0",
        "id IN (SELECT k FROM <SECRET>)",
        "name IN (SELECT v FROM <SECRET>)",
        "id < 3 AND load_file('/etc/passwd') IS NOT NULL",
        "substr(load_file('/etc/passwd'), 1, 4) = 'root'",
        "extractvalue(1, concat(0x7e, (SELECT v FROM <SECRET> LIMIT 1))) IS NULL",
        "updatexml(1, concat(0x7e, (SELECT v FROM <SECRET> LIMIT 1)), 1) IS NULL",
        "extractvalue(1, concat(0x7e, substr(load_file('/etc/passwd'), 1, 30))) IS NULL",
        "id < 3 AND sleep(0) = 0",
        "id < 3 AND benchmark(1, md5(1)) = 0",
        "id < 3 AND @@version IS NOT NULL",
        "id < 3 AND hidden.s IS NOT NULL",
        "id < 3 AND EXISTS (SELECT 1 FROM <SECRET>)",
        "id < 3\uff09 UNION ALL SELECT <COLS_FILE> #",
    ),
    LITE: (
        # [identifier] quoting: today's guard sees a string where SQLite sees a name
        "id < 3 AND CAST(1 AS [']) = 1) UNION ALL SELECT <COLS_SECRET> FROM hidden "
        "WHERE (CAST(1 AS [']) = 1",
        "id < 3 AND CAST(1 AS [']) = 1) UNION ALL SELECT <COLS_MASTER> FROM sqlite_master "
        "WHERE (CAST(1 AS [']) = 1",
        "id < 3 OR CAST(1 AS [']) = 1) OR (1 = 1 -- ']",
        # subqueries and other relations
        "id < 3 AND (SELECT count(*) FROM sqlite_master) > 0",
        "id IN (SELECT rowid FROM hidden)",
        "name IN (SELECT s FROM hidden)",
        "EXISTS (SELECT 1 FROM hidden WHERE s LIKE 'TOP%')",
        "CAST((SELECT s FROM hidden) AS integer) = 1",
        "id < 3 AND readfile('/etc/passwd') IS NOT NULL",
        "id < 3 AND load_extension('<TMP>_ext') IS NULL",
        "id < 3 AND hidden.s IS NOT NULL",
        "id < 3 AND sqlite_version() IS NOT NULL AND (SELECT 1) = 1",
        "id < 3\uff09 UNION ALL SELECT <COLS_SECRET> FROM hidden WHERE (1",
    ),
}

# -- composition -----------------------------------------------------------------------

_BREAKERS_COMMON: Final = (
    "", ")", "))", ")))", "'", "')", "'))", "''", "\\'", "\\')", '"', '")', "`", "`)",
    "*/", "\n", ";", FULLWIDTH_APOSTROPHE, MODIFIER_APOSTROPHE, FULLWIDTH_SEMICOLON,
    "\x00", "\\",
)
BREAKERS: Final[dict[str, tuple[str, ...]]] = {
    PG: (*_BREAKERS_COMMON, "E'\\''", "$$", "$$)", "$q$", "$q$)", "U&'\\0027'", "E'\\'')"),
    MY: (*_BREAKERS_COMMON, "#", "\\\\'", "0x27)", "' #", "\\'))"),
    LITE: (*_BREAKERS_COMMON, "[", "]", "x'27')", "[')"),
}

ATTACKS: Final[dict[str, tuple[str, ...]]] = {
    PG: (
        "; DROP TABLE <SECRET>; CREATE TABLE <PWNT> (x integer",
        "; DROP TABLE <SECRET>",
        ", <M>_col integer",
        ", <M>_col integer, CHECK (true",
        "; COPY (SELECT 1) TO '<TMP>_gen'",
        "; COPY (SELECT v FROM <SECRET>) TO '<TMP>_gen2'",
        "; CREATE ROLE <M>_role SUPERUSER",
        "; GRANT ALL ON <SECRET> TO PUBLIC",
        "; ALTER TABLE <SECRET> ADD COLUMN <M>_col integer",
        "; SELECT pg_read_file('/etc/passwd')",
        " OR (SELECT count(*) FROM pg_shadow) > 0",
        " AND length(pg_read_file('/etc/passwd', 0, 200)) > 0",
        " UNION ALL SELECT usename FROM pg_shadow",
        " AND EXISTS (SELECT 1 FROM <SECRET>)",
        "; DO $$BEGIN EXECUTE 'DROP TABLE <SECRET>'; END$$",
        "; CREATE FUNCTION <M>_f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "; DELETE FROM <SECRET>",
    ),
    MY: (
        ", <M>_col INT",
        "), FOREIGN KEY (qty) REFERENCES <SECRET> (k",
        "), UNIQUE KEY <M>_uk (name",
        ", <M>_col INT, CHECK (1",
        ", <M>_col INT DEFAULT (1",
        "; DROP TABLE <SECRET>",
        "; CREATE TABLE <PWNT> (x INT)",
        " OR (SELECT COUNT(*) FROM mysql.user) > 0",
        " AND load_file('/etc/passwd') IS NOT NULL",
        "; SELECT 1 INTO OUTFILE '<TMP>_gen_outfile'",
        " UNION ALL SELECT authentication_string FROM mysql.user",
        "; CREATE USER '<M>_user'@'%'",
        "; DELETE FROM <SECRET>",
        " AND EXISTS (SELECT 1 FROM <SECRET>)",
    ),
    LITE: (
        ", <M>_col TEXT",
        ", <M>_col TEXT, CHECK (1",
        "), CHECK (1 = 1",
        "), UNIQUE (name",
        "), FOREIGN KEY (qty) REFERENCES keep (k",
        "; DROP TABLE keep",
        "; ATTACH DATABASE '<TMP>_gen_attach' AS p",
        " AND (SELECT count(*) FROM sqlite_master) > 0",
        " AND EXISTS (SELECT 1 FROM keep)",
        " AND load_extension('<TMP>_gen_ext') IS NULL",
        "; DELETE FROM keep",
        " UNION ALL SELECT sql FROM sqlite_master",
    ),
}

TAILS: Final[dict[str, tuple[str, ...]]] = {
    PG: ("", " --", "; --", " /*", "--\n", ")", "); --", " -- '", "\n", " $$"),
    MY: ("", " #", " -- ", "; #", " /*", ")", "); #", " #'", "\n", " -- '"),
    LITE: ("", " --", "; --", " /*", ")", "); --", " -- '", "\n", " ]"),
}

#: Legit text each field starts from, so a payload looks like a real definition first.
PREFIXES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "type": {
        PG: ("integer", "numeric(12,2)", "character varying(255)", "timestamp(3) with time zone",
             "integer[]", "text"),
        MY: ("int(11)", "decimal(10,2) unsigned", "varchar(20)", "enum('a','b')", "datetime(6)"),
        LITE: ("INTEGER", "NUMERIC(12,2)", "VARCHAR(20)", "TEXT"),
    },
    "check": {
        PG: ("(price > 0)", "price > 0", "((qty >= 0) AND (qty < 1000))", "(name = 'x')"),
        MY: ("`price` > 0", "price > 0", "name = 'x'", "qty BETWEEN 0 AND 9"),
        LITE: ("price > 0", "qty >= 0", "name = 'x'"),
    },
    "predicate": {
        PG: ("deleted_at IS NULL", "(deleted_at IS NULL)", "qty > 0", "name = 'x'"),
        MY: ("deleted_at IS NULL",),
        LITE: ("deleted_at IS NULL", "qty > 0", "name = 'x'"),
    },
    "default": {
        PG: ("now()", "'abc'::text", "0", "'x'"),
        MY: ("0", "'x'", "current_timestamp(6)", "abs(1)"),
        LITE: ("0", "'x'", "CURRENT_TIMESTAMP", "abs(1)"),
    },
    "name": {d: ("x", "inj", "") for d in DIALECTS},
}


def composed(dialect: str, kind: str) -> st.SearchStrategy[str]:
    """Legit prefix + breaker + attack + tail, for a field of ``kind`` on ``dialect``.

    Names never get a NUL breaker: a NUL in a name is :data:`ODD_NAMES`' business.
    """
    breakers = [b for b in BREAKERS[dialect] if kind != "name" or "\x00" not in b]
    return st.tuples(
        st.sampled_from(PREFIXES[kind][dialect]),
        st.sampled_from(breakers),
        st.sampled_from(ATTACKS[dialect]),
        st.sampled_from(TAILS[dialect]),
    ).map("".join)


def generate(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    """``count`` examples drawn deterministically (``derandomize=True``), duplicates removed."""
    drawn: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: str) -> None:
        drawn.append(value)

    collect()
    return list(dict.fromkeys(drawn))


_STATIC: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "type": TYPES,
    "check": CHECKS,
    "predicate": PREDICATES,
    "default": DEFAULTS,
}


def payloads(dialect: str, kind: str, context: Context, generated: int = 0) -> list[str]:
    """The static payloads of ``kind`` and ``generated`` composed ones, rendered for a target."""
    if kind == "name":
        static: Sequence[str] = NAMES
    elif kind == "keyword":
        static = KEYWORDS
    else:
        static = _STATIC[kind][dialect]
    found = list(static)
    if generated:
        found += generate(composed(dialect, "name" if kind == "keyword" else kind), generated)
    return list(dict.fromkeys(render(p, context) for p in found))
