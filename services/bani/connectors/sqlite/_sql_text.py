"""Reading the facts SQLite keeps only in its stored ``CREATE`` text.

SQLite's pragmas describe columns, indexes and foreign keys, but three facts
live only in the SQL text ``sqlite_master.sql`` keeps: CHECK constraints,
the ``WHERE`` of a partial index and the ``AUTOINCREMENT`` keyword (plus
``WITHOUT ROWID``).  A regular expression over that text is fooled by a string
literal or a quoted identifier that happens to contain ``check (`` or
``where``, so this module tokenizes the text the way SQLite's own tokenizer
does (string literals, the four identifier quotings, comments) and looks for
keywords only where they are keywords.

Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "Token",
    "check_constraints",
    "has_autoincrement",
    "index_predicate",
    "is_without_rowid",
    "tokenize",
]

TokenKind = Literal["word", "quoted", "string", "number", "punct"]

_CLOSERS: Final = {'"': '"', "`": "`", "[": "]"}


@dataclass(frozen=True)
class Token:
    """One lexical token; ``value`` is an identifier's unquoted name or a word upper-cased."""

    kind: TokenKind
    text: str
    start: int
    end: int

    @property
    def value(self) -> str:
        """A word upper-cased (for keyword tests); otherwise :attr:`name`."""
        return self.text.upper() if self.kind == "word" else self.name

    @property
    def name(self) -> str:
        """The identifier this token names: quotes removed, case kept."""
        if self.kind == "quoted":
            closer = _CLOSERS[self.text[0]]
            return self.text[1:-1].replace(closer * 2, closer)
        if self.kind == "string":
            return self.text[1:-1].replace("''", "'")
        return self.text


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) > 127


def tokenize(sql: str) -> Iterator[Token]:
    """Yield the tokens of ``sql``, skipping whitespace and comments."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == "'" or ch in _CLOSERS:
            closer = "'" if ch == "'" else _CLOSERS[ch]
            j = i + 1
            while j < n:
                if sql[j] == closer:
                    if closer != "]" and j + 1 < n and sql[j + 1] == closer:
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
            yield Token("string" if ch == "'" else "quoted", sql[i:end], i, end)
            i = end
        elif ch.isdigit():
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "."):
                j += 1
            yield Token("number", sql[i:j], i, j)
            i = j
        elif _is_word_char(ch):
            j = i + 1
            while j < n and _is_word_char(sql[j]):
                j += 1
            yield Token("word", sql[i:j], i, j)
            i = j
        else:
            yield Token("punct", ch, i, i + 1)
            i += 1


def _matching_paren(tokens: list[Token], open_index: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_index`` (or the last token)."""
    depth = 0
    for k in range(open_index, len(tokens)):
        text = tokens[k].text
        if tokens[k].kind == "punct" and text == "(":
            depth += 1
        elif tokens[k].kind == "punct" and text == ")":
            depth -= 1
            if depth == 0:
                return k
    return len(tokens) - 1


def check_constraints(create_table_sql: str) -> list[tuple[str | None, str]]:
    """Every CHECK in a ``CREATE TABLE``, as ``(name or None, expression)`` in order.

    Column-level and table-level checks are both returned; the name is the
    one given by a preceding ``CONSTRAINT name``.
    """
    tokens = list(tokenize(create_table_sql))
    found: list[tuple[str | None, str]] = []
    for k, token in enumerate(tokens):
        if token.kind != "word" or token.value != "CHECK":
            continue
        if k + 1 >= len(tokens) or tokens[k + 1].text != "(":
            continue
        close = _matching_paren(tokens, k + 1)
        expression = create_table_sql[tokens[k + 1].end : tokens[close].start].strip()
        name: str | None = None
        if k >= 2 and tokens[k - 2].kind == "word" and tokens[k - 2].value == "CONSTRAINT":
            name = tokens[k - 1].name
        found.append((name, expression))
    return found


def index_predicate(create_index_sql: str) -> str | None:
    """The WHERE body of a partial ``CREATE INDEX``, or None."""
    depth = 0
    for token in tokenize(create_index_sql):
        if token.kind == "punct" and token.text == "(":
            depth += 1
        elif token.kind == "punct" and token.text == ")":
            depth -= 1
        elif depth == 0 and token.kind == "word" and token.value == "WHERE":
            predicate = create_index_sql[token.end :].strip()
            return predicate.rstrip(";").strip() or None
    return None


def has_autoincrement(create_table_sql: str) -> bool:
    """Whether the table declares ``AUTOINCREMENT`` (outside strings and identifiers)."""
    return any(t.kind == "word" and t.value == "AUTOINCREMENT" for t in tokenize(create_table_sql))


def is_without_rowid(create_table_sql: str) -> bool:
    """Whether ``WITHOUT ROWID`` follows the column list."""
    tokens = list(tokenize(create_table_sql))
    depth = 0
    last_close = -1
    for k, token in enumerate(tokens):
        if token.kind == "punct" and token.text == "(":
            depth += 1
        elif token.kind == "punct" and token.text == ")":
            depth -= 1
            if depth == 0:
                last_close = k
    tail = [t.value for t in tokens[last_close + 1 :] if t.kind == "word"]
    return any(a == "WITHOUT" and b == "ROWID" for a, b in zip(tail, tail[1:], strict=False))
