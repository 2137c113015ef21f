"""Sanitise and summarise SQL text for ``db.query.text`` and ``db.query.summary``.

One compiled regular expression splits DuckDB SQL into tokens (strings of every
kind, quoted identifiers, comments, numbers, parameters, words, punctuation).
From the tokens :func:`analyze` builds a :class:`Statement`:

* ``text``: the statement with every literal (string, number, dollar-quoted or
  ``E''`` string) replaced by ``?``, comments dropped and whitespace collapsed;
* ``summary``: the operations and the tables they name, in order of
  appearance (``SELECT orders``, ``INSERT archive SELECT orders``), per the
  OpenTelemetry "generating a query summary" guidance; an operation that names
  no table of its own (a scalar subquery, a CTE over other CTEs, the second
  branch of a ``UNION``) is left out unless it is the statement's own, so
  summaries stay short; generated names (duckdb's ``__duckdb_source_…`` scans
  of Python objects) and file paths used as tables are not table names;
* ``operation`` and ``collection`` for the low-cardinality attributes.

The tokenizer never raises and never lets a literal through: whatever it does
not recognise is copied as punctuation, and an unterminated string or comment
runs to the end of the text.

:class:`StatementCache` keeps analyses by query text, and by *shape* (the text
with its literals and comments blanked out, found by a second, sparse regular
expression): statements that differ only in their literal values are analysed
once, so a new literal costs one pass of that expression, not a full analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Final

from agentotel._bounded import BoundedLRU

__all__ = [
    "MAX_CACHED_LENGTH",
    "MAX_SCAN_LENGTH",
    "MAX_SUMMARY_LENGTH",
    "Statement",
    "StatementCache",
    "analyze",
    "shape_of",
]

#: Longest ``db.query.summary`` we emit (the convention recommends a short, bounded summary).
MAX_SUMMARY_LENGTH: Final = 255
#: Longer texts are analysed every time rather than kept (bulk statements with inline values are
#: rarely repeated, and 1024 of them would pin a lot of memory).
MAX_CACHED_LENGTH: Final = 16 * 1024
#: Characters of a query text that are tokenized; the rest is dropped (a longer text is capped anyway).
MAX_SCAN_LENGTH: Final = 256 * 1024

# The lexical pieces, shared by the tokenizer and the literal finder so that both read SQL alike.
_COMMENT = r"--[^\n]*|/\*(?:.|\n)*?(?:\*/|\Z)"
_DOLLAR = r"\$(?P<tag>(?:[A-Za-z_]\w*)?)\$(?:.|\n)*?(?:\$(?P=tag)\$|\Z)"
_ESCAPED_STRING = r"[eE]'(?:[^'\\]|\\(?:.|\n)|'')*(?:'|\Z)"
_PLAIN_STRING = r"[xXbBnN]?'(?:[^']|'')*(?:'|\Z)"
_QUOTED_IDENT = r'"(?:[^"]|"")*(?:"|\Z)'
_NUMBER = r"0[xX][0-9A-Fa-f_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?"

_TOKEN: Final = re.compile(
    rf"""
      (?P<ws>\s+)
    | (?P<comment>{_COMMENT})
    | (?P<dollar>{_DOLLAR})
    | (?P<string>{_ESCAPED_STRING}|{_PLAIN_STRING})
    | (?P<ident>{_QUOTED_IDENT})
    | (?P<param>\?\d*|\$\w+)
    | (?P<number>{_NUMBER})
    | (?P<word>[^\W\d]\w*)
    | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Finds literals, comments and quoted identifiers without visiting words, so a statement gives a handful
# of matches, not one per token. It agrees with the tokenizer on where each of them starts and ends: a
# prefix letter or a digit right after a word character belongs to that word, except right after a number
# or a ``?`` parameter, which the number and parameter alternatives take along.
_PREFIXED_STRING = rf"(?:{_ESCAPED_STRING}|[xXbBnN]'(?:[^']|'')*(?:'|\Z))"
_LITERAL_OR_QUOTED: Final = re.compile(
    rf"""
      (?P<ident>{_QUOTED_IDENT})
    | (?P<comment>{_COMMENT})
    | (?P<dollar>{_DOLLAR})
    | (?P<string>(?<![\w$?]){_PREFIXED_STRING})
    | (?P<number>(?:(?<![\w$?])(?:0[xX][0-9A-Fa-f_]+|0[bB][01_]+|\d[\d_]*(?:\.[\d_]*)?)|\.\d[\d_]*)
        (?:[eE][+-]?\d+)?)(?P<number_string>{_PREFIXED_STRING})?
    | (?P<param>\?\d*)(?P<param_string>{_PREFIXED_STRING})?
    | (?P<plain>'(?:[^']|'')*(?:'|\Z))
    """,
    re.VERBOSE | re.DOTALL,
)
# Placeholders of the shape, one per kind of literal; a text holding one of them is not shaped.
_NUMBER_MARK, _STRING_MARK, _DOLLAR_MARK, _FILE_MARK = "\x01", "\x02", "\x03", "\x04"
_HAS_MARK: Final = re.compile("[\x00-\x04]")

_LITERALS: Final = frozenset({"dollar", "string", "number"})  # and quoted identifiers that name files

# Statement keywords that start an operation, and how they read.
_QUERY_OPS: Final = frozenset({"SELECT", "UNPIVOT", "DESCRIBE", "SHOW", "SUMMARIZE"})
_SELECT_ALIASES: Final = frozenset({"FROM", "VALUES", "TABLE"})  # DuckDB's FROM-first, VALUES, TABLE t
_STATEMENT_OPS: Final = frozenset(
    {
        "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "COPY", "PIVOT", "UNPIVOT",
        "DESCRIBE", "SHOW", "SUMMARIZE", "EXPLAIN", "ATTACH", "DETACH", "USE", "SET", "RESET", "PRAGMA",
        "CALL", "EXPORT", "IMPORT", "INSTALL", "LOAD", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT",
        "CHECKPOINT", "FORCE", "VACUUM", "ANALYZE", "TRUNCATE", "MERGE", "PREPARE", "EXECUTE", "DEALLOCATE",
        "COMMENT", "UPSERT", "REPLACE",
    }
)  # fmt: skip
# CREATE/DROP/ALTER <modifiers> <object>: the modifiers are skipped, the object kept.
_DDL_MODIFIERS: Final = frozenset(
    {"OR", "REPLACE", "TEMP", "TEMPORARY", "UNIQUE", "PERSISTENT", "IF", "NOT", "EXISTS", "GLOBAL", "LOCAL"}
)
_DDL_OBJECTS: Final = frozenset(
    {"TABLE", "VIEW", "INDEX", "SCHEMA", "SEQUENCE", "MACRO", "FUNCTION", "TYPE", "SECRET", "DATABASE"}
)
_DDL_VERBS: Final = frozenset({"CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT"})
_VERB_ALIASES: Final = {
    "INSERT": "INSERT", "UPSERT": "INSERT", "REPLACE": "INSERT", "BEGIN": "BEGIN", "START": "BEGIN",
    "END": "COMMIT", "COMMIT": "COMMIT", "ROLLBACK": "ROLLBACK", "ABORT": "ROLLBACK",
}  # fmt: skip

# Keywords after which a table name follows: written ones (INTO t) or read ones (FROM t).
_WRITTEN_TARGET_KEYWORDS: Final = frozenset({"INTO", "UPDATE", "COPY"})
_SOURCE_TARGET_KEYWORDS: Final = frozenset({"FROM", "JOIN", "USING", "DESCRIBE", "SUMMARIZE"})
_SUBQUERY_STARTS: Final = frozenset({"SELECT", "WITH", "FROM", "VALUES", "TABLE", "PIVOT", "UNPIVOT"})
# Operations followed by the table they act on.
_OPS_WITH_TARGET: Final = frozenset(
    {"TABLE", "VIEW", "COPY", "PIVOT", "UNPIVOT", "DESCRIBE", "SUMMARIZE", "UPDATE", "TRUNCATE"}
)
# Keywords that end a FROM list (after which a comma no longer introduces a table).
_CLAUSE_KEYWORDS: Final = frozenset(
    {
        "WHERE", "GROUP", "ORDER", "HAVING", "LIMIT", "OFFSET", "QUALIFY", "WINDOW", "UNION", "EXCEPT",
        "INTERSECT", "ON", "SET", "VALUES", "RETURNING", "SELECT", "USING", "SAMPLE", "TO", "BY",
    }
)  # fmt: skip
# Words that cannot be a table name where one is expected.
_NOT_TABLE: Final = _CLAUSE_KEYWORDS | frozenset(
    {
        "JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "NATURAL", "POSITIONAL", "ASOF", "ANTI",
        "SEMI", "LATERAL", "ONLY", "AS", "FROM", "DEFAULT", "IF", "NOT", "EXISTS", "NAME",
    }
)  # fmt: skip
_CTE_MODIFIERS: Final = frozenset({"RECURSIVE", "AS", "NOT", "MATERIALIZED"})
# Names that are not tables a reader would recognise: duckdb's scans of Python objects
# (``__duckdb_source_<connection>_<n>``, a new one per relation) and files named as tables.
_GENERATED_NAME: Final = re.compile(r"__duckdb_source_[0-9a-f]+_\d+\Z")
_FILE_NAME: Final = re.compile(
    r"(?:[/\\*?]|://|\.(?:csv|tsv|txt|parquet|json|jsonl|ndjson|arrow|feather|ipc|xlsx|db|duckdb|sqlite|gz|zst)\Z)",
    re.IGNORECASE,
)

_NONE, _SOURCE, _WRITTEN = 0, 1, 2  # what a name at the current point is


@dataclass(frozen=True)
class Statement:
    """What we record about one query text (all fields are safe to emit by default)."""

    #: ``db.query.summary`` (also the span name); ``None`` when nothing could be recognised.
    summary: str | None
    #: ``db.operation.name``: ``SELECT``, ``CREATE TABLE``, ``BATCH <op>`` for several statements …
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


Token = tuple[str, str, int]  # (kind, text, offset); whitespace and comments are not kept


@dataclass
class _Operation:
    """One operation of a statement and the tables it names, in order."""

    name: str
    own: bool  # the statement's own operation (the first one outside parentheses)
    tables: list[str] = field(default_factory=list[str])


@dataclass
class _Part:
    """One ``;``-separated statement while scanning."""

    offset: int
    operations: list[_Operation] = field(default_factory=list[_Operation])
    loose_tables: list[str] = field(default_factory=list[str])  # named before any operation: ``(FROM t)``
    own: str | None = None  # the first operation outside parentheses
    first: str | None = None  # the first operation anywhere, e.g. in ``(SELECT 1)``
    from_first: bool = False  # DuckDB's ``FROM t SELECT x``

    @property
    def operation(self) -> str | None:
        return self.own or self.first

    @property
    def tables(self) -> list[str]:
        return self.loose_tables + [t for op in self.operations for t in op.tables]

    @property
    def empty(self) -> bool:
        return not self.operations and not self.loose_tables

    def add_operation(self, name: str, depth: int) -> None:
        own = depth == 0 and self.own is None
        self.operations.append(_Operation(name, own))
        self.first = self.first or name
        if own:
            self.own = name

    def add_table(self, name: str) -> None:
        (self.operations[-1].tables if self.operations else self.loose_tables).append(name)

    def summary(self) -> str:
        """``op table op table …``; an operation naming no table is kept only as the statement's own."""
        words: list[str] = list(self.loose_tables)
        shown: set[str] = set()
        for op in self.operations:
            if op.tables:
                words.append(op.name)
                words.extend(op.tables)
                shown.add(op.name)
            elif op.own and op.name not in shown:
                words.append(op.name)
                shown.add(op.name)
        if not words and self.operation:
            words.append(self.operation)
        return " ".join(words)


def _sanitize_surrogates(text: str) -> str:
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def analyze(query: str, *, max_length: int = 2048, keep_literals: bool = False) -> Statement:
    """Sanitise and summarise ``query``; never raises for any ``str``."""
    out: list[str] = []
    out_len = 0
    significant: list[Token] = []  # without whitespace and comments
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
        elif kind == "ident" and not keep_literals and _FILE_NAME.search(token, 1, len(token) - 1):
            kind = "string"  # a file named as a table ("/data/x.parquet"): a value, like 'x.parquet'
        significant.append((kind, token, match.start()))
        if out_len <= max_length:
            piece = token if keep_literals or kind not in _LITERALS else "?"
            out.append(piece)
            out_len += len(piece)
    text = query if keep_literals and len(query) > MAX_SCAN_LENGTH else "".join(out).strip()
    parts = _Scanner(significant).parts()
    summary = "; ".join(s for s in (p.summary() for p in parts) if s)[:MAX_SUMMARY_LENGTH].rstrip() or None
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


class _Scanner:
    """Reads the operations and tables of each statement from its significant tokens, in one pass.

    The state is what the next token can be: a table name (``expect``), a name in a
    ``WITH`` list, the start of the statement a ``WITH`` list belongs to; and where we
    are: the open parentheses (each holding a query or an expression) and the depth
    of an open ``FROM`` list, where a comma introduces another table.
    """

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.n = len(tokens)
        self.i = 0
        self.done: list[_Part] = []
        self.part: _Part | None = None
        self._reset()

    def _reset(self) -> None:
        self.ctes: set[str] = set()
        self.parens: list[bool] = []  # per open parenthesis: True when it holds a query
        self.from_depth: int | None = None
        self.with_depth: int | None = None  # depth at which a WITH list's names are read
        self.expect = _NONE
        self.after_with = False

    def parts(self) -> list[_Part]:
        """Scan every token; the statements found, without empty ones."""
        while self.i < self.n:
            self._step()
        self._close_part()
        return self.done

    # ------------------------------------------------------------------ one token
    def _word_at(self, k: int) -> str:
        return self.tokens[k][1].upper() if k < self.n and self.tokens[k][0] == "word" else ""

    def _step(self) -> None:
        kind, tok, offset = self.tokens[self.i]
        if tok == ";" and kind == "punct":
            self._close_part()
            self._reset()
            self.i += 1
            return
        if self.part is None:
            self.part = _Part(offset)
        word = tok.upper() if kind == "word" else ""
        if kind == "punct" and tok in "()":
            self._parenthesis(tok)
        elif self.with_depth is not None and len(self.parens) == self.with_depth and self._with_list(kind, tok, word):
            pass
        elif self.expect and self._table(kind, word):
            pass
        elif kind != "word":
            if tok == "," and self.from_depth is not None and len(self.parens) == self.from_depth:
                self.expect = _SOURCE
            self.i += 1
        else:
            self._keyword(word)

    def _close_part(self) -> None:
        if self.part is not None and not self.part.empty:
            self.done.append(self.part)
        self.part = None

    def _parenthesis(self, tok: str) -> None:
        if tok == "(":
            self.parens.append(self._word_at(self.i + 1) in _SUBQUERY_STARTS)
            self.expect = _NONE
        else:
            if self.parens:
                self.parens.pop()
            if self.from_depth is not None and len(self.parens) < self.from_depth:
                self.from_depth = None
        self.i += 1

    def _with_list(self, kind: str, tok: str, word: str) -> bool:
        """A token of a ``WITH`` list: its CTE names are remembered. False when the statement starts here."""
        if word in _CTE_MODIFIERS or tok == ",":
            self.i += 1
            return True
        next_is_definition = self._word_at(self.i + 1) == "AS" or (
            self.i + 1 < self.n and self.tokens[self.i + 1][1] == "("
        )
        if kind in ("word", "ident") and next_is_definition:
            self.ctes.add(tok)
            self.i += 1
            return True
        self.with_depth = None
        self.after_with = True
        return False

    def _table(self, kind: str, word: str) -> bool:
        """A table name where one is expected; False when this token is something else (a table function …)."""
        source = self.expect == _SOURCE
        self.expect = _NONE
        if not (kind == "ident" or (kind == "word" and word not in _NOT_TABLE)):
            return False
        first = self.tokens[self.i][1]
        name, after = self._qualified_name(self.i)
        if source and after < self.n and self.tokens[after][1] == "(":
            return False  # read_csv(...): a table function, not a table
        assert self.part is not None
        if name not in self.ctes and first not in self.ctes and _is_table_name(name):
            self.part.add_table(name)
        self.i = after
        return True

    def _qualified_name(self, k: int) -> tuple[str, int]:
        """A (possibly qualified) name starting at token ``k`` and the index after it."""
        tokens, n = self.tokens, self.n
        name = _unquote(tokens[k])
        k += 1
        while k + 1 < n and tokens[k][1] == "." and tokens[k + 1][0] in ("word", "ident"):
            name += "." + _unquote(tokens[k + 1])
            k += 2
        return name, k

    def _keyword(self, word: str) -> None:
        part = self.part
        assert part is not None
        depth = len(self.parens)
        if self.from_depth is not None and depth == self.from_depth and word in _CLAUSE_KEYWORDS:
            self.from_depth = None
        in_expression = bool(self.parens) and not self.parens[-1]
        if word == "WITH" and not in_expression:
            self.with_depth = depth
            self.i += 1
            return
        starts = (part.empty and not self.parens) or (self.after_with and depth == 0)
        self.after_with = False
        if starts or (word == "SELECT" and not in_expression):
            found = _operation(self.tokens, self.i, word) if starts else ("SELECT", 1)
            if found is not None:
                self._operation(found[0], word, depth, starts)
                self.i += found[1]
                return
        if not in_expression:
            if word in _WRITTEN_TARGET_KEYWORDS:
                self.expect = _WRITTEN
            elif word in _SOURCE_TARGET_KEYWORDS:
                self.expect = _SOURCE
                if word in ("FROM", "JOIN"):
                    self.from_depth = depth
            elif word == "ON" and part.operation == "CREATE INDEX" and not part.tables:
                self.expect = _WRITTEN
                self.from_depth = None
        self.i += 1

    def _operation(self, op: str, word: str, depth: int, starts: bool) -> None:
        part = self.part
        assert part is not None
        if not (op == "SELECT" and depth == 0 and part.from_first and not starts):  # the SELECT of ``FROM t SELECT``
            part.add_operation(op, depth)
        if starts and word in ("FROM", "TABLE"):
            part.from_first = word == "FROM"
            self.from_depth = depth if word == "FROM" else None
            self.expect = _SOURCE
        elif op.rsplit(" ", 1)[-1] in _OPS_WITH_TARGET:
            self.expect = _WRITTEN


def _is_table_name(name: str) -> bool:
    """False for names a reader would not recognise as a table: generated scans, files used as tables."""
    return not (_GENERATED_NAME.match(name) or _FILE_NAME.search(name))


def _unquote(token: Token) -> str:
    """An identifier as its name reads: ``"My Table"`` -> ``My Table`` (DuckDB's own rendering quotes every name)."""
    kind, text, _ = token
    if kind != "ident":
        return text
    inner = text[1:-1] if len(text) > 1 and text.endswith('"') else text[1:]
    return inner.replace('""', '"')


def _operation(tokens: list[Token], i: int, word: str) -> tuple[str, int] | None:
    """The operation name starting at token i and how many tokens it takes, or None."""
    if word in _SELECT_ALIASES:
        return "SELECT", 1
    if word not in _STATEMENT_OPS:
        return None
    if word in _DDL_VERBS:
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
        return word, 1
    return _VERB_ALIASES.get(word, word), 1


def _blank(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "ident":
        token = match.group()
        return _FILE_MARK if _FILE_NAME.search(token, 1, len(token) - 1) else token
    if kind == "comment":
        return " "
    if kind == "dollar":
        return _DOLLAR_MARK
    if kind == "string" or kind == "plain":
        return _STRING_MARK
    if kind == "number_string" or kind == "number":
        return _NUMBER_MARK + (_STRING_MARK if match.group("number_string") else "")
    return match.group("param") + (_STRING_MARK if match.group("param_string") else "")


def shape_of(query: str) -> str:
    """``query`` with every literal replaced by a placeholder and every comment by a space.

    Two texts with the same shape analyse alike (summary, operation, collection,
    sanitised text); only literal values and offsets differ.
    """
    return _LITERAL_OR_QUOTED.sub(_blank, query)


class StatementCache:
    """A bounded LRU map from query text to its :class:`Statement`, backed by one keyed by shape.

    A hit is a dict lookup (plus a move to the recent end). A text not seen
    before costs one pass of the literal finder when a text of the same shape
    was analysed already, else a full analysis. ``size=0`` disables caching;
    texts longer than :data:`MAX_CACHED_LENGTH` are not kept. Safe from many threads.
    """

    __slots__ = ("_entries", "_shapes", "_max_length", "_keep_literals")

    def __init__(self, size: int, *, max_length: int, keep_literals: bool) -> None:
        self._entries: BoundedLRU[str, Statement] = BoundedLRU(size)
        self._shapes: BoundedLRU[str, Statement] = BoundedLRU(size)
        self._max_length = max_length
        self._keep_literals = keep_literals

    def get(self, query: str) -> Statement:
        """The analysis of ``query``, from the cache when it is there."""
        entry = self._entries.get(query)
        if entry is None:
            entry = self._analyze(query)
            if len(query) <= MAX_CACHED_LENGTH:
                self._entries.put(query, entry)
        return entry

    def _analyze(self, query: str) -> Statement:
        if self._keep_literals or len(query) > MAX_CACHED_LENGTH or _HAS_MARK.search(query):
            return analyze(query, max_length=self._max_length, keep_literals=self._keep_literals)
        shape = shape_of(query)
        entry = self._shapes.get(shape)
        if entry is None:
            entry = analyze(query, max_length=self._max_length)
            self._shapes.put(shape, entry)
        elif entry.statement_count > 1:  # the offset that splits a script is the text's own
            entry = replace(entry, last_start=analyze(query, max_length=self._max_length).last_start)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
