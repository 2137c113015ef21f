"""Export never hurts the app: collector down, restarted mid-run, or slow."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.pipeline.conftest import app_command, app_env, run_app
from tests.support.servers import LOOPBACK, free_port, wait_for_port

pytestmark = pytest.mark.e2e

EXPORT_PROBLEM = re.compile(r"Failed to export|Transient error|Exception while exporting|retrying in")


def report_of(stderr: str) -> dict:
    """The JSON line the app prints with ``--report``."""
    lines = [line for line in stderr.splitlines() if line.startswith('{"dropped"')]
    assert len(lines) == 1, stderr
    return json.loads(lines[0])


def reference_results(tmp_path: Path) -> list:
    """The workload's results with telemetry switched off entirely."""
    done = run_app(app_command("duckdb_workload.py", "--auto", "--runs", "3"), app_env(OTEL_SDK_DISABLED="true"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --------------------------------------------------------------------------- collector down
def run_with_collector_down(burst: int, **extra: str) -> tuple[subprocess.CompletedProcess, float]:
    dead = free_port()
    env = app_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{LOOPBACK}:{dead}",
        OTEL_BSP_MAX_QUEUE_SIZE="1000",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="256",
        OTEL_BSP_SCHEDULE_DELAY="50",  # the first export (and the probe before it) comes before the burst
        AGENTOTEL_SHUTDOWN_TIMEOUT="60000",  # a flush that waited for the dead collector would take a minute
        **extra,
    )
    started = time.monotonic()
    done = run_app(
        app_command(
            "duckdb_workload.py", "--auto", "--runs", "3", "--burst", str(burst), "--report", "--after-first-export"
        ),
        env,
        timeout=60,
    )
    return done, time.monotonic() - started


def test_collector_down_app_unaffected_bounded_and_quiet(tmp_path):
    done, elapsed = run_with_collector_down(burst=3000)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == reference_results(tmp_path)
    # Shutdown saw that nothing listens and did not wait out its 60 s budget or the exporters' retries.
    assert elapsed < 20, f"exit took {elapsed:.1f}s\n{done.stderr}"

    report = report_of(done.stderr)
    produced = 3 * 4 + 3000
    assert report["capacity"] == 1000 and report["queued"] <= 1000
    # The first export found nothing listening (before the burst): from then on at most two batches are held.
    assert report["limit"] == 512
    assert report["dropped"] >= produced - 512 - 2 * 256
    assert f"{report['dropped']} spans were dropped in total" in done.stderr
    assert "nothing listens on" in done.stderr

    problems = [line for line in done.stderr.splitlines() if EXPORT_PROBLEM.search(line)]
    assert len(problems) == 1, "\n".join(problems)  # once per 60 s interval, not per batch or retry
    assert "logged at most once per 60 s" in problems[0]
    drops = re.findall(r"dropping spans, .*", done.stderr)
    assert len(drops) == 1 and "is unreachable, so at most 512 spans are held" in drops[0]  # 2 batches
    assert "Exception ignored" not in done.stderr  # nothing raised at exit


def test_unknown_exporter_keeps_the_bounded_quiet_exit():
    # An unknown exporter name falls back to otlp, and so to otlp's exit: no wait for a dead collector.
    done, elapsed = run_with_collector_down(burst=300, OTEL_TRACES_EXPORTER="bogus", OTEL_METRICS_EXPORTER="bogus")
    assert done.returncode == 0, done.stderr
    assert elapsed < 20, f"exit took {elapsed:.1f}s\n{done.stderr}"
    assert "nothing listens on" in done.stderr
    assert done.stderr.count("OTEL_TRACES_EXPORTER='bogus' is not valid") == 1
    assert done.stderr.count("OTEL_METRICS_EXPORTER='bogus' is not valid") == 1
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr


def test_collector_down_memory_stays_bounded():
    small, _ = run_with_collector_down(burst=2000)
    large, _ = run_with_collector_down(burst=40000)
    assert small.returncode == 0 and large.returncode == 0, large.stderr
    small_report, large_report = report_of(small.stderr), report_of(large.stderr)
    assert large_report["queued"] <= large_report["capacity"]
    # 38,000 more spans were ended; a queue that kept them would hold tens of MiB more.
    assert large_report["max_rss_kib"] - small_report["max_rss_kib"] < 16 * 1024


# --------------------------------------------------------------------------- collector restarted
def test_spans_made_after_a_collector_restart_arrive(make_collector, otlp_sink, tmp_path):
    rotel = make_collector().start()
    gate = tmp_path / "gate"
    env = app_env(OTEL_EXPORTER_OTLP_ENDPOINT=rotel.grpc_endpoint)
    app = subprocess.Popen(
        app_command("duckdb_workload.py", "--auto", "--runs", "6", "--gate", str(gate)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout.readline().strip() == "GATE"

        def runs_arrived(sink) -> set:
            return {s.attributes["app.run"] for s in sink.spans_named("landuse report")}

        otlp_sink.wait_for(lambda sink: runs_arrived(sink) == {0, 1, 2}, what="runs 0-2 before the restart")
        rotel.stop()
        rotel.start()  # same ports
        gate.touch()
        out, err = app.communicate(timeout=60)
        assert app.returncode == 0, err
        otlp_sink.wait_for(lambda sink: runs_arrived(sink) == set(range(6)), what="runs 3-5 after the restart")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


# --------------------------------------------------------------------------- slow collector
class HoldingProxy:
    """A TCP proxy in front of the collector that holds every byte until :meth:`release`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.released = threading.Event()
        self.bytes_held = 0
        self._listener = socket.create_server((LOOPBACK, self.port))
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((LOOPBACK, self.target_port))
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.released.is_set():
                    self.bytes_held += len(data)
                    self.released.wait(60)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        for sock in self._sockets:
            sock.close()


def test_slow_collector_does_not_block_the_hot_path(collector, otlp_sink, tmp_path):
    proxy = HoldingProxy(collector.grpc_port)
    wait_for_port(proxy.port)
    gate = tmp_path / "gate"
    env = app_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{LOOPBACK}:{proxy.port}", OTEL_EXPORTER_OTLP_TIMEOUT="30")
    app = subprocess.Popen(
        app_command("duckdb_workload.py", "--auto", "--runs", "4", "--burst", "2000", "--gate", str(gate)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout.readline().strip() == "GATE"
        deadline = time.monotonic() + 20
        while proxy.bytes_held == 0:  # the first export is on the wire, and stuck
            assert time.monotonic() < deadline, "the app never tried to export"
            time.sleep(0.05)
        gate.touch()
        # The rest of the workload (2 traces and 2,000 more spans) completes while the
        # collector has not answered a single byte.
        results = json.loads(app.stdout.readline())
        assert len(results) == 4
        assert not otlp_sink.spans
        proxy.release()
        out, err = app.communicate(timeout=60)
        assert app.returncode == 0, err
        otlp_sink.wait_for(lambda sink: len(sink.spans_named("landuse report")) == 4, what="the held spans")
        assert len(otlp_sink.spans_named("burst")) == 2000
    finally:
        proxy.close()
        if app.poll() is None:
            app.kill()
            app.wait()
