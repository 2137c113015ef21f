"""The real telemetry stack for end-to-end tests: the OpenTelemetry Collector and Jaeger v2
built by ``collector/local.sh build``, and Debian's Prometheus, each on free loopback ports.

Every server runs the committed config from ``collector/``; only the ``${env:...}`` values
differ (loopback, free ports, short intervals). Prometheus reads no environment, so its
config is ``collector/prometheus.yml`` with the compose host names replaced by these ports.
Each server is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.servers import LOOPBACK, free_port, require_binary

REPO = Path(__file__).resolve().parents[2]
COLLECTOR_DIR = REPO / "collector"
LOCAL_SH = COLLECTOR_DIR / "local.sh"
BUILD_HINT = (
    "build them with `bash collector/local.sh build` (needs Go 1.25+ and the Go module proxy; "
    "`bash .ci/run` does it first)"
)
PROMETHEUS_HINT = "install Prometheus: `apt-get install prometheus` (Debian; `bash .ci/run` does it as root)"


def real_binaries() -> dict[str, str]:
    """``{"OTELCOL": path, "JAEGER": path}`` of the pinned builds; skip (fail under CI) when absent."""
    done = subprocess.run(["bash", str(LOCAL_SH), "paths"], capture_output=True, text=True, timeout=30, check=True)
    paths = dict(line.split("=", 1) for line in done.stdout.split())
    missing = [path for path in paths.values() if not os.access(path, os.X_OK)]
    if missing:
        message = f"{', '.join(missing)} not built: {BUILD_HINT}"
        if os.environ.get("CI"):
            pytest.fail(f"under CI the real collector and Jaeger must be there: {message}")
        pytest.skip(message)
    return paths


def get_json(url: str, timeout: float = 5) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_until(check, what: str, timeout: float = 60, interval: float = 0.25):
    """Call ``check()`` until it returns something truthy; return that, or fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def clean_env(**values: str) -> dict[str, str]:
    """The process environment without OTEL_* settings, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    env.update(values)
    return env


@dataclass
class Server:
    """One real server process: a binary with a config from ``collector/`` and its environment."""

    name: str
    args: list[str]
    env: dict[str, str]
    workdir: Path
    health_url: str
    process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, timeout: float = 60) -> Server:
        """Start it and wait until its health URL answers 200."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not http_ok(self.health_url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.name} did not become healthy at {self.health_url}; log:\n{self.log()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL by PID: it dies without flushing anything (a crashed pod)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM by PID, SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class Collector:
    """Our collector build running ``config`` (a path under ``collector/``) on free loopback ports."""

    binary: str
    config: Path
    workdir: Path
    name: str = "otel-collector"
    extra_env: dict[str, str] = field(default_factory=dict)
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    telemetry_port: int = field(default_factory=free_port)
    server: Server | None = None

    @property
    def grpc_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.grpc_port}"

    def env(self) -> dict[str, str]:
        return clean_env(
            COLLECTOR_BIND=LOOPBACK,
            COLLECTOR_OTLP_GRPC_PORT=str(self.grpc_port),
            COLLECTOR_OTLP_HTTP_PORT=str(self.http_port),
            COLLECTOR_HEALTH_PORT=str(self.health_port),
            COLLECTOR_PROMETHEUS_PORT=str(self.prometheus_port),
            COLLECTOR_TELEMETRY_PORT=str(self.telemetry_port),
            SPANMETRICS_FLUSH_INTERVAL="1s",
            **self.extra_env,
        )

    def start(self) -> Collector:
        self.server = Server(
            self.name,
            [self.binary, "--config", str(self.config)],
            self.env(),
            self.workdir,
            f"http://{LOOPBACK}:{self.health_port}/",
        ).start()
        return self

    def kill(self) -> None:
        if self.server:
            self.server.kill()

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def telemetry(self, metric: str, label: str = "") -> float:
        """Sum of the collector's own metric ``metric`` (e.g. ``otelcol_receiver_accepted_spans``) over
        the series whose labels contain ``label`` (e.g. ``exporter="load_balancing"``)."""
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.telemetry_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(metric) and line[len(metric)] in " {" and label in line:
                total += float(line.rsplit(" ", 1)[1])
        return total


@dataclass
class Jaeger:
    """Jaeger v2 (go-installed build) running ``collector/jaeger.yaml`` on free loopback ports."""

    binary: str
    workdir: Path
    prometheus_url: str = "http://127.0.0.1:9"  # nothing: the Monitor tab is not used
    ui_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    otlp_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    telemetry_port: int = field(default_factory=free_port)
    server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.ui_port}"

    @property
    def otlp_endpoint(self) -> str:
        return f"{LOOPBACK}:{self.otlp_port}"

    def env(self) -> dict[str, str]:
        return clean_env(
            JAEGER_BIND=LOOPBACK,
            JAEGER_UI_PORT=str(self.ui_port),
            JAEGER_QUERY_GRPC_PORT=str(self.grpc_port),
            JAEGER_OTLP_PORT=str(self.otlp_port),
            JAEGER_HEALTH_PORT=str(self.health_port),
            JAEGER_TELEMETRY_PORT=str(self.telemetry_port),
            PROMETHEUS_URL=self.prometheus_url,
        )

    def start(self) -> Jaeger:
        self.server = Server(
            "jaeger",
            [self.binary, "--config", str(COLLECTOR_DIR / "jaeger.yaml")],
            self.env(),
            self.workdir,
            f"http://{LOOPBACK}:{self.health_port}/status",
        ).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def api(self, path: str, **params: Any) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return get_json(f"{self.url}{path}{query}")

    def traces(self, service: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Every trace of ``service`` in the last hour, in the UI's JSON (``/api/traces``)."""
        return self.api("/api/traces", service=service, limit=limit, lookback="1h")["data"] or []

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """One trace by id (``/api/traces/{id}``), or None when Jaeger does not hold it."""
        try:
            data = self.api(f"/api/traces/{trace_id}")["data"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return data[0] if data else None


@dataclass
class Prometheus:
    """Prometheus running ``collector/prometheus.yml`` (and its alert rules) against our ports, 1 s intervals."""

    workdir: Path
    collector: Collector
    extra_rule_files: list[Path] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def config(self) -> dict[str, Any]:
        config = yaml.safe_load((COLLECTOR_DIR / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(COLLECTOR_DIR / "alerts.yaml"), *map(str, self.extra_rule_files)]
        hosts = {
            "otel-collector:8889": f"{LOOPBACK}:{self.collector.prometheus_port}",
            "otel-collector:8888": f"{LOOPBACK}:{self.collector.telemetry_port}",
            "localhost:9090": f"{LOOPBACK}:{self.port}",
        }
        for job in config["scrape_configs"]:
            for static in job["static_configs"]:
                static["targets"] = [hosts[target] for target in static["targets"]]
        return config

    def start(self) -> Prometheus:
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config()))
        binary = require_binary("prometheus", PROMETHEUS_HINT)
        self.server = Server(
            "prometheus",
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
            ],
            clean_env(),
            self.workdir,
            f"{self.url}/-/ready",
        ).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
        assert body["status"] == "success", body
        return body["data"]["result"]

    def alerts(self) -> list[dict[str, Any]]:
        return get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
