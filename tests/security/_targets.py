"""One writer per dialect, its target's catalog, and the definitions the suite sends it.

:func:`start_writer` creates the target (a module-scoped PostgreSQL or MariaDB
database, or a SQLite file), installs the sentinel objects the payloads aim at
(``secret.keep`` and friends, outside the writer's ``--allowed-schemas``),
starts a real ``bani.writer`` subprocess with TLS and a token, and runs one
legitimate migration so the bookkeeping tables exist before any snapshot.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from bani.domain.arrow_fields import arrow_schema_for_table
from bani.domain.schema import CheckConstraint, ColumnDefinition, TableDefinition
from bani.verify import ChecksumAccumulator
from bani.wire import PutAck
from tests.security._catalog import FileWatch, MariaCatalog, PgCatalog, SqliteCatalog
from tests.security._payloads import MARKER, Context
from tests.security._peer import Peer
from tests.services._harness import Security, ServiceProcess, connect

__all__ = ["DIALECTS", "Catalog", "WriterEnv", "start_writer", "template"]

Catalog = PgCatalog | MariaCatalog | SqliteCatalog
StartService = Callable[..., ServiceProcess]

DIALECTS = [
    pytest.param("postgresql", marks=pytest.mark.pg, id="postgresql"),
    pytest.param("mysql", marks=pytest.mark.mysql, id="mariadb"),
    pytest.param("sqlite", id="sqlite"),
]


def _columns(dialect: str) -> tuple[ColumnDefinition, ...]:
    if dialect == "postgresql":
        spec = [
            ("id", "integer", "int32", {"nullable": False}),
            ("price", "numeric(12,2)", "decimal128(12, 2)",
             {"numeric_precision": 12, "numeric_scale": 2}),
            ("qty", "integer", "int32", {}),
            ("name", "character varying(255)", "string", {"char_length": 255}),
            ("note", "text", "string", {}),
            ("deleted_at", "timestamp without time zone", "timestamp[us]", {}),
        ]
    elif dialect == "mysql":
        spec = [
            ("id", "int(11)", "int32", {"nullable": False}),
            ("price", "decimal(10,2) unsigned", "decimal128(10, 2)",
             {"numeric_precision": 10, "numeric_scale": 2, "unsigned": True}),
            ("qty", "int(11)", "int32", {}),
            ("name", "varchar(20)", "string", {"char_length": 20}),
            ("note", "varchar(50)", "string", {"char_length": 50}),
            ("deleted_at", "datetime(6)", "timestamp[us]", {}),
        ]
    else:
        spec = [
            ("id", "INTEGER", "int64", {"nullable": False}),
            ("price", "NUMERIC(12,2)", "decimal128(12, 2)",
             {"numeric_precision": 12, "numeric_scale": 2}),
            ("qty", "INTEGER", "int64", {}),
            ("name", "VARCHAR(20)", "string", {"char_length": 20}),
            ("note", "TEXT", "string", {}),
            ("deleted_at", "TEXT", "string", {}),
        ]
    return tuple(
        ColumnDefinition(name, native, arrow, ordinal_position=i, **extra)  # type: ignore[arg-type]
        for i, (name, native, arrow, extra) in enumerate(spec, start=1)
    )


_CHECK = {"postgresql": "(price > 0)", "mysql": "`price` > 0", "sqlite": "price > 0"}


def template(dialect: str, schema: str, name: str) -> TableDefinition:
    """The table every payload is planted in: a plain, valid definition of ``dialect``."""
    return TableDefinition(
        schema_name=schema,
        table_name=name,
        columns=_columns(dialect),
        primary_key=("id",),
        check_constraints=(CheckConstraint(f"ck_{name}", _CHECK[dialect]),),
        source_dialect=dialect,
    )


@dataclass
class WriterEnv:
    """A running writer with its target and the means to judge what a request did."""

    dialect: str
    schema: str
    catalog: Catalog
    files: FileWatch
    peer: Peer
    process: ServiceProcess
    context: Context
    restart_with: Callable[[], ServiceProcess] | None = None
    security: Security | None = None
    sent: int = 0
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def restart(self) -> None:
        """A new writer process on the same target (its connector state starts afresh)."""
        assert self.restart_with is not None and self.security is not None
        self.process.stop()
        self.process = self.restart_with()
        self.peer = Peer(connect(self.process.location, self.security), self.security.token)

    def fresh(self, prefix: str) -> str:
        return f"{prefix}_{next(self._names)}"

    def table(self, name: str, **changes: object) -> TableDefinition:
        return dataclasses.replace(template(self.dialect, self.schema, name), **changes)

    def rows(self, table: TableDefinition, count: int = 3) -> tuple[pa.Schema, pa.RecordBatch]:
        schema = arrow_schema_for_table(table)
        values: dict[str, list[object]] = {
            "id": list(range(1, count + 1)),
            "price": [Decimal("1.50") + i for i in range(count)],
            "qty": [i for i in range(count)],
            "name": [f"n{i}" for i in range(count)],
            "note": ["O'Brien \\ ü"] * count,
            "deleted_at": [None] * count,
        }
        arrays = [pa.array(values[f.name], f.type) for f in schema]
        return schema, pa.record_batch(arrays, schema=schema)

    def serving(self) -> None:
        outcome = self.peer.health()
        assert outcome.accepted, f"the writer stopped answering: {outcome.describe()}"

    def legit_migration(self, name: str | None = None) -> None:
        """create-tables + do_put + table-stats of a small table, all of which must work."""
        table = self.table(name or self.fresh("legit"))
        created = self.peer.create_tables([table])
        assert created.accepted, f"legit create-tables failed: {created.describe()}"
        schema, batch = self.rows(table)
        run_id = self.fresh("run-legit")
        put = self.peer.put(run_id, self.schema, table.table_name, "c1", [batch], schema)
        assert put.accepted, f"legit put failed: {put.describe()}"
        assert put.reply.status == PutAck.COMMITTED and put.reply.rows == 3
        stats = self.peer.stats(self.schema, table.table_name, schema)
        assert stats.accepted, f"legit table-stats failed: {stats.describe()}"
        expected = ChecksumAccumulator(schema)
        expected.update(batch)
        assert (stats.reply.rows, stats.reply.checksum) == (3, expected.result().checksum)
        again = self.peer.create_tables([table])  # if-exists drop: recreated
        assert again.accepted, f"legit re-create failed: {again.describe()}"
        self.catalog.drop_tables([(self.schema, table.table_name)])


def start_writer(
    dialect: str,
    request: pytest.FixtureRequest,
    start_service: StartService,
    security: Security,
    tmp_path_factory: pytest.TempPathFactory,
) -> WriterEnv:
    """The module's writer for ``dialect`` (see the module docstring)."""
    catalog: Catalog
    if dialect == "postgresql":
        dsn = request.getfixturevalue("pg_module_dsn")
        catalog = PgCatalog(dsn, marker=MARKER)
        target, schema = dsn, "public"
        context = Context(secret='"secret".keep', pwn_table=f'"public".{MARKER}_t')
        roots: list[Path] = catalog.data_directories()
    elif dialect == "mysql":
        dsn = request.getfixturevalue("mysql_module_dsn")
        catalog = MariaCatalog(dsn, marker=MARKER)
        target, schema = dsn, catalog.database
        context = Context(secret=f"`{catalog.secret_schema}`.keep",
                          pwn_table=f"`{catalog.database}`.{MARKER}_t")
        roots = catalog.data_directories()
    else:
        path = tmp_path_factory.mktemp("sqlite-target") / "target.db"
        catalog = SqliteCatalog(path, marker=MARKER)
        target, schema = f"sqlite:///{path}", "main"
        context = Context(secret="keep", pwn_table=f"{MARKER}_t")
        roots = [path.parent]
    catalog.install()

    def start() -> ServiceProcess:
        return start_service("writer", "--target", target, "--allowed-schemas", schema,
                             *security.service_args())

    process = start()
    peer = Peer(connect(process.location, security), security.token)
    env = WriterEnv(dialect, schema, catalog, FileWatch(MARKER, roots), peer, process, context,
                    restart_with=start, security=security)
    env.legit_migration("warmup")
    begun = peer.action("begin-run", _begin_run("run-warmup", schema))
    assert begun.accepted, begun.describe()
    return env


def _begin_run(run_id: str, schema: str) -> object:
    from bani.wire import BeginRunRequest, PlannedChunk, PlannedTable, RunPlan
    from bani.wire.codec import table_ref

    plan = RunPlan(run_id=run_id, tables=[PlannedTable(
        source=table_ref("src", "warmup"), target=table_ref(schema, "warmup"),
        chunks=[PlannedChunk(chunk_id="c1", estimated_rows=3)])])
    return BeginRunRequest(run_id=run_id, plan=plan)
