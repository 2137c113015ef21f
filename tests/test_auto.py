"""Ways in, run as real subprocesses: `import agentotel.auto` and `opentelemetry-instrument`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
WORKLOAD = """
import sys
import duckdb
con = duckdb.connect()
con.execute("CREATE TABLE landuse (state VARCHAR, acres DOUBLE)")
con.execute("INSERT INTO landuse VALUES ('CA', 12.5), ('TX', 7.0)")
rows = con.execute("SELECT sum(acres) FROM landuse WHERE state = 'CA'").fetchall()
# One write: the console exporter's thread prints spans to the same stdout meanwhile.
sys.stdout.write(f"RESULT {rows}\\n")
sys.stdout.flush()
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    env.update(
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "auto-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)


def _spans(stdout: str) -> list[dict]:
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while True:
        start = stdout.find("{", index)
        if start < 0:
            return spans
        try:
            obj, index = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(obj, dict) and "context" in obj and "name" in obj:
            spans.append(obj)


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_import_agentotel_auto_sets_up_sdk_and_traces_duckdb(tmp_path):
    app = _script(tmp_path, "import agentotel.auto\n" + WORKLOAD)
    result = _run([sys.executable, app], _env())
    assert result.returncode == 0, result.stderr
    assert "RESULT [(12.5,)]" in result.stdout
    spans = _spans(result.stdout)
    names = [s["name"] for s in spans]
    assert "CREATE TABLE landuse" in names and "INSERT landuse" in names and "SELECT landuse" in names
    select = next(s for s in spans if s["name"] == "SELECT landuse")
    assert select["kind"] == "SpanKind.CLIENT"
    assert select["attributes"]["db.system.name"] == "duckdb"
    assert "'CA'" not in json.dumps(select)  # literals are not recorded by default
    assert select["resource"]["attributes"]["service.name"] == "auto-test"


def test_import_agentotel_auto_keeps_the_applications_providers(tmp_path):
    app = _script(
        tmp_path,
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        mine = TracerProvider()
        mine.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(mine)
        import agentotel.auto
        assert trace.get_tracer_provider() is mine
        import duckdb
        duckdb.connect().execute("SELECT 42").fetchall()
        print("MINE", [s.name for s in exporter.get_finished_spans()])
    """,
    )
    result = _run([sys.executable, app], _env())
    assert result.returncode == 0, result.stderr
    assert "MINE ['SELECT']" in result.stdout
    assert _spans(result.stdout) == []


def test_otel_sdk_disabled_turns_everything_off(tmp_path):
    app = _script(
        tmp_path, "import agentotel.auto\nimport agentotel\nprint('STATE', agentotel.instrumented())\n" + WORKLOAD
    )
    result = _run([sys.executable, app], _env(OTEL_SDK_DISABLED="true"))
    assert result.returncode == 0, result.stderr
    assert "'duckdb': False" in result.stdout
    assert _spans(result.stdout) == []


def test_opentelemetry_instrument_loads_our_entry_points(tmp_path):
    app = _script(tmp_path, WORKLOAD)
    result = _run([str(BIN / "opentelemetry-instrument"), sys.executable, app], _env())
    assert result.returncode == 0, result.stderr
    names = [s["name"] for s in _spans(result.stdout)]
    assert "SELECT landuse" in names


def test_disabled_instrumentations_switches_ours_off_under_opentelemetry_instrument(tmp_path):
    app = _script(tmp_path, WORKLOAD)
    result = _run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, app],
        _env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="duckdb"),
    )
    assert result.returncode == 0, result.stderr
    assert "RESULT [(12.5,)]" in result.stdout
    assert not [s for s in _spans(result.stdout) if s["attributes"].get("db.system.name") == "duckdb"]


def test_malformed_otel_number_warns_once_and_uses_the_default(tmp_path):
    app = _script(tmp_path, "import agentotel.auto\n" + WORKLOAD)
    result = _run([sys.executable, app], _env(OTEL_BSP_MAX_QUEUE_SIZE="lots"))
    assert result.returncode == 0, result.stderr
    assert "RESULT [(12.5,)]" in result.stdout
    assert result.stderr.count("OTEL_BSP_MAX_QUEUE_SIZE='lots' is not valid") == 1
    assert "SELECT landuse" in [s["name"] for s in _spans(result.stdout)]


@pytest.mark.parametrize("module", ["agentotel", "agentotel.auto"])
def test_import_makes_no_network_connection(tmp_path, module):
    app = _script(
        tmp_path,
        f"""
        import socket
        def refuse(*args, **kwargs):
            raise AssertionError("network access at import time")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import {module}
        print("IMPORTED")
    """,
    )
    result = _run([sys.executable, app], _env(OTEL_TRACES_EXPORTER="otlp"))
    assert result.returncode == 0, result.stderr
    assert "IMPORTED" in result.stdout
