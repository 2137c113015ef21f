"""The files in collector/: components wired, ports in agreement, Prometheus files valid, names real."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentotel import semconv
from tests.support.servers import require_binary

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"
PROMETHEUS_HINT = "install Prometheus 2.x with promtool (Debian: `apt-get install prometheus`; `bash .ci/run` does it)"
SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((COLLECTOR / name).read_text())


ENV_REFERENCE = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-([^}]*))?\}")


def resolved(value: str, env: dict[str, str] | None = None) -> str:
    """``value`` with each ``${env:NAME:-default}`` replaced as the collector does (default: compose's values)."""
    return ENV_REFERENCE.sub(lambda m: (env or {}).get(m.group(1), m.group(2) or ""), str(value))


def port_of(endpoint: str) -> int:
    return int(resolved(endpoint).rsplit(":", 1)[1].rstrip("/"))


def versions() -> dict[str, str]:
    lines = (COLLECTOR / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def compose() -> dict[str, Any]:
    return load("docker-compose.yaml")


def published(service: str) -> dict[int, int]:
    """container port -> host port for a compose service."""
    ports = {}
    for mapping in compose()["services"][service].get("ports", []):
        parts = str(mapping).split(":")
        ports[int(parts[-1])] = int(parts[-2])
    return ports


# --------------------------------------------------------------------------- component wiring
CONFIGS = ["otel-collector.yaml", "jaeger.yaml", "gateway/agent.yaml", "gateway/gateway.yaml"]


@pytest.mark.parametrize("name", CONFIGS)
def test_every_pipeline_uses_defined_components_and_every_component_is_used(name):
    config = load(name)
    service = config["service"]
    used: set[tuple[str, str]] = set()
    for pipeline_id, pipeline in service["pipelines"].items():
        assert pipeline_id.split("/")[0] in ("traces", "metrics", "logs"), pipeline_id
        assert pipeline.get("receivers") and pipeline.get("exporters"), f"{pipeline_id} needs receivers and exporters"
        for role in ("receivers", "processors", "exporters"):
            for component in pipeline.get(role, []):
                section = role
                if role in ("receivers", "exporters") and component in (config.get("connectors") or {}):
                    section = "connectors"
                assert component in (config.get(section) or {}), (
                    f"{pipeline_id}: {component} is not defined in {section}"
                )
                used.add((section, component))
    for extension in service.get("extensions", []):
        assert extension in config["extensions"], extension
        used.add(("extensions", extension))
    defined = {(section, c) for section in SECTIONS for c in (config.get(section) or {})}
    assert defined - used == set(), f"defined but unused: {sorted(defined - used)}"


def test_connectors_link_a_traces_pipeline_to_a_metrics_pipeline():
    pipelines = load("otel-collector.yaml")["service"]["pipelines"]
    for connector in load("otel-collector.yaml")["connectors"]:
        as_exporter = [p for p, spec in pipelines.items() if connector in spec["exporters"]]
        as_receiver = [p for p, spec in pipelines.items() if connector in spec["receivers"]]
        assert [p.split("/")[0] for p in as_exporter] == ["traces"]
        assert as_receiver and all(p.startswith("metrics") for p in as_receiver)


def test_collector_pipelines_follow_the_design():
    config = load("otel-collector.yaml")
    pipelines = config["service"]["pipelines"]
    for pipeline_id in ("traces", "metrics"):
        assert pipelines[pipeline_id]["receivers"] == ["otlp"]
        assert pipelines[pipeline_id]["processors"] == ["memory_limiter", "batch"]  # limiter first
    assert "otlp_grpc/jaeger" in pipelines["traces"]["exporters"]
    assert "prometheus" in pipelines["metrics"]["exporters"]
    assert "prometheus" in pipelines["metrics/spanmetrics"]["exporters"]
    assert config["connectors"]["span_metrics"]["namespace"] == "traces.span.metrics"
    dimensions = {d["name"] for d in config["connectors"]["span_metrics"]["dimensions"]}
    assert {semconv.DB_SYSTEM_NAME, semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_REQUEST_MODEL} <= dimensions
    assert "health_check" in config["service"]["extensions"]
    # Current names only: `otlp` / `otlphttp` exporters are deprecated aliases since v0.144.
    assert not {e.split("/")[0] for e in config["exporters"]} & {"otlp", "otlphttp"}


# --------------------------------------------------------------------------- ports and hostnames
def test_collector_ports_are_published_by_compose():
    config = load("otel-collector.yaml")
    protocols = config["receivers"]["otlp"]["protocols"]
    collector_ports = published("otel-collector")
    assert port_of(protocols["grpc"]["endpoint"]) == 4317 and collector_ports[4317] == 4317
    assert port_of(protocols["http"]["endpoint"]) == 4318 and collector_ports[4318] == 4318
    assert collector_ports[port_of(config["extensions"]["health_check"]["endpoint"])] == 13133


def test_published_ports_are_loopback_only():
    for name, service in compose()["services"].items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} on every interface"


def test_collector_reaches_jaeger_and_prometheus_scrapes_the_collector():
    collector = load("otel-collector.yaml")
    jaeger = load("jaeger.yaml")
    services = compose()["services"]
    host, port = resolved(collector["exporters"]["otlp_grpc/jaeger"]["endpoint"]).split(":")
    assert host in services and port_of(jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]) == int(port)
    assert published("jaeger")[port_of(jaeger["extensions"]["jaeger_query"]["http"]["endpoint"])] == 16686

    scrape_targets = {
        target
        for job in load("prometheus.yml")["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert f"otel-collector:{port_of(collector['exporters']['prometheus']['endpoint'])}" in scrape_targets
    telemetry = collector["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert f"otel-collector:{resolved(telemetry['port'])}" in scrape_targets
    assert published("prometheus")[9090] == 9090

    metrics_backend = jaeger["extensions"]["jaeger_storage"]["metric_backends"]["spanmetrics_prometheus"]["prometheus"]
    assert resolved(metrics_backend["endpoint"]) == "http://prometheus:9090"
    namespace = collector["connectors"]["span_metrics"]["namespace"].replace(".", "_")
    assert metrics_backend["metric_namespace"] == namespace


def test_compose_mounts_files_that_exist_and_wires_the_alert_rules():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (COLLECTOR / source).exists(), f"{name} mounts missing {source}"
    prometheus = compose()["services"]["prometheus"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    for rule_file in load("prometheus.yml")["rule_files"]:
        assert mounted[rule_file] == "./alerts.yaml"
    datasource = yaml.safe_load((COLLECTOR / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


# --------------------------------------------------------------------------- builds and versions
# Component type (as configs name it) -> the Go module that provides it.
COMPONENT_MODULES = {
    "otlp": "go.opentelemetry.io/collector/receiver/otlpreceiver",
    "batch": "go.opentelemetry.io/collector/processor/batchprocessor",
    "memory_limiter": "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
    "tail_sampling": "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor",
    "span_metrics": "github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector",
    "otlp_grpc": "go.opentelemetry.io/collector/exporter/otlpexporter",
    "debug": "go.opentelemetry.io/collector/exporter/debugexporter",
    "prometheus": "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter",
    "load_balancing": "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter",
    "health_check": "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
}


def used_component_types() -> set[tuple[str, str]]:
    """(section, type) of every component the collector configs define."""
    used = set()
    for name in ("otel-collector.yaml", "gateway/agent.yaml", "gateway/gateway.yaml"):
        config = load(name)
        for section in SECTIONS:
            used |= {(section, component.split("/")[0]) for component in config.get(section) or {}}
    return used


def test_the_build_lists_exactly_the_components_the_configs_use_at_one_release():
    builder = load("builder-config.yaml")
    release = versions()["OTELCOL_VERSION"]
    built = {}
    for section in SECTIONS:
        for entry in builder.get(section) or []:
            module, version = entry["gomod"].split()
            assert version == f"v{release}", entry
            built[module] = section
    expected = {COMPONENT_MODULES[kind]: section for section, kind in used_component_types()}
    assert built == expected
    assert builder["dist"]["version"] == release
    providers = {entry["gomod"].split()[0].rsplit("/", 1)[1] for entry in builder["providers"]}
    assert providers == {"envprovider", "fileprovider"}  # ${env:...} and --config FILE


def test_compose_runs_the_releases_the_tests_build():
    pins = versions()
    services = compose()["services"]
    assert services["otel-collector"]["image"] == f"otel/opentelemetry-collector-contrib:{pins['OTELCOL_VERSION']}"
    assert services["jaeger"]["image"] == f"jaegertracing/jaeger:{pins['JAEGER_VERSION']}"


def test_configs_take_addresses_from_the_environment_with_compose_defaults():
    """Every listen address and peer is ``${env:...}`` with the compose value as default, so that
    local.sh and the tests run the same files on loopback and their own ports."""
    local = {"COLLECTOR_BIND": "127.0.0.1", "JAEGER_BIND": "127.0.0.1", "COLLECTOR_OTLP_GRPC_PORT": "14000"}
    config = load("otel-collector.yaml")
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert resolved(grpc) == "0.0.0.0:4317" and resolved(grpc, local) == "127.0.0.1:14000"
    for name in CONFIGS:
        text = (COLLECTOR / name).read_text()
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"endpoint: (0\.0\.0\.0|localhost|127\.0\.0\.1|jaeger|prometheus)", body), name
        for reference in ENV_REFERENCE.finditer(body):
            assert reference.group(2) is not None, f"{name}: {reference.group(0)} has no default"


# --------------------------------------------------------------------------- Prometheus files
def test_promtool_accepts_prometheus_yml_and_its_rules(tmp_path):
    promtool = require_binary("promtool", PROMETHEUS_HINT)
    config = (
        (COLLECTOR / "prometheus.yml")
        .read_text()
        .replace("/etc/prometheus/alerts.yaml", str(COLLECTOR / "alerts.yaml"))
    )
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "7 rules found" in checked.stdout


def test_promtool_accepts_the_alert_rules():
    promtool = require_binary("promtool", PROMETHEUS_HINT)
    checked = subprocess.run(
        [promtool, "check", "rules", str(COLLECTOR / "alerts.yaml")], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load("alerts.yaml")["groups"] for rule in group["rules"]]


def test_alerts_cover_the_kpis_each_with_a_summary_and_its_query():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) == {
        "AgentResponseTimeP95High",
        "ErrorRateHigh",
        "CacheHitRateLow",
        "CircuitBreakerOpen",
        "LoadBalancerAllInstancesEjected",
        "ProcessCpuHigh",
        "ProcessMemoryHigh",
    }
    thresholds = {
        "AgentResponseTimeP95High": "> 2",
        "ErrorRateHigh": "> 0.01",
        "CacheHitRateLow": "< 0.5",
        "ProcessCpuHigh": "> 0.7",
        "ProcessMemoryHigh": "> 0.8",
    }
    for name, rule in rules.items():
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["query"] == rule["expr"]
        assert thresholds.get(name, "") in rule["expr"]
    assert "by (job, cache_name)" in rules["CacheHitRateLow"]["expr"]  # per cache


# --------------------------------------------------------------------------- metric names
UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}


def prometheus_names() -> set[str]:
    """Prometheus names of every semconv metric, as the collector's exporter writes them.

    Dots become underscores, a unit suffix is added (``{...}`` units add none), counters get
    ``_total``, histograms expose ``_bucket``/``_sum``/``_count``, and unit-"1" gauges get
    ``_ratio`` from the collector (but not from the Python Prometheus exporter): both allowed.
    """
    names: set[str] = set()
    for metric in semconv.METRICS:
        base = metric.name.replace(".", "_")
        suffix = UNIT_SUFFIX.get(metric.unit)
        if suffix:
            base = f"{base}_{suffix}"
        kind = metric.instrument.split()[0]
        if kind == "histogram":
            names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
        elif kind == "counter":
            names.add(f"{base}_total")
        else:
            names.add(base)
            if metric.unit == "1" and kind == "gauge":
                names.add(f"{base}_ratio")
    spanmetrics = "traces_span_metrics"
    names |= {f"{spanmetrics}_calls_total"} | {
        f"{spanmetrics}_duration_milliseconds_{part}" for part in ("bucket", "sum", "count")
    }
    return names


OUR_PREFIXES = ("agentotel_", "gen_ai_", "db_", "process_", "cpython_", "traces_span_metrics_")


def referenced_metrics(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, ``__name__`` regexes) referenced by a PromQL expression."""
    regexes = set(re.findall(r'__name__=~"([^"]+)"', expr))
    stripped = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", stripped)
    names = {token for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped) if token.startswith(OUR_PREFIXES)}
    return names, regexes


def dashboard_exprs() -> Iterator[str]:
    dashboard = json.loads((COLLECTOR / "grafana/dashboards/agentotel.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield target["expr"]


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_metric_names_in_queries_exist_in_semconv(source):
    exprs = list(dashboard_exprs()) if source == "dashboard" else [rule["expr"] for rule in alert_rules()]
    known = prometheus_names()
    seen: set[str] = set()
    for expr in exprs:
        names, regexes = referenced_metrics(expr)
        assert names or regexes, f"no metric found in {expr}"
        assert names <= known, f"unknown metrics {sorted(names - known)} in {expr}"
        for pattern in regexes:
            assert any(re.fullmatch(pattern, name) for name in known), f"{pattern} matches no metric"
        seen |= names
    if source == "dashboard":
        # The dashboard shows every part: agents, tools, chat, DuckDB, caches, breakers, balancers, process.
        for needed in (
            "gen_ai_invoke_agent_duration_seconds_bucket",
            "gen_ai_execute_tool_duration_seconds_bucket",
            "gen_ai_client_operation_duration_seconds_bucket",
            "gen_ai_client_token_usage_sum",
            "db_client_operation_duration_seconds_bucket",
            "agentotel_cache_lookups_total",
            "agentotel_circuit_breaker_state",
            "agentotel_circuit_breaker_transitions_total",
            "agentotel_lb_picks_total",
            "agentotel_lb_ejections_total",
            "process_memory_usage_bytes",
        ):
            assert needed in seen, needed


def test_the_name_check_rejects_a_misspelt_metric():
    names, _ = referenced_metrics('sum by (cache_name) (rate(agentotel_cache_lookup_total{cache_result="hit"}[5m]))')
    assert names == {"agentotel_cache_lookup_total"} and not names <= prometheus_names()
