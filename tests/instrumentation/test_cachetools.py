"""CachetoolsInstrumentor: hits and misses of cachetools caches, load spans of decorated functions."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import cachetools
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from agentotel import _telemetry
from agentotel.instrumentation.cachetools import CachetoolsInstrumentor, name_cache
from agentotel.testing import TelemetryCapture
from tests.support.clock import FakeClock
from tests.support.telemetry import RecordingExporter, instrumented


class ComputingCache(cachetools.LRUCache):
    """Defined before instrumenting: its own __missing__ computes values."""

    def __missing__(self, key):
        value = self[key] = key * 2
        return value


@pytest.fixture
def capture() -> Iterator[TelemetryCapture]:
    with instrumented(CachetoolsInstrumentor()) as captured:
        yield captured


def counts(capture: TelemetryCapture, name: str) -> tuple[float, float]:
    def value(result: str) -> float:
        return capture.metric_value(
            "agentotel.cache.lookups", **{"cache.name": name, "cache.result": result, "cache.level": "l1"}
        )

    return value("hit"), value("miss")


@pytest.mark.parametrize(
    "make",
    [
        lambda: cachetools.Cache(10),
        lambda: cachetools.LRUCache(10),
        lambda: cachetools.LFUCache(10),
        lambda: cachetools.FIFOCache(10),
        lambda: cachetools.RRCache(10),
        lambda: cachetools.TTLCache(10, ttl=60, timer=FakeClock(0.0)),
        lambda: cachetools.TLRUCache(10, ttu=lambda k, v, now: now + 60, timer=FakeClock(0.0)),
    ],
    ids=["Cache", "LRU", "LFU", "FIFO", "RR", "TTL", "TLRU"],
)
def test_item_and_get_lookups_are_counted_for_every_cache_class(capture, make) -> None:
    cache = name_cache(make(), "c")
    cache["a"] = 1
    assert cache["a"] == 1
    assert cache.get("a") == 1
    assert cache.get("b", "default") == "default"
    with pytest.raises(KeyError):
        cache["b"]
    assert counts(capture, "c") == (2, 2)
    assert capture.metric_value("agentotel.cache.entries", **{"cache.name": "c"}) == 1


def test_expired_ttl_entry_is_a_miss(capture) -> None:
    timer = FakeClock(0.0)
    cache = name_cache(cachetools.TTLCache(10, ttl=5, timer=timer), "ttl")
    cache["k"] = "v"
    timer.now = 5
    with pytest.raises(KeyError):
        cache["k"]
    assert counts(capture, "ttl") == (0, 1)


def test_subclass_missing_counts_once_whenever_the_class_was_defined(capture) -> None:
    class LaterCache(cachetools.TTLCache):  # defined after instrumenting, calls super()
        def __missing__(self, key):
            return super().__missing__(key)

    computing = name_cache(ComputingCache(10), "computing")
    assert computing[3] == 6 and computing[3] == 6
    later = name_cache(LaterCache(10, ttl=60), "later")
    with pytest.raises(KeyError):
        later["x"]
    assert counts(capture, "computing") == (1, 1)
    assert counts(capture, "later") == (0, 1)


def test_decorated_function_names_its_cache_and_traces_the_load(capture) -> None:
    calls = []

    @cachetools.cached(cachetools.TTLCache(10, ttl=60))
    def landuse(region: str) -> str:
        calls.append(region)
        return region.upper()

    tracer = capture.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("tool"):
        assert landuse("ghent") == landuse("ghent") == "GHENT"
    name = f"{__name__}.test_decorated_function_names_its_cache_and_traces_the_load.<locals>.landuse"
    assert counts(capture, name) == (1, 1)
    span = capture.span(f"cache.load {name}")
    assert span.parent.span_id == capture.span("tool").context.span_id
    loads = {
        p.attributes["cache.load.outcome"]: p.value
        for p in capture.metric_points("agentotel.cache.loads", **{"cache.name": name})
    }
    assert loads == {"success": 1, "failure": 0}
    assert calls == ["ghent"]


def test_decorated_function_failure_and_explicit_name(capture) -> None:
    @cachetools.cached(name_cache(cachetools.LRUCache(4), "explicit"), lock=threading.Lock())
    def fails(x: int) -> int:
        raise ValueError(x)

    with pytest.raises(ValueError):
        fails(1)
    span = capture.span("cache.load explicit")
    assert span.attributes["error.type"] == "ValueError"
    assert counts(capture, "explicit") == (0, 1)


def test_cachedmethod_caches_of_all_instances_share_the_method_name(capture) -> None:
    class Repo:
        def __init__(self) -> None:
            self.cache = cachetools.LRUCache(8)

        @cachetools.cachedmethod(lambda self: self.cache)
        def row(self, n: int) -> int:
            return n

    first, second = Repo(), Repo()
    for repo in (first, first, second):
        repo.row(1)
    name = f"{__name__}.{Repo.__qualname__}.row"  # Repo.row itself: a wrapper object on some versions
    assert counts(capture, name) == (1, 2)
    assert len(capture.spans(f"cache.load {name}")) == 2


def test_functions_decorated_before_instrumenting_are_covered() -> None:
    _telemetry.set_enabled(True)

    @cachetools.cached(cachetools.LRUCache(4))
    def early(x: int) -> int:
        return x

    early(1)  # before instrumenting: not counted
    with instrumented(CachetoolsInstrumentor()) as captured:
        early(1)
        early(2)
        assert counts(captured, f"{__name__}.{early.__qualname__}") == (1, 1)


def misses(exports: RecordingExporter, index: int, name: str) -> list[float]:
    """The miss counts of cache ``name`` in export ``index``."""
    points = exports.points(index, "agentotel.cache.lookups", **{"cache.name": name, "cache.result": "miss"})
    return [point.value for point in points]


def test_uninstrument_restores_cachetools_and_stops_reporting() -> None:
    originals = {
        cls: {attr: vars(cls).get(attr) for attr in ("__getitem__", "__missing__", "get", "__init_subclass__")}
        for cls in (cachetools.Cache, cachetools.LRUCache, cachetools.TTLCache, ComputingCache)
    }
    _telemetry.set_enabled(True)
    exports = RecordingExporter()
    meter_provider = MeterProvider([PeriodicExportingMetricReader(exports, export_interval_millis=math.inf)])
    instrumentor = CachetoolsInstrumentor()
    instrumentor.instrument(meter_provider=meter_provider)
    cache = name_cache(cachetools.LRUCache(4), "gone")
    cache.get("x")
    meter_provider.force_flush()
    assert misses(exports, -1, "gone") == [1]
    cache.get("z")  # counted, not yet collected: uninstrument() collects it
    instrumentor.uninstrument()
    assert {cls: {attr: vars(cls).get(attr) for attr in attrs} for cls, attrs in originals.items()} == originals
    assert misses(exports, -1, "gone") == [2]
    delivered = len(exports.exported)
    cache.get("y")
    meter_provider.force_flush()
    assert [misses(exports, i, "gone") for i in range(delivered, len(exports.exported))] in ([], [[]])
    meter_provider.shutdown()


def test_loaded_by_agentotel_instrument(telemetry) -> None:
    cache = name_cache(cachetools.LRUCache(4), "via-instrument")
    cache.get("k")
    assert counts(telemetry, "via-instrument") == (0, 1)


def test_registered_as_an_opentelemetry_instrumentor_entry_point() -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "cachetools"]
    assert entry.load() is CachetoolsInstrumentor
    assert CachetoolsInstrumentor().instrumentation_dependencies() == ("cachetools >= 5.3, < 9",)
