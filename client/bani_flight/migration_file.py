"""Migration files: a migration's settings in TOML, versioned beside the code.

Read with the standard library's :mod:`tomllib`.  Every key is checked against
the table below; an unknown key, a value of the wrong type or malformed TOML
is one :class:`~bani.errors.ConfigurationError` naming the key (as a dotted
path such as ``migration.paralel``) and, where it is a likely typo, the key
that was meant.  The file holds no secrets: tokens and passwords are named by
file path or environment variable.

.. code-block:: toml

    # either running services ...
    [reader]
    uri = "grpc+tls://reader.dc1.example:8815"
    token_file = "/run/secrets/bani-token"
    tls_roots = "/etc/bani/ca.pem"
    [writer]
    uri = "grpc+tls://writer.dc2.example:8815"
    token_env = "BANI_WRITER_TOKEN"

    # ... or databases, with both services started in-process
    # [source]
    # dsn = "postgresql://app@db1:5432/shop"
    # password_env = "SOURCE_PASSWORD"
    # [target]
    # dsn = "mysql://app@db2:3306/shop"
    # password_env = "TARGET_PASSWORD"

    [migration]
    parallel = 4
    if_exists = "fail"          # fail | drop | truncate | append
    include = ["orders*", "customers"]
    exclude = ["*_tmp"]
    target_schema = "shop"      # or a [schema_map] table

    [tables.orders]
    filter = "created_at >= '2024-01-01'"
    columns = ["id", "customer_id", "total"]

Paths and SQLite DSNs are taken relative to the working directory, as on the
command line.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from bani.errors import BaniError, ConfigurationError, closest_match
from bani_flight.config import DatabaseSpec, Endpoint, ServiceSpec
from bani_flight.selection import Selection, TableOptions

__all__ = ["MigrationFile", "load_migration_file", "parse_migration_text"]

_STR: Final = "a string"
_INT: Final = "an integer"
_BOOL: Final = "true or false"
_STR_LIST: Final = "a list of strings"

_SERVICE_KEYS: Final[dict[str, str]] = {
    "uri": _STR,
    "token_file": _STR,
    "token_env": _STR,
    "tls_roots": _STR,
    "cert": _STR,
    "key": _STR,
    "override_hostname": _STR,
    "insecure": _BOOL,
}
_DATABASE_KEYS: Final[dict[str, str]] = {"dsn": _STR, "password_env": _STR}
#: [migration] keys that become TransferOptions fields.
_OPTION_KEYS: Final[dict[str, str]] = {
    "parallel": _INT,
    "chunk_rows": _INT,
    "batch_rows": _INT,
    "if_exists": _STR,
    "retries": _INT,
    "verify": _BOOL,
    "compression": _STR,
}
_SELECTION_KEYS: Final[dict[str, str]] = {
    "include": _STR_LIST,
    "exclude": _STR_LIST,
    "target_schema": _STR,
}
_MIGRATION_KEYS: Final[dict[str, str]] = {**_OPTION_KEYS, **_SELECTION_KEYS}
_TABLE_KEYS: Final[dict[str, str]] = {"filter": _STR, "columns": _STR_LIST}
_SECTIONS: Final[tuple[str, ...]] = (
    "reader",
    "writer",
    "source",
    "target",
    "migration",
    "schema_map",
    "tables",
)


@dataclass(frozen=True)
class MigrationFile:
    """What a migration file says.  Sides the file leaves out are None.

    ``options`` holds only the ``[migration]`` options the file sets, so the
    command line can override them one by one.  ``digest`` identifies the
    file's content: rerunning an unchanged file resumes its unfinished run.
    """

    path: str
    digest: str
    source: Endpoint | None = None
    target: Endpoint | None = None
    selection: Selection = field(default_factory=Selection)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


def _error(path: str, key: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{path}: {key}: {message}", setting=key)


def _check_value(path: str, key: str, value: object, expected: str) -> None:
    ok = {
        _STR: isinstance(value, str),
        _INT: isinstance(value, int) and not isinstance(value, bool),
        _BOOL: isinstance(value, bool),
        _STR_LIST: isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[expected]
    if not ok:
        raise _error(path, key, f"must be {expected}, got {value!r}")


def _check_table(
    path: str, section: str, table: object, allowed: Mapping[str, str]
) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _error(path, section, f"must be a table ([{section}]), got {table!r}")
    for key, value in table.items():
        dotted = f"{section}.{key}"
        expected = allowed.get(key)
        if expected is None:
            hint = closest_match(key, allowed)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise _error(
                path,
                dotted,
                f"unknown key{suggestion} (known: {', '.join(sorted(allowed))})",
            )
        _check_value(path, dotted, value, expected)
    return table


def _endpoint(
    path: str, data: Mapping[str, Any], service_section: str, database_section: str
) -> Endpoint | None:
    service_raw = data.get(service_section)
    database_raw = data.get(database_section)
    if service_raw is not None and database_raw is not None:
        raise _error(
            path,
            database_section,
            f"give either [{service_section}] (a running service) or "
            f"[{database_section}] (a database), not both",
        )
    try:
        if service_raw is not None:
            table = _check_table(path, service_section, service_raw, _SERVICE_KEYS)
            if "uri" not in table:
                raise _error(path, f"{service_section}.uri", "is required")
            return Endpoint(service=ServiceSpec(**table))
        if database_raw is not None:
            table = _check_table(path, database_section, database_raw, _DATABASE_KEYS)
            if "dsn" not in table:
                raise _error(path, f"{database_section}.dsn", "is required")
            spec = DatabaseSpec(**table)
            spec.connection_config()  # a malformed DSN fails here, naming the section
            return Endpoint(database=spec)
    except BaniError as exc:
        if exc.message.startswith(f"{path}:"):
            raise
        section = service_section if service_raw is not None else database_section
        setting = f"{section}.{exc.context.setting}" if exc.context.setting else section
        raise _error(path, setting, exc.message) from None
    return None


def _selection(path: str, data: Mapping[str, Any], migration: Mapping[str, Any]) -> Selection:
    schema_map_raw = data.get("schema_map", {})
    if not isinstance(schema_map_raw, dict):
        raise _error(path, "schema_map", "must be a table of source schema = target schema")
    for source_schema, target_schema in schema_map_raw.items():
        _check_value(path, f"schema_map.{source_schema}", target_schema, _STR)
    tables_raw = data.get("tables", {})
    if not isinstance(tables_raw, dict):
        raise _error(path, "tables", "must be a table of [tables.NAME] sections")
    tables: dict[str, TableOptions] = {}
    for name, options in tables_raw.items():
        checked = _check_table(path, f"tables.{name}", options, _TABLE_KEYS)
        columns = checked.get("columns")
        tables[name] = TableOptions(
            filter=checked.get("filter"),
            columns=tuple(columns) if columns is not None else None,
        )
    try:
        return Selection(
            include=tuple(migration.get("include", ())),
            exclude=tuple(migration.get("exclude", ())),
            target_schema=migration.get("target_schema"),
            schema_map=schema_map_raw,
            tables=tables,
        )
    except ConfigurationError as exc:
        raise _error(path, f"migration.{exc.context.setting or 'include'}", exc.message) from None


def parse_migration_text(text: str, path: str = "<migration file>") -> MigrationFile:
    """Parse a migration file's text; ``path`` only names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}", setting="file") from None
    for section in data:
        if section not in _SECTIONS:
            hint = closest_match(section, _SECTIONS)
            suggestion = f"; did you mean [{hint}]?" if hint else ""
            raise _error(
                path,
                section,
                f"unknown section{suggestion} (known: {', '.join(_SECTIONS)})",
            )
    migration = _check_table(path, "migration", data.get("migration", {}), _MIGRATION_KEYS)
    options = {k: v for k, v in migration.items() if k in _OPTION_KEYS}
    return MigrationFile(
        path=path,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=_endpoint(path, data, "reader", "source"),
        target=_endpoint(path, data, "writer", "target"),
        selection=_selection(path, data, migration),
        options=options,
    )


def load_migration_file(path: str | Path) -> MigrationFile:
    """Read and check a migration file; a missing or unreadable file names its path."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the migration file {file_path}: {exc.strerror}", setting="file"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"the migration file {file_path} is not UTF-8 text", setting="file"
        ) from None
    return parse_migration_text(text, str(file_path))
