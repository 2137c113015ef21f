"""Load-test the land-use agent, in process or served over HTTP on this machine.

    python examples/load_test.py --scenario light
    python examples/load_test.py --scenario medium --url http://127.0.0.1:8000/ask
    python examples/load_test.py --users 8 --ramp-up 2 --duration 20 --think-time 0.1

Virtual users start evenly spread over the ramp-up and ask questions in a loop,
pausing ``think time`` between requests, until the request budget or the duration
runs out. The report gives total / succeeded / failed, latency p50 / p95 / p99,
requests per second and errors by type. Every request is also telemetry: a span
``load_test.request`` (the agent's trace nests under it in process) and the metrics
``load_test.requests`` {outcome, error.type} and ``load_test.request.duration``.

Bounded on purpose: at most 200 users, 10 minutes and 100,000 requests, a timeout
per request, and an HTTP target must be on a loopback address (this is a tool for
your own machine, not for someone else's server).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode

import agentotel.auto  # noqa: F401  first: SDK from OTEL_* variables, everything instrumented

MAX_USERS = 200
MAX_DURATION_S = 600.0
MAX_REQUESTS = 100_000


@dataclass(frozen=True)
class Scenario:
    """A load shape: users, ramp-up, a request budget and/or a duration, think time."""

    users: int
    ramp_up_s: float
    requests: int | None = None
    duration_s: float | None = None
    think_time_s: float = 0.0

    def describe(self) -> str:
        """The shape in words: ``4 users, ramp-up 1 s, 40 requests, no time limit, think time 0 s``."""
        requests = f"{self.requests} requests" if self.requests else "no request limit"
        duration = f"{self.duration_s:g} s limit" if self.duration_s else "no time limit"
        think = f"think time {self.think_time_s:g} s"
        return f"{self.users} users, ramp-up {self.ramp_up_s:g} s, {requests}, {duration}, {think}"

    def __post_init__(self) -> None:
        if not 1 <= self.users <= MAX_USERS:
            raise ValueError(f"users must be within 1..{MAX_USERS}")
        if self.requests is None and self.duration_s is None:
            raise ValueError("give a request count, a duration, or both")
        if self.requests is not None and not 1 <= self.requests <= MAX_REQUESTS:
            raise ValueError(f"requests must be within 1..{MAX_REQUESTS}")
        if self.duration_s is not None and not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration must be within (0, {MAX_DURATION_S:g}] seconds")
        if self.ramp_up_s < 0 or self.think_time_s < 0:
            raise ValueError("ramp-up and think time cannot be negative")


SCENARIOS: dict[str, Scenario] = {
    "light": Scenario(users=2, ramp_up_s=1.0, requests=20, think_time_s=0.1),
    "medium": Scenario(users=5, ramp_up_s=2.0, requests=100, think_time_s=0.05),
    "heavy": Scenario(users=10, ramp_up_s=3.0, duration_s=20.0, think_time_s=0.02),
    "stress": Scenario(users=25, ramp_up_s=5.0, duration_s=30.0),
}

Target = Callable[[str], Awaitable[None]]


@dataclass
class Results:
    """Outcome of a run."""

    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        """Requests made."""
        return len(self.latencies_s)

    @property
    def failed(self) -> int:
        """Requests that raised or timed out."""
        return sum(self.errors.values())

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of latency, in seconds."""
        if not self.latencies_s:
            return 0.0
        ordered = sorted(self.latencies_s)
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]

    def render(self) -> str:
        """The report as text."""
        rate = self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"requests   total {self.total}, succeeded {self.total - self.failed}, failed {self.failed}",
            f"latency    p50 {self.percentile(50) * 1000:.1f} ms, p95 {self.percentile(95) * 1000:.1f} ms, "
            f"p99 {self.percentile(99) * 1000:.1f} ms",
            f"throughput {rate:.1f} requests/s over {self.elapsed_s:.1f} s",
            "errors     " + (", ".join(f"{kind} {n}" for kind, n in sorted(self.errors.items())) or "none"),
        ]
        return "\n".join(lines)


class _Budget:
    """Hands out permission for one more request until the count or the deadline runs out (one event loop)."""

    def __init__(self, scenario: Scenario) -> None:
        self._left = scenario.requests if scenario.requests is not None else MAX_REQUESTS
        duration = scenario.duration_s if scenario.duration_s is not None else MAX_DURATION_S
        self.deadline = time.monotonic() + duration

    def take(self) -> bool:
        if self._left <= 0 or time.monotonic() >= self.deadline:
            return False
        self._left -= 1
        return True


class AgentLoadTester:
    """Runs a :class:`Scenario` against ``target`` (``await target(question)``) and reports the results."""

    def __init__(self, target: Target, questions: Sequence[str], *, request_timeout_s: float = 30.0) -> None:
        self.target = target
        self.questions = list(questions)
        self.request_timeout_s = request_timeout_s
        self._tracer = trace.get_tracer("examples.load_test")
        meter = metrics.get_meter("examples.load_test")
        self._requests = meter.create_counter(
            "load_test.requests", unit="{request}", description="Load-test requests by outcome."
        )
        self._duration = meter.create_histogram(
            "load_test.request.duration", unit="s", description="Load-test request latency."
        )

    async def run(self, scenario: Scenario) -> Results:
        """Start the users over the ramp-up, wait for all of them, return the results."""
        results = Results()
        budget = _Budget(scenario)
        started = time.monotonic()
        await asyncio.gather(*(self._user(n, scenario, budget, results) for n in range(scenario.users)))
        results.elapsed_s = time.monotonic() - started
        return results

    async def _user(self, number: int, scenario: Scenario, budget: _Budget, results: Results) -> None:
        await asyncio.sleep(scenario.ramp_up_s * number / scenario.users)
        asked = 0
        while budget.take():
            question = self.questions[(number + asked) % len(self.questions)]
            asked += 1
            await self._one(number, question, results)
            if scenario.think_time_s:
                await asyncio.sleep(min(scenario.think_time_s, max(0.0, budget.deadline - time.monotonic())))

    async def _one(self, user: int, question: str, results: Results) -> None:
        error: str | None = None
        start = time.perf_counter()
        with self._tracer.start_as_current_span("load_test.request", attributes={"load_test.user": user}) as span:
            try:
                await asyncio.wait_for(self.target(question), self.request_timeout_s)
            except Exception as exc:  # every failure is a result, counted by type
                error = "timeout" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, error))
                span.set_attribute("error.type", error)
        latency = time.perf_counter() - start
        results.latencies_s.append(latency)
        attributes = {"outcome": "failure" if error else "success", **({"error.type": error} if error else {})}
        self._requests.add(1, attributes)
        self._duration.record(latency, attributes)
        if error:
            results.errors[error] = results.errors.get(error, 0) + 1


def require_loopback(url: str) -> str:
    """``url`` if its host is a loopback address; otherwise ``ValueError``."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"refusing to load-test {host or url!r}: only loopback targets (127.0.0.1, ::1, localhost)")
    return url


class HttpError(Exception):
    """The server answered with an error status."""


def http_target(url: str, users: int, timeout_s: float):
    """``(target, close)`` posting ``{"question": ...}`` to ``url`` with one shared httpx client."""
    import httpx

    client = httpx.AsyncClient(timeout=timeout_s, limits=httpx.Limits(max_connections=users))

    async def ask(question: str) -> None:
        response = await client.post(url, json={"question": question})
        if response.status_code >= 400:
            raise HttpError(f"HTTP {response.status_code}")

    return ask, client.aclose


def in_process_target(scale: float):
    """``(target, close)`` asking a :class:`LandUseAgent` in this process."""
    from agentotel.demo.agent import LandUseAgent
    from agentotel.demo.data import cached_database

    agent = LandUseAgent(cached_database(scale).path)

    async def ask(question: str) -> None:
        await agent.aask(question)

    async def close() -> None:
        agent.close()

    return ask, close


def _scenario(args: argparse.Namespace) -> Scenario:
    base = SCENARIOS[args.scenario]
    duration = args.duration if args.duration is not None else (None if args.requests else base.duration_s)
    requests = args.requests if args.requests is not None else (None if args.duration else base.requests)
    return Scenario(
        users=args.users or base.users,
        ramp_up_s=args.ramp_up if args.ramp_up is not None else base.ramp_up_s,
        requests=requests,
        duration_s=duration,
        think_time_s=args.think_time if args.think_time is not None else base.think_time_s,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the load test, print the report; exit code 1 if any request failed."""
    from agentotel.demo.data import SMALL_SCALE
    from agentotel.demo.questions import DEFAULT_QUESTIONS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="light")
    parser.add_argument("--users", type=int, help="concurrent virtual users")
    parser.add_argument("--ramp-up", type=float, help="seconds over which the users start")
    parser.add_argument("--requests", type=int, help="total request budget")
    parser.add_argument("--duration", type=float, help="seconds to run")
    parser.add_argument("--think-time", type=float, help="seconds each user waits between requests")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("--url", help="POST questions to this loopback URL (e.g. the fastapi_service example)")
    parser.add_argument("--scale", type=float, default=SMALL_SCALE, help="database size for in-process runs")
    args = parser.parse_args(argv)
    try:
        scenario = _scenario(args)
        target, close = (
            http_target(require_loopback(args.url), scenario.users, args.timeout)
            if args.url
            else in_process_target(args.scale)
        )
    except ValueError as exc:
        print(f"load_test: {exc}", file=sys.stderr)
        return 2

    async def run() -> Results:
        try:
            return await AgentLoadTester(target, DEFAULT_QUESTIONS, request_timeout_s=args.timeout).run(scenario)
        finally:
            await close()

    print(f"load test: {args.scenario} ({scenario.describe()}) against {args.url or 'the in-process agent'}")
    results = asyncio.run(run())
    print(results.render())
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
