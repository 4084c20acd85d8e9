"""SQLite declared types <-> Arrow types.

SQLite → Arrow follows SQLite's five affinity rules
(https://sqlite.org/datatype3.html, section 3.1), checked in order on the
declared type name:

1. contains ``INT``                       → INTEGER affinity → ``int64``
2. contains ``CHAR``, ``CLOB`` or ``TEXT`` → TEXT affinity    → ``string``
3. contains ``BLOB``, or no type at all    → BLOB affinity    → ``binary``
4. contains ``REAL``, ``FLOA`` or ``DOUB`` → REAL affinity    → ``float64``
5. anything else                          → NUMERIC affinity → ``string``

with refinements for the names applications use to say more than the
affinity does, checked first: ``NUMERIC(p,s)`` / ``DECIMAL(p,s)`` →
``decimal128(p,s)`` (``decimal256`` above 38 digits), ``BOOLEAN`` → ``bool``,
``DATE`` → ``date32``, ``DATETIME`` / ``TIMESTAMP`` → ``timestamp[us]``,
``TIMESTAMPTZ`` → ``timestamp[us, tz=UTC]``, ``TIME`` → ``time64[us]``.

NUMERIC affinity without a precision (bare ``NUMERIC``, ``DECIMAL``, or a name
no rule matches, like ``JSON`` or ``MONEY``) maps to ``string``: such a column
holds 64-bit integers, doubles and uncovertible text side by side, and only
text carries all three exactly (integers as their digits, doubles as the
shortest text that reads back as the same double).  See
``docs/type-mappings.md``.

Arrow → SQLite (:meth:`SQLiteTypeMapper.from_arrow_type`) is a table from
Arrow type to declared type.  A type with no SQLite counterpart (lists,
structs, maps, intervals, durations) falls back to ``TEXT`` (JSON) or
``BIGINT`` and the fallback is *reported*: a ``ColumnIssue`` for
``plan_table`` and a structlog warning, never silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import pyarrow as pa
import structlog

from bani.connectors.base import ColumnIssue, IssueKind
from bani.domain.arrow_fields import KEY_DIALECT, column_from_field, parse_arrow_type
from bani.domain.schema import ColumnDefinition
from bani.errors import TypeMappingError

__all__ = [
    "DECIMAL_TEXT",
    "REAL_EXACT_DIGITS",
    "Affinity",
    "DeclaredType",
    "MappedType",
    "SQLiteTypeMapper",
    "affinity_of",
    "is_safe_declared_type",
    "parse_declared_type",
]

log = structlog.get_logger(__name__)

Affinity = Literal["INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC"]

#: Significant digits a REAL keeps exactly: SQLite converts decimal text in a
#: NUMERIC column to a double, which round-trips any 15-digit decimal.
REAL_EXACT_DIGITS: Final = 15

#: Declared type for decimals wider than :data:`REAL_EXACT_DIGITS`.  The name
#: contains ``TEXT``, so the column has TEXT affinity and SQLite keeps the
#: digits as written instead of rounding them to a double; the introspection
#: still reads it as ``decimal(p,s)``.
DECIMAL_TEXT: Final = "DECIMAL_TEXT"

# -- declared types ---------------------------------------------------------------

_ARGS: Final = re.compile(r"\(\s*([+-]?\d+)\s*(?:,\s*([+-]?\d+)\s*)?\)")
#: Words that would end a type name and start a column constraint in SQLite's grammar.
_CONSTRAINT_WORDS: Final = frozenset(
    {"CONSTRAINT", "PRIMARY", "KEY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE",
     "REFERENCES", "GENERATED", "AS", "ON", "CONFLICT", "AUTOINCREMENT"}
)
_SAFE_DECLARED: Final = re.compile(
    r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\s+[A-Za-z_][A-Za-z0-9_]*)*"
    r"(?:\s*\(\s*[+-]?\d+(?:\.\d+)?\s*(?:,\s*[+-]?\d+(?:\.\d+)?\s*)?\))?)?$"
)

#: SQLite's affinity rules, in the order SQLite applies them.
_AFFINITY_RULES: Final[tuple[tuple[tuple[str, ...], Affinity], ...]] = (
    (("INT",), "INTEGER"),
    (("CHAR", "CLOB", "TEXT"), "TEXT"),
    (("BLOB",), "BLOB"),
    (("REAL", "FLOA", "DOUB"), "REAL"),
)

_AFFINITY_ARROW: Final[Mapping[Affinity, pa.DataType]] = MappingProxyType(
    {
        "INTEGER": pa.int64(),
        "TEXT": pa.string(),
        "BLOB": pa.binary(),
        "REAL": pa.float64(),
        "NUMERIC": pa.string(),
    }
)

_TIMESTAMP: Final = pa.timestamp("us")
_TIMESTAMP_UTC: Final = pa.timestamp("us", tz="UTC")

#: Names that say more than their affinity, checked before the affinity rules.
_NAMED_TYPES: Final[Mapping[str, pa.DataType]] = MappingProxyType(
    {
        "BOOLEAN": pa.bool_(),
        "BOOL": pa.bool_(),
        "DATE": pa.date32(),
        "DATETIME": _TIMESTAMP,
        "TIMESTAMP": _TIMESTAMP,
        "TIMESTAMP WITHOUT TIME ZONE": _TIMESTAMP,
        "TIMESTAMPTZ": _TIMESTAMP_UTC,
        "TIMESTAMP WITH TIME ZONE": _TIMESTAMP_UTC,
        "TIME": pa.time64("us"),
        "TIME WITHOUT TIME ZONE": pa.time64("us"),
    }
)

_DECIMAL_NAMES: Final = frozenset({"NUMERIC", "DECIMAL", DECIMAL_TEXT})


@dataclass(frozen=True)
class DeclaredType:
    """A SQLite declared type taken apart: ``VARCHAR(20)`` → name ``VARCHAR``, args ``(20,)``."""

    text: str
    name: str
    args: tuple[int, ...]
    affinity: Affinity

    @property
    def is_decimal(self) -> bool:
        return self.name in _DECIMAL_NAMES and bool(self.args)

    @property
    def char_length(self) -> int | None:
        if self.affinity == "TEXT" and self.name not in _DECIMAL_NAMES and len(self.args) == 1:
            return self.args[0]
        return None

    @property
    def precision(self) -> int | None:
        return self.args[0] if self.is_decimal else None

    @property
    def scale(self) -> int | None:
        if not self.is_decimal:
            return None
        return self.args[1] if len(self.args) > 1 else 0

    @property
    def unsigned(self) -> bool:
        return "UNSIGNED" in self.name.split()


def affinity_of(declared: str) -> Affinity:
    """The column affinity SQLite gives a declared type (rules 1-5 above)."""
    upper = declared.upper()
    if not upper.strip():
        return "BLOB"
    for needles, affinity in _AFFINITY_RULES:
        if any(needle in upper for needle in needles):
            return affinity
    return "NUMERIC"


def parse_declared_type(declared: str | None) -> DeclaredType:
    """Split a declared type into its upper-cased name and integer arguments."""
    text = (declared or "").strip()
    match = _ARGS.search(text)
    args: tuple[int, ...] = ()
    name_part = text
    if match is not None:
        args = tuple(int(g) for g in match.groups() if g is not None)
        name_part = text[: match.start()]
    name = " ".join(name_part.upper().split())
    return DeclaredType(text=text, name=name, args=args, affinity=affinity_of(text))


def is_safe_declared_type(declared: str) -> bool:
    """Whether a declared type is plain enough to put back into DDL verbatim.

    SQLite's grammar for a type is words optionally followed by one or two
    signed numbers in parentheses; anything else (a type arriving over the wire
    with a ``)`` in it) is not re-emitted.
    """
    words = {w.upper() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", declared)}
    return bool(_SAFE_DECLARED.match(declared.strip())) and not words & _CONSTRAINT_WORDS


# -- Arrow -> SQLite ------------------------------------------------------------


@dataclass(frozen=True)
class MappedType:
    """The declared type a column gets on SQLite, and what (if anything) is lost."""

    ddl: str
    issue_kind: IssueKind | None = None
    reason: str = ""

    def issue(self, column: str) -> ColumnIssue | None:
        if self.issue_kind is None:
            return None
        return ColumnIssue(column=column, kind=self.issue_kind, reason=self.reason)


def _opt(name: str) -> pa.DataType | None:
    factory = getattr(pa, name, None)
    return factory() if callable(factory) else None


# Integers are never declared exactly ``INTEGER``: on a single-column primary
# key that spelling makes the column SQLite's rowid alias, which hands out keys
# by itself and reads back as an identity column.  Only identity columns get it
# (see ``_ddl.plan_table``); ``INT`` has the same affinity without the magic.
_FIXED_ARROW: Final[dict[pa.DataType, str]] = {
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.uint8(): "SMALLINT",
    pa.uint16(): "INT",
    pa.uint32(): "BIGINT",
    pa.float16(): "FLOAT",
    pa.float32(): "FLOAT",
    pa.float64(): "REAL",
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.binary(): "BLOB",
    pa.large_binary(): "BLOB",
    pa.date32(): "DATE",
    pa.date64(): "DATE",
}
for _view, _ddl in (("string_view", "TEXT"), ("binary_view", "BLOB")):
    _view_type = _opt(_view)
    if _view_type is not None:
        _FIXED_ARROW[_view_type] = _ddl

#: Arrow types that map to SQLite exactly, by type.
FIXED_ARROW_TYPES: Final[Mapping[pa.DataType, str]] = MappingProxyType(_FIXED_ARROW)

_UTC_NAMES: Final = frozenset({"UTC", "Etc/UTC", "+00:00", "Z", "GMT", "Etc/GMT"})


def _timestamp(t: pa.DataType) -> MappedType:
    notes: list[str] = []
    if t.unit == "ns":
        notes.append("nanoseconds are truncated to microseconds")
    if t.tz is None:
        ddl = "DATETIME"
    else:
        ddl = "TIMESTAMPTZ"
        if t.tz not in _UTC_NAMES:
            notes.append(f"instants are stored in UTC; the zone {t.tz} is not kept")
    return MappedType(ddl, "lossy", "; ".join(notes)) if notes else MappedType(ddl)


def _time(t: pa.DataType) -> MappedType:
    if t.unit == "ns":
        return MappedType("TIME", "lossy", "nanoseconds are truncated to microseconds")
    return MappedType("TIME")


def _decimal(t: pa.DataType) -> MappedType:
    if t.precision <= REAL_EXACT_DIGITS:
        return MappedType(f"NUMERIC({t.precision},{t.scale})")
    return MappedType(f"{DECIMAL_TEXT}({t.precision},{t.scale})")


def _duration(t: pa.DataType) -> MappedType:
    return MappedType(
        "BIGINT", "fallback", f"a duration is stored as an integer count of {t.unit}"
    )


def _uint64(_t: pa.DataType) -> MappedType:
    return MappedType(
        "UNSIGNED BIG INT",
        "lossy",
        "SQLite integers are signed 64-bit; values above 9223372036854775807 are refused",
    )


#: Parameterised Arrow types, by predicate, in order.
_Rule = tuple[Callable[[pa.DataType], bool], Callable[[pa.DataType], MappedType]]
_ARROW_RULES: Final[tuple[_Rule, ...]] = (
    (pa.types.is_timestamp, _timestamp),
    (pa.types.is_time, _time),
    (pa.types.is_decimal, _decimal),
    (pa.types.is_fixed_size_binary, lambda _t: MappedType("BLOB")),
    (pa.types.is_duration, _duration),
    (lambda t: t == pa.uint64(), _uint64),
    (pa.types.is_null, lambda _t: MappedType("TEXT", "fallback", "a NULL-typed column is TEXT")),
)


def _map_arrow(arrow_type: pa.DataType) -> MappedType:
    if pa.types.is_dictionary(arrow_type):
        return _map_arrow(arrow_type.value_type)
    fixed = FIXED_ARROW_TYPES.get(arrow_type)
    if fixed is not None:
        return MappedType(fixed)
    for matches, build in _ARROW_RULES:
        if matches(arrow_type):
            return build(arrow_type)
    return MappedType(
        "TEXT", "fallback", f"Arrow type {arrow_type} has no SQLite counterpart; JSON text"
    )


def _portable_unknown(text: str) -> MappedType:
    return MappedType("TEXT", "fallback", f"unrecognised Arrow type {text!r}; stored as TEXT")


class SQLiteTypeMapper:
    """Both directions of the SQLite ↔ Arrow type mapping, as data.

    Stateless; every method is a class or static method so callers need no
    instance (the guide's ``MyDBTypeMapper.from_arrow_type(...)`` form).
    """

    dialect: Final = "sqlite"

    # -- SQLite -> Arrow ------------------------------------------------------------

    @staticmethod
    def to_arrow_type(declared: str | None) -> pa.DataType:
        """The Arrow type for a column declared ``declared`` (refinements, then affinity)."""
        parsed = parse_declared_type(declared)
        if parsed.is_decimal:
            precision = parsed.precision or 0
            scale = parsed.scale or 0
            if 0 < precision <= 38 and 0 <= scale <= precision:
                return pa.decimal128(precision, scale)
            if 38 < precision <= 76 and 0 <= scale <= precision:
                return pa.decimal256(precision, scale)
            return _AFFINITY_ARROW[parsed.affinity]
        named = _NAMED_TYPES.get(parsed.name)
        if named is not None:
            return named
        return _AFFINITY_ARROW[parsed.affinity]

    #: The guide's name for :meth:`to_arrow_type`.
    map_sqlite_type_name = to_arrow_type

    @classmethod
    def column_facts(cls, declared: str | None) -> DeclaredType:
        """Length, precision, scale and unsigned as another dialect needs them."""
        return parse_declared_type(declared)

    # -- Arrow -> SQLite ------------------------------------------------------------

    @classmethod
    def map_arrow(
        cls,
        arrow: str | pa.DataType | pa.Field | ColumnDefinition,
        *,
        dialect: str = "",
    ) -> MappedType:
        """The declared type for an Arrow type, field or column, and what it loses.

        A string is an Arrow type string in either spelling (``float`` or
        ``float32``, ``double`` or ``float64``, ``date32[day]`` or ``date32``).
        A field or column contributes its length (``VARCHAR(n)``), its enum
        labels (reported: SQLite has no enum) and, when its native dialect is
        SQLite (``dialect`` or the field's ``bani.dialect``), its own
        declared type verbatim.
        """
        if isinstance(arrow, pa.Field):
            meta = {k.decode(): v.decode() for k, v in (arrow.metadata or {}).items()}
            return cls.map_column(column_from_field(arrow), dialect=meta.get(KEY_DIALECT, dialect))
        if isinstance(arrow, ColumnDefinition):
            return cls.map_column(arrow, dialect=dialect)
        if isinstance(arrow, pa.DataType):
            return _map_arrow(arrow)
        try:
            return _map_arrow(parse_arrow_type(arrow))
        except TypeMappingError:
            return _portable_unknown(arrow)

    @classmethod
    def map_column(cls, column: ColumnDefinition, *, dialect: str = "") -> MappedType:
        """The declared type for one column (see :meth:`map_arrow`)."""
        if dialect == cls.dialect and is_safe_declared_type(column.data_type):
            return MappedType(column.data_type.strip())
        if not column.arrow_type_str:
            return MappedType(
                "TEXT", "fallback", f"no Arrow type for native type {column.data_type!r}; TEXT"
            )
        try:
            arrow_type = parse_arrow_type(column.arrow_type_str)
        except TypeMappingError:
            return _portable_unknown(column.arrow_type_str)
        mapped = _map_arrow(arrow_type)
        if column.enum_values:
            labels = ", ".join(column.enum_values)
            return MappedType(
                mapped.ddl,
                "lossy",
                f"SQLite has no enum type; the labels ({labels}) are not enforced",
            )
        if column.char_length is not None and mapped.ddl == "TEXT" and pa.types.is_string(
            arrow_type
        ):
            return MappedType(f"VARCHAR({int(column.char_length)})")
        return mapped

    @classmethod
    def from_arrow_type(
        cls,
        arrow: str | pa.DataType | pa.Field | ColumnDefinition,
        *,
        dialect: str = "",
    ) -> str:
        """The SQLite declared type for an Arrow type string, type, field or column.

        A fallback (a type SQLite has no counterpart for) is logged as a
        ``sqlite_type_fallback`` warning; :meth:`map_arrow` returns it as data.
        """
        mapped = cls.map_arrow(arrow, dialect=dialect)
        if mapped.issue_kind == "fallback":
            name = arrow.name if isinstance(arrow, pa.Field | ColumnDefinition) else None
            shown = arrow.arrow_type_str if isinstance(arrow, ColumnDefinition) else arrow
            log.warning(
                "sqlite_type_fallback",
                column=name,
                arrow_type=str(shown),
                declared=mapped.ddl,
                reason=mapped.reason,
            )
        return mapped.ddl
