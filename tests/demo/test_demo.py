"""``agentotel demo`` end to end: the report, the local trace file, and the same trace through a real collector."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentotel.demo import main
from agentotel.demo.data import SMALL_SCALE
from agentotel.demo.otlp_file import read_spans
from agentotel.demo.runner import DemoOptions, DemoResult, run_demo
from agentotel.demo.telemetry import OtlpSettings
from tests.support.servers import free_port

AGENTOTEL = Path(sys.executable).parent / "agentotel"
ROOT = re.compile(r"^invoke_(agent|workflow) landuse-agent ")


def _run(cache_dir: Path, trace_file: Path, **options) -> tuple[str, DemoResult]:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENTOTEL_DEMO_CACHE", str(cache_dir))
        settings = {"count": 20, "scale": SMALL_SCALE, "progress": False, **options}
        result = run_demo(DemoOptions(trace_file=trace_file, **settings), out)
    return out.getvalue(), result


@pytest.fixture(scope="module")
def demo_run(demo_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DemoResult]]:
    """One small in-process run shared by the report tests."""
    yield _run(demo_cache_dir, tmp_path_factory.mktemp("run") / "traces.jsonl")


def _waterfall(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Trace "))
    end = lines.index("Summary", start)
    return [line for line in lines[start + 2 : end] if line.strip()]


def _depth(line: str) -> int:
    return (len(line) - len(line.lstrip(" "))) // 2


def test_waterfall_shows_root_nodes_tool_and_duckdb(demo_run: tuple[str, DemoResult]) -> None:
    output, result = demo_run
    assert f"Trace {result.trace_id:032x}" in output
    rows = _waterfall(output)
    assert ROOT.match(rows[0]), rows[0]
    by_depth = {(_depth(row), row.split()[0]) for row in rows}
    assert {(1, "plan"), (1, "agent"), (1, "tools"), (2, "chat"), (2, "execute_tool")} <= by_depth
    # The drawn trace is the one that retried after an SQL error: a failed DuckDB span, then a good one.
    duckdb_rows = [row for row in rows if "db=landuse" in row]
    assert len(duckdb_rows) == 2 and all(row.lstrip().startswith("SELECT") for row in duckdb_rows)
    assert re.search(r"ERROR \S*BinderException", duckdb_rows[0]) and "ERROR" not in duckdb_rows[1]
    for row in rows:
        assert re.search(r" \d+\.\d ms \|[ █]{32}\|", row), row
    chat = next(row for row in rows if row.lstrip().startswith("chat ") and "tokens" in row)
    assert re.search(r"tokens \d+->\d+", chat)


def test_summary_has_cache_hits_ejection_and_numbers(demo_run: tuple[str, DemoResult]) -> None:
    output, result = demo_run
    summary = result.summary
    assert summary.questions == 20 and summary.failed == 0 and not result.errors
    assert summary.cache_hits > 0 and summary.cache_hit_rate("landuse.queries", "l1") > 0.5
    assert summary.ejections >= 1 and summary.lb_ejections.get("landuse-sql-flaky", 0) >= 1
    assert summary.breaker_transitions["model.landuse-sql-flaky"]["closed->open"] >= 1
    assert summary.input_tokens > 0 and summary.output_tokens > 0
    # Every successful chat call is priced (the demo's models at demo prices), so the run has a cost.
    assert summary.priced_calls > 0 and summary.cost_usd is not None and summary.cost_usd > 0
    most = (summary.input_tokens * 0.15 + summary.output_tokens * 0.60) / 1e6
    least = (summary.input_tokens * 0.075 + summary.output_tokens * 0.60) / 1e6  # cached input is cheaper
    assert least - 1e-12 <= summary.cost_usd <= most + 1e-12
    assert len(summary.db_latencies_ms) >= 6 and summary.db_failed >= 1
    # Balancers other tests left alive report here too (components bind late): count the demo's instances.
    assert sum(summary.lb_picks.get(instance, 0) for instance in summary.chat_calls) == sum(summary.chat_calls.values())
    assert summary.memory_bytes and sum(summary.cpu_seconds.values()) > 0
    text = output[output.index("Summary") :]
    for label in (
        "questions/s",
        "p50",
        "p95",
        "p99",
        "tokens",
        "DuckDB queries",
        "hit rate",
        "breaker model.landuse-sql-flaky",
        "balancer picks",
        "balancer ejections",
        "CPU",
        "RSS",
    ):
        assert label in text, label
    assert re.search(r"cost +\$\d+\.\d{6} for the run, \$\d+\.\d{6} per question \(\d+ priced chat calls\)", text)
    assert re.search(r"cache landuse\.queries \[l1\] +\d+% hit rate \([1-9]\d* hits", text)
    assert re.search(r"balancer ejections +landuse-sql-flaky [1-9]", text)


def test_trace_file_holds_every_span_as_otlp_json(demo_run: tuple[str, DemoResult]) -> None:
    output, result = demo_run
    written = int(re.search(r"^spans +([\d,]+) written to (.+?) \(", output, re.M).group(1).replace(",", ""))
    spans = read_spans(result.trace_file)
    assert len(spans) == written > 0
    ids = {span["spanId"] for span in spans}
    assert all(
        re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) and re.fullmatch(r"[0-9a-f]{16}", s["spanId"]) for s in spans
    )
    assert all(s.get("parentSpanId", "") in ids | {""} for s in spans)  # every parent is in the file
    trace = [s for s in spans if s["traceId"] == f"{result.trace_id:032x}"]
    roots = [s for s in trace if not s.get("parentSpanId")]
    assert len(roots) == 1 and ROOT.match(roots[0]["name"] + " ")
    assert {s["name"] for s in trace} >= {"plan", "agent", "tools", "execute_tool run_sql"}
    assert trace[0]["_resource"]["service.name"] == {"stringValue": "agentotel-demo"}


@pytest.mark.e2e
def test_collector_receives_the_same_trace(demo_cache_dir: Path, tmp_path: Path, collector, otlp_sink) -> None:
    output, result = _run(demo_cache_dir, tmp_path / "traces.jsonl", otlp=OtlpSettings(collector.grpc_endpoint))
    trace_id = f"{result.trace_id:032x}"
    expected = {
        (s["name"], s["spanId"], s.get("parentSpanId", ""))
        for s in read_spans(result.trace_file)
        if s["traceId"] == trace_id
    }
    otlp_sink.wait_for(
        lambda sink: sum(s.trace_id == trace_id for s in sink.spans) >= len(expected),
        what=f"the {len(expected)} spans of trace {trace_id}",
    )
    received = {(s.name, s.span_id, s.parent_span_id) for s in otlp_sink.spans if s.trace_id == trace_id}
    assert received == expected
    slowest = f"{result.slowest_trace_id:032x}"
    assert re.search(
        rf"^jaeger    http://localhost:16686/trace/{slowest}  \(the slowest run, [\d,]+ ms\)$", output, re.M
    )
    roots = [s for s in read_spans(result.trace_file) if not s.get("parentSpanId")]
    by_duration = max(roots, key=lambda s: int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"]))
    assert by_duration["traceId"] == slowest
    assert f"exported  over OTLP to {collector.grpc_endpoint} (grpc) as service 'agentotel-demo'" in output
    otlp_sink.wait_for(lambda sink: "agentotel.cache.lookups" in sink.metric_names(), what="our metrics")


@pytest.mark.e2e
def test_cli_exports_when_the_endpoint_variable_is_set(
    demo_cache_dir: Path, tmp_path: Path, collector, otlp_sink
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    env.update(
        AGENTOTEL_DEMO_CACHE=str(demo_cache_dir),
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_SERVICE_NAME="demo-under-test",
    )
    trace_file = tmp_path / "cli.jsonl"
    done = subprocess.run(
        [str(AGENTOTEL), "demo", "--small", "-n", "10", "--no-progress", "--trace-file", str(trace_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    trace_id = re.search(r"jaeger +http://localhost:16686/trace/([0-9a-f]{32})", done.stdout).group(1)
    assert "search?service=demo-under-test" in done.stdout
    expected = sum(s["traceId"] == trace_id for s in read_spans(trace_file))
    otlp_sink.wait_for(
        lambda sink: sum(s.trace_id == trace_id for s in sink.spans) >= expected, what=f"trace {trace_id}"
    )
    assert {s.resource["service.name"] for s in otlp_sink.spans} == {"demo-under-test"}


def test_unreachable_collector_is_reported_not_waited_for(demo_cache_dir: Path, tmp_path: Path) -> None:
    output, result = _run(
        demo_cache_dir, tmp_path / "traces.jsonl", count=5, otlp=OtlpSettings(f"http://127.0.0.1:{free_port()}")
    )
    assert "nothing listens on 127.0.0.1:" in output and "so this run is not exported" in output
    assert "jaeger " not in output and "exported " not in output
    assert result.summary.questions == 5 and read_spans(result.trace_file)


def test_help_explains_the_options() -> None:
    done = subprocess.run([str(AGENTOTEL), "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in (
        "--small",
        "--questions",
        "--concurrency",
        "--otlp",
        "--protocol",
        "--trace-file",
        "--model",
        "--scale",
        "--jaeger-url",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "docs/demo.md",
    ):
        assert option in done.stdout, option


def test_model_option_plugs_in_other_chat_models(
    demo_cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_models.py").write_text(
        "from agentotel.demo.model import LanduseSQLModel\n"
        "def models():\n"
        "    return [LanduseSQLModel(model_name='provider-a'), LanduseSQLModel(model_name='provider-a')]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTOTEL_DEMO_CACHE", str(demo_cache_dir))
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["--small", "-n", "5", "--no-progress", "--trace-file", str(tmp_path / "t.jsonl")]
    assert main([*args, "--model", "my_models:models"]) == 0
    output = capsys.readouterr().out
    assert re.search(r"balancer picks +.*provider-a \d+, provider-a#2 \d+", output), output
    # The chat calls are this run's own (balancers other tests keep alive report too: components bind late).
    (chat_calls,) = [line for line in output.splitlines() if line.strip().startswith("chat calls")]
    assert "provider-a" in chat_calls and "landuse-sql-fast" not in chat_calls

    assert main([*args, "--model", "my_models:nothing_here"]) == 2
    assert "--model my_models:nothing_here" in capsys.readouterr().err
