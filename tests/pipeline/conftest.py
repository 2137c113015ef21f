"""Fixtures for the pipeline tests: a real OTLP collector (rotel), a decoding sink behind it,
a real Prometheus, and a helper to run instrumented apps as subprocesses."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.pipeline.otlp_sink import OtlpSink
from tests.support.servers import LOOPBACK, ServerProcess, free_port, require_binary, wait_for_port

ROTEL_HINT = "install the rotel OTLP collector: `pip install rotel` (part of `pip install -e '.[test]'`)"
PROMETHEUS_HINT = "install Prometheus 2.x: `apt-get install prometheus` (Debian; `bash .ci/run` does it as root)"
APPS = Path(__file__).parent / "apps"
VENV_BIN = Path(sys.executable).parent


def rotel_binary() -> str:
    spec = importlib.util.find_spec("rotel")
    candidates = []
    if spec is not None and spec.origin:
        candidates.append(str(Path(spec.origin).parent / "rotel-agent"))
    return require_binary("rotel-agent", ROTEL_HINT, candidates)


@dataclass
class RotelCollector:
    """rotel receiving OTLP gRPC + HTTP on loopback and forwarding everything to ``sink`` over OTLP/HTTP."""

    sink: OtlpSink
    workdir: Path
    binary: str = field(default_factory=rotel_binary)
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    server: ServerProcess | None = None

    @property
    def grpc_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def start(self) -> RotelCollector:
        args = [
            self.binary,
            "start",
            "--otlp-grpc-endpoint",
            f"{LOOPBACK}:{self.grpc_port}",
            "--otlp-http-endpoint",
            f"{LOOPBACK}:{self.http_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            self.sink.url,
            "--otlp-exporter-protocol",
            "http",
            "--batch-timeout",
            "100ms",
            "--pid-file",
            str(self.workdir / f"rotel-{self.grpc_port}.pid"),
            "--log-file",
            str(self.workdir / f"rotel-{self.grpc_port}.log"),
        ]
        self.server = ServerProcess(args, self.workdir / f"rotel-{self.grpc_port}.out").start(self.grpc_port)
        wait_for_port(self.http_port)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def log(self) -> str:
        return self.server.log() if self.server else ""


@pytest.fixture
def otlp_sink() -> Iterator[OtlpSink]:
    sink = OtlpSink()
    yield sink
    sink.close()


@pytest.fixture
def collector(otlp_sink: OtlpSink, tmp_path: Path) -> Iterator[RotelCollector]:
    """A running rotel collector on free loopback ports, forwarding to ``otlp_sink``."""
    rotel = RotelCollector(otlp_sink, tmp_path).start()
    yield rotel
    rotel.stop()


@pytest.fixture
def make_collector(otlp_sink: OtlpSink, tmp_path: Path) -> Iterator:
    """Factory for collectors that a test starts, stops and restarts itself."""
    made: list[RotelCollector] = []

    def make() -> RotelCollector:
        rotel = RotelCollector(otlp_sink, tmp_path)
        made.append(rotel)
        return rotel

    yield make
    for rotel in made:
        rotel.stop()


def prometheus_binary() -> str:
    return require_binary("prometheus", PROMETHEUS_HINT)


@dataclass
class Prometheus:
    """A real Prometheus on a free loopback port scraping ``targets`` every second."""

    workdir: Path
    targets: list[str]
    port: int = field(default_factory=free_port)
    server: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Prometheus:
        config = self.workdir / "prometheus.yml"
        targets = ", ".join(f'"{target}"' for target in self.targets)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [{targets}]\n"
        )
        args = [
            prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
        ]
        self.server = ServerProcess(args, self.workdir / "prometheus.log").start(self.port, timeout=30)
        deadline = time.monotonic() + 30  # the port listens before the TSDB is ready (503 until then)
        while not self.ready():
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Prometheus not ready after 30 s; log:\n{self.server.log()}")
            time.sleep(0.1)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def make_prometheus(tmp_path: Path) -> Iterator:
    """Factory: ``make_prometheus(["127.0.0.1:port"])`` starts Prometheus scraping those targets."""
    started: list[Prometheus] = []

    def make(targets: list[str]) -> Prometheus:
        prometheus = Prometheus(tmp_path, targets).start()
        started.append(prometheus)
        return prometheus

    yield make
    for prometheus in started:
        prometheus.stop()


def app_env(**overrides: str) -> dict[str, str]:
    """A clean environment for an app subprocess: no inherited OTEL_* settings, quick metric export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    env.update(
        {
            # The DuckDB workload needs only the duckdb instrumentor; importing the other targets
            # (LangGraph, pydantic-ai) would only slow every subprocess down.
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "langgraph,pydantic_ai,cachetools,system_metrics",
            "OTEL_SERVICE_NAME": "pipeline-app",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def run_app(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python tests/pipeline/apps/<args>`` (or under ``opentelemetry-instrument``) to completion."""
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def app_command(script: str, *args: str, instrument: bool = False) -> list[str]:
    command = [sys.executable, str(APPS / script), *args]
    if instrument:
        command = [str(VENV_BIN / "opentelemetry-instrument"), *command]
    return command
