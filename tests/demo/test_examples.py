"""The scripts in examples/ run, and their telemetry has the expected shape.

Each runs as a real subprocess with ``OTEL_TRACES_EXPORTER=console``; the spans it
prints are parsed back to check names and parent links. The FastAPI service runs
under a real uvicorn on a free loopback port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import LOOPBACK, ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    env.update(
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="100",
        AGENTOTEL_DEMO_CACHE=str(cache_dir),
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def console_spans(text: str) -> list[dict[str, Any]]:
    """Spans printed by the SDK's ConsoleSpanExporter (one indented JSON object each)."""
    spans, block = [], None
    for line in text.splitlines():
        if line == "{":
            block = [line]
        elif block is not None:
            block.append(line)
            if line == "}":
                document = json.loads("\n".join(block))
                if "context" in document and "name" in document:
                    spans.append(document)
                block = None
    return spans


def _one(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [s for s in spans if s["name"] == name]
    assert len(found) == 1, (name, sorted(s["name"] for s in spans))
    return found[0]


def _run(args: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_quickstart(demo_cache_dir: Path) -> None:
    assert len([line for line in (EXAMPLES / "quickstart.py").read_text().splitlines() if line.strip()]) <= 15
    done = _run([str(EXAMPLES / "quickstart.py")], _env(demo_cache_dir))
    assert "The answer is 42" in done.stdout
    spans = console_spans(done.stdout)
    root = next(s for s in spans if s["name"].endswith(" quickstart"))
    node = _one(spans, "ask_duckdb")
    query = _one(spans, "SELECT")
    assert root["parent_id"] is None
    assert node["parent_id"] == root["context"]["span_id"] and query["parent_id"] == node["context"]["span_id"]
    assert query["attributes"]["db.system.name"] == "duckdb"


def test_landuse_agent_module(demo_cache_dir: Path) -> None:
    done = _run(["-m", "examples.landuse_agent", "Which counties have the most development?"], _env(demo_cache_dir))
    assert "A: The county with the most development is" in done.stdout
    spans = console_spans(done.stdout)
    assert any(s["name"] == "execute_tool run_sql" for s in spans)


def test_load_test_in_process(demo_cache_dir: Path) -> None:
    done = _run(
        [
            str(EXAMPLES / "load_test.py"),
            "--scenario",
            "light",
            "--requests",
            "8",
            "--users",
            "2",
            "--ramp-up",
            "0.2",
            "--think-time",
            "0",
        ],
        _env(demo_cache_dir, OTEL_METRICS_EXPORTER="console"),
    )
    assert "requests   total 8, succeeded 8, failed 0" in done.stdout
    assert "errors     none" in done.stdout
    for label in ("p50", "p95", "p99", "requests/s"):
        assert label in done.stdout
    spans = console_spans(done.stdout)
    requests = {s["context"]["span_id"] for s in spans if s["name"] == "load_test.request"}
    roots = [s for s in spans if s["name"].endswith(" landuse-agent")]
    assert len(requests) == 8 and len(roots) == 8
    assert {root["parent_id"] for root in roots} == requests  # each agent run nests under its request span
    assert '"name": "load_test.request.duration"' in done.stdout and '"name": "load_test.requests"' in done.stdout


def test_load_test_refuses_non_loopback_targets(demo_cache_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "load_test.py"), "--url", "http://192.0.2.1:8000/ask"],
        cwd=REPO,
        env=_env(demo_cache_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "only loopback targets" in done.stderr


@pytest.fixture
def service(demo_cache_dir: Path, tmp_path: Path) -> Iterator[tuple[str, ServerProcess]]:
    """examples/fastapi_service/app.py under uvicorn on a free loopback port."""
    port = free_port()
    server = ServerProcess(
        [sys.executable, str(EXAMPLES / "fastapi_service" / "app.py"), "--port", str(port)], tmp_path / "service.log"
    )
    with pytest.MonkeyPatch.context() as patch:  # ServerProcess hands the current environment to the child
        for key in [k for k in os.environ if k.startswith(("OTEL_", "AGENTOTEL_"))]:
            patch.delenv(key)
        for key, value in _env(demo_cache_dir).items():
            patch.setenv(key, value)
        server.start(wait_port=port, timeout=60)
    yield f"http://{LOOPBACK}:{port}", server
    server.stop()


def test_fastapi_service(service: tuple[str, ServerProcess], demo_cache_dir: Path) -> None:
    base, server = service
    with httpx.Client(base_url=base, timeout=30) as client:
        reply = client.post("/ask", json={"question": "Compare forest loss between RCP4.5 and RCP8.5 scenarios"})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert "under RCP4.5" in body["answer"] and body["sql"] and len(body["trace_id"]) == 32
        assert client.post("/ask", json={"question": ""}).status_code == 422
        health = client.get("/health")
        assert health.status_code == 200
        snapshot = health.json()
        assert snapshot["status"] in ("healthy", "degraded")
        assert {"circuit_breaker", "load_balancer", "cache"} <= set(snapshot["components"])

    load = _run(
        [
            str(EXAMPLES / "load_test.py"),
            "--url",
            f"{base}/ask",
            "--requests",
            "4",
            "--users",
            "2",
            "--ramp-up",
            "0",
            "--think-time",
            "0",
        ],
        _env(demo_cache_dir, OTEL_TRACES_EXPORTER="none"),
    )
    assert "requests   total 4, succeeded 4, failed 0" in load.stdout

    server.stop()
    spans = console_spans(server.log())
    in_trace = [s for s in spans if s["context"]["trace_id"] == f"0x{body['trace_id']}"]
    http = [s for s in in_trace if s["kind"] == "SpanKind.SERVER"]
    assert len(http) == 1 and http[0]["name"] == "POST /ask"
    roots = [s for s in in_trace if s["name"].endswith(" landuse-agent")]
    assert len(roots) == 1 and roots[0]["parent_id"] == http[0]["context"]["span_id"]
    assert any(s["name"] == "execute_tool run_sql" for s in in_trace)
