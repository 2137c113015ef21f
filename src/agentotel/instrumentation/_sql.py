"""Sanitise and summarise SQL text for ``db.query.text`` and ``db.query.summary``.

One compiled regular expression splits DuckDB SQL into tokens (strings of every
kind, quoted identifiers, comments, numbers, parameters, words, punctuation).
From the tokens :func:`analyze` builds a :class:`Statement`:

* ``text``: the statement with every literal (string, number, dollar-quoted or
  ``E''`` string) replaced by ``?``, comments dropped and whitespace collapsed;
* ``summary``: the operations and the tables they name, in order of
  appearance (``SELECT orders``, ``INSERT archive SELECT orders``), per the
  OpenTelemetry "generating a query summary" guidance;
* ``operation`` and ``collection`` for the low-cardinality attributes.

The tokenizer never raises and never lets a literal through: whatever it does
not recognise is copied as punctuation, and an unterminated string or comment
runs to the end of the text. Results are cached by query text in a bounded
:class:`StatementCache`, so a repeated query costs one dict lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from agentotel._bounded import BoundedLRU

__all__ = ["Statement", "StatementCache", "analyze", "MAX_CACHED_LENGTH", "MAX_SUMMARY_LENGTH", "MAX_SCAN_LENGTH"]

#: Longest ``db.query.summary`` we emit (the convention recommends a short, bounded summary).
MAX_SUMMARY_LENGTH: Final = 255
#: Longer texts are analysed every time rather than kept (bulk statements with inline values are
#: rarely repeated, and 1024 of them would pin a lot of memory).
MAX_CACHED_LENGTH: Final = 16 * 1024
#: Characters of a query text that are tokenized; the rest is dropped (a longer text is capped anyway).
MAX_SCAN_LENGTH: Final = 256 * 1024

_TOKEN: Final = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>--[^\n]*|/\*(?:.|\n)*?(?:\*/|\Z))
    | (?P<dollar>\$(?P<tag>(?:[A-Za-z_]\w*)?)\$(?:.|\n)*?(?:\$(?P=tag)\$|\Z))
    | (?P<string>[eE]'(?:[^'\\]|\\(?:.|\n)|'')*(?:'|\Z)|[xXbBnN]?'(?:[^']|'')*(?:'|\Z))
    | (?P<ident>"(?:[^"]|"")*(?:"|\Z))
    | (?P<param>\?\d*|\$\w+)
    | (?P<number>0[xX][0-9A-Fa-f_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)
    | (?P<word>[^\W\d]\w*)
    | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_LITERALS: Final = frozenset({"dollar", "string", "number"})

# Statement keywords that start an operation, and how they read.
_QUERY_OPS: Final = frozenset({"SELECT", "UNPIVOT", "DESCRIBE", "SHOW", "SUMMARIZE"})
_SELECT_ALIASES: Final = frozenset({"FROM", "VALUES", "TABLE"})  # DuckDB's FROM-first, VALUES, TABLE t
_STATEMENT_OPS: Final = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "ALTER",
        "COPY",
        "PIVOT",
        "UNPIVOT",
        "DESCRIBE",
        "SHOW",
        "SUMMARIZE",
        "EXPLAIN",
        "ATTACH",
        "DETACH",
        "USE",
        "SET",
        "RESET",
        "PRAGMA",
        "CALL",
        "EXPORT",
        "IMPORT",
        "INSTALL",
        "LOAD",
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "CHECKPOINT",
        "FORCE",
        "VACUUM",
        "ANALYZE",
        "TRUNCATE",
        "MERGE",
        "PREPARE",
        "EXECUTE",
        "DEALLOCATE",
        "COMMENT",
        "UPSERT",
        "REPLACE",
    }
)
# CREATE/DROP/ALTER <modifiers> <object>: the modifiers are skipped, the object kept.
_DDL_MODIFIERS: Final = frozenset(
    {
        "OR",
        "REPLACE",
        "TEMP",
        "TEMPORARY",
        "UNIQUE",
        "PERSISTENT",
        "IF",
        "NOT",
        "EXISTS",
        "GLOBAL",
        "LOCAL",
    }
)
_DDL_OBJECTS: Final = frozenset(
    {
        "TABLE",
        "VIEW",
        "INDEX",
        "SCHEMA",
        "SEQUENCE",
        "MACRO",
        "FUNCTION",
        "TYPE",
        "SECRET",
        "DATABASE",
    }
)

# Keywords after which a table name follows.
_TARGET_KEYWORDS: Final = frozenset({"FROM", "JOIN", "INTO", "UPDATE", "COPY", "USING", "DESCRIBE", "SUMMARIZE"})
_NONE, _SOURCE, _WRITTEN = 0, 1, 2  # what a name that follows is
_SUBQUERY_STARTS: Final = frozenset({"SELECT", "WITH", "FROM", "VALUES", "TABLE", "PIVOT", "UNPIVOT"})
# Operations followed by the table they act on.
_OPS_WITH_TARGET: Final = frozenset(
    {
        "TABLE",
        "VIEW",
        "COPY",
        "PIVOT",
        "UNPIVOT",
        "DESCRIBE",
        "SUMMARIZE",
        "UPDATE",
        "TRUNCATE",
    }
)
# Keywords that end a FROM list (after which a comma no longer introduces a table).
_CLAUSE_KEYWORDS: Final = frozenset(
    {
        "WHERE",
        "GROUP",
        "ORDER",
        "HAVING",
        "LIMIT",
        "OFFSET",
        "QUALIFY",
        "WINDOW",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "ON",
        "SET",
        "VALUES",
        "RETURNING",
        "SELECT",
        "USING",
        "SAMPLE",
        "TO",
        "BY",
    }
)
# Words that cannot be a table name where one is expected.
_NOT_TABLE: Final = _CLAUSE_KEYWORDS | frozenset(
    {
        "JOIN",
        "LEFT",
        "RIGHT",
        "INNER",
        "OUTER",
        "FULL",
        "CROSS",
        "NATURAL",
        "POSITIONAL",
        "ASOF",
        "ANTI",
        "SEMI",
        "LATERAL",
        "ONLY",
        "AS",
        "FROM",
        "DEFAULT",
        "IF",
        "NOT",
        "EXISTS",
        "NAME",
    }
)


@dataclass(frozen=True)
class Statement:
    """What we record about one query text (all fields are safe to emit by default)."""

    #: ``db.query.summary`` (also the span name); ``None`` when nothing could be recognised.
    summary: str | None
    #: ``db.operation.name``: ``SELECT``, ``CREATE TABLE``, ``BATCH INSERT`` for several statements …
    operation: str | None
    #: ``db.collection.name``: the table, when the text names exactly one.
    collection: str | None
    #: ``db.query.text``: literals replaced by ``?`` (verbatim when literals are kept), capped.
    text: str
    #: The text holds ``?``, ``$1`` or ``$name`` parameter markers.
    parameterised: bool
    #: Statements in the text (``;``-separated, empty ones ignored).
    statement_count: int
    #: The last statement is one ``con.sql()`` keeps lazy (a query DuckDB binds as SELECT).
    lazy: bool
    #: Offset where the last statement starts, when there are several (to split a script).
    last_start: int


@dataclass
class _Part:
    """Summary state of one statement while scanning."""

    offset: int
    ops: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    top_op: str | None = None  # first operation outside parentheses: the statement's own
    any_op: str | None = None  # first operation anywhere, e.g. in ``(SELECT 1)``
    from_first: bool = False  # DuckDB's ``FROM t SELECT x``

    @property
    def operation(self) -> str | None:
        return self.top_op or self.any_op


def _sanitize_surrogates(text: str) -> str:
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def analyze(query: str, *, max_length: int = 2048, keep_literals: bool = False) -> Statement:
    """Sanitise and summarise ``query``; never raises for any ``str``."""
    out: list[str] = []
    out_len = 0
    significant: list[tuple[str, str, int]] = []  # (kind, token, offset), without whitespace and comments
    parameterised = False
    for match in _TOKEN.finditer(query, 0, MAX_SCAN_LENGTH):
        kind = match.lastgroup or "punct"
        token = match.group()
        if kind == "ws" or kind == "comment":
            if out and out[-1] != " ":
                out.append(" ")
                out_len += 1
            continue
        if kind == "param":
            parameterised = True
        significant.append((kind, token, match.start()))
        if out_len <= max_length:
            piece = token if keep_literals or kind not in _LITERALS else "?"
            out.append(piece)
            out_len += len(piece)
    text = query if keep_literals and len(query) > MAX_SCAN_LENGTH else "".join(out).strip()
    parts = _summarise(significant)
    summary = "; ".join(" ".join(p.ops) for p in parts if p.ops)[:MAX_SUMMARY_LENGTH].rstrip() or None
    operation: str | None
    if len(parts) > 1:
        first_ops = {p.operation for p in parts}
        only = first_ops.pop() if len(first_ops) == 1 else None
        operation = f"BATCH {only}" if only else "BATCH"
    else:
        operation = parts[0].operation if parts else None
    tables = {t for p in parts for t in p.tables}
    collection = tables.pop() if len(tables) == 1 else None
    return Statement(
        summary=_sanitize_surrogates(summary) if summary else None,
        operation=operation,
        collection=_sanitize_surrogates(collection) if collection else None,
        text=_sanitize_surrogates(text[:max_length]),
        parameterised=parameterised,
        statement_count=len(parts),
        lazy=bool(parts) and parts[-1].operation in _QUERY_OPS,
        last_start=parts[-1].offset if len(parts) > 1 else 0,
    )


def _summarise(tokens: list[tuple[str, str, int]]) -> list[_Part]:
    """Operations and tables of each statement, in order of appearance."""
    parts: list[_Part] = []
    part: _Part | None = None
    ctes: set[str] = set()
    parens: list[bool] = []  # per open parenthesis: True when it holds a query, False for an expression
    from_depth: int | None = None  # depth of an open FROM list, where a comma introduces another table
    with_depth: int | None = None  # depth at which a WITH list's names are read
    expect_target = _NONE  # what a name at this point is: not a target, a source (FROM-like), a written table
    after_with = False  # the next word starts the statement a WITH list belongs to
    n = len(tokens)
    i = 0

    def word_at(k: int) -> str:
        return tokens[k][1].upper() if k < n and tokens[k][0] == "word" else ""

    def read_name(k: int, source: bool) -> tuple[str | None, int]:
        """A (possibly qualified) table name at k and the index after it.

        Where a source is read a name followed by ``(`` is a table function (``read_csv(...)``) and gives
        None; where a table is written (``INSERT INTO t (a, b)``, ``CREATE TABLE t (...)``) it lists columns.
        """
        name = _unquote(tokens[k])
        k += 1
        while k + 1 < n and tokens[k][1] == "." and tokens[k + 1][0] in ("word", "ident"):
            name += "." + _unquote(tokens[k + 1])
            k += 2
        if source and k < n and tokens[k][1] == "(":
            return None, k
        return name, k

    while i < n:
        kind, tok, offset = tokens[i]
        if kind == "punct" and tok == ";":
            if part is not None and (part.ops or part.tables):
                parts.append(part)
            part = None
            parens.clear()
            ctes = set()
            from_depth = with_depth = None
            expect_target = _NONE
            i += 1
            continue
        if part is None:
            part = _Part(offset)
        word = tok.upper() if kind == "word" else ""
        depth = len(parens)
        if kind == "punct" and tok == "(":
            parens.append(word_at(i + 1) in _SUBQUERY_STARTS)
            expect_target = _NONE
            i += 1
            continue
        if kind == "punct" and tok == ")":
            if parens:
                parens.pop()
            if from_depth is not None and len(parens) < from_depth:
                from_depth = None
            i += 1
            continue
        if with_depth is not None and depth == with_depth:
            if word in ("RECURSIVE", "AS", "NOT", "MATERIALIZED") or tok == ",":
                i += 1
                continue
            if kind in ("word", "ident") and (word_at(i + 1) == "AS" or (i + 1 < n and tokens[i + 1][1] == "(")):
                ctes.add(tok)
                i += 1
                continue
            with_depth = None  # the statement the WITH list belongs to starts here
            after_with = True
        if expect_target:
            source = expect_target == _SOURCE
            expect_target = _NONE
            if kind == "ident" or (kind == "word" and word not in _NOT_TABLE):
                name, after = read_name(i, source)
                if name is not None:
                    if name not in ctes and tokens[i][1] not in ctes:
                        part.tables.append(name)
                        part.ops.append(name)
                    i = after
                    continue
        if kind != "word":
            if tok == "," and from_depth is not None and depth == from_depth:
                expect_target = _SOURCE
            i += 1
            continue
        if from_depth is not None and depth == from_depth and word in _CLAUSE_KEYWORDS:
            from_depth = None
        in_expression = bool(parens) and not parens[-1]
        if word == "WITH" and not in_expression:
            with_depth = depth
            i += 1
            continue
        starts = (not part.ops and not part.tables and not parens) or (after_with and depth == 0)
        after_with = False
        if starts or (word == "SELECT" and not in_expression):
            found = _operation(tokens, i, word) if starts else ("SELECT", 1)
            if found is not None:
                op, taken = found
                if not (op == "SELECT" and depth == 0 and part.from_first and not starts):
                    part.ops.append(op)
                    part.any_op = part.any_op or op
                    if depth == 0:
                        part.top_op = part.top_op or op
                if starts and word in ("FROM", "TABLE"):
                    part.from_first = word == "FROM"
                    from_depth = depth if word == "FROM" else None
                    expect_target = _SOURCE
                elif op.rsplit(" ", 1)[-1] in _OPS_WITH_TARGET:
                    expect_target = _WRITTEN
                i += taken
                continue
        if in_expression:
            i += 1
            continue
        if word in _TARGET_KEYWORDS:
            expect_target = _WRITTEN if word in ("INTO", "UPDATE", "COPY") else _SOURCE
            if word in ("FROM", "JOIN"):
                from_depth = depth
        elif word == "ON" and part.operation == "CREATE INDEX" and not part.tables:
            expect_target = _WRITTEN
            from_depth = None
        i += 1
    if part is not None and (part.ops or part.tables):
        parts.append(part)
    return parts


def _unquote(token: tuple[str, str, int]) -> str:
    """An identifier as its name reads: ``"My Table"`` -> ``My Table`` (DuckDB's own rendering quotes every name)."""
    kind, text, _ = token
    if kind != "ident":
        return text
    inner = text[1:-1] if len(text) > 1 and text.endswith('"') else text[1:]
    return inner.replace('""', '"')


def _operation(tokens: list[tuple[str, str, int]], i: int, word: str) -> tuple[str, int] | None:
    """The operation name starting at token i and how many tokens it takes, or None."""
    if word in _SELECT_ALIASES:
        return "SELECT", 1
    if word not in _STATEMENT_OPS:
        return None
    if word in ("CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT"):
        k = i + 1
        while k < len(tokens) and tokens[k][0] == "word" and tokens[k][1].upper() in _DDL_MODIFIERS:
            k += 1
        if k < len(tokens) and tokens[k][0] == "word" and tokens[k][1].upper() in _DDL_OBJECTS:
            obj = tokens[k][1].upper()
            k += 1
            # IF [NOT] EXISTS after the object keyword
            while k < len(tokens) and tokens[k][0] == "word" and tokens[k][1].upper() in ("IF", "NOT", "EXISTS"):
                k += 1
            return f"{word} {obj}", k - i
        if word == "TRUNCATE":
            return "TRUNCATE", 1
        return word, 1
    if word in ("INSERT", "UPSERT", "REPLACE"):
        return "INSERT", 1
    if word in ("BEGIN", "START"):
        return "BEGIN", 1
    if word in ("END", "COMMIT"):
        return "COMMIT", 1
    if word in ("ROLLBACK", "ABORT"):
        return "ROLLBACK", 1
    return word, 1


class StatementCache:
    """A bounded LRU map from query text to its :class:`Statement`.

    A hit is a dict lookup (plus a move to the recent end); a miss tokenizes
    the text once. ``size=0`` disables caching; texts longer than
    :data:`MAX_CACHED_LENGTH` are not kept. Safe from many threads.
    """

    __slots__ = ("_entries", "_max_length", "_keep_literals")

    def __init__(self, size: int, *, max_length: int, keep_literals: bool) -> None:
        self._entries: BoundedLRU[str, Statement] = BoundedLRU(size)
        self._max_length = max_length
        self._keep_literals = keep_literals

    def get(self, query: str) -> Statement:
        """The analysis of ``query``, from the cache when it is there."""
        entry = self._entries.get(query)
        if entry is None:
            entry = analyze(query, max_length=self._max_length, keep_literals=self._keep_literals)
            if len(query) <= MAX_CACHED_LENGTH:
                self._entries.put(query, entry)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
