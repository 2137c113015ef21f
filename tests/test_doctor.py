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
            doctor._sdk.otlp_target("TRACES").__class__(  # pyright: ignore[reportPrivateImportUsage]
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
    import agentotel

    agentotel.uninstrument()  # the trial is what this checks: start from a process without agentotel
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
    assert not any(agentotel.instrumented().values())  # the trial instrumentation was undone


def test_missing_target_and_version_conflict_are_explained(monkeypatch):
    installed = {"duckdb": "0.9.2", "pydantic-ai-slim": None}
    real_version = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda name: installed.get(name, real_version(name)))
    states = {s.name: s for s in doctor.instrumentor_statuses(try_instrument=False)}
    assert states["duckdb"].state == "conflict" and states["duckdb"].failed
    assert states["duckdb"].detail == "needs duckdb<3,>=1.1, found duckdb 0.9.2"
    assert states["pydantic_ai"].state == "missing" and not states["pydantic_ai"].failed
    # The extra that really installs pydantic-ai (instruments-any does not).
    assert states["pydantic_ai"].detail == "pydantic-ai-slim not installed; pip install 'agentotel[pydantic-ai]'"
    assert states["cachetools"].state == "available"


@pytest.mark.parametrize("name", ["duckdb", "langgraph", "cachetools", "pydantic_ai"])
def test_requirements_from_metadata_are_the_instrumentors_own(name):
    import agentotel

    module_name, _, class_name = agentotel.INSTRUMENTORS[name].partition(":")
    instrumentor = getattr(__import__(module_name, fromlist=[class_name]), class_name)()
    from importlib.metadata import metadata

    from packaging.requirements import Requirement

    from_metadata = {Requirement(r) for r in doctor.target_requirements(name)}
    assert from_metadata == {Requirement(r) for r in instrumentor.instrumentation_dependencies()}

    assert doctor.install_extra(name) in metadata("agentotel").get_all("Provides-Extra")


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("localhost:99999", "has port 99999, out of range (1-65535)"),
        ("http://collector:43l7", "has port '43l7', not a number"),
        ("not a url", "is not a URL: 'not a url' is not a host name or address"),
        ("grpc://collector:4317", "has scheme 'grpc'"),
        ("http://:4317", "names no host"),
    ],
)
@pytest.mark.parametrize("live", [True, False])
def test_an_invalid_endpoint_fails_clearly_and_is_not_checked_elsewhere(endpoint, problem, live, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", OTHER_INSTRUMENTORS + ",duckdb")  # endpoint only
    code = doctor.main(["--endpoint", endpoint] + ([] if live else ["--no-live"]))
    out = capsys.readouterr().out
    assert code == 1, out
    assert out.count(f"FAIL endpoint {endpoint!r} {problem}") == 2, out  # traces and metrics
    assert "all checks passed" not in out and "Result: problems found" in out
    assert "4317 in" not in out and "nothing listening" not in out  # no other port was tried instead
    assert ("skipped: the OTLP endpoint is not valid" in out) is live


@pytest.mark.parametrize(
    "endpoint", ["http://localhost:4317", "https://otel.example.com", "http://[::1]:4318/v1/traces", "collector:4317"]
)
def test_valid_endpoints_pass_the_endpoint_check(endpoint):
    assert doctor.endpoint_problem(endpoint) is None


TARGET_MODULES = ("duckdb", "langgraph", "langchain_core", "pydantic_ai", "cachetools", "redis")


@pytest.mark.parametrize("command", [["--help"], ["doctor", "--no-live"], ["doctor", "--help"]])
def test_commands_that_need_no_target_import_none(command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    script = (
        "import contextlib, io, sys\n"
        "from agentotel import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        f"        code = cli.main({command!r})\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({TARGET_MODULES!r})))\n"
        "print(code, len(out.getvalue()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    imported, result = done.stdout.splitlines()[-2:]
    assert imported == "[]", f"agentotel {' '.join(command)} imported {imported}"
    code, printed = result.split()
    assert code == "0" and int(printed) > 100  # it ran and printed its report or usage


def test_jaeger_check_explains_nothing_listening_and_a_non_jaeger_server():
    port = free_port()
    check = doctor.jaeger_check(f"http://127.0.0.1:{port}", "landuse-agent", timeout=2)
    assert not check.ok and check.message.startswith(f"nothing answers at http://127.0.0.1:{port}")
    assert "collector/local.sh up" in check.message

    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check = doctor.jaeger_check(f"http://127.0.0.1:{server.server_port}/", "landuse-agent", timeout=2)
    finally:
        server.shutdown()
        server.server_close()
    assert not check.ok and "answers HTTP 404 to /api/services" in check.message

    check = doctor.jaeger_check("not a url", "landuse-agent")
    assert not check.ok and "Jaeger URL 'not a url' is not a URL" in check.message


def test_the_console_script_runs_doctor():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_TRACES_EXPORTER"] = env["OTEL_METRICS_EXPORTER"] = "none"
    done = subprocess.run(
        [sys.executable, "-m", "agentotel.cli", "doctor"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped: no OTLP exporter configured" in done.stdout
