"""SQL injection through every string field a writer takes, against real targets.

One writer per dialect (PostgreSQL, MariaDB, SQLite) serves the whole module
over TLS with a token; the peer holds that token and is hostile.  Each test
fills one string field of one request with payloads (:mod:`._payloads`:
static ones and hypothesis-composed ones) and sends them one request each.

What must hold for every payload:

* it is refused with a typed error, or accepted;
* for the fields whose text becomes SQL (a column's type, a default, a CHECK
  expression, a partial index's predicate) a refusal is ``invalid_request``
  and its message names the table and the column / constraint / index;
* an accepted request created exactly what it asked for: the requested
  table has the requested columns and no more CHECKs than requested, and
  none of its stored expressions calls a file, admin or catalog function or
  holds a subquery;
* nothing outside the requested tables changed: after every request a cheap
  canary (the sentinel table ``secret.keep`` and anything named with the
  session's marker) and after every batch a full catalog snapshot
  (:mod:`._catalog`) and a look for files a payload could have written;
* the writer keeps serving, and at the end still runs a legitimate
  migration (create-tables, do_put, table-stats).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from bani.domain.schema import (
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.wire import BeginRunRequest, PlannedTable, RunPlan
from bani.wire.codec import enum_type_to_proto, table_ref
from tests.security._catalog import TableKey, diff_snapshots
from tests.security._payloads import ODD_NAMES, Context, payloads, render
from tests.security._peer import Outcome
from tests.security._targets import DIALECTS, WriterEnv, start_writer
from tests.security.conftest import StartService
from tests.services._harness import Security

pytestmark = pytest.mark.slow

#: Payloads between two full snapshots.
BATCH = 25
#: Hypothesis-composed payloads per SQL-text field, and per other field.
GENERATED_SQL = 100
GENERATED_OTHER = 8
#: Every dialect gets at least this many payloads in this module.
MINIMUM_PER_DIALECT = 500

#: The refusal codes a SQL-text field may answer with.  A type that does not
#: parse may also be a type-mapping error (MariaDB's column-type parser).
SQL_CODES = frozenset({"invalid_request"})
TYPE_CODES = SQL_CODES | {"type_mapping", "type_not_representable"}

SENT: Counter[str] = Counter()


@pytest.fixture(scope="module", params=DIALECTS)
def env(
    request: pytest.FixtureRequest,
    start_service: StartService,
    security: Security,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WriterEnv]:
    writer = start_writer(request.param, request, start_service, security, tmp_path_factory)
    yield writer
    writer.catalog.close()


# -- what one request was, and how it is judged --------------------------------------


@dataclass
class Sent:
    """One request: its outcome and what it was allowed to touch."""

    payload: str
    outcome: Outcome
    requested: set[TableKey] = field(default_factory=set)
    types: list[str] = field(default_factory=list)
    verify: Callable[[], list[str]] | None = None
    table: str = ""  # what a strict refusal must name ...
    subject: str = ""  # ... and the column / constraint / index


@dataclass(frozen=True)
class Rule:
    """How refusals of one field are judged."""

    strict: bool
    codes: frozenset[str] = SQL_CODES


LOOSE = Rule(strict=False)
STRICT = Rule(strict=True)
STRICT_TYPE = Rule(strict=True, codes=TYPE_CODES)


def _short(text: str, limit: int = 160) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def judge(sent: Sent, rule: Rule) -> list[str]:
    outcome = sent.outcome
    if outcome.accepted:
        problems = sent.verify() if sent.verify is not None else []
        return [f"accepted, but {p}" for p in problems]
    if not outcome.typed:
        return [f"refused without a typed error: {outcome.describe()}"]
    if rule.strict:
        if outcome.code not in rule.codes:
            return [f"refused as {outcome.code!r}, not {'/'.join(sorted(rule.codes))}: "
                    f"{outcome.describe()}"]
        missing = [n for n in (sent.table, sent.subject) if n and n not in outcome.text]
        if missing:
            return [f"the refusal does not name {missing}: {outcome.describe()}"]
    return []


def verify_table(env: WriterEnv, table: TableDefinition, *, extra_indexes: int = 0
                 ) -> Callable[[], list[str]]:
    """The requested table holds what was asked for, and nothing hostile."""

    def check() -> list[str]:
        shape = env.catalog.shape(table.schema_name, table.table_name)
        if shape is None:
            return []
        problems: list[str] = []
        fold = env.dialect != "postgresql"
        have = sorted(c.lower() if fold else c for c in shape.columns)
        want = sorted(c.name.lower() if fold else c.name for c in table.columns)
        if have != want:
            problems.append(f"the table has columns {shape.columns}, not {tuple(want)}")
        allowed_checks = (
            len(table.check_constraints)
            + len(table.foreign_keys)
            + sum(1 for c in table.columns if c.enum_values)
        )
        found = (*shape.checks, *shape.constraints)
        if len(found) > allowed_checks:
            problems.append(f"the table has {len(found)} constraints: {found}")
        if len(shape.indexes) > 1 + len(table.indexes) + extra_indexes:
            problems.append(f"the table has indexes {shape.indexes}")
        hostile = shape.denylisted()
        if hostile:
            problems.append(f"stored expressions hold {[_short(h, 120) for h in hostile]}")
        return problems

    return check


# -- the batch runner --------------------------------------------------------------------


def _restore(env: WriterEnv) -> None:
    env.catalog.restore()
    env.files.cleanup()


def run_payloads(
    env: WriterEnv,
    name: str,
    texts: list[str],
    send: Callable[[str], Sent],
    rule: Rule,
    before_batch: Callable[[], set[TableKey]] | None = None,
) -> None:
    """Send every payload, judge each, snapshot after each batch; fail with every finding."""
    _restore(env)
    baseline = env.catalog.snapshot()
    findings: list[str] = []
    counts: Counter[str] = Counter()
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        requested: set[TableKey] = set(before_batch()) if before_batch is not None else set()
        types: list[str] = []
        for text in batch:
            sent = send(text)
            SENT[env.dialect] += 1
            counts["accepted" if sent.outcome.accepted else sent.outcome.code or "untyped"] += 1
            requested |= sent.requested
            types += sent.types
            findings += [f"{name} = {_short(text)}: {p}" for p in judge(sent, rule)]
            changed = env.catalog.canary(requested) + env.files.new_files(quick=True)
            if changed:
                findings.append(f"{name} = {_short(text)} -> {sent.outcome.describe()} "
                                f"CHANGED THE TARGET: {changed}")
                _restore(env)
        env.serving()
        if env.dialect == "postgresql" and types:
            env.catalog.drop_types(env.schema, types)  # type: ignore[union-attr]
        env.catalog.drop_tables(requested)
        diff = diff_snapshots(baseline, env.catalog.snapshot(requested))
        files = env.files.new_files()
        if diff or files:
            findings.append(
                f"{name}: batch {start // BATCH} changed things outside the requested tables: "
                f"{diff[:12]} files={files}; its payloads: {[_short(t, 60) for t in batch]}"
            )
            _restore(env)
            baseline = env.catalog.snapshot()
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    print(f"{env.dialect} {name}: {len(texts)} payloads ({summary})")
    if findings:
        shown = "\n  ".join(findings[:25])
        more = f"\n  ... and {len(findings) - 25} more" if len(findings) > 25 else ""
        pytest.fail(f"{len(findings)} finding(s) in {len(texts)} payloads for {name} on "
                    f"{env.dialect} ({summary}):\n  {shown}{more}", pytrace=False)


# -- the fields ------------------------------------------------------------------------------


def _replace_column(table: TableDefinition, column: str, **changes: object) -> TableDefinition:
    columns = tuple(dataclasses.replace(c, **changes) if c.name == column else c
                    for c in table.columns)
    return dataclasses.replace(table, columns=columns)


def _mysql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _create(env: WriterEnv, table: TableDefinition, text: str, *, subject: str = "",
            enums: tuple[EnumTypeDefinition, ...] = (), run_id: str = "") -> Sent:
    outcome = env.peer.create_tables([table], enum_types=[enum_type_to_proto(e) for e in enums],
                                     run_id=run_id)
    return Sent(text, outcome, {(table.schema_name, table.table_name)},
                types=[e.name for e in enums], verify=verify_table(env, table),
                table=table.table_name, subject=subject)


def create_field(mutate: Callable[[WriterEnv, TableDefinition, str], TableDefinition],
                 subject: Callable[[TableDefinition], str] = lambda t: ""
                 ) -> Callable[[WriterEnv, str], Sent]:
    def send(env: WriterEnv, text: str) -> Sent:
        table = mutate(env, env.table(env.fresh("inj")), text)
        return _create(env, table, text, subject=subject(table))

    return send


def _check(table: TableDefinition, **changes: str) -> TableDefinition:
    check = dataclasses.replace(table.check_constraints[0], **changes)
    return dataclasses.replace(table, check_constraints=(check,))


def send_enum_label(env: WriterEnv, text: str) -> Sent:
    table = env.table(env.fresh("inj"))
    labels = ("a", text)
    enums: tuple[EnumTypeDefinition, ...] = ()
    if env.dialect == "postgresql":
        enum = EnumTypeDefinition(env.schema, env.fresh("e"), labels)
        enums = (enum,)
        table = _replace_column(table, "note", data_type=enum.name, enum_values=labels)
    elif env.dialect == "mysql":
        native = "enum(" + ",".join(_mysql_quote(v) for v in labels) + ")"
        table = _replace_column(table, "note", data_type=native, enum_values=labels)
    else:
        table = _replace_column(table, "note", enum_values=labels)
    return _create(env, table, text, enums=enums)


def send_enum_type(attribute: str) -> Callable[[WriterEnv, str], Sent]:
    def send(env: WriterEnv, text: str) -> Sent:
        table = env.table(env.fresh("inj"))
        enum = EnumTypeDefinition(env.schema, env.fresh("e"), ("a", "b"))
        enum = dataclasses.replace(enum, **{attribute: text})
        if env.dialect == "postgresql":
            table = _replace_column(table, "note", data_type=enum.name, enum_values=enum.labels)
        sent = _create(env, table, text, enums=(enum,))
        sent.requested.add((enum.schema_name, enum.name))
        return sent

    return send


def send_run_id(env: WriterEnv, text: str) -> Sent:
    return _create(env, env.table(env.fresh("inj")), text, run_id=text)


def _inline_fk(env: WriterEnv, table: TableDefinition, **changes: str) -> TableDefinition:
    fk = ForeignKeyDefinition(f"fk_{table.table_name}", table.schema_name, table.table_name,
                              ("qty",), table.schema_name, "warmup", ("id",))
    return dataclasses.replace(table, foreign_keys=(dataclasses.replace(fk, **changes),))


# create-indexes: one fresh table per request, then the index on it


def index_field(attribute: str) -> Callable[[WriterEnv, str], Sent]:
    def send(env: WriterEnv, text: str) -> Sent:
        table = env.table(env.fresh("ix"))
        created = env.peer.create_tables([table])
        assert created.accepted, f"setup create-tables failed: {created.describe()}"
        index = IndexDefinition(f"ix_{table.table_name}", ("name",),
                                filter_predicate="deleted_at IS NULL")
        if attribute == "columns":
            index = dataclasses.replace(index, columns=(text,))
        else:
            index = dataclasses.replace(index, **{attribute: text})
        indexed = dataclasses.replace(table, indexes=(index,))
        outcome = env.peer.create_indexes([indexed])
        return Sent(text, outcome, {(table.schema_name, table.table_name)},
                    verify=verify_table(env, indexed), table=table.table_name,
                    subject=index.name)

    return send


# create-foreign-keys: a parent and a child per batch, one constraint per request


@dataclass
class FkPair:
    env: WriterEnv
    parent: str = ""
    child: str = ""

    def setup(self) -> set[TableKey]:
        self.parent, self.child = self.env.fresh("fkp"), self.env.fresh("fkc")
        for name in (self.parent, self.child):
            created = self.env.peer.create_tables([self.env.table(name)])
            assert created.accepted, f"setup create-tables failed: {created.describe()}"
        return {(self.env.schema, self.parent), (self.env.schema, self.child)}

    def send(self, attribute: str, text: str) -> Sent:
        env = self.env
        fk = ForeignKeyDefinition(env.fresh("fk"), env.schema, self.child, ("qty",),
                                  env.schema, self.parent, ("id",))
        if attribute in ("source_columns", "referenced_columns"):
            fk = dataclasses.replace(fk, **{attribute: (text,)})
        else:
            fk = dataclasses.replace(fk, **{attribute: text})
        outcome = env.peer.create_foreign_keys([fk])
        child = env.table(self.child)
        return Sent(text, outcome, {(fk.source_schema, fk.source_table),
                                    (fk.referenced_schema, fk.referenced_table)},
                    verify=_verify_fk(env, child), table=self.child)


def _verify_fk(env: WriterEnv, child: TableDefinition) -> Callable[[], list[str]]:
    def check() -> list[str]:
        shape = env.catalog.shape(child.schema_name, child.table_name)
        if shape is None:
            return []
        problems = []
        if sorted(shape.columns) != sorted(c.name for c in child.columns):
            problems.append(f"the child has columns {shape.columns}")
        if shape.denylisted():
            problems.append(f"stored expressions hold {shape.denylisted()}")
        return problems

    return check


# finalize, do_put, table-stats, chunks-done, begin-run: a legit table per batch


@dataclass
class Existing:
    env: WriterEnv
    name: str = ""

    def setup(self) -> set[TableKey]:
        self.name = self.env.fresh("ex")
        created = self.env.peer.create_tables([self.env.table(self.name)])
        assert created.accepted, f"setup create-tables failed: {created.describe()}"
        return {(self.env.schema, self.name)}

    def finalize(self, attribute: str, text: str) -> Sent:
        env = self.env
        table = env.table(self.name, identity_counter=10)
        if attribute == "table_name":
            table = dataclasses.replace(table, table_name=text)
        else:
            table = _replace_column(table, "id", name=text, is_identity=True)
        outcome = env.peer.finalize([table])
        return Sent(text, outcome, {(table.schema_name, table.table_name)})

    def put(self, attribute: str, text: str) -> Sent:
        env = self.env
        arrow_schema, batch = env.rows(env.table(self.name))
        where = {"run_id": env.fresh("run"), "schema": env.schema, "table": self.name,
                 "chunk_id": env.fresh("c")}
        where[attribute] = text
        outcome = env.peer.put(where["run_id"], where["schema"], where["table"],
                               where["chunk_id"], [batch], arrow_schema)
        return Sent(text, outcome, {(where["schema"], where["table"])})

    def stats(self, attribute: str, text: str) -> Sent:
        env = self.env
        arrow_schema, _ = env.rows(env.table(self.name))
        if attribute == "table":
            outcome = env.peer.stats(env.schema, text, arrow_schema)
        else:
            outcome = env.peer.stats(env.schema, self.name, arrow_schema, columns=[text])
        return Sent(text, outcome)

    def chunks_done(self, text: str) -> Sent:
        return Sent(text, self.env.peer.chunks_done(text))

    def begin_run(self, attribute: str, text: str) -> Sent:
        env = self.env
        run_id = env.fresh("run")
        planned = PlannedTable(source=table_ref("src", "x"),
                               target=table_ref(env.schema, self.name))
        if attribute == "run_id":
            run_id = text
        else:
            planned.filter_sql = text
        request = BeginRunRequest(run_id=run_id, plan=RunPlan(run_id=run_id, tables=[planned]))
        return Sent(text, env.peer.action("begin-run", request))


# plan-tables: executes nothing, so nothing may change at all


def plan_field(mutate: Callable[[WriterEnv, TableDefinition, str], TableDefinition]
               ) -> Callable[[WriterEnv, str], Sent]:
    def send(env: WriterEnv, text: str) -> Sent:
        table = mutate(env, env.table(env.fresh("plan")), text)
        return Sent(text, env.peer.plan_tables([table]))

    return send


@dataclass(frozen=True)
class Field:
    """One string field of one request, and how to fill it."""

    name: str
    kind: str  # which payload list: type, check, default, predicate, name, keyword
    rule: Rule
    send: Callable[[WriterEnv, str], Sent] | None = None
    batch: str = ""  # "fk" or "existing": per-batch setup
    call: str = ""  # the method / attribute of that setup


def _type(env: WriterEnv, t: TableDefinition, s: str) -> TableDefinition:
    return _replace_column(t, "price", data_type=s)


def _default(env: WriterEnv, t: TableDefinition, s: str) -> TableDefinition:
    return _replace_column(t, "note", default_value=s)


def _check_expression(env: WriterEnv, t: TableDefinition, s: str) -> TableDefinition:
    return _check(t, expression=s)


def _table_name(env: WriterEnv, t: TableDefinition, s: str) -> TableDefinition:
    return dataclasses.replace(t, table_name=s)


FIELDS: tuple[Field, ...] = (
    # create-tables: text that becomes SQL
    Field("data_type", "type", STRICT_TYPE, create_field(_type, lambda t: "price")),
    Field("default_value", "default", STRICT, create_field(_default, lambda t: "note")),
    Field("check_expression", "check", STRICT,
          create_field(_check_expression, lambda t: t.check_constraints[0].name)),
    # create-tables: names and other strings
    Field("schema_name", "name", LOOSE,
          create_field(lambda e, t, s: dataclasses.replace(t, schema_name=s))),
    Field("table_name", "name", LOOSE, create_field(_table_name)),
    Field("column_name", "name", LOOSE,
          create_field(lambda e, t, s: _replace_column(t, "note", name=s))),
    Field("primary_key", "name", LOOSE,
          create_field(lambda e, t, s: dataclasses.replace(t, primary_key=(s,)))),
    Field("check_name", "name", LOOSE, create_field(lambda e, t, s: _check(t, name=s))),
    Field("enum_label", "name", LOOSE, send_enum_label),
    Field("enum_type_name", "name", LOOSE, send_enum_type("name")),
    Field("enum_type_schema", "name", LOOSE, send_enum_type("schema_name")),
    Field("source_dialect", "keyword", LOOSE,
          create_field(lambda e, t, s: dataclasses.replace(t, source_dialect=s))),
    Field("arrow_type", "keyword", LOOSE,
          create_field(lambda e, t, s: _replace_column(t, "note", arrow_type_str=s))),
    Field("timezone", "keyword", LOOSE,
          create_field(lambda e, t, s: _replace_column(t, "deleted_at", timezone=s))),
    Field("run_id", "name", LOOSE, send_run_id),
    Field("inline_fk_name", "name", LOOSE, create_field(lambda e, t, s: _inline_fk(e, t, name=s))),
    Field("inline_fk_referenced_table", "name", LOOSE,
          create_field(lambda e, t, s: _inline_fk(e, t, referenced_table=s))),
    Field("inline_fk_on_delete", "keyword", LOOSE,
          create_field(lambda e, t, s: _inline_fk(e, t, on_delete=s))),
    # create-indexes
    Field("index_predicate", "predicate", STRICT, index_field("filter_predicate")),
    Field("index_name", "name", LOOSE, index_field("name")),
    Field("index_column", "name", LOOSE, index_field("columns")),
    Field("index_method", "keyword", LOOSE, index_field("method")),
    # create-foreign-keys
    Field("fk_name", "name", LOOSE, batch="fk", call="name"),
    Field("fk_source_schema", "name", LOOSE, batch="fk", call="source_schema"),
    Field("fk_source_table", "name", LOOSE, batch="fk", call="source_table"),
    Field("fk_source_column", "name", LOOSE, batch="fk", call="source_columns"),
    Field("fk_referenced_schema", "name", LOOSE, batch="fk", call="referenced_schema"),
    Field("fk_referenced_table", "name", LOOSE, batch="fk", call="referenced_table"),
    Field("fk_referenced_column", "name", LOOSE, batch="fk", call="referenced_columns"),
    Field("fk_on_delete", "keyword", LOOSE, batch="fk", call="on_delete"),
    Field("fk_on_update", "keyword", LOOSE, batch="fk", call="on_update"),
    # finalize
    Field("finalize_table", "name", LOOSE, batch="existing", call="finalize:table_name"),
    Field("finalize_column", "name", LOOSE, batch="existing", call="finalize:column"),
    # do_put descriptors
    Field("put_run_id", "name", LOOSE, batch="existing", call="put:run_id"),
    Field("put_chunk_id", "name", LOOSE, batch="existing", call="put:chunk_id"),
    Field("put_schema", "name", LOOSE, batch="existing", call="put:schema"),
    Field("put_table", "name", LOOSE, batch="existing", call="put:table"),
    # table-stats, chunks-done, begin-run
    Field("stats_table", "name", LOOSE, batch="existing", call="stats:table"),
    Field("stats_column", "name", LOOSE, batch="existing", call="stats:column"),
    Field("chunks_done_run_id", "name", LOOSE, batch="existing", call="chunks_done"),
    Field("begin_run_id", "name", LOOSE, batch="existing", call="begin_run:run_id"),
    Field("begin_run_filter", "check", LOOSE, batch="existing", call="begin_run:filter"),
    # plan-tables executes nothing
    Field("plan_data_type", "type", LOOSE, plan_field(_type)),
    Field("plan_default_value", "default", LOOSE, plan_field(_default)),
    Field("plan_check_expression", "check", LOOSE, plan_field(_check_expression)),
    Field("plan_table_name", "name", LOOSE, plan_field(_table_name)),
)

_PLACEHOLDER = Context(secret="<SECRET>", pwn_table="<PWNT>", marker="<M>")


@functools.cache
def field_payloads(dialect: str, kind: str, context: Context) -> tuple[str, ...]:
    generated = GENERATED_SQL if kind in ("type", "check", "default", "predicate") \
        else GENERATED_OTHER
    extra = payloads(dialect, "name", context) if kind == "keyword" else []
    return tuple(dict.fromkeys([*payloads(dialect, kind, context, generated), *extra]))


def planned_total(dialect: str) -> int:
    return sum(len(field_payloads(dialect, f.kind, _PLACEHOLDER)) for f in FIELDS)


# -- the tests -------------------------------------------------------------------------------


def sender(env: WriterEnv, spec: Field
           ) -> tuple[Callable[[str], Sent], Callable[[], set[TableKey]] | None]:
    """How to send one payload in ``spec``'s field, and the per-batch setup it needs."""
    if spec.batch == "fk":
        pair = FkPair(env)
        return (lambda text: pair.send(spec.call, text)), pair.setup
    if spec.batch == "existing":
        existing = Existing(env)
        method, _, attribute = spec.call.partition(":")
        if method == "chunks_done":
            return existing.chunks_done, existing.setup
        bound = getattr(existing, method)
        return (lambda text: bound(attribute, text)), existing.setup
    assert spec.send is not None
    call = spec.send
    return (lambda text: call(env, text)), None


@pytest.mark.parametrize("field_name", [f.name for f in FIELDS])
def test_field_payloads(env: WriterEnv, field_name: str) -> None:
    spec = next(f for f in FIELDS if f.name == field_name)
    texts = list(field_payloads(env.dialect, spec.kind, env.context))
    send, before = sender(env, spec)
    run_payloads(env, field_name, texts, send, spec.rule, before)


ODD_FIELDS = ("schema_name", "table_name", "column_name", "check_name", "enum_label",
              "index_name", "fk_name", "fk_referenced_table", "finalize_table", "put_table",
              "put_schema", "stats_table")


@pytest.mark.parametrize("field_name", ODD_FIELDS)
def test_odd_names_get_typed_readable_errors(env: WriterEnv, field_name: str) -> None:
    """A NUL, an empty or a 20,000-character name: a typed error the client can read.

    Not injection: the error path.  An error that echoes the name into its
    detail must still fit gRPC's 16 KiB metadata, a NUL must not be an
    internal error, and an accepted name is the name that was asked for.
    """
    spec = next(f for f in FIELDS if f.name == field_name)
    texts = [render(t, env.context) for t in ODD_NAMES]
    send, before = sender(env, spec)
    run_payloads(env, field_name, texts, send, LOOSE, before)


def _legit(dialect: str) -> dict[str, list[str]]:
    if dialect == "postgresql":
        return {
            "types": ["numeric(12,2)", "character varying(255)", "timestamp(3) with time zone",
                      "integer[]", "bigint", "text"],
            "checks": ["(price > 0)", "((qty >= 0) AND (qty < 1000))", "(price > 0::numeric)",
                       "(name IS NULL OR length(name) < 100)", "(lower(name) <> 'x')"],
            "predicates": ["(deleted_at IS NULL)", "deleted_at IS NULL", "qty > 0"],
            "defaults": ["'abc'::text", "'O''Brien'::text"],
        }
    if dialect == "mysql":
        return {
            "types": ["decimal(10,2) unsigned", "int(11)", "varchar(20)", "datetime(6)",
                      "decimal(12,2)"],
            "checks": ["`price` > 0", "price > 0", "`qty` >= 0 and `qty` < 1000"],
            "predicates": ["deleted_at IS NULL"],
            "defaults": ["'abc'", "'O''Brien'"],
        }
    return {
        "types": ["NUMERIC(12,2)", "INTEGER", "REAL", "TEXT"],
        "checks": ["price > 0", "x > 0".replace("x", "qty"), "qty >= 0 AND qty < 1000"],
        "predicates": ["deleted_at IS NULL", "qty > 0"],
        "defaults": ["'abc'", "'O''Brien'"],
    }


def test_legit_definitions_are_kept(env: WriterEnv) -> None:
    """Real-world types, CHECKs, partial indexes and defaults still create what they say."""
    legit = _legit(env.dialect)
    problems: list[str] = []
    created: set[TableKey] = set()

    def create(table: TableDefinition, what: str,
               enums: tuple[EnumTypeDefinition, ...] = ()) -> bool:
        outcome = env.peer.create_tables([table], enum_types=[enum_type_to_proto(e)
                                                               for e in enums])
        created.add((table.schema_name, table.table_name))
        if not outcome.accepted:
            problems.append(f"{what} refused: {outcome.describe()}")
        return outcome.accepted

    for native in legit["types"]:
        table = _replace_column(env.table(env.fresh("ok"), check_constraints=()), "price",
                                data_type=native)
        if create(table, f"type {native!r}"):
            shape = env.catalog.shape(env.schema, table.table_name)
            assert shape is not None and "price" in shape.columns
    for expression in legit["checks"]:
        table = _check(env.table(env.fresh("ok")), expression=expression)
        if create(table, f"CHECK {expression!r}"):
            shape = env.catalog.shape(env.schema, table.table_name)
            assert shape is not None
            if not shape.checks:
                problems.append(f"CHECK {expression!r} was not created")
    for default in legit["defaults"]:
        table = _replace_column(env.table(env.fresh("ok")), "note", default_value=default)
        if create(table, f"default {default!r}"):
            shape = env.catalog.shape(env.schema, table.table_name)
            assert shape is not None
            if not any("abc" in d or "Brien" in d for d in shape.defaults):
                problems.append(f"default {default!r} was not kept: {shape.defaults}")
    for predicate in legit["predicates"]:
        table = env.table(env.fresh("ok"))
        if not create(table, "index table"):
            continue
        index = IndexDefinition(f"ix_{table.table_name}", ("name",), filter_predicate=predicate)
        outcome = env.peer.create_indexes([dataclasses.replace(table, indexes=(index,))])
        if not outcome.accepted:
            problems.append(f"predicate {predicate!r} refused: {outcome.describe()}")
            continue
        shape = env.catalog.shape(env.schema, table.table_name)
        assert shape is not None
        if env.dialect != "mysql" and not shape.predicates():
            problems.append(f"predicate {predicate!r} not on the index: {shape.indexes}")
    if env.dialect == "postgresql":
        # an enum type reference, a clock default and a serial default (-> identity)
        enum = EnumTypeDefinition(env.schema, env.fresh("mood"), ("a", "b", "c'd"))
        table = _replace_column(env.table(env.fresh("ok")), "note", data_type=enum.name,
                                enum_values=enum.labels)
        create(table, "enum reference", (enum,))
        table = _replace_column(env.table(env.fresh("ok")), "deleted_at",
                                data_type="timestamp(3) with time zone",
                                arrow_type_str="timestamp[us, tz=UTC]", timezone="UTC",
                                default_value="now()")
        table = _replace_column(table, "qty", data_type="bigint", arrow_type_str="int64",
                                default_value=f"nextval('{table.table_name}_qty_seq'::regclass)")
        if create(table, "now() and nextval() defaults"):
            shape = env.catalog.shape(env.schema, table.table_name)
            assert shape is not None
            if not any("now()" in d for d in shape.defaults):
                problems.append(f"now() default not kept: {shape.defaults}")
        env.catalog.drop_types(env.schema, [enum.name])  # type: ignore[union-attr]
    if env.dialect == "mysql":
        table = _replace_column(env.table(env.fresh("ok")), "note", data_type="enum('a','b')",
                                enum_values=("a", "b"))
        create(table, "enum('a','b')")
    env.catalog.drop_tables(created)
    assert not problems, "\n".join(problems)


def test_zz_writer_still_migrates_after_all_payloads(env: WriterEnv) -> None:
    """After everything above, the same writer still runs a legitimate migration."""
    env.serving()
    env.legit_migration()
    planned = planned_total(env.dialect)
    print(f"{env.dialect}: {planned} payloads planned in this module, {SENT[env.dialect]} sent")
    assert planned >= MINIMUM_PER_DIALECT


def test_payload_budget() -> None:
    """Every dialect gets at least MINIMUM_PER_DIALECT payloads (deterministic generation)."""
    for dialect in ("postgresql", "mysql", "sqlite"):
        planned = planned_total(dialect)
        assert planned >= MINIMUM_PER_DIALECT, (dialect, planned)
        # the same list on every call: derandomized
        field_payloads.cache_clear()
        assert planned_total(dialect) == planned
