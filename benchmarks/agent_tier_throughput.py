"""Agent-tier collector throughput: how many spans per second one agent-tier collector
(``collector/gateway/agent.yaml``: memory_limiter, batch, spanmetrics, load_balancing by trace
ID) accepts and forwards to two tail-sampling gateways (``gateway.yaml``), on this machine.

    python benchmarks/agent_tier_throughput.py [--seconds 15] [--senders 2]

Needs the binaries of ``collector/local.sh build``. The senders replay pre-encoded OTLP/gRPC
requests (agent-run-shaped traces: 8 spans each with six attributes, distinct trace IDs), so
that the Python side costs next to nothing and the figure is the collectors'. Everything runs
on this machine: the agent tier shares the cores with the two gateways, Jaeger and the senders,
so the figure is a floor for a dedicated core. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pipeline.stack import COLLECTOR_DIR, Collector, Jaeger  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_TRACE = 8
TRACES_PER_REQUEST = 64
NAMES = ["invoke_agent landuse-agent", "plan", "agent", "chat landuse-sql-fast", "tools", "execute_tool run_sql"]


def attribute(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(rng: random.Random) -> bytes:
    """One OTLP request: TRACES_PER_REQUEST agent-run-shaped traces with fresh ids."""
    spans = []
    now = time.time_ns()
    for _ in range(TRACES_PER_REQUEST):
        trace_id = rng.randbytes(16)
        root = rng.randbytes(8)
        for index in range(SPANS_PER_TRACE):
            span_id = root if index == 0 else rng.randbytes(8)
            name = NAMES[index] if index < len(NAMES) else "SELECT fact_landuse_transitions"
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=b"" if index == 0 else root,
                    name=name,
                    kind=Span.SPAN_KIND_CLIENT if name.startswith(("chat", "SELECT")) else Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=now,
                    end_time_unix_nano=now + 1_000_000 * (index + 1),
                    attributes=[
                        attribute("gen_ai.operation.name", name.split()[0]),
                        attribute("gen_ai.agent.name", "landuse-agent"),
                        attribute("db.system.name", "duckdb"),
                        attribute("db.operation.name", "SELECT"),
                        attribute("gen_ai.usage.input_tokens", 338),
                        attribute("langgraph.step", index),
                    ],
                )
            )
    resource = Resource(attributes=[attribute("service.name", "throughput")])
    message = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return message.SerializeToString()


def send(target: str, requests: list[bytes], stop: threading.Event, sent: list[int]) -> None:
    with grpc.insecure_channel(target) as channel:
        export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        index = 0
        while not stop.is_set():
            try:
                export(requests[index % len(requests)], timeout=10)
                sent[0] += TRACES_PER_REQUEST * SPANS_PER_TRACE
            except grpc.RpcError:
                time.sleep(0.01)  # refused by the memory limiter: back off like an SDK would
            index += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--senders", type=int, default=2)
    args = parser.parse_args()
    from tests.pipeline.stack import real_binaries

    binaries = real_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="agent-tier-"))
    jaeger = Jaeger(binaries["JAEGER"], workdir)
    gateways = [
        Collector(
            binaries["OTELCOL"],
            COLLECTOR_DIR / "gateway" / "gateway.yaml",
            workdir,
            name=f"gateway-{i}",
            extra_env={"JAEGER_OTLP_ENDPOINT": jaeger.otlp_endpoint, "TAIL_SAMPLING_DECISION_WAIT": "5s"},
        )
        for i in (1, 2)
    ]
    hosts = ", ".join(f"127.0.0.1:{g.grpc_port}" for g in gateways)
    agent = Collector(
        binaries["OTELCOL"],
        COLLECTOR_DIR / "gateway" / "agent.yaml",
        workdir,
        name="agent",
        extra_env={"GATEWAY_ENDPOINTS": f"[{hosts}]"},
    )
    servers = [jaeger, *gateways, agent]
    try:
        for server in servers:
            server.start()
        rng = random.Random(7)
        requests = [request(rng) for _ in range(300)]
        stop = threading.Event()
        counters = [[0] for _ in range(args.senders)]
        threads = [
            threading.Thread(target=send, args=(f"127.0.0.1:{agent.grpc_port}", requests, stop, counter))
            for counter in counters
        ]
        for thread in threads:
            thread.start()
        time.sleep(2)  # warm up
        accepted0 = agent.telemetry("otelcol_receiver_accepted_spans")
        forwarded0 = agent.telemetry("otelcol_exporter_sent_spans", 'exporter="load_balancing"')
        started = time.monotonic()
        cpu0 = os.times()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        accepted = agent.telemetry("otelcol_receiver_accepted_spans") - accepted0
        forwarded = agent.telemetry("otelcol_exporter_sent_spans", 'exporter="load_balancing"') - forwarded0
        refused = agent.telemetry("otelcol_receiver_refused_spans")
        stop.set()
        for thread in threads:
            thread.join()
        senders_cpu = sum(os.times()[:2]) - sum(cpu0[:2])
    finally:
        for server in reversed(servers):
            server.stop()
    print(f"Agent tier throughput ({os.cpu_count()} cores shared with 2 gateways, Jaeger and the senders)\n")
    print("| measure | value |\n|---|---|")
    print(f"| spans accepted by the agent tier | {accepted / elapsed:,.0f} spans/s |")
    print(f"| spans forwarded by load_balancing + spanmetrics | {forwarded / elapsed:,.0f} spans/s |")
    print(f"| spans refused (memory_limiter) | {refused:,.0f} |")
    print(f"| senders' own CPU | {senders_cpu / elapsed:.2f} cores |")
    print(f"| window | {elapsed:.1f} s, {args.senders} senders, {TRACES_PER_REQUEST * SPANS_PER_TRACE} spans/request |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
