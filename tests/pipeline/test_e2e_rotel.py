"""Instrumented apps export through a real OTLP collector (rotel); the spans and metrics that
come out of the collector are the ones the app made: same tree, ids and attributes."""

from __future__ import annotations

import json
import re
import sys

import duckdb
import pytest

from agentotel import semconv
from tests.pipeline.conftest import VENV_BIN, app_command, app_env, run_app
from tests.pipeline.otlp_sink import OtlpSink, ReceivedSpan

pytestmark = pytest.mark.e2e

RUNS = 2
DUCKDB_OPERATIONS = {"CREATE TABLE", "BATCH INSERT", "SELECT"}  # executemany is a batch


def expected_results() -> list:
    """What the workload computes, without any telemetry."""
    con = duckdb.connect()
    con.execute("CREATE TABLE landuse (id INTEGER, kind VARCHAR, area DOUBLE)")
    con.executemany(
        "INSERT INTO landuse VALUES (?, ?, ?)",
        [(i, ("forest", "farmland", "urban", "water")[i % 4], 10.0 + i) for i in range(40)],
    )
    rows = con.execute(
        "SELECT kind, count(*), sum(area) FROM landuse WHERE area > 12 GROUP BY kind ORDER BY kind"
    ).fetchall()
    return [[list(row) for row in rows]] * RUNS


def is_duckdb(span: ReceivedSpan) -> bool:
    return span.attributes.get(semconv.DB_SYSTEM_NAME) == semconv.DB_SYSTEM_DUCKDB


def assert_trace_tree(sink: OtlpSink, run: int) -> None:
    """The run's root span and its DuckDB children arrived intact, linked by trace and parent ids."""
    roots = [s for s in sink.spans_named("landuse report") if s.attributes.get("app.run") == run]
    assert len(roots) == 1, roots
    root = roots[0]
    assert root.parent_span_id == "" and root.kind == "INTERNAL"
    assert root.resource["service.name"] == "pipeline-app"
    assert len(root.trace_id) == 32 and len(root.span_id) == 16

    children = [s for s in sink.spans if s.parent_span_id == root.span_id]
    assert children and all(s.trace_id == root.trace_id for s in children)
    queries = [s for s in children if is_duckdb(s)]
    by_operation = {s.attributes[semconv.DB_OPERATION_NAME]: s for s in queries}
    assert set(by_operation) >= DUCKDB_OPERATIONS, [s.name for s in children]
    for span in queries:
        assert span.kind == "CLIENT"
        assert span.name == span.attributes[semconv.DB_QUERY_SUMMARY]
        assert span.attributes[semconv.DB_NAMESPACE] == semconv.DB_NAMESPACE_MEMORY
        assert span.attributes[semconv.DB_COLLECTION_NAME] == "landuse"
        assert span.status_code != 2  # not ERROR
        assert span.scope.startswith("agentotel")
    assert by_operation["BATCH INSERT"].attributes[semconv.DB_OPERATION_BATCH_SIZE] == 40
    select = by_operation["SELECT"]
    assert select.name == "SELECT landuse"
    assert "area > ?" in select.attributes[semconv.DB_QUERY_TEXT]  # literal sanitised on the way
    assert "12" not in select.attributes[semconv.DB_QUERY_TEXT]


def expected_span_count(sink: OtlpSink) -> bool:
    roots = sink.spans_named("landuse report")
    return len(roots) >= RUNS and sum(is_duckdb(s) for s in sink.spans) >= RUNS * len(DUCKDB_OPERATIONS)


def query_points(sink: OtlpSink) -> list:
    return [
        p
        for p in sink.points_of(semconv.DB_CLIENT_OPERATION_DURATION)
        if p.attributes.get(semconv.DB_SYSTEM_NAME) == semconv.DB_SYSTEM_DUCKDB
    ]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("way_in", ["import agentotel.auto", "opentelemetry-instrument"])
def test_spans_and_metrics_cross_the_collector_intact(collector, otlp_sink, way_in, protocol):
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    env = app_env(OTEL_EXPORTER_OTLP_PROTOCOL=protocol, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    auto = way_in == "import agentotel.auto"
    args = ["--runs", str(RUNS)] + (["--auto"] if auto else [])
    done = run_app(app_command("duckdb_workload.py", *args, instrument=not auto), env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected_results()

    otlp_sink.wait_for(expected_span_count, what="the workload's spans")
    for run in range(RUNS):
        assert_trace_tree(otlp_sink, run)
    assert len({s.trace_id for s in otlp_sink.spans_named("landuse report")}) == RUNS  # one trace per run

    otlp_sink.wait_for(lambda sink: query_points(sink), what=semconv.DB_CLIENT_OPERATION_DURATION)
    points = query_points(otlp_sink)
    assert {p.unit for p in points} == {"s"}
    per_operation: dict[str, int] = {}
    for point in points:  # cumulative: the last export holds the totals
        operation = point.attributes[semconv.DB_OPERATION_NAME]
        per_operation[operation] = max(per_operation.get(operation, 0), point.count)
    assert per_operation["SELECT"] == RUNS and per_operation["CREATE TABLE"] == RUNS
    assert all(p.attributes[semconv.DB_COLLECTION_NAME] == "landuse" for p in points)
    if auto:  # process metrics and our export health come with `import agentotel.auto`
        names = otlp_sink.metric_names()
        assert {semconv.PROCESS_CPU_TIME, semconv.PROCESS_MEMORY_USAGE, semconv.EXPORT_SPANS_DROPPED} <= names
        assert {p.value for p in otlp_sink.points_of(semconv.EXPORT_SPANS_DROPPED)} == {0}
    assert not re.search(r"Failed to export|Transient error|Exception while exporting", done.stderr), done.stderr


def ancestors(sink: OtlpSink, span: ReceivedSpan) -> list[ReceivedSpan]:
    by_id = {s.span_id: s for s in sink.spans}
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def test_a_langgraph_agent_run_crosses_the_collector_as_one_trace(collector, otlp_sink):
    """The demo agent under opentelemetry-instrument: graph, nodes, chat, tool and the tool's DuckDB query."""
    env = app_env(
        OTEL_SERVICE_NAME="landuse-agent",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.http_endpoint,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="system_metrics",
    )
    command = [
        str(VENV_BIN / "opentelemetry-instrument"),
        sys.executable,
        "-m",
        "examples.landuse_agent",
        "Which states have the most urban expansion?",
    ]
    done = run_app(command, env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Texas" in done.stdout

    def agent_run_arrived(sink: OtlpSink) -> bool:
        return any(s.name.startswith("execute_tool") for s in sink.spans) and any(
            s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "invoke_agent" for s in sink.spans
        )

    otlp_sink.wait_for(agent_run_arrived, what="the agent run")
    otlp_sink.wait_for(
        lambda sink: all(
            s.parent_span_id == "" or s.parent_span_id in {p.span_id for p in sink.spans} for s in sink.spans
        ),
        what="every parent of every span",
    )
    root = next(s for s in otlp_sink.spans if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "invoke_agent")
    assert root.parent_span_id == "" and root.resource["service.name"] == "landuse-agent"
    run = [s for s in otlp_sink.spans if s.trace_id == root.trace_id]

    nodes = [s for s in run if semconv.LANGGRAPH_NODE in s.attributes]
    assert nodes and all(s.parent_span_id == root.span_id for s in nodes)
    chats = [s for s in run if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "chat"]
    assert chats and all(s.kind == "CLIENT" and s.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0 for s in chats)
    assert all(s.name == f"chat {s.attributes[semconv.GEN_AI_REQUEST_MODEL]}" for s in chats)
    tool = next(s for s in run if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "execute_tool")
    assert tool.name == f"execute_tool {tool.attributes[semconv.GEN_AI_TOOL_NAME]}"
    tool_queries = [s for s in run if is_duckdb(s) and tool in ancestors(otlp_sink, s)]
    assert tool_queries and all(s.attributes[semconv.DB_OPERATION_NAME] == "SELECT" for s in tool_queries)
    assert all(ancestors(otlp_sink, s)[-1] == root for s in run if s is not root)  # one trace, one root

    otlp_sink.wait_for(
        lambda sink: (
            {semconv.GEN_AI_CLIENT_OPERATION_DURATION, semconv.GEN_AI_CLIENT_TOKEN_USAGE} <= sink.metric_names()
        ),
        what="the chat metrics",
    )
    token_types = {
        p.attributes.get(semconv.GEN_AI_TOKEN_TYPE) for p in otlp_sink.points_of(semconv.GEN_AI_CLIENT_TOKEN_USAGE)
    }
    assert token_types == {"input", "output"}
