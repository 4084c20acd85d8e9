"""MySQL/MariaDB column types to Arrow types and back, as data.

Reading, a column's declared ``COLUMN_TYPE`` (``bigint(20) unsigned``,
``decimal(65,30)``, ``enum('a','b')``) is parsed once into a
:class:`MySQLType`, and the tables below give its Arrow type and its
*read kind*: how the value travels from the server (the select expression the
reader uses) and how the reader turns it into the Arrow type.  Writing, the
reverse tables give the DDL type for an Arrow type plus the facts a
:class:`~bani.domain.schema.ColumnDefinition` carries (length, precision,
unsigned, labels), and say which columns arrive lossily or not at all.

The rules that are choices, not facts (all documented in
``docs/type-mappings.md``):

* ``tinyint(1)`` (MySQL's ``BOOLEAN``) reads as Arrow ``bool`` because that is
  what every application means by it; a stored value other than 0 or 1 is an
  error naming the column and the ``tinyint1=int`` option, which reads the
  column as ``int8`` instead.  Nothing is silently coerced either way.
* ``bit(1)`` reads as ``bool``; ``bit(n)`` for n > 1 as ``uint64``.
* ``time`` reads as ``duration[us]`` because MySQL's TIME is a signed span
  up to ±838:59:59, not a time of day; ``time_as=time`` reads
  ``time64[us]`` and rejects values outside [00:00, 24:00).
* ``timestamp`` reads as ``timestamp[us, tz=UTC]`` (the session time zone is
  pinned to UTC), ``datetime`` as zone-less ``timestamp[us]``.
* Text and blob families carry no length (their maxima are storage limits,
  not declared lengths); ``char``/``varchar``/``binary``/``varbinary`` carry
  theirs in ``char_length`` (bytes for the binary types).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import pyarrow as pa

from bani.connectors.base import ColumnIssue, IssueKind
from bani.domain.arrow_fields import parse_arrow_type
from bani.domain.schema import ColumnDefinition
from bani.errors import TypeMappingError
from bani.sqlguard import Where

__all__ = [
    "ARROW_TO_MYSQL",
    "FIXED_TYPES",
    "INTEGER_TYPES",
    "MAX_DECIMAL_PRECISION",
    "MAX_DECIMAL_SCALE",
    "ColumnDDL",
    "MySQLType",
    "MySQLTypeMapper",
    "ReadKind",
    "parse_column_type",
]

MAX_DECIMAL_PRECISION: Final = 65
MAX_DECIMAL_SCALE: Final = 30
#: Longest VARCHAR(n) declared for a utf8mb4 column (65,535-byte row limit / 4).
MAX_VARCHAR_CHARS: Final = 16_383
#: Length given to a string/binary key column whose source declared none.
KEY_TEXT_LENGTH: Final = 255


class ReadKind(StrEnum):
    """How a column's values travel from the server and become Arrow.

    ``NATIVE`` values arrive in a type the reader casts directly; the others
    are selected through an expression (``CAST(c AS CHAR)``,
    ``ST_AsBinary(c)``…) and decoded columnar by ``bani.connectors.mysql._codec``.
    """

    NATIVE = "native"
    BOOL = "bool"  # tinyint(1): 0/1 checked, then bool
    FLOAT = "float"  # FLOAT: selected as DOUBLE so the text protocol keeps every bit
    DECIMAL = "decimal"  # CAST AS CHAR, parsed exactly at declared precision/scale
    DATE = "date"  # CAST AS CHAR; zero dates per policy
    DATETIME = "datetime"  # CAST AS CHAR; zero dates per policy
    TIMESTAMP = "timestamp"  # CAST AS CHAR in UTC; zero dates per policy
    TIME = "time"  # CAST AS CHAR; signed, beyond 24 h
    BIT = "bit"  # CAST AS UNSIGNED
    GEOMETRY = "geometry"  # ST_AsBinary: WKB
    TEXT = "text"  # any other type: CAST AS CHAR, kept as text


#: Integer types: name -> (signed Arrow type, unsigned Arrow type).
INTEGER_TYPES: Final[Mapping[str, tuple[pa.DataType, pa.DataType]]] = MappingProxyType(
    {
        "tinyint": (pa.int8(), pa.uint8()),
        "smallint": (pa.int16(), pa.uint16()),
        "mediumint": (pa.int32(), pa.uint32()),
        "int": (pa.int32(), pa.uint32()),
        "integer": (pa.int32(), pa.uint32()),
        "bigint": (pa.int64(), pa.uint64()),
    }
)

_GEOMETRY_NAMES: Final = (
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
)

#: Types whose Arrow type does not depend on parameters: name -> (Arrow type, read kind).
FIXED_TYPES: Final[Mapping[str, tuple[pa.DataType, ReadKind]]] = MappingProxyType(
    {
        "float": (pa.float32(), ReadKind.FLOAT),
        "double": (pa.float64(), ReadKind.NATIVE),
        "double precision": (pa.float64(), ReadKind.NATIVE),
        "real": (pa.float64(), ReadKind.NATIVE),
        "date": (pa.date32(), ReadKind.DATE),
        "datetime": (pa.timestamp("us"), ReadKind.DATETIME),
        "timestamp": (pa.timestamp("us", tz="UTC"), ReadKind.TIMESTAMP),
        "year": (pa.int16(), ReadKind.NATIVE),
        "char": (pa.string(), ReadKind.NATIVE),
        "varchar": (pa.string(), ReadKind.NATIVE),
        "tinytext": (pa.string(), ReadKind.NATIVE),
        "text": (pa.string(), ReadKind.NATIVE),
        "mediumtext": (pa.string(), ReadKind.NATIVE),
        "longtext": (pa.string(), ReadKind.NATIVE),
        "json": (pa.string(), ReadKind.NATIVE),
        "enum": (pa.string(), ReadKind.NATIVE),
        "set": (pa.string(), ReadKind.NATIVE),
        "binary": (pa.binary(), ReadKind.NATIVE),
        "varbinary": (pa.binary(), ReadKind.NATIVE),
        "tinyblob": (pa.binary(), ReadKind.NATIVE),
        "blob": (pa.binary(), ReadKind.NATIVE),
        "mediumblob": (pa.binary(), ReadKind.NATIVE),
        "longblob": (pa.binary(), ReadKind.NATIVE),
        # MariaDB's own types: kept as their text form.
        "uuid": (pa.string(), ReadKind.TEXT),
        "inet4": (pa.string(), ReadKind.TEXT),
        "inet6": (pa.string(), ReadKind.TEXT),
        **{name: (pa.binary(), ReadKind.GEOMETRY) for name in _GEOMETRY_NAMES},
    }
)

_TEXT_FAMILY: Final = frozenset({"tinytext", "text", "mediumtext", "longtext", "json"})
_BLOB_FAMILY: Final = frozenset({"tinyblob", "blob", "mediumblob", "longblob"})
_LENGTH_TYPES: Final = frozenset({"char", "varchar", "binary", "varbinary"})
_TEMPORAL_FSP: Final = frozenset({"datetime", "timestamp", "time"})

#: Arrow types with one fixed MySQL declaration (the writer's DDL, cross-dialect).
ARROW_TO_MYSQL: Final[Mapping[pa.DataType, str]] = MappingProxyType(
    {
        pa.bool_(): "tinyint(1)",
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.uint8(): "tinyint unsigned",
        pa.uint16(): "smallint unsigned",
        pa.uint32(): "int unsigned",
        pa.uint64(): "bigint unsigned",
        pa.float16(): "float",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.date32(): "date",
        pa.date64(): "date",
    }
)

_UNIT_FSP: Final[Mapping[str, int]] = MappingProxyType({"s": 0, "ms": 3, "us": 6, "ns": 6})


# -- COLUMN_TYPE parsing ------------------------------------------------------

_TYPE_TEXT = re.compile(
    r"^\s*(?P<name>[a-z][a-z0-9_]*(?:\s+precision)?)\s*(?:\((?P<args>.*)\))?"
    r"(?P<attrs>(?:\s+(?:unsigned|signed|zerofill))*)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ESCAPES: Final[Mapping[str, str]] = MappingProxyType(
    {"0": "\x00", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
)


@dataclass(frozen=True)
class MySQLType:
    """A parsed column type: ``decimal(10,2) unsigned`` -> name, args, flags.

    ``labels`` holds enum/set labels (unescaped).  :meth:`render` gives the
    declaration back in canonical form, which is also how a same-dialect
    target re-declares a column: from parsed parts, never by pasting text.
    """

    name: str
    args: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    unsigned: bool = False
    zerofill: bool = False

    def render(self) -> str:
        if self.name in ("enum", "set"):
            inner = ",".join(quote_string(label) for label in self.labels)
            text = f"{self.name}({inner})"
        elif self.args:
            text = f"{self.name}({','.join(str(a) for a in self.args)})"
        else:
            text = self.name
        if self.unsigned:
            text += " unsigned"
        if self.zerofill:
            text += " zerofill"
        return text

    @property
    def length(self) -> int | None:
        """Declared length of char/varchar/binary/varbinary (bit: its width)."""
        if self.name in _LENGTH_TYPES or self.name == "bit":
            return self.args[0] if self.args else 1
        return None

    @property
    def fsp(self) -> int:
        """Fractional-second digits of datetime/timestamp/time (0 when undeclared)."""
        return self.args[0] if self.name in _TEMPORAL_FSP and self.args else 0

    @property
    def is_text(self) -> bool:
        return self.name in _TEXT_FAMILY or self.name in ("char", "varchar", "enum", "set")

    @property
    def is_binary(self) -> bool:
        return self.name in _BLOB_FAMILY or self.name in ("binary", "varbinary")

    @property
    def is_lob(self) -> bool:
        """TEXT/BLOB/JSON/geometry: no default literal, index needs a prefix."""
        return (
            self.name in _TEXT_FAMILY or self.name in _BLOB_FAMILY or self.name in _GEOMETRY_NAMES
        )

    @property
    def is_geometry(self) -> bool:
        return self.name in _GEOMETRY_NAMES

    @property
    def is_integer(self) -> bool:
        return self.name in INTEGER_TYPES


def quote_string(value: str) -> str:
    """A MySQL string literal: quotes doubled, backslashes doubled."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _parse_labels(text: str, column_type: str) -> tuple[str, ...]:
    """The labels of ``'a','b''c','d\\\\e'`` as MySQL prints them in COLUMN_TYPE."""
    labels: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ,":
            i += 1
        if i >= n:
            break
        if text[i] != "'":
            raise TypeMappingError(f"cannot parse the labels of column type {column_type!r}")
        i += 1
        buf: list[str] = []
        while True:
            if i >= n:
                raise TypeMappingError(f"unterminated label in column type {column_type!r}")
            ch = text[i]
            if ch == "'":
                if i + 1 < n and text[i + 1] == "'":
                    buf.append("'")
                    i += 2
                    continue
                i += 1
                break
            if ch == "\\" and i + 1 < n:
                nxt = text[i + 1]
                buf.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            buf.append(ch)
            i += 1
        labels.append("".join(buf))
    return tuple(labels)


def parse_column_type(column_type: str) -> MySQLType:
    """Parse ``COLUMN_TYPE`` text (MariaDB's or MySQL 8's spelling).

    MySQL 8.0.19+ prints integer types without display widths except
    ``tinyint(1)``; MariaDB prints them (``int(11)``).  Both parse to the same
    name and args, and the tinyint(1) rule looks at the args.
    """
    match = _TYPE_TEXT.match(column_type)
    if match is None:
        raise TypeMappingError(f"cannot parse MySQL column type {column_type!r}")
    name = " ".join(match["name"].lower().split())
    args_text = match["args"]
    attrs = match["attrs"].lower().split()
    labels: tuple[str, ...] = ()
    args: tuple[int, ...] = ()
    if args_text is not None:
        if name in ("enum", "set"):
            labels = _parse_labels(args_text, column_type)
        else:
            try:
                args = tuple(int(part) for part in args_text.split(",") if part.strip())
            except ValueError:
                raise TypeMappingError(
                    f"cannot parse the arguments of MySQL column type {column_type!r}"
                ) from None
    return MySQLType(
        name=name,
        args=args,
        labels=labels,
        unsigned="unsigned" in attrs,
        zerofill="zerofill" in attrs,
    )


# -- the mapper ------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnDDL:
    """What the writer declares for one column, and what it loses doing so."""

    type_sql: str
    mysql_type: MySQLType
    issues: tuple[ColumnIssue, ...] = field(default=())


class MySQLTypeMapper:
    """Both directions of the mapping, configured by the connector's options.

    ``tinyint1`` is ``"bool"`` (default) or ``"int"``; ``time_as`` is
    ``"duration"`` (default) or ``"time"``.
    """

    def __init__(self, tinyint1: str = "bool", time_as: str = "duration") -> None:
        self.tinyint1 = tinyint1
        self.time_as = time_as

    # -- MySQL -> Arrow -----------------------------------------------------------

    def read_kind(self, mysql_type: MySQLType) -> ReadKind:
        """How values of this type are selected and decoded."""
        return self._map(mysql_type)[1]

    def arrow_type(self, mysql_type: MySQLType) -> pa.DataType:
        """The Arrow type values of this MySQL type are read as."""
        return self._map(mysql_type)[0]

    def map_type_text(self, column_type: str) -> pa.DataType:
        """Arrow type for a ``COLUMN_TYPE`` string (the guide's string form)."""
        return self.arrow_type(parse_column_type(column_type))

    def _map(self, t: MySQLType) -> tuple[pa.DataType, ReadKind]:
        name = t.name
        if name in INTEGER_TYPES:
            if name == "tinyint" and t.args == (1,) and self.tinyint1 == "bool":
                return pa.bool_(), ReadKind.BOOL
            signed, unsigned = INTEGER_TYPES[name]
            return (unsigned if t.unsigned else signed), ReadKind.NATIVE
        if name in ("bool", "boolean"):
            return (
                (pa.bool_(), ReadKind.BOOL)
                if self.tinyint1 == "bool"
                else (
                    pa.int8(),
                    ReadKind.NATIVE,
                )
            )
        if name in ("decimal", "numeric", "dec", "fixed"):
            precision = t.args[0] if t.args else 10
            scale = t.args[1] if len(t.args) > 1 else 0
            factory = pa.decimal128 if precision <= 38 else pa.decimal256
            return factory(precision, scale), ReadKind.DECIMAL
        if name == "bit":
            width = t.length or 1
            return (pa.bool_() if width == 1 else pa.uint64()), ReadKind.BIT
        if name == "time":
            if self.time_as == "time":
                return pa.time64("us"), ReadKind.TIME
            return pa.duration("us"), ReadKind.TIME
        fixed = FIXED_TYPES.get(name)
        if fixed is not None:
            return fixed
        return pa.string(), ReadKind.TEXT

    def column_definition(
        self,
        *,
        name: str,
        column_type: str,
        nullable: bool,
        default: str | None,
        is_identity: bool,
        ordinal: int,
        is_json: bool = False,
    ) -> ColumnDefinition:
        """A :class:`ColumnDefinition` with every fact another dialect needs."""
        parsed = parse_column_type("json" if is_json else column_type)
        arrow = self.arrow_type(parsed)
        precision = scale = None
        if isinstance(arrow, pa.Decimal128Type | pa.Decimal256Type):
            precision, scale = arrow.precision, arrow.scale
        char_length = parsed.length if parsed.name in _LENGTH_TYPES else None
        return ColumnDefinition(
            name=name,
            data_type=parsed.render() if is_json else column_type,
            arrow_type_str=str(arrow),
            nullable=nullable,
            default_value=default,
            is_identity=is_identity,
            ordinal_position=ordinal,
            char_length=char_length,
            numeric_precision=precision,
            numeric_scale=scale,
            unsigned=parsed.unsigned,
            enum_values=parsed.labels,
            timezone="UTC" if parsed.name == "timestamp" else None,
        )

    # -- Arrow -> MySQL -----------------------------------------------------------

    @staticmethod
    def from_arrow_type(arrow: str | pa.DataType | pa.Field | ColumnDefinition) -> str:
        """The MySQL declaration for an Arrow type (string, type, field or column).

        The guide's string form is accepted; a field or column also brings its
        length, precision and labels.  Key-specific choices (a bounded length
        for an indexed string of unknown length) need :meth:`column_ddl`.
        """
        mapper = MySQLTypeMapper()
        if isinstance(arrow, ColumnDefinition):
            return mapper.column_ddl(arrow).type_sql
        if isinstance(arrow, pa.Field):
            from bani.domain.arrow_fields import column_from_field

            return mapper.column_ddl(column_from_field(arrow)).type_sql
        arrow_type = parse_arrow_type(arrow) if isinstance(arrow, str) else arrow
        column = ColumnDefinition(name="?", data_type="", arrow_type_str=str(arrow_type))
        return mapper.column_ddl(column, arrow_type=arrow_type).type_sql

    def column_ddl(
        self,
        column: ColumnDefinition,
        *,
        same_dialect: bool = False,
        in_key: bool = False,
        arrow_type: pa.DataType | None = None,
    ) -> ColumnDDL:
        """The declaration for ``column`` on MySQL, with the issues it carries.

        ``same_dialect`` keeps the source's declared type exactly (parsed and
        re-rendered).  Otherwise the type comes from the Arrow type plus the
        column's facts; ``in_key`` (primary key, unique index or foreign key
        column) bounds strings and binaries of unknown length to
        ``VARCHAR(255)``/``VARBINARY(255)`` because MySQL cannot key a TEXT
        or BLOB without a prefix, and a prefix would change what "unique" means.
        """
        if same_dialect and column.data_type:
            try:
                parsed = parse_column_type(column.data_type)
            except TypeMappingError as exc:
                # The declared type comes off the wire: it is parsed and rendered
                # again, and anything outside the grammar is refused, never pasted.
                raise Where(column=column.name).refuse(
                    "column type", column.data_type, "it is not a MySQL type name with "
                    "integer arguments, enum/set labels and unsigned/zerofill"
                ) from exc
            return ColumnDDL(parsed.render(), parsed)
        if arrow_type is None:
            arrow_type = (
                parse_arrow_type(column.arrow_type_str) if column.arrow_type_str else pa.string()
            )
        return self._cross_dialect(column, arrow_type, in_key)

    def _cross_dialect(
        self, column: ColumnDefinition, arrow_type: pa.DataType, in_key: bool
    ) -> ColumnDDL:
        issues: list[ColumnIssue] = []
        name = column.name
        native = (column.data_type or "").strip().lower()

        def issue(kind: IssueKind, reason: str) -> None:
            issues.append(ColumnIssue(column=name, kind=kind, reason=reason))

        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type

        fixed = ARROW_TO_MYSQL.get(arrow_type)
        if fixed is not None:
            return self._done(fixed, issues)

        if pa.types.is_decimal(arrow_type):
            precision, scale = arrow_type.precision, arrow_type.scale
            if scale < 0 or scale > MAX_DECIMAL_SCALE or precision > MAX_DECIMAL_PRECISION:
                issue(
                    "refused",
                    f"decimal({precision},{scale}) exceeds MySQL's DECIMAL "
                    f"(at most {MAX_DECIMAL_PRECISION} digits, scale 0..{MAX_DECIMAL_SCALE})",
                )
                return self._done("decimal(65,30)", issues)
            return self._done(f"decimal({precision},{scale})", issues)

        if pa.types.is_timestamp(arrow_type):
            fsp = _UNIT_FSP[arrow_type.unit]
            if arrow_type.unit == "ns":
                issue("lossy", "nanoseconds are truncated to MySQL's microseconds")
            if arrow_type.tz is not None:
                issue(
                    "lossy",
                    "instants are stored as UTC wall-clock DATETIME: MySQL's TIMESTAMP "
                    "only covers 1970-2038 and its zone is the session's",
                )
            return self._done(f"datetime({fsp})" if fsp else "datetime", issues)

        if pa.types.is_time(arrow_type):
            fsp = _UNIT_FSP[arrow_type.unit]
            if arrow_type.unit == "ns":
                issue("lossy", "nanoseconds are truncated to MySQL's microseconds")
            return self._done(f"time({fsp})" if fsp else "time", issues)

        if pa.types.is_duration(arrow_type):
            issue("lossy", "MySQL TIME holds spans of at most ±838:59:59.999999")
            return self._done("time(6)", issues)

        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return self._string(column, native, in_key, issues)

        if (
            pa.types.is_binary(arrow_type)
            or pa.types.is_large_binary(arrow_type)
            or pa.types.is_fixed_size_binary(arrow_type)
        ):
            width = (
                arrow_type.byte_width
                if pa.types.is_fixed_size_binary(arrow_type)
                else column.char_length
            )
            if width is not None and pa.types.is_fixed_size_binary(arrow_type) and width <= 255:
                return self._done(f"binary({width})", issues)
            if width is not None and width <= 65_532:
                return self._done(f"varbinary({width})", issues)
            if in_key:
                issue(
                    "lossy",
                    f"a key column needs a bounded type: values longer than "
                    f"{KEY_TEXT_LENGTH} bytes are refused",
                )
                return self._done(f"varbinary({KEY_TEXT_LENGTH})", issues)
            return self._done("longblob", issues)

        if (
            pa.types.is_list(arrow_type)
            or pa.types.is_large_list(arrow_type)
            or pa.types.is_struct(arrow_type)
            or pa.types.is_map(arrow_type)
        ):
            issue("fallback", f"{arrow_type} is stored as JSON text")
            return self._done("json", issues)

        if pa.types.is_null(arrow_type):
            issue("fallback", "a column of type null is declared as nullable text")
            return self._done("longtext", issues)

        issue("refused", f"MySQL has no type for Arrow {arrow_type}")
        return self._done("longtext", issues)

    def _string(
        self,
        column: ColumnDefinition,
        native: str,
        in_key: bool,
        issues: list[ColumnIssue],
    ) -> ColumnDDL:
        base = native.split("(", 1)[0].strip()
        if base in ("json", "jsonb"):
            return self._done("json", issues)
        if base == "uuid":
            return self._done("char(36)", issues)
        if column.enum_values and base != "set":
            labels = ",".join(quote_string(label) for label in column.enum_values)
            return self._done(f"enum({labels})", issues)
        length = column.char_length
        if length is not None and length > 0:
            fixed = base in ("char", "character", "nchar", "bpchar")
            if fixed and length <= 255:
                return self._done(f"char({length})", issues)
            if length <= MAX_VARCHAR_CHARS:
                return self._done(f"varchar({length})", issues)
            if in_key:
                issues.append(
                    ColumnIssue(
                        column.name,
                        "lossy",
                        f"a key column longer than {MAX_VARCHAR_CHARS} characters is "
                        f"declared varchar({MAX_VARCHAR_CHARS})",
                    )
                )
                return self._done(f"varchar({MAX_VARCHAR_CHARS})", issues)
            return self._done("mediumtext" if length * 4 <= 16_777_215 else "longtext", issues)
        if in_key:
            issues.append(
                ColumnIssue(
                    column.name,
                    "lossy",
                    f"a key column needs a bounded type: declared varchar({KEY_TEXT_LENGTH}), "
                    f"values longer than {KEY_TEXT_LENGTH} characters are refused",
                )
            )
            return self._done(f"varchar({KEY_TEXT_LENGTH})", issues)
        return self._done("longtext", issues)

    @staticmethod
    def _done(type_sql: str, issues: list[ColumnIssue]) -> ColumnDDL:
        return ColumnDDL(type_sql, parse_column_type(type_sql), tuple(issues))
