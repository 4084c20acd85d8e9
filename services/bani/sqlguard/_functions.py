"""The functions an accepted expression may call, per dialect family.

Only pure, well-known functions of the built-in library: string, numeric,
date/time, null handling, JSON validity.  Nothing here reads a file, a catalog
or another relation, sleeps, changes settings or reaches the network, so an
expression built from these can compute over its own row and nothing else.
A name missing here is refused, not guessed: the list grows by review.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_ONLY", "FUNCTIONS"]

_COMMON: Final = frozenset(
    {
        "abs", "ceil", "ceiling", "floor", "round", "trunc", "truncate", "mod", "sign",
        "sqrt", "power", "pow", "exp", "ln", "log", "log10", "greatest", "least",
        "coalesce", "nullif", "lower", "upper", "length", "char_length",
        "character_length", "octet_length", "bit_length", "substr", "substring", "trim",
        "ltrim", "rtrim", "replace", "concat", "concat_ws", "left", "right", "lpad",
        "rpad", "reverse", "position", "strpos", "instr", "now", "current_timestamp",
        "current_date", "current_time", "localtimestamp", "localtime", "hex",
    }
)

FUNCTIONS: Final[dict[str, frozenset[str]]] = {
    "postgresql": _COMMON
    | {
        "btrim", "date_trunc", "date_part", "extract", "to_char", "to_date",
        "to_timestamp", "to_number", "timezone", "clock_timestamp", "statement_timestamp",
        "transaction_timestamp", "gen_random_uuid", "uuid_generate_v4", "array_length",
        "cardinality", "jsonb_typeof", "json_typeof", "jsonb_array_length",
        "json_array_length", "starts_with", "age", "isfinite", "num_nonnulls",
        "num_nulls", "initcap", "translate", "split_part", "regexp_replace", "md5",
        "char", "upper_inf", "lower_inf", "isempty", "array_position",
    },
    "mysql": _COMMON
    | {
        "ifnull", "if", "curdate", "curtime", "utc_timestamp", "utc_date", "utc_time",
        "sysdate", "uuid", "json_valid", "json_length", "json_type", "date", "time",
        "year", "month", "day", "dayofmonth", "hour", "minute", "second", "date_format",
        "datediff", "timestampdiff", "str_to_date", "locate", "unhex", "bin", "oct",
        "regexp_like", "char", "field", "datetime", "currenttimestamp", "currentdate",
        "currenttime", "strtodate", "timestrtotime",
    },
    "sqlite": _COMMON
    | {
        "ifnull", "iif", "if", "datetime", "date", "time", "julianday", "strftime",
        "unixepoch", "typeof", "randomblob", "printf", "format", "glob", "like",
        "json_valid", "json_type", "unicode", "char", "zeroblob", "timestrtotime",
        "strtotime", "currenttimestamp", "currentdate", "currenttime",
    },
}

#: Functions a column default may call but a CHECK, predicate or filter may not
#: (``nextval`` advances a sequence: a default may, a filter must not).
DEFAULT_ONLY: Final[dict[str, frozenset[str]]] = {
    "postgresql": frozenset({"nextval"}),
    "mysql": frozenset(),
    "sqlite": frozenset(),
}
