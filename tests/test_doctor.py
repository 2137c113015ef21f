"""``agentotel doctor``: versions, instrumentor states, resolved export settings, live check."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agentotel import cli, doctor, semconv
from tests.pipeline.conftest import RotelCollector
from tests.pipeline.otlp_sink import OtlpSink
from tests.support.servers import free_port

OTHER_INSTRUMENTORS = "langgraph,cachetools,pydantic_ai"  # their own tests cover them; duckdb stays on


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(
            ("OTEL_EXPORTER_OTLP", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_PYTHON_DISABLED")
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def rotel(tmp_path):
    sink = OtlpSink()
    collector = RotelCollector(sink, tmp_path).start()
    yield collector
    collector.stop()
    sink.close()


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_live_check_reaches_a_real_collector(rotel, protocol, capsys, monkeypatch):
    endpoint = rotel.grpc_endpoint if protocol == "grpc" else rotel.http_endpoint
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20top-secret")
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", OTHER_INSTRUMENTORS)  # only the live check decides
    code = cli.main(["doctor", "--endpoint", endpoint, "--protocol", protocol])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"protocol={protocol}" in out and "headers: authorization=****" in out
    assert "top-secret" not in out
    assert out.count("ok   1 ") == 2 and "Result: all checks passed" in out

    rotel.sink.wait_for(
        lambda sink: sink.spans_named(semconv.DOCTOR_SPAN) and sink.points_of(semconv.DOCTOR_CHECKS),
        what="the doctor's span and metric",
    )
    span = rotel.sink.spans_named(semconv.DOCTOR_SPAN)[0]
    assert span.resource["agentotel.doctor"] is True
    assert [p.value for p in rotel.sink.points_of(semconv.DOCTOR_CHECKS)] == [1]


def test_dead_port_fails_with_a_concrete_fix(capsys):
    port = free_port()
    code = doctor.main(["--endpoint", f"http://127.0.0.1:{port}"])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        f"FAIL nothing listening on 127.0.0.1:{port} — start the stack with "
        "`docker compose -f collector/docker-compose.yaml up`"
    ) in out
    assert "Result: problems found" in out


def test_a_listener_that_is_not_otlp_is_explained(capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never answers
        port = listener.getsockname()[1]
        check = doctor.live_check(
            doctor._sdk.otlp_target("TRACES").__class__(
                signal="TRACES",
                protocol="http/protobuf",
                url=f"http://127.0.0.1:{port}/v1/traces",
                host="127.0.0.1",
                port=port,
            ),
            timeout=0.5,
        )
    assert not check.ok
    assert "accepts connections but did not accept 1 span over http/protobuf" in check.message
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc with port 4317" in check.message


def test_versions_instrumentors_and_settings_are_reported(capsys, monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", OTHER_INSTRUMENTORS)
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4096")
    code = doctor.main(["--no-live"])
    out = capsys.readouterr().out
    assert code == 0, out
    import duckdb

    assert f"duckdb{' ' * (40 - len('duckdb'))} {duckdb.__version__}" in out
    assert "endpoint=http://localhost:4317" in out
    assert "    OTEL_BSP_MAX_QUEUE_SIZE          4096\n" in out
    assert "    AGENTOTEL_SHUTDOWN_TIMEOUT       5000 (agentotel default)" in out
    states = {s.name: s for s in doctor.instrumentor_statuses()}
    assert states["duckdb"].state == "active" and states["duckdb"].entry_point
    assert states["cachetools"].state == "disabled"
    assert "  cachetools   disabled " in out
    import agentotel

    assert not any(agentotel.instrumented().values())  # the trial instrumentation was undone


def test_missing_target_and_version_conflict_are_explained(monkeypatch):
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

    import agentotel

    class NeedsAFutureDuckDB(BaseInstrumentor):
        def instrumentation_dependencies(self):
            return ["duckdb >= 99"]

        def _instrument(self, **kwargs):
            pass

        def _uninstrument(self, **kwargs):
            pass

    module = type(sys)("tests_fake_instrumentor")
    module.Future = NeedsAFutureDuckDB
    monkeypatch.setitem(sys.modules, "tests_fake_instrumentor", module)
    monkeypatch.setattr(
        agentotel,
        "INSTRUMENTORS",
        {
            "future": "tests_fake_instrumentor:Future",
            "absent": "agentotel.instrumentation.no_such_library:Nothing",
        },
    )
    states = {s.name: s for s in doctor.instrumentor_statuses(try_instrument=False)}
    assert states["future"].state == "conflict" and "duckdb >= 99" in states["future"].detail
    assert states["future"].failed
    assert states["absent"].state == "missing" and "pip install" in states["absent"].detail


def test_the_console_script_runs_doctor():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_TRACES_EXPORTER"] = env["OTEL_METRICS_EXPORTER"] = "none"
    done = subprocess.run(
        [sys.executable, "-m", "agentotel.cli", "doctor"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped: no OTLP exporter configured" in done.stdout
