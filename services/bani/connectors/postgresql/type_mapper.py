"""PostgreSQL <-> Arrow type mapping, kept as data.

Reading (PostgreSQL -> Arrow)
    :data:`SCALAR_TYPES` maps a base type name (``pg_type.typname`` after
    resolving domains) to its Arrow type and to the *wire form* the reader
    asks the server for (see ``_wire.py``).  ``numeric`` and ``money`` depend on
    the column's modifier and are handled by :func:`map_pg_type`; enum types
    become strings with their labels; one-dimensional arrays of the types in
    :data:`ARRAY_ELEMENT_TYPES` become ``list<...>``.  Everything else is the
    fallback: its PostgreSQL text form as an Arrow string, with the native
    type kept in the field metadata so a PostgreSQL target recreates it and
    the reason logged.

Writing (Arrow + column facts -> PostgreSQL DDL)
    When the stream comes from PostgreSQL (``source_dialect == "postgresql"``)
    the native declaration is reused as is (``varchar(255)`` stays
    ``varchar(255)``, ``jsonb`` stays ``jsonb``), enum types are requalified
    into the target schema.  Otherwise the type is derived from the Arrow
    type (:data:`ARROW_DDL` and the parametrised rules in
    :func:`ddl_for_column`) plus the facts the column carries: character
    length, precision and scale, enum labels, time zone, a few well-known
    native names (``json``, ``uuid``).  Every choice that loses something is
    returned as a :class:`~bani.connectors.base.ColumnIssue`.

The module is pure (no driver, no I/O), so the whole mapping is unit-tested
without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

import pyarrow as pa

from bani.connectors.base import ColumnIssue, quote_ansi_identifier
from bani.domain.arrow_fields import parse_arrow_type
from bani.domain.schema import ColumnDefinition
from bani.errors import TypeMappingError
from bani.sqlguard import Where, render_type

__all__ = [
    "ARRAY_ELEMENT_TYPES",
    "ARROW_DDL",
    "SCALAR_TYPES",
    "ArrowMapping",
    "ColumnDdl",
    "PgType",
    "Wire",
    "ddl_for_column",
    "map_pg_type",
    "numeric_modifiers",
    "translate_default",
]

#: How the reader fetches a column (see ``_wire.py``):
#:
#: * ``plain`` -- the column's own text output, parsed as the Arrow type;
#: * ``numeric`` -- ``col::numeric`` (``money``), parsed as a decimal;
#: * ``hex`` -- ``encode(col, 'hex')``, decoded to binary in one C call per batch;
#: * ``send`` -- the type's binary send format (``timestamp_send(col)`` ...) as
#:   hex: exact over PostgreSQL's whole range and cheap for the server;
#: * ``interval`` -- months, days and microseconds as three int columns;
#: * ``array`` -- ``array_to_json(col::text[])``, parsed as JSON lists of text.
Wire = Literal["plain", "numeric", "hex", "send", "interval", "array"]

STRING: Final = pa.string()


@dataclass(frozen=True)
class _Scalar:
    arrow_type: pa.DataType
    wire: Wire = "plain"


#: Base types with a fixed Arrow type.  Keys are ``pg_type.typname``.
SCALAR_TYPES: Final[Mapping[str, _Scalar]] = MappingProxyType(
    {
        "int2": _Scalar(pa.int16()),
        "int4": _Scalar(pa.int32()),
        "int8": _Scalar(pa.int64()),
        "oid": _Scalar(pa.int64()),
        "float4": _Scalar(pa.float32()),
        "float8": _Scalar(pa.float64()),
        "bool": _Scalar(pa.bool_()),
        "text": _Scalar(STRING),
        "varchar": _Scalar(STRING),
        "bpchar": _Scalar(STRING),
        "name": _Scalar(STRING),
        "char": _Scalar(STRING),
        "citext": _Scalar(STRING),
        "xml": _Scalar(STRING),
        "json": _Scalar(STRING),
        "jsonb": _Scalar(STRING),
        "uuid": _Scalar(STRING),
        "inet": _Scalar(STRING),
        "cidr": _Scalar(STRING),
        "macaddr": _Scalar(STRING),
        "macaddr8": _Scalar(STRING),
        "timetz": _Scalar(STRING),
        "bytea": _Scalar(pa.binary(), "hex"),
        "date": _Scalar(pa.date32(), "send"),
        "time": _Scalar(pa.time64("us"), "send"),
        "timestamp": _Scalar(pa.timestamp("us"), "send"),
        "timestamptz": _Scalar(pa.timestamp("us", tz="UTC"), "send"),
        "interval": _Scalar(pa.month_day_nano_interval(), "interval"),
        # money's scale follows lc_monetary; 2 fraction digits is the usual one,
        # a locale with more makes the read fail loudly rather than round.
        "money": _Scalar(pa.decimal128(19, 2), "numeric"),
    }
)

#: Element types an array column may have to become ``list<...>``.
ARRAY_ELEMENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        "int2",
        "int4",
        "int8",
        "float4",
        "float8",
        "numeric",
        "bool",
        "text",
        "varchar",
        "bpchar",
        "name",
        "citext",
        "uuid",
        "json",
        "jsonb",
        "inet",
        "cidr",
        "macaddr",
        "macaddr8",
        "bytea",
        "date",
        "timestamp",
        "timestamptz",
    }
)

#: Type names whose values are instants; the Arrow values are in UTC.
_INSTANT_TYPES: Final = frozenset({"timestamptz"})
#: Types whose typmod is a character length.
_LENGTH_TYPES: Final = frozenset({"varchar", "bpchar"})

MAX_DECIMAL128: Final = 38
MAX_DECIMAL256: Final = 76


@dataclass(frozen=True)
class PgType:
    """A column's type as the catalog describes it (the mapper's input).

    ``typname`` is the base type after resolving domains (``varchar``,
    ``numeric``, ``_int4`` is never used: arrays have ``is_array`` and an
    ``element``).  ``typtype`` is ``pg_type.typtype`` (``b`` base, ``e`` enum,
    ``r`` range, ``c`` composite, ``m`` multirange, ``p`` pseudo).
    """

    typname: str
    typmod: int = -1
    typtype: str = "b"
    is_array: bool = False
    element: PgType | None = None
    enum_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArrowMapping:
    """The Arrow side of a column, and the facts another dialect needs."""

    arrow_type: pa.DataType
    wire: Wire
    char_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    timezone: str | None = None
    enum_labels: tuple[str, ...] = ()
    fallback: str | None = None


def numeric_modifiers(typmod: int) -> tuple[int, int] | None:
    """``(precision, scale)`` from a numeric typmod; None when unconstrained.

    PostgreSQL 15 allows a negative scale and a scale above the precision;
    the scale is an 11-bit signed field.
    """
    if typmod < 4:
        return None
    packed = typmod - 4
    precision = (packed >> 16) & 0xFFFF
    scale = ((packed & 0x7FF) ^ 1024) - 1024
    return precision, scale


def _decimal_type(precision: int, scale: int) -> pa.DataType | None:
    """The exact Arrow decimal for numeric(p,s), or None when none is wide enough."""
    if scale < 0:  # numeric(5,-2) holds integers of p - s digits
        precision, scale = precision - scale, 0
    precision = max(precision, scale, 1)
    if precision <= MAX_DECIMAL128:
        return pa.decimal128(precision, scale)
    if precision <= MAX_DECIMAL256:
        return pa.decimal256(precision, scale)
    return None


def map_pg_type(pg: PgType) -> ArrowMapping:
    """The Arrow type, wire form and column facts for one PostgreSQL type."""
    if pg.is_array:
        return _map_array(pg)
    if pg.typtype == "e":
        return ArrowMapping(STRING, "plain", enum_labels=pg.enum_labels)
    if pg.typname == "numeric":
        return _map_numeric(pg.typmod)
    scalar = SCALAR_TYPES.get(pg.typname)
    if scalar is None:
        return ArrowMapping(
            STRING,
            "plain",
            fallback=f"{pg.typname} has no Arrow equivalent; carried as its PostgreSQL text form",
        )
    char_length = pg.typmod - 4 if pg.typname in _LENGTH_TYPES and pg.typmod >= 4 else None
    decimal = scalar.arrow_type if pa.types.is_decimal(scalar.arrow_type) else None
    return ArrowMapping(
        scalar.arrow_type,
        scalar.wire,
        char_length=char_length,
        precision=decimal.precision if decimal is not None else None,
        scale=decimal.scale if decimal is not None else None,
        timezone="UTC" if pg.typname in _INSTANT_TYPES else None,
    )


def _map_numeric(typmod: int) -> ArrowMapping:
    modifiers = numeric_modifiers(typmod)
    if modifiers is None:
        # Unconstrained numeric has no fixed scale: any fixed decimal would
        # round some value, so the exact text travels instead.
        return ArrowMapping(STRING, "plain")
    precision, scale = modifiers
    decimal = _decimal_type(precision, scale)
    if decimal is None:
        return ArrowMapping(
            STRING,
            "plain",
            precision=precision,
            scale=scale,
            fallback=f"numeric({precision},{scale}) is wider than decimal256; "
            "carried as exact text",
        )
    return ArrowMapping(decimal, "plain", precision=precision, scale=scale)


def _map_array(pg: PgType) -> ArrowMapping:
    element = pg.element
    if element is None:
        return ArrowMapping(STRING, "plain", fallback="array of unknown element type; text form")
    supported = element.typtype == "e" or element.typname in ARRAY_ELEMENT_TYPES
    if not supported:
        return ArrowMapping(
            STRING,
            "plain",
            fallback=f"array of {element.typname} has no Arrow list mapping; "
            "carried as its PostgreSQL text form",
        )
    inner = map_pg_type(element)
    if inner.fallback is not None:
        return ArrowMapping(STRING, "plain", fallback=inner.fallback)
    return ArrowMapping(
        pa.list_(inner.arrow_type),
        "array",
        char_length=inner.char_length,
        precision=inner.precision,
        scale=inner.scale,
        timezone=inner.timezone,
        enum_labels=inner.enum_labels,
    )


# -- Arrow -> PostgreSQL DDL ----------------------------------------------------------

#: Arrow types with one PostgreSQL declaration, keyed by ``str(type)``.
ARROW_DDL: Final[Mapping[str, str]] = MappingProxyType(
    {
        "bool": "boolean",
        "int8": "smallint",
        "int16": "smallint",
        "int32": "integer",
        "int64": "bigint",
        "uint8": "smallint",
        "uint16": "integer",
        "uint32": "bigint",
        # Keeps the full unsigned 64-bit range; bigint would overflow above 2^63-1.
        "uint64": "numeric(20,0)",
        "halffloat": "real",
        "float": "real",
        "double": "double precision",
        "binary": "bytea",
        "large_binary": "bytea",
        "date32[day]": "date",
        "date64[ms]": "date",
        "time32[s]": "time(0)",
        "time32[ms]": "time(3)",
        "time64[us]": "time(6)",
        "time64[ns]": "time(6)",
        "month_day_nano_interval": "interval",
        "duration[s]": "interval",
        "duration[ms]": "interval",
        "duration[us]": "interval",
        "duration[ns]": "interval",
    }
)

#: Arrow types whose values PostgreSQL stores with less precision.
_LOSSY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "time64[ns]": "nanoseconds are truncated to microseconds",
        "duration[ns]": "nanoseconds are truncated to microseconds",
    }
)

#: Native type names (of any dialect) that have a better PostgreSQL type than
#: the Arrow type alone suggests.  Matched on the lower-cased name's first word.
_NATIVE_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "json": "jsonb",
        "jsonb": "jsonb",
        "uuid": "uuid",
        "inet4": "inet",
        "inet6": "inet",
        "inet": "inet",
        "cidr": "cidr",
        "macaddr": "macaddr",
        "xml": "xml",
    }
)

_FIXED_CHAR = re.compile(r"^(n?char|character|bpchar|nchar)\b(?!\s+varying)")
_TEXT_FAMILY = re.compile(r"(text|clob|long)")
#: PostgreSQL's limit for varchar(n) / char(n).
MAX_CHAR_LENGTH: Final = 10_485_760
_INTEGER_DDL: Final = frozenset({"smallint", "integer", "bigint"})


@dataclass(frozen=True)
class ColumnDdl:
    """One column's declaration on PostgreSQL, with what it loses.

    ``type_sql`` is SQL text (identifiers already quoted).  ``check_sql`` is a
    CHECK body to add to the table (an enum from another dialect).
    ``identity`` asks for ``GENERATED BY DEFAULT AS IDENTITY``.
    """

    type_sql: str
    identity: bool = False
    default_sql: str | None = None
    check_sql: str | None = None
    issues: tuple[ColumnIssue, ...] = field(default=())

    @property
    def refused(self) -> bool:
        return any(i.kind == "refused" for i in self.issues)


def _enum_reference(data_type: str, target_schema: str) -> str:
    """``"schema"."name"[]`` for an enum declared as ``name``/``sch.name``/``"N"[]``."""
    base = data_type.strip()
    suffix = ""
    while base.endswith("[]"):
        base, suffix = base[:-2].rstrip(), suffix + "[]"
    parts = _split_qualified(base)
    name = parts[-1]
    return f"{quote_ansi_identifier(target_schema)}.{quote_ansi_identifier(name)}{suffix}"


def _split_qualified(text: str) -> list[str]:
    """Split ``a."B.c"`` into ``["a", "B.c"]``, unquoting quoted parts."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text):
                if text[j] == '"' and j + 1 < len(text) and text[j + 1] == '"':
                    current.append('"')
                    j += 2
                    continue
                if text[j] == '"':
                    break
                current.append(text[j])
                j += 1
            i = j + 1
            continue
        if ch == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def ddl_for_column(column: ColumnDefinition, source_dialect: str, target_schema: str) -> ColumnDdl:
    """How ``column`` is declared on PostgreSQL, and every issue that causes."""
    arrow_type = _arrow_type(column)
    if source_dialect == "postgresql" and column.data_type:
        return _same_dialect(column, target_schema)
    issues: list[ColumnIssue] = []
    type_sql, check = _cross_dialect_type(column, arrow_type, issues)
    identity = False
    if column.is_identity:
        if type_sql in _INTEGER_DDL:
            identity = True
        elif arrow_type == pa.uint64():
            type_sql, identity = "bigint", True
            issues.append(
                ColumnIssue(
                    column.name,
                    "lossy",
                    "unsigned 64-bit identity becomes a bigint identity; values above "
                    "9223372036854775807 cannot be stored",
                )
            )
        else:
            issues.append(
                ColumnIssue(
                    column.name,
                    "fallback",
                    f"identity on {type_sql} is not possible; the column is loaded without one",
                )
            )
    default_sql = None
    if column.default_value is not None and not identity:
        default_sql, issue = translate_default(column, source_dialect, type_sql)
        if issue is not None:
            issues.append(issue)
    return ColumnDdl(type_sql, identity, default_sql, check, tuple(issues))


def _arrow_type(column: ColumnDefinition) -> pa.DataType | None:
    if not column.arrow_type_str:
        return None
    try:
        return parse_arrow_type(column.arrow_type_str)
    except TypeMappingError:
        return None


def _same_dialect(column: ColumnDefinition, target_schema: str) -> ColumnDdl:
    issues: list[ColumnIssue] = []
    if column.enum_values:
        type_sql = _enum_reference(column.data_type, target_schema)
    else:
        # The declared type comes off the wire: parsed and rendered, never pasted.
        type_sql = render_type(column.data_type, "postgresql", Where(column=column.name))
    default = column.default_value
    identity = column.is_identity or (default is not None and _is_sequence_default(default))
    default_sql = None
    if default is not None and not identity:
        default_sql, issue = translate_default(column, "postgresql", type_sql)
        if issue is not None:
            issues.append(issue)
    return ColumnDdl(type_sql, identity, default_sql, None, tuple(issues))


def _is_sequence_default(default: str) -> bool:
    return default.strip().lower().startswith("nextval(")


def _cross_dialect_type(
    column: ColumnDefinition, arrow_type: pa.DataType | None, issues: list[ColumnIssue]
) -> tuple[str, str | None]:
    """``(type_sql, check_body)`` derived from the Arrow type and the column facts."""
    if arrow_type is None:
        issues.append(ColumnIssue(column.name, "fallback", "no Arrow type known; declared as text"))
        return "text", None
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    native = column.data_type.strip().lower()
    native_word = re.split(r"[\s(\[]", native, maxsplit=1)[0] if native else ""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        value_type = arrow_type.value_type
        if pa.types.is_list(value_type) or pa.types.is_large_list(value_type):
            issues.append(
                ColumnIssue(column.name, "refused", f"nested list {arrow_type} has no mapping")
            )
            return "text", None
        inner = ColumnDefinition(
            name=column.name,
            data_type="",
            arrow_type_str=str(value_type),
            char_length=column.char_length,
            numeric_precision=column.numeric_precision,
            numeric_scale=column.numeric_scale,
            timezone=column.timezone,
        )
        inner_type, _ = _cross_dialect_type(inner, value_type, issues)
        return f"{inner_type}[]", None
    key = str(arrow_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return _string_type(column, native, native_word, issues)
    if native_word == "uuid" and arrow_type == pa.binary(16):
        return "uuid", None
    if key in ARROW_DDL:
        lossy = _LOSSY.get(key)
        if lossy:
            issues.append(ColumnIssue(column.name, "lossy", lossy))
        return ARROW_DDL[key], None
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})", None
    if pa.types.is_timestamp(arrow_type):
        if arrow_type.unit == "ns":
            issues.append(
                ColumnIssue(column.name, "lossy", "nanoseconds are truncated to microseconds")
            )
        zoned = arrow_type.tz is not None or column.timezone is not None
        return ("timestamptz" if zoned else "timestamp"), None
    if pa.types.is_fixed_size_binary(arrow_type):
        return "bytea", None
    if pa.types.is_null(arrow_type):
        issues.append(ColumnIssue(column.name, "fallback", "a column of nulls is declared text"))
        return "text", None
    issues.append(ColumnIssue(column.name, "refused", f"Arrow type {arrow_type} has no mapping"))
    return "text", None


def _string_type(
    column: ColumnDefinition, native: str, native_word: str, issues: list[ColumnIssue]
) -> tuple[str, str | None]:
    if column.enum_values:
        if native_word == "set":
            issues.append(
                ColumnIssue(
                    column.name,
                    "fallback",
                    "SET becomes text holding the comma-separated labels; no constraint",
                )
            )
            return "text", None
        labels = ", ".join(_quote_literal(label) for label in column.enum_values)
        return "text", f"{quote_ansi_identifier(column.name)} IN ({labels})"
    mapped = _NATIVE_NAMES.get(native_word)
    if mapped is not None:
        return mapped, None
    length = column.char_length
    if length is not None and 0 < length <= MAX_CHAR_LENGTH and not _TEXT_FAMILY.search(native):
        if _FIXED_CHAR.match(native):
            return f"char({length})", None
        return f"varchar({length})", None
    return "text", None


def _quote_literal(value: str) -> str:
    if "\x00" in value:
        raise ValueError("string literals cannot contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


# -- defaults ------------------------------------------------------------------------------

#: Functions whose meaning is the same on every server, with their PostgreSQL spelling.
_SAME_MEANING_FUNCTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "now()": "now()",
        "current_timestamp": "CURRENT_TIMESTAMP",
        "current_timestamp()": "CURRENT_TIMESTAMP",
        "localtimestamp": "LOCALTIMESTAMP",
        "localtimestamp()": "LOCALTIMESTAMP",
        "current_date": "CURRENT_DATE",
        "current_date()": "CURRENT_DATE",
        "curdate()": "CURRENT_DATE",
        "current_time": "CURRENT_TIME",
        "current_time()": "CURRENT_TIME",
        "localtime": "LOCALTIME",
        "statement_timestamp()": "statement_timestamp()",
        "transaction_timestamp()": "transaction_timestamp()",
        "clock_timestamp()": "clock_timestamp()",
        "gen_random_uuid()": "gen_random_uuid()",
    }
)
_PRECISION_CALL = re.compile(
    r"^(current_timestamp|localtimestamp|current_time|localtime)\s*\(\s*(\d)\s*\)$", re.I
)
_STRING_LITERAL = re.compile(r"^\(*'((?:[^']|'')*)'(?:::[\w\s.\"\[\]()]+?)*\)*$")
_NUMBER = re.compile(r"^\(*\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*\)*(?:::[\w\s]+)?$")
_BOOLEAN: Final[Mapping[str, str]] = MappingProxyType({"true": "true", "false": "false"})


def translate_default(
    column: ColumnDefinition, source_dialect: str, type_sql: str
) -> tuple[str | None, ColumnIssue | None]:
    """A default with the same meaning on PostgreSQL, or None and the reason.

    Constants (numbers, quoted strings with or without casts, booleans) and
    the clock functions in :data:`_SAME_MEANING_FUNCTIONS` are carried;
    sequence defaults become identity elsewhere; anything else -- a call to a
    user function, an expression over other objects -- is dropped with a
    ``default_dropped`` issue, because it may not exist or mean the same on
    the target.
    """
    text = (column.default_value or "").strip()
    lowered = text.lower()
    if not text or lowered in ("null", "null::text") or lowered.startswith("null::"):
        return None, None
    if lowered in _SAME_MEANING_FUNCTIONS:
        return _SAME_MEANING_FUNCTIONS[lowered], None
    if m := _PRECISION_CALL.match(text):
        return f"{m.group(1).upper()}({m.group(2)})", None
    if lowered in _BOOLEAN:
        return _BOOLEAN[lowered], None
    if type_sql == "boolean" and lowered in ("0", "1", "b'0'", "b'1'"):
        return ("true" if lowered.endswith("1") or lowered.endswith("1'") else "false"), None
    if m := _STRING_LITERAL.match(text):
        return "'" + m.group(1) + "'", None
    if m := _NUMBER.match(text):
        return m.group(1), None
    if _is_sequence_default(text):
        return None, ColumnIssue(
            column.name, "default_dropped", f"sequence default {text} on a non-integer column"
        )
    return None, ColumnIssue(
        column.name,
        "default_dropped",
        f"default {text!r} from {source_dialect or 'the source'} may not mean the same on "
        "PostgreSQL; dropped",
    )
