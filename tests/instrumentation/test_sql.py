"""The SQL sanitizer and summariser: real DuckDB SQL, privacy properties, the bounded cache."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentotel.instrumentation._sql import MAX_CACHED_LENGTH, MAX_SUMMARY_LENGTH, StatementCache, analyze


@pytest.mark.parametrize(
    ("query", "summary", "operation", "collection"),
    [
        (
            "SELECT * FROM landuse_transitions WHERE year = 2020",
            "SELECT landuse_transitions",
            "SELECT",
            "landuse_transitions",
        ),
        ("select a from t where b = 'x'", "SELECT t", "SELECT", "t"),
        ("SELECT * FROM t1 JOIN t2 ON t1.id = t2.id LEFT JOIN t3 USING (id)", "SELECT t1 t2 t3", "SELECT", None),
        ("SELECT * FROM a x, b AS y WHERE x.id = y.id", "SELECT a b", "SELECT", None),
        (
            "SELECT order_date FROM (SELECT * FROM orders o JOIN customers c ON o.cid = c.id)",
            "SELECT SELECT orders customers",
            "SELECT",
            None,
        ),
        ("SELECT * FROM t WHERE id IN (SELECT id FROM u)", "SELECT t SELECT u", "SELECT", None),
        ("WITH recent AS (SELECT * FROM orders) SELECT * FROM recent", "SELECT orders", "SELECT", "orders"),
        ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r", "SELECT", "SELECT", None),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "INSERT t", "INSERT", "t"),
        ("WITH a AS (SELECT 1), b AS (SELECT 2) SELECT * FROM a, b", "SELECT", "SELECT", None),
        ("SELECT (SELECT max(a) FROM t), (SELECT 2)", "SELECT SELECT t", "SELECT", "t"),
        ("SELECT 1 UNION ALL SELECT 2", "SELECT", "SELECT", None),
        ("SELECT * FROM a UNION SELECT * FROM b", "SELECT a SELECT b", "SELECT", None),
        ("CREATE TABLE t AS SELECT 1 AS a", "CREATE TABLE t", "CREATE TABLE", "t"),
        ('SELECT * FROM "/tmp/pytest-7/run3/x.parquet"', "SELECT", "SELECT", None),
        ('SELECT * FROM "data/*.csv" JOIN t USING (id)', "SELECT t", "SELECT", "t"),
        ('SELECT * FROM "s3://bucket/key.json"', "SELECT", "SELECT", None),
        ('SELECT * FROM "__duckdb_source_a1c2d8a81530_17" AS "df_e749fa287619e3c5"', "SELECT", "SELECT", None),
        (
            'WITH df AS NOT MATERIALIZED (SELECT * FROM "__duckdb_source_a1c2d8a81530_5") '
            'SELECT * FROM (FROM df) AS "unnamed_relation_e316a08902ee523b"',
            "SELECT",
            "SELECT",
            None,
        ),
        (
            "INSERT INTO archive SELECT s.id FROM shipping s JOIN status ss ON s.id = ss.id",
            "INSERT archive SELECT shipping status",
            "INSERT",
            None,
        ),
        ("INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT t", "INSERT", "t"),
        ("INSERT OR REPLACE INTO t VALUES (1)", "INSERT t", "INSERT", "t"),
        ("UPDATE t SET a = 1 WHERE id = 2", "UPDATE t", "UPDATE", "t"),
        ("DELETE FROM t WHERE id = ?", "DELETE t", "DELETE", "t"),
        ("CREATE TABLE t (a INTEGER, b VARCHAR)", "CREATE TABLE t", "CREATE TABLE", "t"),
        ("CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM s", "CREATE TABLE t SELECT s", "CREATE TABLE", None),
        ("CREATE TABLE IF NOT EXISTS t (a INT)", "CREATE TABLE t", "CREATE TABLE", "t"),
        ("CREATE VIEW v AS SELECT * FROM t", "CREATE VIEW v SELECT t", "CREATE VIEW", None),
        ("CREATE INDEX idx ON t (a)", "CREATE INDEX t", "CREATE INDEX", "t"),
        ("DROP TABLE IF EXISTS t", "DROP TABLE t", "DROP TABLE", "t"),
        ("ALTER TABLE t ADD COLUMN c INT", "ALTER TABLE t", "ALTER TABLE", "t"),
        ("COPY t TO 'out.csv' (HEADER)", "COPY t", "COPY", "t"),
        ("COPY (SELECT * FROM t WHERE a = 1) TO 'x.parquet' (FORMAT parquet)", "COPY SELECT t", "COPY", "t"),
        ("PIVOT cities ON year USING sum(population)", "PIVOT cities", "PIVOT", "cities"),
        ("UNPIVOT t ON a, b INTO NAME k VALUE v", "UNPIVOT t", "UNPIVOT", "t"),
        ("FROM t SELECT a", "SELECT t", "SELECT", "t"),
        ("FROM t", "SELECT t", "SELECT", "t"),
        ("SELECT * FROM read_csv('secret.csv')", "SELECT", "SELECT", None),
        ("SELECT * FROM 'file.parquet'", "SELECT", "SELECT", None),
        ("SELECT EXTRACT(year FROM d) FROM t", "SELECT t", "SELECT", "t"),
        ('SELECT * FROM "My ""Quoted"" Table"', 'SELECT My "Quoted" Table', "SELECT", 'My "Quoted" Table'),
        ('SELECT * FROM main."Landuse"', "SELECT main.Landuse", "SELECT", "main.Landuse"),
        ("DESCRIBE t", "DESCRIBE t", "DESCRIBE", "t"),
        ("SUMMARIZE t", "SUMMARIZE t", "SUMMARIZE", "t"),
        ("SHOW TABLES", "SHOW", "SHOW", None),
        ("EXPLAIN SELECT * FROM t", "EXPLAIN SELECT t", "EXPLAIN", "t"),
        ("SET threads = 4", "SET", "SET", None),
        ("BEGIN TRANSACTION", "BEGIN", "BEGIN", None),
        ("VALUES (1), (2)", "SELECT", "SELECT", None),
        ("(SELECT 1)", "SELECT", "SELECT", None),
        ("SELECT * FROM songs; SELECT * FROM albums;", "SELECT songs; SELECT albums", "BATCH SELECT", None),
        ("CREATE TABLE t (a INT); INSERT INTO t VALUES (1)", "CREATE TABLE t; INSERT t", "BATCH", "t"),
        ("", None, None, None),
        ("  -- only a comment\n", None, None, None),
    ],
)
def test_summary_operation_collection(
    query: str, summary: str | None, operation: str | None, collection: str | None
) -> None:
    statement = analyze(query)
    assert (statement.summary, statement.operation, statement.collection) == (summary, operation, collection)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("SELECT * FROM t WHERE name = 'it''s' AND n = 42", "SELECT * FROM t WHERE name = ? AND n = ?"),
        ("SELECT E'it\\'s', E'a\\\\' FROM t", "SELECT ?, ? FROM t"),
        ("SELECT $$dollar 'quoted'$$, $tag$ it's $ inside $tag$ FROM t", "SELECT ?, ? FROM t"),
        ("SELECT 1e5, 1.5, .5, 0x1F, 1_000, -3 FROM t", "SELECT ?, ?, ?, ?, ?, -? FROM t"),
        ("SELECT x'ab', b'01' FROM t", "SELECT ?, ? FROM t"),
        ("SELECT a -- secret 'x'\nFROM t /* 'y' 42 */ WHERE b = 1", "SELECT a FROM t WHERE b = ?"),
        (
            "SELECT * FROM t WHERE a = $1 AND b = ? AND c = $name",
            "SELECT * FROM t WHERE a = $1 AND b = ? AND c = $name",
        ),
        ("SELECT '2020-01-01'::DATE, INTERVAL '1 day'", "SELECT ?::DATE, INTERVAL ?"),
        ("SELECT   a,\n\tb   FROM t", "SELECT a, b FROM t"),
        ("SELECT 'unterminated", "SELECT ?"),
        ('SELECT "col 1" FROM t1', 'SELECT "col 1" FROM t1'),
    ],
)
def test_literals_replaced(query: str, text: str) -> None:
    assert analyze(query).text == text


def test_parameterised_flag() -> None:
    assert analyze("SELECT * FROM t WHERE a = ?").parameterised
    assert analyze("SELECT * FROM t WHERE a = $1").parameterised
    assert analyze("SELECT * FROM t WHERE a = $name").parameterised
    assert not analyze("SELECT '?' FROM t").parameterised  # a question mark inside a string is a literal


def test_keep_literals_keeps_them() -> None:
    statement = analyze("SELECT * FROM t WHERE name = 'alice'", keep_literals=True)
    assert statement.text == "SELECT * FROM t WHERE name = 'alice'"
    assert statement.summary == "SELECT t"


def test_text_is_capped_and_summary_bounded() -> None:
    query = "SELECT " + ", ".join(f"col{i}" for i in range(2000)) + " FROM t"
    statement = analyze(query, max_length=100)
    assert len(statement.text) == 100 and statement.text.startswith("SELECT col0, col1")
    many = "; ".join(f"SELECT * FROM table_{i}" for i in range(200))
    assert len(analyze(many).summary or "") <= MAX_SUMMARY_LENGTH


def test_one_megabyte_query() -> None:
    values = ", ".join(f"({i}, 'secret{i}')" for i in range(60_000))
    query = f"INSERT INTO big VALUES {values}"
    assert len(query) > 1_000_000
    statement = analyze(query, max_length=2048)
    assert statement.summary == "INSERT big"
    assert len(statement.text) <= 2048
    assert "secret" not in statement.text and "1234" not in statement.text


def test_surrogates_and_non_ascii_give_valid_utf8() -> None:
    raw = b"SELECT * FROM t\xff WHERE a = 'caf\xe9'".decode("utf-8", "surrogateescape")
    statement = analyze(raw)
    for value in (statement.text, statement.summary or ""):
        value.encode("utf-8")  # would raise on a lone surrogate
    assert analyze("SELECT * FROM größe WHERE n = 'ü'").summary == "SELECT größe"


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1",
        "FROM t",
        "VALUES (1)",
        "TABLE t",
        "(SELECT 1)",
        "DESCRIBE t",
        "SHOW TABLES",
        "SUMMARIZE t",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "UNPIVOT t ON i INTO NAME k VALUE v",
        "INSERT INTO t VALUES (1, 'a')",
        "CREATE TABLE u (a INT)",
        "DROP TABLE t",
        "UPDATE t SET i = 1",
        "DELETE FROM t",
        "COPY t TO 'x.csv'",
        "SET threads = 1",
        "CALL pragma_version()",
        "EXPLAIN SELECT 1",
        "BEGIN TRANSACTION",
        "CHECKPOINT",
    ],
)
def test_lazy_matches_duckdb_statement_type(query: str) -> None:
    """``lazy`` (what con.sql keeps lazy) agrees with DuckDB's own parser: SELECT-type statements."""
    expected = duckdb.extract_statements(query)[-1].type == duckdb.StatementType.SELECT
    assert analyze(query).lazy is expected


def test_version_dependent_statements_are_eager() -> None:
    """PIVOT (MULTI in duckdb 2, CREATE in 1.x) and PRAGMA run at the call: con.sql() spans them there."""
    assert not analyze("PIVOT t ON s USING sum(i)").lazy
    assert not analyze("PRAGMA version").lazy


def test_script_last_statement_offset() -> None:
    query = "CREATE TABLE t AS SELECT 1 AS a;  SELECT * FROM t"
    statement = analyze(query)
    assert statement.statement_count == 2 and statement.lazy
    assert query[statement.last_start :] == "SELECT * FROM t"


# --------------------------------------------------------------------------- properties
_LITERAL_BODY = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=6, max_size=30
).filter(lambda s: s.strip() and s.isprintable())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_never_raises_and_output_is_bounded(query: str) -> None:
    statement = analyze(query, max_length=256)
    assert len(statement.text) <= 256
    assert statement.summary is None or len(statement.summary) <= MAX_SUMMARY_LENGTH
    statement.text.encode("utf-8")


_TEMPLATES = [
    "SELECT * FROM t WHERE a = {lit}",
    "INSERT INTO t VALUES (1, {lit}), (2, {lit})",
    "UPDATE t SET a = {lit} WHERE b = {lit}",
    "SELECT {lit} AS x; SELECT * FROM u WHERE c = {lit}",
    "COPY (SELECT * FROM t WHERE a = {lit}) TO 'out.csv'",
    "SELECT * FROM t /* c */ WHERE a IN ({lit}, {lit}) -- tail",
    "WITH q AS (SELECT {lit} AS v) SELECT * FROM q",
]


def _quote(body: str, style: int) -> str:
    if style == 0:
        return "'" + body.replace("'", "''") + "'"
    if style == 1:
        return "E'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "$q$" + body.replace("$q$", "") + "$q$"


@settings(max_examples=200, deadline=None)
@given(body=_LITERAL_BODY, template=st.sampled_from(_TEMPLATES), style=st.integers(0, 2))
def test_never_leaks_a_string_literal(body: str, template: str, style: int) -> None:
    literal = _quote(body, style)
    statement = analyze(template.format(lit=literal))
    inner = literal[2:-2] if style == 0 else literal[3:-3]
    for emitted in (statement.text, statement.summary or "", statement.collection or ""):
        assert literal not in emitted
        if len(inner.strip()) >= 6 and inner not in analyze(template.format(lit="NULL")).text:
            assert inner not in emitted


@settings(max_examples=100, deadline=None)
@given(number=st.one_of(st.integers(1000, 10**12), st.floats(1000, 1e12, allow_nan=False)))
def test_never_leaks_a_number(number: float) -> None:
    text = repr(number)
    assert text not in analyze(f"SELECT * FROM t WHERE a = {text} OR b > {text}").text


# --------------------------------------------------------------------------- cache
def test_cache_hits_return_the_same_analysis_and_stay_bounded() -> None:
    cache = StatementCache(3, max_length=2048, keep_literals=False)
    first = cache.get("SELECT 1")
    assert cache.get("SELECT 1") is first
    for i in range(10):
        cache.get(f"SELECT {i} FROM t{i}")
    assert len(cache) == 3
    assert cache.get("SELECT 1") is not first  # evicted, analysed again
    assert cache.get("SELECT 1") == first


def test_cache_does_not_keep_huge_texts() -> None:
    cache = StatementCache(8, max_length=2048, keep_literals=False)
    huge = "SELECT " + "1, " * MAX_CACHED_LENGTH + "1"
    assert cache.get(huge).summary == "SELECT"
    assert len(cache) == 0


def test_cache_size_zero_disables_it() -> None:
    cache = StatementCache(0, max_length=2048, keep_literals=False)
    cache.get("SELECT 1")
    assert len(cache) == 0


_LITERAL_VALUES = st.one_of(
    _LITERAL_BODY.map(lambda body: _quote(body, 0)),
    _LITERAL_BODY.map(lambda body: _quote(body, 1)),
    _LITERAL_BODY.map(lambda body: _quote(body, 2)),
    st.integers(0, 10**12).map(str),
    st.floats(0, 1e9, allow_nan=False).map(repr),
)


@settings(max_examples=200, deadline=None)
@given(template=st.sampled_from(_TEMPLATES), first=_LITERAL_VALUES, second=_LITERAL_VALUES)
def test_texts_of_one_shape_analyse_exactly_like_a_fresh_analysis(template: str, first: str, second: str) -> None:
    """The cache answers a new literal from the shape it has seen, and the answer is the full analysis."""
    cache = StatementCache(16, max_length=2048, keep_literals=False)
    cache.get(template.format(lit=first))
    query = template.format(lit=second)
    assert cache.get(query) == analyze(query)


_SOUP_WORDS = ["SELECT", "FROM", "t", "a1", "e", "x", "E", "_", "$", "$a", "$a$", "?", ".", "..", ",", "(", ")", ";",
               " ", "\n", "--", "/*", "*/", "\\", '"', "'", "''", "-"]  # fmt: skip
_SOUP_LITERALS = ["1", "12", "1.5", ".5", "1e5", "0x1F", "1_0", "'s'", "'it''s'", "e'\\''", "E'x'", "x'0f'",
                  "b'01'", "$$d$$", "$q$ 'x' $q$", "'--'", "'/*'", "'\"'"]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    skeleton=st.lists(st.one_of(st.sampled_from(_SOUP_WORDS), st.none()), max_size=24),
    first=st.lists(st.sampled_from(_SOUP_LITERALS), min_size=24, max_size=24),
    second=st.lists(st.sampled_from(_SOUP_LITERALS), min_size=24, max_size=24),
)
def test_the_shape_cache_agrees_with_analysis_on_any_token_soup(
    skeleton: list[str | None], first: list[str], second: list[str]
) -> None:
    """Two texts of one skeleton with other literals: the second is answered from the shape, exactly."""

    def fill(literals: list[str]) -> str:
        return "".join(literals[i] if word is None else word for i, word in enumerate(skeleton))

    cache = StatementCache(16, max_length=2048, keep_literals=False)
    cache.get(fill(first))
    query = fill(second)
    assert cache.get(query) == analyze(query)
