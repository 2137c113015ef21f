"""A real Prometheus scrapes an instrumented app (opentelemetry-exporter-prometheus) and serves our
metrics back through its query API with the names, labels and values of a known workload."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from tests.pipeline.conftest import app_command, app_env
from tests.support.servers import LOOPBACK, free_port, wait_for_port

pytestmark = pytest.mark.e2e

RUNS = 3


def query(prometheus_url: str, promql: str) -> list[dict]:
    url = f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for_series(prometheus_url: str, promql: str, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = query(prometheus_url, promql)
        if result:
            return result
        assert time.monotonic() < deadline, f"Prometheus has no series for {promql}"
        time.sleep(0.25)


def test_prometheus_scrapes_our_metrics_from_an_instrumented_app(make_prometheus, tmp_path):
    port = free_port()
    hold = tmp_path / "release"
    env = app_env(
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_TRACES_EXPORTER="none",
        OTEL_EXPORTER_PROMETHEUS_HOST=LOOPBACK,
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
    )
    app = subprocess.Popen(
        app_command("duckdb_workload.py", "--auto", "--runs", str(RUNS), "--hold", str(hold)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert len(json.loads(app.stdout.readline())) == RUNS  # workload done; the app now waits to be scraped
        wait_for_port(port)
        prometheus = make_prometheus([f"{LOOPBACK}:{port}"])

        up = wait_for_series(prometheus.url, 'up{job="app"} == 1')
        assert up[0]["metric"]["instance"] == f"{LOOPBACK}:{port}"

        counts = wait_for_series(prometheus.url, 'db_client_operation_duration_seconds_count{db_system_name="duckdb"}')
        by_operation = {series["metric"]["db_operation_name"]: series for series in counts}
        assert set(by_operation) == {"CREATE TABLE", "BATCH INSERT", "SELECT"}
        for operation, series in by_operation.items():
            assert float(series["value"][1]) == RUNS, operation
            labels = series["metric"]
            assert labels["db_namespace"] == "memory" and labels["db_collection_name"] == "landuse"
            assert labels["job"] == "app" and labels["otel_scope_name"].startswith("agentotel")

        # Our bucket boundaries (seconds) reach Prometheus unchanged.
        buckets = query(prometheus.url, 'db_client_operation_duration_seconds_bucket{db_operation_name="SELECT"}')
        assert {float(s["metric"]["le"]) for s in buckets if s["metric"]["le"] != "+Inf"} == {
            0.001,
            0.005,
            0.01,
            0.05,
            0.1,
            0.5,
            1.0,
            5.0,
            10.0,
        }
        assert max(float(s["value"][1]) for s in buckets) == RUNS

        memory = wait_for_series(prometheus.url, "process_memory_usage_bytes")
        assert float(memory[0]["value"][1]) > 10 * 2**20  # a Python process with DuckDB loaded
        cpu = wait_for_series(prometheus.url, "process_cpu_time_seconds_total")
        assert {s["metric"]["cpu_mode"] for s in cpu} == {"user", "system"}
        service = wait_for_series(prometheus.url, "target_info")
        assert service[0]["metric"]["service_name"] == "pipeline-app"
    finally:
        hold.touch()
        try:
            app.wait(timeout=30)
        finally:
            if app.poll() is None:
                app.kill()
    assert app.returncode == 0, app.stderr.read()
