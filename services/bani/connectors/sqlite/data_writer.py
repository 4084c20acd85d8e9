"""Writing Arrow into a SQLite file: DDL, chunks with markers, indexes, keys, counters.

Rows go in with ``executemany`` on a parameterised ``INSERT`` (the fastest
path Python's sqlite3 has): each Arrow column is converted once, as a whole,
to the Python values sqlite3 binds (:func:`._values.to_sqlite_values`), and
the columns are zipped into row tuples lazily.

A chunk is one ``BEGIN IMMEDIATE … COMMIT`` transaction holding its rows and
its marker row in ``_bani_flight_chunks``; anything that goes wrong (a
failing ``INSERT``, the batch iterator raising) rolls both back.  ``BEGIN
IMMEDIATE`` takes SQLite's write lock up front, so concurrent chunk writers
queue on the busy timeout instead of failing.

Foreign keys are declared in ``CREATE TABLE`` (see :mod:`._ddl`);
:meth:`SQLiteWriter.create_foreign_keys` checks that they are declared and
that the loaded data satisfies them (``pragma_foreign_key_check``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import pyarrow as pa
import structlog

from bani.connectors.base import TablePlan
from bani.connectors.sqlite._connection import CONNECTOR, Action, SQLiteFile, translate_error
from bani.connectors.sqlite._ddl import create_index_sql, plan_table, quote
from bani.connectors.sqlite._sql_text import has_autoincrement
from bani.connectors.sqlite._values import to_sqlite_values
from bani.connectors.sqlite.schema_reader import MAIN_SCHEMA, list_tables
from bani.domain.chunks import BOOKKEEPING_TABLE, RUNS_TABLE, ChunkMarker, CommittedChunk
from bani.domain.schema import ForeignKeyDefinition, IndexDefinition, TableDefinition
from bani.errors import (
    BaniError,
    ChunkConflict,
    InvalidRequest,
    SchemaError,
    SchemaMismatch,
    TableNotFound,
    TypeNotRepresentable,
)
from bani.sqlguard import Purpose, Where, render_expression

__all__ = ["SQLiteWriter"]

log = structlog.get_logger(__name__)

_CHUNKS_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS " + quote(BOOKKEEPING_TABLE) + " ("
    '"run_id" TEXT NOT NULL, "schema_name" TEXT NOT NULL, "table_name" TEXT NOT NULL, '
    '"chunk_id" TEXT NOT NULL, "rows" INTEGER NOT NULL, '
    "\"committed_at\" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), "
    'PRIMARY KEY ("run_id", "schema_name", "table_name", "chunk_id"))'
)
_RUNS_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS " + quote(RUNS_TABLE) + " ("
    '"run_id" TEXT NOT NULL PRIMARY KEY, "plan" BLOB NOT NULL, '
    "\"created_at\" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')))"
)
_CHUNKS: Final = quote(BOOKKEEPING_TABLE)
_RUNS: Final = quote(RUNS_TABLE)


def _same_schema(a: str, b: str) -> bool:
    """SQLite has one schema: ``""`` and ``main`` are the same, case does not matter."""
    return (a or MAIN_SCHEMA).lower() == (b or MAIN_SCHEMA).lower()


def _table_present(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", (name,)
    ).fetchone()
    return row is not None


class SQLiteWriter:
    """The sink side of one SQLite file; every call opens its own read-write connection.

    The sink keeps every table in ``main``: any schema name it is given maps
    there (``Capabilities.supports_schemas`` is False), and chunk markers
    record the name the caller used.
    """

    def __init__(self, file: SQLiteFile) -> None:
        self._file = file

    # -- plumbing ---------------------------------------------------------------

    @contextmanager
    def _transaction(
        self, action: Action, *, table: str | None = None, chunk_id: str | None = None
    ) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; any exception rolls back and propagates.

        sqlite3 errors become BaniErrors with the table and chunk as context;
        anything else (a batch iterator's own error) propagates unchanged.
        """
        with self._file.read_write() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate_error(
                    exc, action, self._file.path, table=table, chunk_id=chunk_id
                ) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise translate_error(
                        exc, action, self._file.path, table=table, chunk_id=chunk_id
                    ) from exc
                raise

    def _resolve(self, conn: sqlite3.Connection, table_name: str) -> str:
        row = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
            (table_name,),
        ).fetchone()
        if row is None:
            raise TableNotFound(
                f"no table {table_name!r} in the SQLite database; tables: "
                + (", ".join(list_tables(conn)) or "none"),
                connector=CONNECTOR,
                table=table_name,
            )
        return str(row[0])

    # -- DDL ---------------------------------------------------------------------

    def plan_table(self, table_def: TableDefinition) -> TablePlan:
        return plan_table(table_def)

    def create_table(self, table_def: TableDefinition) -> None:
        plan = plan_table(table_def)
        if plan.refused:
            first = plan.refused[0]
            raise TypeNotRepresentable(
                f"cannot create {table_def.table_name!r} on SQLite: {first.reason}",
                connector=CONNECTOR,
                table=table_def.table_name,
                column=first.column,
            )
        for issue in plan.issues:
            log.warning(
                "sqlite_column_issue",
                table=table_def.table_name,
                column=issue.column,
                kind=issue.kind,
                reason=issue.reason,
            )
        with self._transaction("schema", table=table_def.table_name) as conn:
            for statement in plan.statements:
                conn.execute(statement)

    def table_exists(self, table_name: str) -> bool:
        if not self._file.exists():
            return False
        with self._file.read_only() as conn:
            try:
                return _table_present(conn, table_name)
            except sqlite3.Error as exc:
                raise translate_error(exc, "read", self._file.path, table=table_name) from exc

    def drop_table(self, table_name: str) -> None:
        with self._transaction("schema", table=table_name) as conn:
            stored = self._resolve(conn, table_name)
            conn.execute("DROP TABLE " + quote(stored))
            self._forget_markers(conn, stored)

    def truncate_table(self, table_name: str) -> None:
        with self._transaction("write", table=table_name) as conn:
            stored = self._resolve(conn, table_name)
            conn.execute("DELETE FROM " + quote(stored))  # noqa: S608 (quoted identifier)
            self._forget_markers(conn, stored)

    @staticmethod
    def _forget_markers(conn: sqlite3.Connection, stored: str) -> None:
        if _table_present(conn, BOOKKEEPING_TABLE):
            conn.execute(
                "DELETE FROM " + _CHUNKS + ' WHERE "table_name" = ? COLLATE NOCASE',  # noqa: S608
                (stored,),
            )

    def create_indexes(self, table_name: str, indexes: Sequence[IndexDefinition]) -> None:
        """Create each index in its own statement; an existing one (a resumed run) is kept.

        SQLite index names are global to the file: a name another table
        already uses gets the table's name in front.  A partial index whose
        predicate SQLite cannot evaluate (another dialect's syntax) is skipped
        with a warning, never created without its WHERE (a UNIQUE index
        would then be stricter than the source's).  Prefix lengths do not
        exist in SQLite: the whole column is indexed.
        """
        with self._file.read_write() as conn:
            try:
                stored = self._resolve(conn, table_name)
                owners = {
                    str(name).lower(): str(owner)
                    for name, owner in conn.execute(
                        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"
                    )
                }
            except sqlite3.Error as exc:
                raise translate_error(exc, "schema", self._file.path, table=table_name) from exc
            for index in indexes:
                self._create_index(conn, stored, index, owners)

    def _create_index(
        self,
        conn: sqlite3.Connection,
        table: str,
        index: IndexDefinition,
        owners: dict[str, str],
    ) -> None:
        name = index.name
        if not name or name.lower().startswith("sqlite_"):
            suffix = "key" if index.is_unique else "idx"
            name = f"{table}_{'_'.join(index.columns)}_{suffix}"
        owner = owners.get(name.lower())
        if owner is not None and owner.lower() == table.lower():
            log.info("sqlite_index_exists", table=table, index=name)
            return
        if owner is not None:
            renamed = f"{table}_{name}"
            log.warning(
                "sqlite_index_renamed", table=table, index=name, renamed=renamed, owner=owner
            )
            name = renamed
        if any(length is not None for length in index.prefix_lengths):
            log.warning(
                "sqlite_index_prefix_ignored",
                table=table,
                index=name,
                reason="SQLite has no prefix indexes; the whole column is indexed",
            )
        predicate = None
        if index.filter_predicate:
            try:
                predicate = render_expression(
                    index.filter_predicate, "sqlite", Purpose.PREDICATE,
                    Where(table=table, constraint=name),
                )
            except InvalidRequest as refused:
                # Nothing of it runs: the index is skipped, as for any predicate
                # SQLite cannot evaluate, and the reason is logged.
                log.warning("sqlite_partial_index_skipped", table=table, index=name,
                            reason=refused.message)
                return
        statement = create_index_sql(table, index, name, predicate)
        try:
            conn.execute(statement)
        except sqlite3.Error as exc:
            if index.filter_predicate and not isinstance(exc, sqlite3.IntegrityError):
                log.warning(
                    "sqlite_partial_index_skipped",
                    table=table,
                    index=name,
                    predicate=index.filter_predicate,
                    reason=str(exc),
                )
                return
            raise translate_error(exc, "schema", self._file.path, table=table).with_context(
                column=",".join(index.columns), constraint=name
            ) from exc
        owners[name.lower()] = table

    def create_foreign_keys(self, fks: Sequence[ForeignKeyDefinition]) -> None:
        """Check that each key is declared on its table and that the data satisfies it.

        SQLite cannot add a foreign key to an existing table, so the keys were
        declared by ``create_table``; a key that was not is a
        :class:`SchemaError`, and so is a key some loaded row violates (the
        message names the table, the key and the first offending rowids).
        """
        with self._file.read_write() as conn:
            for fk in fks:
                try:
                    self._check_foreign_key(conn, fk)
                except sqlite3.Error as exc:
                    raise translate_error(
                        exc, "schema", self._file.path, table=fk.source_table
                    ) from exc

    def _check_foreign_key(self, conn: sqlite3.Connection, fk: ForeignKeyDefinition) -> None:
        table = self._resolve(conn, fk.source_table)
        declared: dict[int, list[tuple[str, str, str | None]]] = {}
        for fk_id, parent, column, to in conn.execute(
            'SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq',
            (table,),
        ):
            declared.setdefault(int(fk_id), []).append((str(parent), str(column), to))
        wanted_columns = tuple(c.lower() for c in fk.source_columns)
        match: int | None = None
        for fk_id, rows in declared.items():
            if rows[0][0].lower() == fk.referenced_table.lower() and tuple(
                r[1].lower() for r in rows
            ) == wanted_columns:
                match = fk_id
                break
        if match is None:
            raise SchemaError(
                f"foreign key {fk.name} ({', '.join(fk.source_columns)}) → "
                f"{fk.referenced_table} is not declared on {table!r}; SQLite cannot add a foreign "
                "key to an existing table, so it must be in the TableDefinition given to "
                "create_table",
                connector=CONNECTOR,
                table=table,
                column=",".join(fk.source_columns),
                constraint=fk.name,
            )
        violations = conn.execute(
            "SELECT rowid FROM pragma_foreign_key_check(?) WHERE fkid = ? LIMIT 6", (table, match)
        ).fetchall()
        if violations:
            rowids = ", ".join(str(r[0]) for r in violations[:5])
            more = " and more" if len(violations) > 5 else ""
            raise SchemaError(
                f"rows of {table!r} violate foreign key {fk.name} ({', '.join(fk.source_columns)}) "
                f"→ {fk.referenced_table}: rowids {rowids}{more} reference no parent row",
                connector=CONNECTOR,
                table=table,
                column=",".join(fk.source_columns),
                constraint=fk.name,
            )

    # -- rows ----------------------------------------------------------------------

    @staticmethod
    def _columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
        rows = conn.execute("SELECT name FROM pragma_table_info(?)", (table,)).fetchall()
        return {str(r[0]).lower(): str(r[0]) for r in rows}

    def _insert(
        self, conn: sqlite3.Connection, table: str, known: dict[str, str], batch: pa.RecordBatch
    ) -> int:
        if batch.num_rows == 0:
            return 0
        names = batch.schema.names
        unknown = [n for n in names if n.lower() not in known]
        if unknown or not names:
            raise SchemaMismatch(
                f"the batch has columns {', '.join(unknown) or '(none)'} that {table!r} lacks; "
                f"its columns: {', '.join(known.values())}",
                connector=CONNECTOR,
                table=table,
                column=unknown[0] if unknown else None,
            )
        values: list[list[object]] = []
        for name, column in zip(names, batch.columns, strict=True):
            try:
                values.append(to_sqlite_values(column))
            except BaniError as exc:
                raise exc.with_context(connector=CONNECTOR, table=table, column=name) from exc
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise TypeNotRepresentable(
                    f"column {name!r} of type {column.type} cannot be written to SQLite: {exc}",
                    connector=CONNECTOR,
                    table=table,
                    column=name,
                ) from exc
        statement = (
            "INSERT INTO " + quote(table) + " (" + ", ".join(quote(n) for n in names) + ") "
            "VALUES (" + ", ".join("?" * len(names)) + ")"
        )
        try:
            conn.executemany(statement, zip(*values, strict=True))
        except OverflowError as exc:
            raise TypeNotRepresentable(
                f"a value in {table!r} does not fit SQLite's 64-bit integers: {exc}",
                connector=CONNECTOR,
                table=table,
            ) from exc
        written: int = batch.num_rows
        return written

    def write_batch(self, table_name: str, batch: pa.RecordBatch) -> int:
        """One batch in its own transaction (no marker)."""
        with self._transaction("write", table=table_name) as conn:
            table = self._resolve(conn, table_name)
            return self._insert(conn, table, self._columns(conn, table), batch)

    def write_chunk(
        self,
        table_name: str,
        schema_name: str,
        batches: Iterable[pa.RecordBatch],
        marker: ChunkMarker,
    ) -> int:
        """Rows and marker in one transaction; an existing marker returns its row count.

        A marker is identified by run, schema, table and chunk id (chunk ids
        may repeat across tables), with ``""`` and ``main`` the same schema
        and table names compared as SQLite compares them (without case).
        The recorded count is authoritative: ``batches`` is not consumed.
        """
        with self._transaction("write", table=table_name, chunk_id=marker.chunk_id) as conn:
            conn.execute(_CHUNKS_DDL)
            recorded = [
                (str(schema), int(rows))
                for schema, rows in conn.execute(
                    'SELECT "schema_name", "rows" FROM ' + _CHUNKS  # noqa: S608
                    + ' WHERE "run_id" = ? AND "chunk_id" = ? AND "table_name" = ? COLLATE NOCASE',
                    (marker.run_id, marker.chunk_id, table_name),
                )
                if _same_schema(str(schema), schema_name)
            ]
            if recorded:
                rows = recorded[0][1]
                log.info(
                    "chunk_already_committed",
                    table=table_name,
                    chunk_id=marker.chunk_id,
                    rows=rows,
                )
                return rows
            stored = self._resolve(conn, table_name)
            known = self._columns(conn, stored)
            total = 0
            for batch in batches:
                total += self._insert(conn, stored, known, batch)
            conn.execute(
                "INSERT INTO " + _CHUNKS  # noqa: S608
                + ' ("run_id", "schema_name", "table_name", "chunk_id", "rows")'
                + " VALUES (?, ?, ?, ?, ?)",
                (marker.run_id, schema_name, table_name, marker.chunk_id, total),
            )
            return total

    def committed_chunks(self, run_id: str) -> tuple[CommittedChunk, ...]:
        if not self._file.exists():
            return ()
        with self._file.read_only() as conn:
            try:
                if not _table_present(conn, BOOKKEEPING_TABLE):
                    return ()
                rows = conn.execute(
                    'SELECT "run_id", "schema_name", "table_name", "chunk_id", "rows" FROM '  # noqa: S608
                    + _CHUNKS
                    + ' WHERE "run_id" = ? ORDER BY "committed_at", "table_name", "chunk_id"',
                    (run_id,),
                ).fetchall()
            except sqlite3.Error as exc:
                raise translate_error(exc, "read", self._file.path) from exc
        return tuple(
            CommittedChunk(
                run_id=str(r[0]),
                schema_name=str(r[1]),
                table_name=str(r[2]),
                chunk_id=str(r[3]),
                rows=int(r[4]),
            )
            for r in rows
        )

    def store_run(self, run_id: str, plan: bytes) -> None:
        with self._transaction("write") as conn:
            conn.execute(_RUNS_DDL)
            row = conn.execute(
                'SELECT "plan" FROM ' + _RUNS + ' WHERE "run_id" = ?', (run_id,)  # noqa: S608
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO " + _RUNS + ' ("run_id", "plan") VALUES (?, ?)',  # noqa: S608
                    (run_id, bytes(plan)),
                )
            elif bytes(row[0]) != bytes(plan):
                raise ChunkConflict(
                    f"run {run_id} is already stored with a different plan",
                    connector=CONNECTOR,
                )

    def load_run(self, run_id: str) -> bytes | None:
        if not self._file.exists():
            return None
        with self._file.read_only() as conn:
            try:
                if not _table_present(conn, RUNS_TABLE):
                    return None
                row = conn.execute(
                    'SELECT "plan" FROM ' + _RUNS + ' WHERE "run_id" = ?', (run_id,)  # noqa: S608
                ).fetchone()
            except sqlite3.Error as exc:
                raise translate_error(exc, "read", self._file.path) from exc
        return None if row is None else bytes(row[0])

    # -- after the load ------------------------------------------------------------

    def finalize(self, table_def: TableDefinition) -> None:
        """Move an AUTOINCREMENT table's counter to ``max(identity_counter - 1, max(rowid))``.

        ``sqlite_sequence.seq`` is the largest key handed out, so the next key
        is ``seq + 1``: the source's next value, or the loaded maximum + 1,
        whichever is greater.  A table without AUTOINCREMENT has no counter
        (SQLite hands out ``max(rowid) + 1``); a source counter beyond that is
        logged, since SQLite cannot honour it.
        """
        with self._transaction("write", table=table_def.table_name) as conn:
            table = self._resolve(conn, table_def.table_name)
            sql_row = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            loaded = conn.execute("SELECT max(rowid) FROM " + quote(table)).fetchone()[0]  # noqa: S608
            highest = int(loaded) if loaded is not None else 0
            counter = table_def.identity_counter
            if not has_autoincrement(str(sql_row[0] or "")):
                if counter is not None and counter > highest + 1:
                    log.warning(
                        "sqlite_identity_counter_ignored",
                        table=table,
                        identity_counter=counter,
                        reason="the table has no AUTOINCREMENT; SQLite continues from max(rowid)+1",
                    )
                return
            target = max(highest, (counter - 1) if counter is not None else 0)
            updated = conn.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (target, table)
            ).rowcount
            if updated == 0:
                conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, target)
                )
