"""Guarantee 3, privacy by default: nothing the user said, stored or queried leaves the process unless asked.

One workload runs every instrumentation and component with sentinel strings in
prompts, completions, tool arguments and results, SQL string and number
literals (also inside DuckDB's error messages), query parameters, cache keys
and values, and graph state. Every exported span name, attribute, event, link,
status message, metric attribute and log record is scanned: by default no
sentinel appears; with each opt-in switch exactly the opted-in kind appears, and
every opted-in value is capped at ``max_attribute_length``. OTLP header values
(API keys) never appear in ``agentotel doctor``'s report or our logs.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import cachetools
import duckdb
import pytest
from langchain_core.tools import tool

import agentotel
from agentotel import semconv
from agentotel.testing import TelemetryCapture, capture_telemetry
from tests.instrumentation.langgraph.fakes import ToolCallingChatModel
from tests.reliability.conftest import exported_strings, leaks

PAD = "x" * 600  # makes every opted-in value longer than the cap used below
CAP = 128

SQL_STRING = "S3ntinelSqlString"
SQL_NUMBER = "987654321987"
SQL_IN_ERROR = "S3ntinelSqlError"
QUERY_PARAMETER = "S3ntinelParameter"
PROMPT = "S3ntinelPrompt"
COMPLETION = "S3ntinelCompletion"
TOOL_ARGUMENT = "S3ntinelToolArgument"
TOOL_RESULT = "S3ntinelToolResult"
CACHE_KEY = "S3ntinelCacheKey"
CACHE_VALUE = "S3ntinelCacheValue"
GRAPH_STATE = "S3ntinelGraphState"
OTLP_HEADER = "S3ntinelApiKey"

KINDS: dict[str, frozenset[str]] = {
    "sql": frozenset({SQL_STRING, SQL_NUMBER, SQL_IN_ERROR, QUERY_PARAMETER}),
    "content": frozenset({PROMPT, COMPLETION, TOOL_ARGUMENT, TOOL_RESULT}),
    "cache_keys": frozenset({CACHE_KEY}),
    "never": frozenset({CACHE_VALUE, GRAPH_STATE, OTLP_HEADER}),
}
ALL = frozenset().union(*KINDS.values())
#: Attributes holding opted-in values (each must respect the cap).
OPT_IN_KEYS = (
    semconv.DB_QUERY_TEXT,
    semconv.DB_QUERY_PARAMETER_PREFIX,
    semconv.GEN_AI_INPUT_MESSAGES,
    semconv.GEN_AI_OUTPUT_MESSAGES,
    semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
    semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
    semconv.GEN_AI_TOOL_CALL_RESULT,
    semconv.CACHE_KEY,
    "exception.message",
)


# --------------------------------------------------------------------------- the workload
class SecretModel(ToolCallingChatModel):
    """Asks for ``echo`` with a secret argument, then answers with a secret completion."""

    tool_name: str | None = "echo"
    tool_args: dict[str, Any] = {"text": TOOL_ARGUMENT + PAD}
    answer: str = COMPLETION + PAD


@tool
def echo(text: str) -> str:
    """Return a secret result."""
    return TOOL_RESULT + PAD


class SecretState(TypedDict, total=False):
    secret: str
    notes: Annotated[list, operator.add]


def _state_graph() -> Any:
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(SecretState)
    builder.add_node("read", lambda s: {"notes": [s["secret"] + "!"]})
    builder.add_node("write", lambda s: {"secret": s["secret"] + GRAPH_STATE})
    builder.add_edge(START, "read")
    builder.add_edge("read", "write")
    builder.add_edge("write", END)
    return builder.compile(name="stateful")


def _duckdb_work() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i BIGINT, s VARCHAR)")
    con.execute(f"INSERT INTO t VALUES ({SQL_NUMBER}, '{SQL_STRING}{PAD}')")
    assert con.execute(f"SELECT i FROM t WHERE s = '{SQL_STRING}{PAD}' OR i = {SQL_NUMBER}").fetchall()
    assert con.sql(f"SELECT count(*) FROM t WHERE s LIKE '%{SQL_STRING}%'").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM t WHERE s = ?", [QUERY_PARAMETER + PAD]).fetchall() == [(0,)]
    assert duckdb.execute("SELECT ?::VARCHAR", [QUERY_PARAMETER], connection=con).fetchall()
    con.executemany("INSERT INTO t VALUES (?, ?)", [[1, QUERY_PARAMETER], [2, QUERY_PARAMETER]])
    with pytest.raises(duckdb.ConversionException, match=SQL_IN_ERROR):
        con.execute(f"SELECT CAST('{SQL_IN_ERROR}' AS INTEGER)")
    with pytest.raises(duckdb.Error):
        con.sql(f"SELECT * FROM t WHERE s = '{SQL_IN_ERROR}' AND missing_column = {SQL_NUMBER}")


def _agent_work() -> None:
    from tests.support.agents import build_agent

    agent = build_agent(SecretModel(), [echo], name="secretive")
    result = agent.invoke({"messages": [("system", PROMPT + " system"), ("user", PROMPT + PAD)]})
    assert result["messages"][-1].content.startswith(COMPLETION)
    streamed = list(agent.stream({"messages": [("user", PROMPT)]}, stream_mode="values"))
    assert streamed
    graph = _state_graph()
    assert graph.invoke({"secret": GRAPH_STATE, "notes": []})["secret"].startswith(GRAPH_STATE)
    for _ in graph.stream({"secret": GRAPH_STATE, "notes": []}):
        break  # abandoned stream


async def _async_agent_work() -> None:
    from tests.support.agents import build_agent

    agent = build_agent(SecretModel(), [echo], name="secretive_async")
    result = await agent.ainvoke({"messages": [("user", PROMPT)]})
    assert result["messages"][-1].content.startswith(COMPLETION)


def _pydantic_ai_work() -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    def respond(messages: list[Any], info: AgentInfo) -> ModelResponse:
        if any(isinstance(part, ToolReturnPart) for part in messages[-1].parts):
            return ModelResponse(parts=[TextPart(COMPLETION + PAD)])
        return ModelResponse(parts=[ToolCallPart("echo_tool", {"text": TOOL_ARGUMENT + PAD})])

    agent = Agent(FunctionModel(respond), system_prompt=PROMPT + " system", name="pydantic_secretive")

    @agent.tool_plain
    def echo_tool(text: str) -> str:
        return TOOL_RESULT + PAD

    assert agent.run_sync(PROMPT + PAD).output.startswith(COMPLETION)


def _decorated_agent_work() -> None:
    @agentotel.agent(name="handwritten")
    def answer(question: str, *, context: str) -> str:
        return COMPLETION + question

    assert answer(PROMPT, context=GRAPH_STATE).startswith(COMPLETION)

    @agentotel.agent
    def steps(question: str) -> Iterator[str]:
        yield PROMPT
        yield COMPLETION

    for _ in steps(PROMPT):
        break  # abandoned generator


def _cache_work(capture: TelemetryCapture) -> None:
    tracer = capture.tracer_provider.get_tracer("app")
    cache = agentotel.Cache("secrets", max_entries=4)
    with tracer.start_as_current_span("app work"):
        assert cache.get_or_load(CACHE_KEY + PAD, lambda: CACHE_VALUE) == CACHE_VALUE
        assert cache.get(CACHE_KEY + PAD) == CACHE_VALUE
        cache.set(CACHE_KEY + "2", CACHE_VALUE)
        for n in range(8):  # evictions
            cache.set(f"{CACHE_KEY}-{n}", CACHE_VALUE)

    @cachetools.cached(cachetools.TTLCache(maxsize=4, ttl=60))
    def lookup(key: str) -> str:
        return CACHE_VALUE

    assert lookup(CACHE_KEY) == CACHE_VALUE
    assert lookup(CACHE_KEY) == CACHE_VALUE
    breaker = agentotel.CircuitBreaker("secrets", minimum_calls=1, window_size=1)
    with pytest.raises(KeyError):
        breaker.call(lambda: {}[CACHE_VALUE])
    balancer = agentotel.LoadBalancer("secrets", ["a", "b"])
    assert balancer.call(lambda instance: CACHE_VALUE) == CACHE_VALUE


@pytest.fixture
def run_workload(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)

    def run(**options: Any) -> tuple[TelemetryCapture, list[Any]]:
        import asyncio

        with capture_telemetry(max_attribute_length=CAP, **options) as capture:
            caplog.clear()
            _duckdb_work()
            _agent_work()
            asyncio.run(_async_agent_work())
            _pydantic_ai_work()
            _decorated_agent_work()
            _cache_work(capture)
            found = exported_strings(capture, caplog.records)
            assert len(capture.spans()) > 20  # the workload really was traced
            return capture, found

    return run


def _kinds_seen(found: list[Any]) -> set[str]:
    return {kind for kind, sentinels in KINDS.items() if leaks(found, sentinels)}


def _capped(capture: TelemetryCapture, scopes: tuple[str, ...] = ("agentotel",)) -> list[tuple[str, str, int]]:
    """Opted-in attributes holding user data (a sentinel) longer than the cap, in spans of ``scopes``."""
    too_long = []
    for span in capture.spans():
        if not span.instrumentation_scope.name.startswith(scopes):
            continue
        groups = [span.attributes or {}] + [event.attributes or {} for event in span.events]
        for attributes in groups:
            for key, value in attributes.items():
                if (
                    key.startswith(OPT_IN_KEYS)
                    and isinstance(value, str)
                    and len(value) > CAP
                    and any(sentinel in value for sentinel in ALL)
                ):
                    too_long.append((span.instrumentation_scope.name, key, len(value)))
    return too_long


def test_no_sentinel_by_default(run_workload: Any) -> None:
    capture, found = run_workload()
    assert leaks(found, ALL) == []
    assert any(s.attributes.get(semconv.DB_QUERY_TEXT) for s in capture.spans())  # sanitised text is there


@pytest.mark.parametrize(
    "options, kind",
    [
        ({"capture_sql_parameters": True}, "sql"),
        ({"capture_message_content": "SPAN_ONLY"}, "content"),
        ({"capture_message_content": "EVENT_ONLY"}, "content"),
        ({"capture_message_content": "SPAN_AND_EVENT"}, "content"),
        ({"capture_cache_keys": True}, "cache_keys"),
    ],
)
def test_each_switch_reveals_only_its_kind_capped(run_workload: Any, options: dict[str, Any], kind: str) -> None:
    capture, found = run_workload(**options)
    assert _kinds_seen(found) == {kind}
    assert _capped(capture) == []
    if kind == "content":
        assert leaks(found, KINDS["content"]) and {PROMPT, COMPLETION, TOOL_ARGUMENT, TOOL_RESULT} == {
            s for s in KINDS["content"] if leaks(found, [s])
        }


def test_pydantic_ai_content_is_capped(run_workload: Any) -> None:
    capture, _ = run_workload(capture_message_content="SPAN_AND_EVENT")
    assert _capped(capture, scopes=("pydantic",)) == []


def test_query_text_switch_off_drops_even_the_sanitised_text(run_workload: Any) -> None:
    capture, found = run_workload(capture_query_text=False)
    assert leaks(found, ALL) == []
    assert not any(semconv.DB_QUERY_TEXT in (s.attributes or {}) for s in capture.spans())


# --------------------------------------------------------------------------- OTLP header values
def test_otlp_header_values_stay_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from agentotel import _sdk, doctor

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{OTLP_HEADER},x-tenant=acme")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"x-api-key={OTLP_HEADER}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    target = _sdk.otlp_target("TRACES")
    assert target.headers == {"x-api-key": OTLP_HEADER}  # read, so it really is configured
    assert OTLP_HEADER not in str(target.masked_headers())
    assert OTLP_HEADER not in repr(target)  # e.g. when a target ends up in a log message
    doctor.main(["--timeout", "1"])
    report = capsys.readouterr()
    assert "x-api-key" in report.out
    assert OTLP_HEADER not in report.out + report.err
    assert [r.getMessage() for r in caplog.records if OTLP_HEADER in r.getMessage()] == []


# --------------------------------------------------------------------------- an SQL error on every span it passes
SSN = "SSN-123-45-6789"
_people = agentotel.Cache("people")


def _convert(ssn: str) -> Any:
    con = duckdb.connect()
    return con.execute(f"SELECT CAST('{ssn}' AS INTEGER)").fetchall()


@tool
def lookup_person(ssn: str) -> str:
    """Look a person up (the query fails, quoting the number)."""
    return str(_people.get_or_load(("person", ssn), lambda: _convert(ssn)))


@tool
def lookup_person_copied(ssn: str) -> str:
    """The same, re-raised as another exception that copies DuckDB's text and hides the original."""
    try:
        return str(_people.get_or_load(("copied", ssn), lambda: _convert(ssn)))
    except duckdb.Error as exc:
        raise LookupError(f"lookup failed: {exc}") from None


@tool
def lookup_person_caused(ssn: str) -> str:
    """The same, re-raised as another exception whose cause is DuckDB's."""
    try:
        return str(_people.get_or_load(("caused", ssn), lambda: _convert(ssn)))
    except duckdb.Error as exc:
        raise LookupError("lookup failed") from exc


@pytest.mark.parametrize(
    "lookup, raised",
    [
        (lookup_person, duckdb.ConversionException),
        (lookup_person_copied, LookupError),
        (lookup_person_caused, LookupError),
    ],
    ids=["direct", "copied", "caused"],
)
def test_sql_literal_in_an_error_is_cleaned_on_every_span(
    caplog: pytest.LogCaptureFixture, lookup: Any, raised: type[BaseException]
) -> None:
    from tests.support.agents import HAVE_CREATE_AGENT, build_agent, build_react_agent

    caplog.set_level(logging.DEBUG)
    model = ToolCallingChatModel(tool_name=lookup.name, tool_args={"ssn": SSN})
    if HAVE_CREATE_AGENT:
        graph = build_agent(model, [lookup], name="registry")  # the tool's error propagates (not a ToolMessage)
    else:  # LangGraph 0.x: its ToolNode turns errors into messages unless told not to
        from langgraph.prebuilt import ToolNode

        graph = build_react_agent(model, ToolNode([lookup], handle_tool_errors=False), name="registry")

    @agentotel.agent(name="front-desk")
    def ask() -> Any:
        return graph.invoke({"messages": [("user", "who is it?")]})

    with capture_telemetry() as capture:
        with pytest.raises(raised) as caught:
            ask()
        found = exported_strings(capture, caplog.records)
    assert SSN in str(caught.value) or SSN in str(caught.value.__cause__)  # the user's exception is untouched
    assert leaks(found, [SSN, "123-45-6789"]) == []
    failed = {span.name for span in capture.spans() if span.status.status_code.name == "ERROR"}
    assert {"SELECT", "cache.load people", f"execute_tool {lookup.name}", "tools"} <= failed
    assert {"invoke_agent registry", "invoke_agent front-desk"} <= failed
    for span in capture.spans():
        if span.name in failed:
            (event,) = [e for e in span.events if e.name == "exception"]
            assert "Could not convert string ? to INT32" in event.attributes["exception.stacktrace"], span.name
            assert span.attributes[semconv.ERROR_TYPE] in (
                "_duckdb.ConversionException",
                "duckdb.duckdb.ConversionException",
                "LookupError",
            )


def test_sql_literal_in_an_error_is_kept_when_opted_in() -> None:
    with capture_telemetry(capture_sql_parameters=True) as capture:
        with pytest.raises(duckdb.ConversionException):
            _people.get_or_load(("opt-in", SSN), lambda: _convert(SSN))
    (event,) = [e for e in capture.span("cache.load people").events if e.name == "exception"]
    assert SSN in event.attributes["exception.message"]
