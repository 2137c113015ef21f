"""agentotel.Cache telemetry, checked with agentotel.testing.

Lookups are counted in the cache and read by observable instruments; a
``cache.load {name}`` span covers each miss that loads; ``cache.hit`` goes on the
current span; nothing is emitted after ``agentotel.uninstrument()``.
"""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode

import agentotel
from agentotel import Cache, _telemetry, semconv
from agentotel.testing import TelemetryCapture, capture_telemetry


def make_cache(providers: TelemetryCapture, name: str = "answers", **kwargs) -> Cache:
    return Cache(name, tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider, **kwargs)


def lookups(providers: TelemetryCapture, name: str, result: str) -> float:
    return providers.metric_value(
        "agentotel.cache.lookups", **{"cache.name": name, "cache.result": result, "cache.level": "l1"}
    )


def test_lookups_loads_evictions_and_entries_are_observed(providers, fake_clock) -> None:
    cache = make_cache(providers, max_entries=2, clock=fake_clock)
    cache.get_or_load("a", lambda: 1)
    cache.get_or_load("a", lambda: 1)
    cache.get("b")
    with pytest.raises(ZeroDivisionError):
        cache.get_or_load("c", lambda: 1 / 0)
    cache.set("d", 4)
    cache.set("e", 5)  # evicts a
    cache.set("e", 6)  # replaces e
    assert lookups(providers, "answers", "hit") == 1
    assert lookups(providers, "answers", "miss") == 3
    loads = {
        p.attributes["cache.load.outcome"]: p.value
        for p in providers.metric_points("agentotel.cache.loads", **{"cache.name": "answers"})
    }
    assert loads == {"success": 1, "failure": 1}
    evictions = {
        p.attributes["cache.eviction.cause"]: p.value
        for p in providers.metric_points("agentotel.cache.evictions", **{"cache.name": "answers"})
    }
    assert evictions == {"size": 1, "replaced": 1}
    assert providers.metric_value("agentotel.cache.entries", **{"cache.name": "answers"}) == 2
    durations = providers.metric_points("agentotel.cache.load.duration", **{"cache.name": "answers"})
    assert sorted(p.attributes["cache.load.outcome"] for p in durations) == ["failure", "success"]
    metric = providers.metrics()["agentotel.cache.lookups"]
    assert metric.data.is_monotonic and metric.unit == "{lookup}"


def test_caches_sharing_a_name_are_summed(providers, fake_clock) -> None:
    first, second = make_cache(providers, "shared", clock=fake_clock), make_cache(providers, "shared", clock=fake_clock)
    first.get("x")
    second.get("y")
    second.get("z")
    points = providers.metric_points("agentotel.cache.lookups", **{"cache.name": "shared", "cache.result": "miss"})
    assert [p.value for p in points] == [3]


def test_load_span_wraps_the_loader_under_the_callers_span(providers, fake_clock) -> None:
    cache = make_cache(providers, clock=fake_clock)
    tracer = providers.tracer_provider.get_tracer("test")
    inner = []

    def loader() -> str:
        with tracer.start_as_current_span("model call") as span:
            inner.append(span)
        return "v"

    with tracer.start_as_current_span("agent step"):
        cache.get_or_load("k", loader)
        cache.get_or_load("k", loader)
    load = providers.span("cache.load answers")
    step = providers.span("agent step")
    assert load.parent.span_id == step.context.span_id
    assert [s.name for s in providers.children(load)] == ["model call"]
    assert load.attributes["cache.name"] == "answers"
    assert load.attributes["cache.coalesced"] == 0
    assert "cache.key" not in load.attributes
    assert len(providers.spans("cache.load answers")) == 1  # the hit made no span


def test_failed_load_span_has_error_type(providers, fake_clock) -> None:
    cache = make_cache(providers, clock=fake_clock)
    with pytest.raises(KeyError):
        cache.get_or_load("k", lambda: {}["nope"])
    span = providers.span("cache.load answers")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]


async def test_async_load_span_parent_and_cache_hit(providers, fake_clock) -> None:
    cache = make_cache(providers, clock=fake_clock)
    tracer = providers.tracer_provider.get_tracer("test")

    async def loader() -> str:
        await asyncio.sleep(0)
        return "v"

    with tracer.start_as_current_span("first"):
        await cache.aget_or_load("k", loader)
    with tracer.start_as_current_span("second"):
        await cache.aget_or_load("k", loader)
    assert providers.span("cache.load answers").parent.span_id == providers.span("first").context.span_id
    assert providers.span("first").attributes["cache.hit"] is False
    assert providers.span("second").attributes["cache.hit"] is True


def test_cache_hit_is_set_on_the_current_span(providers, fake_clock) -> None:
    cache = make_cache(providers, clock=fake_clock)
    cache.set("k", None)
    tracer = providers.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("hit"):
        cache.get("k")
    with tracer.start_as_current_span("miss"):
        cache.get("other")
    assert providers.span("hit").attributes["cache.hit"] is True
    assert providers.span("miss").attributes["cache.hit"] is False
    cache.get("k")  # no current span: nothing to set, nothing fails


def test_cache_keys_are_recorded_only_when_opted_in(fake_clock) -> None:
    with capture_telemetry(capture_cache_keys=True) as telemetry:
        cache = Cache("opt-in", clock=fake_clock)  # created after instrument(): reports there
        cache.get_or_load("region:ghent", lambda: 1)
        assert telemetry.span("cache.load opt-in").attributes["cache.key"] == "region:ghent"


def test_nothing_is_emitted_after_uninstrument(providers, fake_clock) -> None:
    cache = make_cache(providers, "silenced", clock=fake_clock)
    cache.get("a")
    assert lookups(providers, "silenced", "miss") == 1
    agentotel.uninstrument()
    try:
        tracer = providers.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("app"):
            cache.get_or_load("b", lambda: 1)
            cache.get("b")
        assert providers.spans("cache.load silenced") == []
        assert "cache.hit" not in providers.span("app").attributes
        assert providers.metric_points("agentotel.cache.lookups", **{"cache.name": "silenced"}) == []
        assert cache.stats().hits == 1  # the cache still works and counts for stats()
    finally:
        _telemetry.set_enabled(True)


async def test_load_span_counts_the_callers_it_served(providers, fake_clock) -> None:
    cache = make_cache(providers, clock=fake_clock)
    gate = asyncio.Event()

    async def loader() -> str:
        await gate.wait()
        return "v"

    tasks = [asyncio.create_task(cache.aget_or_load("k", loader)) for _ in range(4)]

    async def joined() -> None:
        while cache.stats().coalesced < 3:
            await asyncio.sleep(0)

    await asyncio.wait_for(joined(), 10)
    gate.set()
    assert await asyncio.gather(*tasks) == ["v"] * 4
    assert providers.span("cache.load answers").attributes["cache.coalesced"] == 3


def test_lookups_make_no_sdk_call(providers, fake_clock, monkeypatch) -> None:
    from opentelemetry.sdk.metrics._internal import instrument as sdk_instruments
    from opentelemetry.sdk.trace import Span

    calls = []
    for cls, method in (
        (sdk_instruments._Counter, "add"),
        (sdk_instruments._UpDownCounter, "add"),
        (sdk_instruments._Histogram, "record"),
    ):
        monkeypatch.setattr(cls, method, lambda self, *a, **k: calls.append(type(self).__name__))
    set_attribute = Span.set_attribute
    monkeypatch.setattr(Span, "set_attribute", lambda self, *a: calls.append(a[0]) or set_attribute(self, *a))
    cache = make_cache(providers, "quiet", clock=fake_clock)
    cache.set("k", 1)
    for _ in range(100):
        cache.get("k")
        cache.get_or_load("k", int)
    assert calls == []
    with providers.tracer_provider.get_tracer("test").start_as_current_span("request"):
        for _ in range(100):
            cache.get("k")
    assert calls == ["cache.hit"]  # set once for the span, not once per lookup
    assert lookups(providers, "quiet", "hit") == 300


def test_one_set_of_instruments_per_meter(providers) -> None:
    first, second = make_cache(providers, "one"), make_cache(providers, "two")
    assert first.binding.current() is second.binding.current()
    assert first.binding.current()[semconv.CACHE_LOAD_DURATION] is second.binding.current()[semconv.CACHE_LOAD_DURATION]
    other = TelemetryCapture()
    try:
        assert make_cache(other, "other").binding.current() is not first.binding.current()
    finally:
        other.shutdown()


def test_a_dropped_meter_is_not_pinned_by_cache_instruments() -> None:
    # The per-meter instruments live in a map keyed weakly by meter; nothing in them may
    # hold the meter strongly, or every meter (and its instruments) would live forever.
    import gc
    import weakref

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    def cycle() -> weakref.ref:
        provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
        cache = Cache("short-lived", meter_provider=provider)
        cache.get_or_load("k", lambda: 1)
        provider.shutdown()
        return weakref.ref(provider)

    refs = [cycle() for _ in range(3)]
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
