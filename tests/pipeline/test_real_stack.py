"""The real pipeline: ``agentotel demo`` -> OpenTelemetry Collector -> Jaeger v2 and Prometheus.

The collector and Jaeger are the builds of ``collector/local.sh build`` running the committed
``collector/`` configs; Prometheus is Debian's, with ``collector/prometheus.yml`` and
``collector/alerts.yaml``. What the demo emitted (its OTLP/JSON trace file) is compared with
what Jaeger's HTTP API returns, the span metrics are read back from Prometheus and through
Jaeger's Monitor API, and the alert rules are evaluated on the real series.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentotel import semconv
from agentotel.demo.otlp_file import read_spans
from tests.pipeline.stack import (
    COLLECTOR_DIR,
    Collector,
    Jaeger,
    Prometheus,
    clean_env,
    get_json,
    real_binaries,
    wait_until,
)

pytestmark = pytest.mark.e2e

AGENTOTEL = Path(sys.executable).parent / "agentotel"
SERVICE = "landuse-e2e"
FAULTY_SERVICE = "landuse-faulty"
QUESTIONS = 24  # at concurrency 2 the run spans several span-metric flushes (rate() needs increases)
VALIDATED_SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")
VALIDATED = {
    "otel-collector.yaml": "OTELCOL",
    "gateway/agent.yaml": "OTELCOL",
    "gateway/gateway.yaml": "OTELCOL",
    "jaeger.yaml": "JAEGER",
}


@pytest.fixture(scope="module")
def binaries() -> dict[str, str]:
    return real_binaries()


# --------------------------------------------------------------------------- validate
@pytest.mark.parametrize("config", sorted(VALIDATED))
def test_every_config_validates_with_the_real_binary(binaries, config, tmp_path):
    """``validate`` with the compose defaults (no variables set) and with loopback values."""
    binary = binaries[VALIDATED[config]]
    for env in (
        clean_env(),
        Collector(binary, COLLECTOR_DIR / config, tmp_path).env() | Jaeger(binary, tmp_path).env(),
    ):
        done = subprocess.run(
            [binary, "validate", "--config", str(COLLECTOR_DIR / config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{config}: {done.stdout}{done.stderr}"
        assert "error" not in done.stderr.lower(), done.stderr
        assert "deprecated" not in done.stderr.lower(), done.stderr  # current component names only


def test_a_broken_config_is_rejected_by_validate(binaries, tmp_path):
    broken = tmp_path / "broken.yaml"
    config = yaml.safe_load((COLLECTOR_DIR / "otel-collector.yaml").read_text())
    config["service"]["pipelines"]["traces"]["exporters"].append("otlp_grpc/nowhere")
    broken.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [binaries["OTELCOL"], "validate", "--config", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "otlp_grpc/nowhere" in done.stdout + done.stderr


# --------------------------------------------------------------------------- the stack
@dataclass
class Stack:
    collector: Collector
    jaeger: Jaeger
    prometheus: Prometheus
    workdir: Path


def immediate_rules(path: Path) -> Path:
    """``alerts.yaml`` with the same expressions and no ``for`` hold time, labelled ``evaluation=immediate``."""
    rules = yaml.safe_load((COLLECTOR_DIR / "alerts.yaml").read_text())
    for group in rules["groups"]:
        group["name"] += "-immediate"
        for rule in group["rules"]:
            rule.pop("for", None)
            rule["labels"]["evaluation"] = "immediate"
    path.write_text(yaml.safe_dump(rules))
    return path


@pytest.fixture(scope="module")
def stack(binaries, tmp_path_factory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    jaeger = Jaeger(binaries["JAEGER"], workdir)
    collector = Collector(binaries["OTELCOL"], COLLECTOR_DIR / "otel-collector.yaml", workdir)
    collector.extra_env["JAEGER_OTLP_ENDPOINT"] = jaeger.otlp_endpoint
    prometheus = Prometheus(workdir, collector, extra_rule_files=[immediate_rules(workdir / "immediate.yaml")])
    jaeger.prometheus_url = prometheus.url
    started = []
    try:
        for server in (prometheus, jaeger, collector):
            started.append(server.start())
        yield Stack(collector, jaeger, prometheus, workdir)
    finally:
        for server in reversed(started):
            server.stop()


def run_demo(stack: Stack, service: str, *extra: str, questions: int = QUESTIONS) -> tuple[str, list[dict]]:
    """``agentotel demo`` exporting over OTLP/gRPC to the collector; returns its output and its trace file."""
    trace_file = stack.workdir / f"{service}.jsonl"
    done = subprocess.run(
        [
            str(AGENTOTEL),
            "demo",
            "--small",
            "-n",
            str(questions),
            "--no-progress",
            "--otlp",
            stack.collector.grpc_endpoint,
            "--service-name",
            service,
            "--jaeger-url",
            stack.jaeger.url,
            "--trace-file",
            str(trace_file),
            *extra,
        ],
        env=clean_env(AGENTOTEL_DEMO_CACHE=str(stack.workdir / "demo-cache"), PYTHONPATH=str(COLLECTOR_DIR.parent)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: every question failed (injected faults)
    return done.stdout, read_spans(trace_file)


@pytest.fixture(scope="module")
def demo(stack: Stack) -> tuple[str, list[dict]]:
    return run_demo(stack, SERVICE, "--concurrency", "2")


def by_trace(spans: list[dict]) -> dict[str, list[dict]]:
    traces: dict[str, list[dict]] = {}
    for span in spans:
        traces.setdefault(span["traceId"], []).append(span)
    return traces


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def parent_of(span: dict[str, Any]) -> str | None:
    return next((ref["spanID"] for ref in span["references"] if ref["refType"] == "CHILD_OF"), None)


def jaeger_traces(stack: Stack, service: str, expected: int) -> dict[str, dict]:
    """Jaeger's traces of ``service`` once it holds ``expected`` traces with every span."""

    def arrived():
        traces = {t["traceID"]: t for t in stack.jaeger.traces(service)}
        return traces if len(traces) >= expected else None

    return wait_until(arrived, f"{expected} traces of {service} in Jaeger", timeout=60)


def test_the_build_has_exactly_the_components_the_configs_use(binaries):
    from tests.pipeline.test_collector_config import used_component_types

    listed = yaml.safe_load(
        subprocess.run([binaries["OTELCOL"], "components"], capture_output=True, text=True, timeout=60).stdout
    )
    built = {(section, entry["name"]) for section in VALIDATED_SECTIONS for entry in listed.get(section) or []}
    assert built == used_component_types()


def test_no_deprecated_or_failing_component_at_run_time(stack, demo):
    """The servers ran the demo's traffic without deprecation warnings or export errors."""
    for server in (stack.collector.server, stack.jaeger.server):
        log = server.log()
        assert "deprecated" not in log.lower(), log
        assert not re.search(r"\t(error)\t", log), log


# --------------------------------------------------------------------------- traces
def test_one_trace_per_agent_run_with_the_whole_tree(stack, demo):
    output, emitted = demo
    emitted_traces = by_trace(emitted)
    roots = [s for s in emitted if not s.get("parentSpanId")]
    assert len(roots) == len(emitted_traces) == QUESTIONS  # the demo: one trace per question
    received = jaeger_traces(stack, SERVICE, QUESTIONS)

    def complete():
        fresh = {t["traceID"]: t for t in stack.jaeger.traces(SERVICE)}
        return all(len(fresh[tid]["spans"]) == len(spans) for tid, spans in emitted_traces.items()) and fresh

    received = wait_until(complete, "every span of every run in Jaeger", timeout=30)
    assert set(received) == set(emitted_traces)
    for trace_id, trace in received.items():
        spans = {s["spanID"]: s for s in trace["spans"]}
        assert {s["spanId"] for s in emitted_traces[trace_id]} == set(spans)
        jaeger_roots = [s for s in spans.values() if parent_of(s) is None]
        assert len(jaeger_roots) == 1 and jaeger_roots[0]["operationName"] == "invoke_agent landuse-agent"
        assert all(parent_of(s) in spans for s in spans.values() if s is not jaeger_roots[0])
        assert {p["serviceName"] for p in trace["processes"].values()} == {SERVICE}

    # The whole tree of a run with a tool call: root -> node -> execute_tool -> cache.load -> DuckDB statement.
    def chain(trace: dict, span: dict) -> list[str]:
        spans = {s["spanID"]: s for s in trace["spans"]}
        names = [span["operationName"]]
        while parent_of(span) in spans:
            span = spans[parent_of(span)]
            names.append(span["operationName"])
        return names[::-1]

    chains = {
        tuple(chain(trace, span))
        for trace in received.values()
        for span in trace["spans"]
        if tags(span).get(semconv.DB_SYSTEM_NAME) == "duckdb"
    }
    tool_chain = next(c for c in chains if "execute_tool run_sql" in c)
    assert tool_chain[:3] == ("invoke_agent landuse-agent", "tools", "execute_tool run_sql"), tool_chain
    assert tool_chain[3].startswith("cache.load ") and tool_chain[4].startswith("SELECT "), tool_chain
    chats = [s for t in received.values() for s in t["spans"] if s["operationName"].startswith("chat ")]
    assert chats and all(tags(s)["span.kind"] == "client" for s in chats)
    answered = [s for s in chats if tags(s).get("otel.status_code") != "ERROR"]
    assert answered and all(tags(s)[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0 for s in answered)
    failed = [s for s in chats if tags(s).get("otel.status_code") == "ERROR"]
    assert all(tags(s)["error"] is True and tags(s)["error.type"] for s in failed)
    assert all(chain(t, s)[1] == "agent" for t in received.values() for s in t["spans"] if s in chats)


def test_status_kind_and_attributes_arrive_intact(stack, demo):
    """Every span of every run, through ``/api/v3/traces``: OTLP as emitted (names, kinds, status, attributes)."""
    _, emitted = demo
    jaeger_traces(stack, SERVICE, QUESTIONS)
    emitted_traces = by_trace(emitted)
    errors = 0
    for trace_id, spans in emitted_traces.items():
        document = stack.jaeger.api(f"/api/v3/traces/{trace_id}")["result"]
        resource_spans = document["resourceSpans"]
        service = {
            a["value"]["stringValue"]
            for rs in resource_spans
            for a in rs["resource"]["attributes"]
            if a["key"] == "service.name"
        }
        assert service == {SERVICE}
        received = {s["spanId"]: s for rs in resource_spans for ss in rs["scopeSpans"] for s in ss["spans"]}
        for span in spans:
            got = received[span["spanId"]]
            assert got["name"] == span["name"]
            assert got.get("parentSpanId", "") == span.get("parentSpanId", "")
            assert got.get("kind") == span.get("kind"), span["name"]
            assert got.get("status", {}).get("code", 0) == span.get("status", {}).get("code", 0), span["name"]
            sent = {a["key"]: a["value"] for a in span.get("attributes", [])}
            arrived = {a["key"]: a["value"] for a in got.get("attributes", [])}
            assert arrived == sent, span["name"]
            errors += span.get("status", {}).get("code") == 2
    assert errors > 0  # the demo's flaky model and failed SQL attempts end spans in error


def test_the_demo_links_the_slowest_run_and_doctor_finds_it(stack, demo):
    output, emitted = demo
    match = re.search(
        rf"^jaeger    {re.escape(stack.jaeger.url)}/trace/([0-9a-f]{{32}})  \(the slowest run", output, re.M
    )
    assert match, output
    roots = [s for s in emitted if not s.get("parentSpanId")]
    slowest = max(roots, key=lambda s: int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"]))
    assert match.group(1) == slowest["traceId"]
    trace = wait_until(lambda: stack.jaeger.trace(match.group(1)), "the linked trace")
    assert len(trace["spans"]) == sum(s["traceId"] == slowest["traceId"] for s in emitted)

    doctor = [str(AGENTOTEL), "doctor", "--no-live", "--jaeger-url", stack.jaeger.url]
    done = subprocess.run(doctor, env=clean_env(OTEL_SERVICE_NAME=SERVICE), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    held = re.search(
        rf"jaeger   ok   Jaeger at {re.escape(stack.jaeger.url)} holds (\d+) traces of '{SERVICE}'", done.stdout
    )
    assert held and int(held.group(1)) >= QUESTIONS, done.stdout
    done = subprocess.run(
        doctor, env=clean_env(OTEL_SERVICE_NAME="not-exported"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert f"FAIL Jaeger at {stack.jaeger.url} holds no trace of service 'not-exported'" in done.stdout
    assert SERVICE in done.stdout  # it names the services it does hold


# --------------------------------------------------------------------------- metrics
def test_span_metrics_reach_prometheus_and_jaegers_monitor_api(stack, demo):
    _, emitted = demo
    calls = wait_until(
        lambda: stack.prometheus.query(f'traces_span_metrics_calls_total{{service_name="{SERVICE}"}}'),
        "span metrics in Prometheus",
    )
    kinds = {s["metric"]["span_kind"] for s in calls}
    assert kinds == {"SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT"}  # we emit no SERVER spans

    def total_by_name() -> Counter:
        series = stack.prometheus.query(f'traces_span_metrics_calls_total{{service_name="{SERVICE}"}}')
        totals: Counter = Counter()
        for s in series:
            totals[s["metric"]["span_name"]] += int(float(s["value"][1]))
        return totals

    emitted_names = Counter(s["name"] for s in emitted)
    wait_until(lambda: total_by_name() == emitted_names, "span metric counts equal to the spans emitted", timeout=30)
    root = 'span_name="invoke_agent landuse-agent"'
    latency = stack.prometheus.query(
        f'traces_span_metrics_duration_milliseconds_bucket{{service_name="{SERVICE}",{root}}}'
    )
    assert latency and {s["metric"]["gen_ai_agent_name"] for s in latency} == {"landuse-agent"}

    # Jaeger's Monitor tab reads the same series through its metrics API. rate() sees only increases
    # of a series Prometheus already holds, and every process is a new series (its own
    # service.instance.id becomes the `instance` label); so give one process steady traffic over
    # many span-metric flushes and scrapes, as a running service has.
    run_demo(stack, SERVICE, "--concurrency", "1", questions=40)
    # Rates over the last 10 minutes (ratePer is also the rate() window): the demo's burst, however
    # long ago the test reaches this point, stays in the window of the latest point.
    window = {"service": SERVICE, "lookback": 600_000, "step": 5_000, "ratePer": 600_000}
    for kind in ("internal", "client"):
        rates = wait_until(
            lambda kind=kind: monitor_values(stack, "calls", spanKind=kind, groupByOperation="true", **window),
            f"call rates of {kind} spans from Jaeger's metrics API",
            timeout=30,
        )
        expected = {"invoke_agent landuse-agent", "tools"} if kind == "internal" else {"chat landuse-sql-fast"}
        assert expected <= set(rates), rates
        latencies = wait_until(
            lambda kind=kind: monitor_values(stack, "latencies", spanKind=kind, quantile=0.95, **window),
            f"p95 latencies of {kind} spans",
            timeout=30,
        )
        assert all(value > 0 for value in latencies.values()), latencies
        print(f"\nJaeger Monitor, {kind} spans: call rates (per s, last 10 min) {rates}\n  p95 ms {latencies}")
    assert not monitor_values(stack, "calls", spanKind="server", **window)  # we emit no server spans


def monitor_values(stack: Stack, metric: str, **params: Any) -> dict[str, float]:
    """``/api/metrics/{metric}`` as ``{operation (or service): last non-NaN value}``."""
    values = {}
    params.setdefault("endTs", int(time.time() * 1000))
    for series in stack.jaeger.api(f"/api/metrics/{metric}", **params)["metrics"]:
        labels = {label["name"]: label["value"] for label in series["labels"]}
        points = [float(p["gaugeValue"]["doubleValue"]) for p in series["metricPoints"] if "gaugeValue" in p]
        points = [value for value in points if not math.isnan(value)]
        if points:
            values[labels.get("operation", labels.get("service_name", ""))] = round(points[-1], 2)
    return values


def alert_states(stack: Stack, name: str, service: str) -> dict[str, str]:
    """``{evaluation: state}`` of alert ``name`` for ``service`` (``as-committed`` or ``immediate``)."""
    return {
        alert["labels"].get("evaluation", "as-committed"): alert["state"]
        for alert in stack.prometheus.alerts()
        if alert["labels"]["alertname"] == name and alert["labels"].get("service_name") == service
    }


def test_alert_rules_evaluate_on_real_series_and_injected_failures_fire_one(stack, demo):
    output, emitted = run_demo(
        stack, FAULTY_SERVICE, "--model", "tests.pipeline.apps.faulty_models:models", questions=30
    )
    failed = sum(1 for s in emitted if not s.get("parentSpanId") and s.get("status", {}).get("code") == 2)
    assert failed > 0, output
    # The rule without its hold time fires; the committed one is pending (it waits 5 minutes to fire).
    wanted = {"immediate": "firing", "as-committed": "pending"}
    wait_until(
        lambda: alert_states(stack, "ErrorRateHigh", FAULTY_SERVICE) == wanted,
        f"ErrorRateHigh for the service with injected failures: {wanted}",
        timeout=60,
    )
    ratio = stack.prometheus.query(
        f'sum(rate(traces_span_metrics_calls_total{{service_name="{FAULTY_SERVICE}",status_code="STATUS_CODE_ERROR"}}[5m]))'
        f' / sum(rate(traces_span_metrics_calls_total{{service_name="{FAULTY_SERVICE}"}}[5m]))'
    )
    assert float(ratio[0]["value"][1]) > 0.01

    # Every rule (committed and immediate copies) evaluates without error on the real series.
    groups = get_json(f"{stack.prometheus.url}/api/v1/rules")["data"]["groups"]
    evaluated = [rule for group in groups for rule in group["rules"]]
    assert len(evaluated) == 14 and all(rule["health"] == "ok" for rule in evaluated), [
        (r["name"], r.get("lastError")) for r in evaluated if r["health"] != "ok"
    ]
