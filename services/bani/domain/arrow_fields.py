"""Column facts that travel with Arrow data, and Arrow type strings.

A :class:`~bani.domain.schema.ColumnDefinition` and a ``pyarrow.Field`` say the
same thing in two places: the field carries the Arrow type and nullability, and
its metadata carries every other column fact under the ``bani.*`` keys below,
so a writer can build exact DDL from a stream's schema alone.  Table-level
facts (schema, table, primary key, source dialect) go in the schema metadata.

Key set (all values UTF-8 text; absent key = fact absent):

=====================  ==================================================
``bani.native_type``   the source's declared type (``varchar(255)``)
``bani.nullable``      ``true`` / ``false``
``bani.default``       default expression text
``bani.identity``      ``true`` when identity / auto-increment / serial
``bani.ordinal``       1-based position
``bani.char_length``   character length
``bani.precision``     numeric precision
``bani.scale``         numeric scale
``bani.unsigned``      ``true`` for unsigned integers / decimals
``bani.enum_values``   JSON list of enum or set labels
``bani.timezone``      the zone of instant-valued columns
``bani.dialect``       dialect of ``bani.native_type`` (also schema-level)
``bani.schema``        schema-level: source schema name
``bani.table``         schema-level: table name
``bani.primary_key``   schema-level: JSON list of key columns, in order
=====================  ==================================================
"""

from __future__ import annotations

import json
import re
from typing import Final

import pyarrow as pa

from bani.domain.schema import ColumnDefinition, TableDefinition
from bani.errors import TypeMappingError

__all__ = [
    "KEY_CHAR_LENGTH",
    "KEY_DEFAULT",
    "KEY_DIALECT",
    "KEY_ENUM_VALUES",
    "KEY_IDENTITY",
    "KEY_NATIVE_TYPE",
    "KEY_NULLABLE",
    "KEY_ORDINAL",
    "KEY_PRECISION",
    "KEY_PRIMARY_KEY",
    "KEY_SCALE",
    "KEY_SCHEMA",
    "KEY_TABLE",
    "KEY_TIMEZONE",
    "KEY_UNSIGNED",
    "arrow_schema_for_table",
    "column_from_field",
    "field_for_column",
    "parse_arrow_type",
    "table_from_arrow_schema",
]

KEY_NATIVE_TYPE: Final = "bani.native_type"
KEY_NULLABLE: Final = "bani.nullable"
KEY_DEFAULT: Final = "bani.default"
KEY_IDENTITY: Final = "bani.identity"
KEY_ORDINAL: Final = "bani.ordinal"
KEY_CHAR_LENGTH: Final = "bani.char_length"
KEY_PRECISION: Final = "bani.precision"
KEY_SCALE: Final = "bani.scale"
KEY_UNSIGNED: Final = "bani.unsigned"
KEY_ENUM_VALUES: Final = "bani.enum_values"
KEY_TIMEZONE: Final = "bani.timezone"
KEY_DIALECT: Final = "bani.dialect"
KEY_SCHEMA: Final = "bani.schema"
KEY_TABLE: Final = "bani.table"
KEY_PRIMARY_KEY: Final = "bani.primary_key"

# -- Arrow type strings ----------------------------------------------------------

_SIMPLE_TYPES: Final[dict[str, pa.DataType]] = {
    "null": pa.null(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "halffloat": pa.float16(),
    "float16": pa.float16(),
    "float": pa.float32(),
    "float32": pa.float32(),
    "double": pa.float64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "utf8": pa.string(),
    "large_string": pa.large_string(),
    "large_utf8": pa.large_string(),
    "binary": pa.binary(),
    "large_binary": pa.large_binary(),
    "date32": pa.date32(),
    "date32[day]": pa.date32(),
    "date64": pa.date64(),
    "date64[ms]": pa.date64(),
    "month_day_nano_interval": pa.month_day_nano_interval(),
}

_DECIMAL = re.compile(r"^decimal(128|256)?\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$")
_TIMESTAMP = re.compile(r"^timestamp\[(s|ms|us|ns)(?:,\s*tz=([^\]]+))?\]$")
_TIME = re.compile(r"^time(32|64)\[(s|ms|us|ns)\]$")
_DURATION = re.compile(r"^duration\[(s|ms|us|ns)\]$")
_FIXED_BINARY = re.compile(r"^fixed_size_binary\[(\d+)\]$")
_LIST = re.compile(r"^(large_list|list)<\s*[^:<>]+:\s*(.+)>$")


def parse_arrow_type(text: str) -> pa.DataType:
    """Turn ``str(arrow_type)`` back into the type.

    Accepts every spelling pyarrow prints for the types bani-flight maps
    (``float``/``double``/``date32[day]`` and the ``float32``/``float64``/
    ``date32`` aliases too), decimals, timestamps with and without zone,
    time/duration units, fixed-size binary and (large) lists of those.
    Anything else is a :class:`TypeMappingError` naming the string.
    """
    ts = text.strip()
    if ts.endswith(" not null"):
        ts = ts[: -len(" not null")].strip()
    simple = _SIMPLE_TYPES.get(ts)
    if simple is not None:
        return simple
    if m := _DECIMAL.match(ts):
        width, precision, scale = m.group(1), int(m.group(2)), int(m.group(3))
        if width == "256" or (width is None and precision > 38):
            return pa.decimal256(precision, scale)
        return pa.decimal128(precision, scale)
    if m := _TIMESTAMP.match(ts):
        return pa.timestamp(m.group(1), tz=m.group(2))
    if m := _TIME.match(ts):
        return pa.time32(m.group(2)) if m.group(1) == "32" else pa.time64(m.group(2))
    if m := _DURATION.match(ts):
        return pa.duration(m.group(1))
    if m := _FIXED_BINARY.match(ts):
        return pa.binary(int(m.group(1)))
    if m := _LIST.match(ts):
        item = parse_arrow_type(m.group(2))
        return pa.large_list(item) if m.group(1) == "large_list" else pa.list_(item)
    raise TypeMappingError(f"unrecognised Arrow type string {text!r}")


# -- column <-> field -----------------------------------------------------------


def _flag(value: bool) -> str:
    return "true" if value else "false"


def field_for_column(column: ColumnDefinition, dialect: str = "") -> pa.Field:
    """The Arrow field for a column, its facts in ``bani.*`` metadata."""
    arrow_type = parse_arrow_type(column.arrow_type_str) if column.arrow_type_str else pa.string()
    meta: dict[str, str] = {
        KEY_NATIVE_TYPE: column.data_type,
        KEY_NULLABLE: _flag(column.nullable),
        KEY_IDENTITY: _flag(column.is_identity),
        KEY_ORDINAL: str(column.ordinal_position),
        KEY_UNSIGNED: _flag(column.unsigned),
    }
    if column.default_value is not None:
        meta[KEY_DEFAULT] = column.default_value
    if column.char_length is not None:
        meta[KEY_CHAR_LENGTH] = str(column.char_length)
    if column.numeric_precision is not None:
        meta[KEY_PRECISION] = str(column.numeric_precision)
    if column.numeric_scale is not None:
        meta[KEY_SCALE] = str(column.numeric_scale)
    if column.enum_values:
        meta[KEY_ENUM_VALUES] = json.dumps(list(column.enum_values), ensure_ascii=False)
    if column.timezone is not None:
        meta[KEY_TIMEZONE] = column.timezone
    if dialect:
        meta[KEY_DIALECT] = dialect
    return pa.field(column.name, arrow_type, nullable=column.nullable, metadata=meta)


def _meta(field: pa.Field) -> dict[str, str]:
    raw = field.metadata or {}
    return {k.decode("utf-8"): v.decode("utf-8") for k, v in raw.items()}


def _optional_int(meta: dict[str, str], key: str) -> int | None:
    value = meta.get(key)
    return int(value) if value not in (None, "") else None


def column_from_field(field: pa.Field) -> ColumnDefinition:
    """The column a field describes; a field without metadata gives a bare column."""
    meta = _meta(field)
    nullable_text = meta.get(KEY_NULLABLE)
    return ColumnDefinition(
        name=field.name,
        data_type=meta.get(KEY_NATIVE_TYPE, ""),
        arrow_type_str=str(field.type),
        nullable=field.nullable if nullable_text is None else nullable_text == "true",
        default_value=meta.get(KEY_DEFAULT),
        is_identity=meta.get(KEY_IDENTITY) == "true",
        ordinal_position=_optional_int(meta, KEY_ORDINAL) or 0,
        char_length=_optional_int(meta, KEY_CHAR_LENGTH),
        numeric_precision=_optional_int(meta, KEY_PRECISION),
        numeric_scale=_optional_int(meta, KEY_SCALE),
        unsigned=meta.get(KEY_UNSIGNED) == "true",
        enum_values=tuple(json.loads(meta[KEY_ENUM_VALUES])) if KEY_ENUM_VALUES in meta else (),
        timezone=meta.get(KEY_TIMEZONE),
    )


# -- table <-> schema ----------------------------------------------------------


def arrow_schema_for_table(
    table: TableDefinition, columns: list[str] | tuple[str, ...] | None = None
) -> pa.Schema:
    """The Arrow schema a stream of ``table`` carries (optionally a column subset)."""
    chosen = table.columns
    if columns is not None:
        by_name = {c.name: c for c in table.columns}
        chosen = tuple(by_name[name] for name in columns)
    fields = [field_for_column(col, table.source_dialect) for col in chosen]
    meta = {
        KEY_SCHEMA: table.schema_name,
        KEY_TABLE: table.table_name,
        KEY_PRIMARY_KEY: json.dumps(list(table.primary_key), ensure_ascii=False),
        KEY_DIALECT: table.source_dialect,
    }
    return pa.schema(fields, metadata=meta)


def table_from_arrow_schema(schema: pa.Schema) -> TableDefinition:
    """The table an Arrow schema with ``bani.*`` metadata describes."""
    raw = schema.metadata or {}
    meta = {k.decode("utf-8"): v.decode("utf-8") for k, v in raw.items()}
    return TableDefinition(
        schema_name=meta.get(KEY_SCHEMA, ""),
        table_name=meta.get(KEY_TABLE, ""),
        columns=tuple(column_from_field(f) for f in schema),
        primary_key=tuple(json.loads(meta.get(KEY_PRIMARY_KEY, "[]"))),
        source_dialect=meta.get(KEY_DIALECT, ""),
    )
