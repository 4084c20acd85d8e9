"""The base classes' defaults, seen from a connector written from the guide alone.

``GuideOnlyConnector`` implements exactly the methods of Bani's connector guide
(``read_table`` without ``key_range``, no ``write_chunk``) over a real SQLite
file, so the defaults are exercised against a real database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from bani.connectors.base import SinkConnector, SourceConnector, key_range_predicate
from bani.domain.chunks import ChunkMarker, KeyRange
from bani.domain.project import ConnectionConfig
from bani.domain.schema import (
    DatabaseSchema,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)
from bani.errors import ChunkAtomicityUnsupported


class GuideOnlyConnector(SourceConnector, SinkConnector):
    """Only the guide's methods and signatures."""

    dialect = "guide-only"

    def connect(self, config: ConnectionConfig, pool_size: int = 1) -> None:
        assert config.database is not None
        self._conn = sqlite3.connect(config.database)

    def disconnect(self) -> None:
        self._conn.close()

    def introspect_schema(self) -> DatabaseSchema:
        return DatabaseSchema(tables=())

    def read_table(  # type: ignore[override]
        self,
        table_name: str,
        schema_name: str,
        columns: list[str] | None = None,
        filter_sql: str | None = None,
        batch_size: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        sql = f"SELECT id FROM {self.quote_identifier(table_name)}"  # noqa: S608 - test double
        if filter_sql:
            sql += f" WHERE {filter_sql}"
        rows = [r[0] for r in self._conn.execute(sql + " ORDER BY id")]
        yield pa.record_batch([pa.array(rows, pa.int64())], names=["id"])

    def estimate_row_count(self, table_name: str, schema_name: str) -> int:
        return 0

    def create_table(self, table_def: TableDefinition) -> None:
        raise NotImplementedError

    def write_batch(self, table_name: str, schema_name: str, batch: pa.RecordBatch) -> int:
        return 0

    def create_indexes(
        self, table_name: str, schema_name: str, indexes: Sequence[IndexDefinition]
    ) -> None:
        return None

    def create_foreign_keys(self, fks: Sequence[ForeignKeyDefinition]) -> None:
        return None

    def execute_sql(self, sql: str) -> None:
        self._conn.execute(sql)


@pytest.fixture
def guide_connector(tmp_path: Path) -> Iterator[GuideOnlyConnector]:
    path = tmp_path / "guide.db"
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE TABLE "order" (id INTEGER PRIMARY KEY)')
        conn.executemany('INSERT INTO "order" VALUES (?)', [(i,) for i in range(1, 21)])
    with GuideOnlyConnector() as connector:
        connector.connect(ConnectionConfig(dialect="sqlite", database=str(path)))
        yield connector


def test_key_range_falls_back_to_a_bound_where(guide_connector: GuideOnlyConnector) -> None:
    batches = list(guide_connector.read_chunk("order", "main", key_range=KeyRange("id", 5, 9)))
    assert pa.Table.from_batches(batches).column("id").to_pylist() == [5, 6, 7, 8]


def test_key_range_combines_with_a_filter(guide_connector: GuideOnlyConnector) -> None:
    batches = guide_connector.read_chunk(
        "order", "main", filter_sql="id % 2 = 0", key_range=KeyRange("id", None, 7)
    )
    assert pa.Table.from_batches(list(batches)).column("id").to_pylist() == [2, 4, 6]


def test_key_range_predicate_quotes_the_column() -> None:
    quote = GuideOnlyConnector().quote_identifier
    predicate = key_range_predicate(KeyRange('we"ird', -3, 4), quote)
    assert predicate == '"we""ird" >= -3 AND "we""ird" < 4'


def test_guide_only_sink_refuses_chunks_clearly(guide_connector: GuideOnlyConnector) -> None:
    with pytest.raises(ChunkAtomicityUnsupported) as info:
        guide_connector.write_chunk("order", "main", iter(()), ChunkMarker("run", "c1"))
    assert "cannot write a chunk and its marker in one transaction" in str(info.value)
    assert info.value.context.table == "order"
    with pytest.raises(ChunkAtomicityUnsupported):
        guide_connector.committed_chunks("run")


def test_plan_table_default_says_it_knows_no_ddl(guide_connector: GuideOnlyConnector) -> None:
    plan = guide_connector.plan_table(TableDefinition("main", "order", ()))
    assert plan.statements == ()
    assert plan.issues[0].kind == "fallback"
