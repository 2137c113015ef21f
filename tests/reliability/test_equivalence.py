"""Guarantee 1, equivalence: with and without agentotel, the same inputs give the same results and exceptions.

Hypothesis generates SQL (valid, invalid, unicode with lone surrogates and NULs,
comments, every kind of quoting, several statements, and ~1 MB texts) and runs
each text through every DuckDB entry point with the instrumentation off and on.
Results must be equal; exceptions must have the same type, message,
``__cause__`` and traceback frames in user code. The same holds for generated
LangGraph graph shapes (chains, routing, ``Send`` fan-out, failing nodes with a
cause; sync, async, invoke and stream).
"""

from __future__ import annotations

import asyncio
import operator
import warnings
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentotel import _config, _telemetry
from agentotel.instrumentation.duckdb import DuckDBInstrumentor
from agentotel.testing import TelemetryCapture
from tests.reliability.conftest import scaled, user_frames

HERE = __file__
HYPOTHESIS = settings(
    max_examples=scaled(15, 300),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# --------------------------------------------------------------------------- SQL texts
def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


_words = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_any_text = st.text(max_size=40)  # any code point: lone surrogates and NUL included
_literal = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(float(f))),
    _words.map(_quote),
    _words.map(lambda w: f"E{_quote(w.replace(chr(92), ''))}"),
    _words.filter(lambda w: "$" not in w).map(lambda w: f"$${w}$$"),
    _words.filter(lambda w: "$" not in w).map(lambda w: f"$q${w}$q$"),
    st.sampled_from(["NULL", "TRUE", "x'41'", "'2024-01-01'::DATE", "[1, 2, 3]", "{'k': 1}"]),
)
_comment = st.one_of(
    _words.filter(lambda w: "\n" not in w).map(lambda w: f"-- {w}\n"),
    _words.filter(lambda w: "*/" not in w).map(lambda w: f"/* {w} */"),
)
_column = st.sampled_from(["i", "s", "i + 1", "upper(s)", "count(*) OVER ()"])


@st.composite
def _valid_select(draw: st.DrawFn) -> str:
    items = draw(st.lists(st.one_of(_literal, _column), min_size=1, max_size=4))
    aliased = [f"{item} AS {_ident(draw(_words))}" if draw(st.booleans()) else item for item in items]
    sql = "SELECT " + ", ".join(aliased) + " FROM t"
    if draw(st.booleans()):
        sql += f" WHERE s <> {draw(_words.map(_quote))} OR i = {draw(st.integers(0, 5))}"
    if draw(st.booleans()):
        sql = draw(_comment) + sql + " " + draw(_comment)
    return sql


_statement = st.one_of(
    _valid_select(),
    st.builds(lambda lit: f"SELECT {lit}", _literal),
    st.builds(lambda lit: f"FROM t SELECT s, {lit}", _literal),
    st.builds(lambda w: f"INSERT INTO t VALUES (7, {_quote(w)})", _words),
    st.builds(lambda w: f"UPDATE t SET s = {_quote(w)} WHERE i = 1", _words),
    st.just("CREATE TABLE IF NOT EXISTS u AS SELECT * FROM t"),
    st.builds(lambda a, b: f"SELECT {a}; SELECT {b}", _literal, _literal),  # a script
    st.builds(lambda w: f"SELECT * FROM {_ident(w)}", _words),  # unknown table
    st.builds(lambda w: f"SELEC {w}", _words),  # syntax error
    st.builds(lambda w: f"SELECT '{w}", _words),  # unterminated string
    st.builds(lambda w: f"SELECT 1 /* {w}", _words),  # unterminated comment
    st.builds(lambda w: f"SELECT {_quote(w)}", _any_text),  # surrogates: DuckDB cannot encode them
    _any_text,  # anything at all
    st.sampled_from(["", ";", "-- only a comment", "SELECT 1 / 0", "SELECT 'a' + 1", "SELECT 1::INT8 * 9e18::INT8"]),
)


def _huge(kind: int) -> str:
    """~1 MB statements: one long string literal, a long IN list, a long comment."""
    if kind == 0:
        return "SELECT length(" + _quote("é" * 500_000) + ")"
    if kind == 1:
        return "SELECT count(*) FROM t WHERE s IN (" + ", ".join(_quote(f"{n:045d}") for n in range(20_000)) + ")"
    return "/* " + "x" * 1_000_000 + " */ SELECT 42"


# --------------------------------------------------------------------------- DuckDB entry points
def _fresh() -> Any:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, s VARCHAR)")
    con.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b''c'), (3, NULL)")
    return con


def _rows(result: Any) -> Any:
    return None if result is None else result.fetchall()


def _relation(make: Callable[[Any, str], Any], read: Callable[[Any], Any]) -> Callable[[Any, str], Any]:
    def run(con: Any, sql: str) -> Any:
        relation = make(con, sql)
        return None if relation is None else read(relation)

    return run


ENTRY_POINTS: dict[str, Callable[[Any, str], Any]] = {
    "con.execute": lambda con, sql: _rows(con.execute(sql)),
    "cursor.execute": lambda con, sql: _rows(con.cursor().execute(sql)),
    "duckdb.execute": lambda con, sql: _rows(duckdb.execute(sql, connection=con)),
    "con.sql.fetchall": _relation(lambda con, sql: con.sql(sql), lambda r: r.fetchall()),
    "con.query.fetchone": _relation(lambda con, sql: con.query(sql), lambda r: r.fetchone()),
    "duckdb.sql.fetchmany": _relation(lambda con, sql: duckdb.sql(sql, connection=con), lambda r: r.fetchmany(2)),
    "duckdb.query.df": _relation(lambda con, sql: duckdb.query(sql, connection=con), lambda r: r.df().to_dict("list")),
    "con.sql.arrow": _relation(lambda con, sql: con.sql(sql), lambda r: r.fetch_arrow_table().to_pylist()),
    "con.sql.pl": _relation(lambda con, sql: con.sql(sql), lambda r: r.pl().to_dicts()),
    "con.sql.fetchnumpy": _relation(
        lambda con, sql: con.sql(sql), lambda r: {k: v.tolist() for k, v in r.fetchnumpy().items()}
    ),
}
if hasattr(duckdb.DuckDBPyRelation, "iter_rows"):  # duckdb 2.x
    ENTRY_POINTS["con.sql.iter_rows"] = _relation(lambda con, sql: con.sql(sql), lambda r: list(r.iter_rows()))


def _describe(exc: BaseException | None) -> Any:
    if exc is None:
        return None
    return (type(exc), str(exc), _describe(exc.__cause__))


def _outcome(entry: Callable[[Any, str], Any], sql: str) -> tuple[Any, ...]:
    """What the application sees: the result or the exception, and the warnings (category, message)."""
    con = _fresh()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = entry(con, sql)
        except Exception as exc:  # compared as a whole: type, message, cause, user frames
            outcome: tuple[Any, ...] = ("raised", _describe(exc), user_frames(exc, HERE))
        else:
            outcome = ("returned", repr(result))
        finally:
            con.close()
    # ResourceWarnings come from the garbage collector finalising other tests' objects (an event
    # loop left unclosed, say) at whatever moment it runs: not something this call did.
    return (*outcome, [(w.category, str(w.message)) for w in caught if not issubclass(w.category, ResourceWarning)])


class _Toggle:
    """The DuckDB instrumentor switched on and off around each example, into one capture."""

    def __init__(self) -> None:
        self.capture = TelemetryCapture()
        self.instrumentor = DuckDBInstrumentor()
        _telemetry.configure(None, None, _config.load_settings())

    def both(self, name: str, sql: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        entry = ENTRY_POINTS[name]
        plain = _outcome(entry, sql)
        self.instrumentor.instrument(
            tracer_provider=self.capture.tracer_provider, meter_provider=self.capture.meter_provider
        )
        try:
            traced = _outcome(entry, sql)
        finally:
            self.instrumentor.uninstrument()
        return plain, traced


@pytest.fixture(scope="module")
def toggle() -> Any:
    found = _Toggle()
    yield found
    found.capture.shutdown()


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
@HYPOTHESIS
@given(sql=_statement)
def test_duckdb_entry_point_is_transparent(toggle: _Toggle, name: str, sql: str) -> None:
    plain, traced = toggle.both(name, sql)
    assert traced == plain


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_duckdb_huge_statements_are_transparent(toggle: _Toggle, kind: int) -> None:
    sql = _huge(kind)
    assert len(sql.encode()) >= 900_000
    for name in ("con.execute", "duckdb.execute", "con.sql.fetchall", "con.sql.iter_rows"):
        if name not in ENTRY_POINTS:
            continue
        plain, traced = toggle.both(name, sql)
        assert traced == plain, name
        assert plain[0] == "returned"


def test_equivalence_runs_were_traced(toggle: _Toggle) -> None:
    """Not vacuous: the instrumented side of the properties above really emitted spans."""
    toggle.both("con.execute", "SELECT s FROM t")
    assert any(span.name == "SELECT t" for span in toggle.capture.spans())


@HYPOTHESIS
@given(rows=st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), _any_text), max_size=6), bad=st.booleans())
def test_duckdb_executemany_is_transparent(toggle: _Toggle, rows: list[tuple[int, str]], bad: bool) -> None:
    sql = "INSERT INTO t VALUES (?, ?)" if not bad else "INSERT INTO t VALUES (?)"

    def entry(con: Any, _sql: str) -> Any:
        con.executemany(_sql, [list(r) for r in rows])
        return con.execute("SELECT * FROM t ORDER BY ALL").fetchall()

    plain = _outcome(entry, sql)
    toggle.instrumentor.instrument(
        tracer_provider=toggle.capture.tracer_provider, meter_provider=toggle.capture.meter_provider
    )
    try:
        traced = _outcome(entry, sql)
    finally:
        toggle.instrumentor.uninstrument()
    assert traced == plain


# --------------------------------------------------------------------------- LangGraph graph shapes
class NodeFailed(RuntimeError):
    """Raised by a generated node, chained to a KeyError cause."""


class GState(TypedDict, total=False):
    x: int
    items: Annotated[list, operator.add]


@st.composite
def graph_shapes(draw: st.DrawFn) -> dict[str, Any]:
    length = draw(st.integers(1, 4))
    return {
        "ops": draw(st.lists(st.sampled_from(["add", "mul", "neg"]), min_size=length, max_size=length)),
        "fail_at": draw(st.one_of(st.none(), st.integers(0, length - 1))),
        "route_stop": draw(st.one_of(st.none(), st.integers(-5, 50))),
        "fan_out": draw(st.integers(0, 3)),
        "use_async": draw(st.booleans()),
        "call": draw(st.sampled_from(["invoke", "stream", "batch"])),
        "x": draw(st.integers(-20, 20)),
    }


def _build(shape: dict[str, Any]) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    def node_fn(index: int, op: str) -> Callable[[GState], Any]:
        def apply(state: GState) -> GState:
            if shape["fail_at"] == index:
                try:
                    {}["missing"]
                except KeyError as cause:
                    raise NodeFailed(f"node {index} failed on x={state['x']}") from cause
            x = state["x"]
            return {"x": x + 3 if op == "add" else x * 2 if op == "mul" else -x}

        if not shape["use_async"]:
            return apply

        async def async_apply(state: GState) -> GState:
            await asyncio.sleep(0)
            return apply(state)

        return async_apply

    builder = StateGraph(GState)
    names = [f"n{i}" for i in range(len(shape["ops"]))]
    for index, (name, op) in enumerate(zip(names, shape["ops"], strict=False)):
        builder.add_node(name, node_fn(index, op))
    builder.add_node("work", lambda s: {"items": [s["x"]]})
    builder.add_edge(START, names[0])
    for first, second in zip(names, names[1:], strict=False):
        if shape["route_stop"] is not None:
            stop = shape["route_stop"]
            builder.add_conditional_edges(
                first, lambda s, nxt=second, stop=stop: END if s["x"] > stop else nxt, [second, END]
            )
        else:
            builder.add_edge(first, second)
    width = shape["fan_out"]
    if width:
        builder.add_conditional_edges(
            names[-1], lambda s: [Send("work", {"x": s["x"] + k}) for k in range(width)], ["work"]
        )
        builder.add_edge("work", END)
    else:
        builder.add_edge(names[-1], END)
    return builder.compile(name="generated")


def _completion_order_free(chunks: list[Any]) -> list[Any]:
    """Stream chunks with the parallel ``work`` tasks' chunks (the last step) sorted: LangGraph streams
    the tasks of one step as they finish, in an order that varies from run to run with or without us."""
    work = [c for c in chunks if isinstance(c, dict) and list(c) == ["work"]]
    return [c for c in chunks if c not in work] + sorted(work, key=repr)


def _run_graph(shape: dict[str, Any]) -> tuple[Any, ...]:
    graph = _build(shape)
    payload = {"x": shape["x"], "items": []}
    try:
        if shape["use_async"]:

            async def go() -> Any:
                if shape["call"] == "stream":
                    return _completion_order_free([chunk async for chunk in graph.astream(payload)])
                if shape["call"] == "batch":
                    return await graph.abatch([payload, payload])
                return await graph.ainvoke(payload)

            result = asyncio.run(go())
        elif shape["call"] == "stream":
            result = _completion_order_free(list(graph.stream(payload)))
        elif shape["call"] == "batch":
            result = graph.batch([payload, payload])
        else:
            result = graph.invoke(payload)
    except Exception as exc:
        return ("raised", _describe(exc), user_frames(exc, HERE))
    return ("returned", repr(result))


@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=graph_shapes())
def test_langgraph_graph_shapes_are_transparent(shape: dict[str, Any]) -> None:
    from agentotel.instrumentation.langgraph import LangGraphInstrumentor

    capture = TelemetryCapture()
    plain = _run_graph(shape)
    instrumentor = LangGraphInstrumentor()
    instrumentor.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    try:
        traced = _run_graph(shape)
    finally:
        instrumentor.uninstrument()
        capture.shutdown()
    assert traced == plain
    runs = [s for s in capture.spans() if s.name == "invoke_workflow generated"]
    if shape["call"] != "batch":
        assert len(runs) == 1  # and it really was traced
    elif shape["fail_at"] is None:
        assert len(runs) == 2
    else:  # the first failure of a batch cancels the input not started yet
        assert 1 <= len(runs) <= 2


# --------------------------------------------------------------------------- cachetools and agentotel.agent
_cache_ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "get", "getitem", "del", "pop", "contains", "len", "tick"]),
        st.integers(0, 5),
        st.integers(-3, 3),
    ),
    max_size=40,
)


def _cachetools_trace(kind: str, ops: list[tuple[str, int, int]]) -> list[Any]:
    import cachetools

    class Missing(cachetools.LRUCache):
        def __missing__(self, key: Any) -> Any:
            return f"made {key}"

    now = [0.0]
    cache: Any = {
        "lru": lambda: cachetools.LRUCache(3),
        "lfu": lambda: cachetools.LFUCache(3),
        "fifo": lambda: cachetools.FIFOCache(3),
        "rr": lambda: cachetools.RRCache(3, choice=min),
        "ttl": lambda: cachetools.TTLCache(3, ttl=2, timer=lambda: now[0]),
        "missing": lambda: Missing(3),
    }[kind]()
    seen: list[Any] = []
    for op, key, value in ops:
        try:
            if op == "set":
                cache[key] = value
                seen.append(None)
            elif op == "get":
                seen.append(cache.get(key, "default"))
            elif op == "getitem":
                seen.append(cache[key])
            elif op == "del":
                del cache[key]
                seen.append(None)
            elif op == "pop":
                seen.append(cache.pop(key, "absent"))
            elif op == "contains":
                seen.append(key in cache)
            elif op == "len":
                seen.append(len(cache))
            else:
                now[0] += 1
                seen.append(sorted(cache.items()))
        except KeyError as exc:
            seen.append(("KeyError", exc.args))
    return seen


@pytest.mark.parametrize("kind", ["lru", "lfu", "fifo", "rr", "ttl", "missing"])
@HYPOTHESIS
@given(ops=_cache_ops)
def test_cachetools_caches_are_transparent(kind: str, ops: list[tuple[str, int, int]]) -> None:
    from agentotel.instrumentation.cachetools import CachetoolsInstrumentor

    plain = _cachetools_trace(kind, ops)
    capture = TelemetryCapture()
    instrumentor = CachetoolsInstrumentor()
    instrumentor.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    try:
        traced = _cachetools_trace(kind, ops)
    finally:
        instrumentor.uninstrument()
        capture.shutdown()
    assert traced == plain


def _agent_outcome(kind: str, fail: bool, value: int) -> tuple[Any, ...]:
    import agentotel

    def body(x: int) -> int:
        if fail:
            try:
                {}[x]
            except KeyError as cause:
                raise NodeFailed(f"agent failed on {x}") from cause
        return x * 3

    try:
        if kind == "function":
            result: Any = agentotel.agent(name="f")(body)(value)
        elif kind == "coroutine":

            async def coroutine(x: int) -> int:
                return body(x)

            result = asyncio.run(agentotel.agent(name="c")(coroutine)(value))
        elif kind == "generator":

            def generator(x: int) -> Any:
                yield body(x)
                yield x

            result = list(agentotel.agent(name="g")(generator)(value))
        else:
            with agentotel.agent(name="b"):
                result = body(value)
    except Exception as exc:
        return ("raised", _describe(exc), user_frames(exc, HERE))
    return ("returned", result)


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(
    kind=st.sampled_from(["function", "coroutine", "generator", "block"]), fail=st.booleans(), value=st.integers(-5, 5)
)
def test_agent_decorator_is_transparent(kind: str, fail: bool, value: int) -> None:
    from agentotel.testing import capture_telemetry

    plain = _agent_outcome(kind, fail, value)
    with capture_telemetry() as capture:
        traced = _agent_outcome(kind, fail, value)
        assert len(capture.spans()) == 1
    assert traced == plain
