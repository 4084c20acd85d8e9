"""Opening a SQLite file per call, and turning sqlite3 errors into BaniErrors.

A ``sqlite3.Connection`` must not be shared between threads that use it at
the same time, and the services call ``read_table`` / ``write_chunk`` from
several threads at once, so every call opens its own connection (opening a
SQLite file costs tens of microseconds).  Reads open the file read-only
through a ``file:…?mode=ro`` URI, so a source is never modified and a missing
source is an error rather than a new empty file; writes open it read-write and
create it.

Concurrent writers serialize on SQLite's single write lock: every write
transaction starts with ``BEGIN IMMEDIATE`` (taking the lock up front, so two
writers never deadlock upgrading a read lock) and waits up to the busy
timeout for it.  A writer that still cannot get the lock gets a
:class:`~bani.errors.TransientWriteFailed`, which the services retry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Final, Literal

from bani.errors import (
    BaniError,
    ConfigurationError,
    ErrorContext,
    ReadFailed,
    SchemaError,
    TableNotFound,
    TransientReadFailed,
    TransientWriteFailed,
    WriteFailed,
)

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SQLiteFile", "translate_error"]

#: Seconds a writer waits for another writer's transaction before giving up.
DEFAULT_BUSY_TIMEOUT: Final = 60.0

CONNECTOR: Final = "sqlite"

Action = Literal["read", "write", "schema"]

_TRANSIENT_CODES: Final = frozenset(
    {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_PROTOCOL"}
)


class SQLiteFile:
    """One SQLite database file and the settings every connection to it gets."""

    def __init__(
        self,
        path: str,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        statement_timeout: float | None = None,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        #: Seconds one step of a read (the query, then each batch fetch) may run.
        self.statement_timeout = statement_timeout
        self._resolved = Path(path).expanduser().resolve()

    def exists(self) -> bool:
        return self._resolved.is_file()

    def _uri(self, mode: str) -> str:
        return f"{self._resolved.as_uri()}?mode={mode}"

    def _open(self, mode: str) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._uri(mode),
                uri=True,
                timeout=self.busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # a read generator may resume on another thread
            )
        except sqlite3.Error as exc:
            raise translate_error(exc, "read" if mode == "ro" else "write", self.path) from exc
        return conn

    @contextmanager
    def read_only(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection; a missing file is a ConfigurationError naming it."""
        if not self.exists():
            raise ConfigurationError(
                f"the SQLite database {self.path} does not exist",
                connector=CONNECTOR,
                setting="database",
            )
        with closing(self._open("ro")) as conn:
            yield conn

    @contextmanager
    def read_write(self) -> Iterator[sqlite3.Connection]:
        """A read-write connection (creating the file) with foreign keys not enforced.

        Enforcement is off so that tables load in any order; the sink checks
        the keys once everything is in (``create_foreign_keys``).
        """
        with closing(self._open("rwc")) as conn:
            try:
                conn.execute("PRAGMA foreign_keys = OFF")
            except sqlite3.Error as exc:
                raise translate_error(exc, "write", self.path) from exc
            yield conn

    def check(self) -> None:
        """Fail early on a path that cannot be a database (used by ``connect``).

        An existing file must be a SQLite database; a missing one needs an
        existing directory to be created in (by the first write).
        """
        if self.exists():
            with self.read_only() as conn:
                try:
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                except sqlite3.Error as exc:
                    raise translate_error(exc, "read", self.path) from exc
        elif not self._resolved.parent.is_dir():
            raise ConfigurationError(
                f"the directory of the SQLite database {self.path} does not exist",
                connector=CONNECTOR,
                setting="database",
            )


def translate_error(
    exc: sqlite3.Error,
    action: Action,
    path: str,
    *,
    table: str | None = None,
    column: str | None = None,
    schema: str | None = None,
    chunk_id: str | None = None,
) -> BaniError:
    """The BaniError for a sqlite3 error: class by cause, context by where it happened.

    Lock contention and I/O errors are transient (the services retry them);
    a missing or foreign file is a configuration error naming the path; a
    missing table is :class:`TableNotFound`; everything else is a terminal
    read, write or schema failure.
    """
    code = getattr(exc, "sqlite_errorname", None)
    text = str(exc)
    where = ErrorContext(
        connector=CONNECTOR,
        table=table,
        column=column,
        schema=schema,
        chunk_id=chunk_id,
        sqlstate=code,
    )
    base = code.split("_", 2)[:2] if code else []
    family = "_".join(base)
    if family == "SQLITE_CANTOPEN" or "unable to open database" in text:
        return ConfigurationError(
            f"cannot open the SQLite database {path}: {text}", where, setting="database"
        )
    if family == "SQLITE_NOTADB" or "file is not a database" in text:
        return ConfigurationError(
            f"{path} is not a SQLite database: {text}", where, setting="database"
        )
    if "no such table" in text:
        return TableNotFound(text, where)
    if family in _TRANSIENT_CODES or "database is locked" in text:
        transient = TransientReadFailed if action == "read" else TransientWriteFailed
        return transient(f"SQLite {path}: {text}", where)
    if action == "read":
        return ReadFailed(f"reading SQLite {path} failed: {text}", where)
    if action == "schema":
        return SchemaError(f"SQLite {path}: {text}", where)
    return WriteFailed(f"writing SQLite {path} failed: {text}", where)
