"""The names module: in step with the semantic-conventions registry and with docs/conventions.md."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from agentotel import semconv

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_CANDIDATES = (
    ROOT.parent / "shared" / "semconv-registry.json",
    ROOT / "tests" / "data" / "semconv-registry.json",
)
CHECKED_PREFIXES = ("gen_ai.", "db.", "error.", "server.", "process.")

# Values the registry lists as an enum that we extend, as semantic conventions allow (enums are open).
OPEN_ENUM_VALUES = {"db.system.name": {semconv.DB_SYSTEM_DUCKDB}}


@pytest.fixture(scope="module")
def registry() -> dict:
    for path in REGISTRY_CANDIDATES:
        if path.is_file():
            return json.loads(path.read_text())
    pytest.fail(f"semconv registry not found at {REGISTRY_CANDIDATES}")


def _string_constants() -> dict[str, str]:
    return {name: value for name, value in vars(semconv).items() if name.isupper() and isinstance(value, str)}


def test_every_semconv_attribute_we_define_is_in_the_registry(registry):
    attributes = registry["attributes"]
    metrics = registry["metrics"]
    unknown = []
    for const, value in _string_constants().items():
        if not value.startswith(CHECKED_PREFIXES) or " " in value:
            continue
        if value == semconv.DB_QUERY_PARAMETER_PREFIX:
            assert "db.query.parameter" in attributes  # a template attribute: db.query.parameter.<key>
            continue
        if value not in attributes and value not in metrics:
            unknown.append(f"{const}={value}")
    assert not unknown, f"names not in the semantic-conventions registry: {unknown}"


def test_catalogue_metrics_match_registry_units_and_instruments(registry):
    kinds = {"counter": "counter", "updowncounter": "updowncounter", "histogram": "histogram", "gauge": "gauge"}
    for metric in semconv.METRICS:
        if not metric.name.startswith(CHECKED_PREFIXES):
            continue
        entry = registry["metrics"].get(metric.name)
        assert entry is not None, f"{metric.name} is not in the registry"
        assert metric.unit == entry["unit"], f"{metric.name}: unit {metric.unit} != registry {entry['unit']}"
        assert kinds[metric.instrument.split()[0]] == entry["instrument"], metric.name


def test_catalogue_attribute_types_match_registry(registry):
    type_names = {"string": "string", "int": "int", "double": "double", "boolean": "boolean", "string[]": "string[]"}
    for attribute in semconv.ATTRIBUTES:
        if not attribute.key.startswith(CHECKED_PREFIXES) or "<" in attribute.key:
            continue
        entry = registry["attributes"][attribute.key]
        declared = entry["type"]
        if isinstance(declared, dict):  # enum of strings
            assert attribute.type == "string", attribute.key
        elif declared == "any":
            assert attribute.type.startswith("any"), attribute.key
        else:
            assert type_names[attribute.type] == declared, f"{attribute.key}: {attribute.type} != {declared}"


def test_enum_values_we_emit_are_registry_members_or_declared_extensions(registry):
    operation_names = set(registry["attributes"]["gen_ai.operation.name"]["type"]["enum"])
    for value in (
        semconv.GEN_AI_OPERATION_CHAT,
        semconv.GEN_AI_OPERATION_EXECUTE_TOOL,
        semconv.GEN_AI_OPERATION_INVOKE_AGENT,
        semconv.GEN_AI_OPERATION_INVOKE_WORKFLOW,
    ):
        assert value in operation_names
    system_names = set(registry["attributes"]["db.system.name"]["type"]["enum"])
    assert OPEN_ENUM_VALUES["db.system.name"] - system_names == {semconv.DB_SYSTEM_DUCKDB}


def test_bucket_lists_follow_the_conventions():
    duration = semconv.GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS
    assert duration[0] == 0.01 and duration[-1] == 81.92
    assert all(abs(b / a - 2) < 1e-9 for a, b in zip(duration, duration[1:], strict=False))
    tokens = semconv.GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS
    assert tokens[0] == 1 and tokens[-1] == 67108864
    assert all(b == a * 4 for a, b in zip(tokens, tokens[1:], strict=False))
    assert semconv.DB_CLIENT_OPERATION_DURATION_BUCKETS == (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


def test_catalogue_has_no_duplicates():
    for items, key in ((semconv.METRICS, "name"), (semconv.ATTRIBUTES, "key"), (semconv.SPANS, "name")):
        names = [getattr(item, key) for item in items]
        assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]


def test_every_definition_is_in_the_catalogue_and_every_metric_name_is_a_definition():
    defined = {kind: {v for v in vars(semconv).values() if type(v) is kind} for kind in (semconv.Metric, semconv.Span)}
    assert defined[semconv.Metric] == set(semconv.METRICS)
    assert defined[semconv.Span] == set(semconv.SPANS)
    assert {v for v in vars(semconv).values() if type(v) is semconv.Event} == set(semconv.EVENTS)
    plain = {value for value in _string_constants().values() if type(value) is str}
    assert not plain & (_registry_metric_names() | {m.name for m in semconv.METRICS})


def test_all_lists_every_public_name():
    public = {
        name
        for name, value in vars(semconv).items()
        if not name.startswith(("_", "@")) and getattr(value, "__module__", semconv.__name__) == semconv.__name__
    } - {"annotations"}
    assert set(semconv.__all__) == public


def test_metric_definitions_make_their_instruments() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    histogram = semconv.DB_CLIENT_OPERATION_DURATION.create(meter)
    histogram.record(0.02)
    semconv.CACHE_ENTRIES.create(meter, [lambda options: [__import__("opentelemetry.metrics").metrics.Observation(3)]])
    metrics = {
        m.name: m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    duration = metrics["db.client.operation.duration"]
    assert (duration.unit, duration.description) == ("s", semconv.DB_CLIENT_OPERATION_DURATION.description)
    assert tuple(duration.data.data_points[0].explicit_bounds) == semconv.DB_CLIENT_OPERATION_DURATION_BUCKETS
    assert metrics["agentotel.cache.entries"].data.data_points[0].value == 3
    assert semconv.CHAT_SPAN.render("gpt-4o") == "chat gpt-4o" and semconv.NODE_SPAN.render("plan") == "plan"


def _registry_metric_names() -> set[str]:
    for path in REGISTRY_CANDIDATES:
        if path.is_file():
            return set(json.loads(path.read_text())["metrics"])
    return set()


SRC = ROOT / "src" / "agentotel"


def _sources() -> dict[str, str]:
    found = {}
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        found[module] = path.read_text()
    return found


def test_each_span_and_event_leads_to_its_producers_in_one_hop():
    sources = _sources()
    constants = {
        id(value): name for name, value in vars(semconv).items() if isinstance(value, (semconv.Span, semconv.Event))
    }
    for item in (*semconv.SPANS, *semconv.EVENTS):
        name = constants[id(item)]
        users = {module for module, text in sources.items() if re.search(rf"\b{name}\b", text)} - {"agentotel.semconv"}
        assert item.producers, name
        for producer in item.producers:
            assert producer in sources, f"{name}: no module {producer}"
            assert producer in users, f"{name}: {producer} does not use semconv.{name}"
        assert users <= set(item.producers), f"{name} is also produced by {sorted(users - set(item.producers))}"


def test_no_name_unit_or_description_is_written_outside_semconv():
    names = {m.name for m in semconv.METRICS} | {s.name for s in semconv.SPANS} | {e.name for e in semconv.EVENTS}
    descriptions = {m.description for m in semconv.METRICS}
    creating = re.compile(r"\.create_(histogram|counter|up_down_counter|gauge|observable_\w+)\(")
    offenders = []
    for module, text in _sources().items():
        if module == "agentotel.semconv":
            continue
        if creating.search(text):
            offenders.append(f"{module}: creates an instrument itself")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in names and node.value != semconv.DB_SYSTEM_DUCKDB:
                    offenders.append(f"{module}:{node.lineno}: {node.value!r}")
                if node.value in descriptions:
                    offenders.append(f"{module}:{node.lineno}: description {node.value!r}")
    assert offenders == []


def test_docs_page_is_generated_from_the_module():
    page = (ROOT / "docs" / "conventions.md").read_text()
    assert page == semconv.render_markdown(), (
        "docs/conventions.md is out of date: run `python -m agentotel.semconv > docs/conventions.md`"
    )


_REGISTRY_TYPES = {
    "string": (str,),
    "int": (int,),
    "double": (float, int),
    "boolean": (bool,),
}


def _type_ok(declared: object, value: object) -> bool:
    if isinstance(declared, dict):  # an enum of strings (open: other values allowed)
        return isinstance(value, str)
    if declared == "any":
        return True
    if declared == "string[]":
        return isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value)
    if declared in ("int", "double") and isinstance(value, bool):
        return False
    return isinstance(value, _REGISTRY_TYPES[str(declared)])


def _instrument_kind(metric: object) -> str:
    data = metric.data  # type: ignore[attr-defined]
    kind = type(data).__name__
    if kind == "Sum":
        return "counter" if data.is_monotonic else "updowncounter"
    return {"Histogram": "histogram", "Gauge": "gauge"}[kind]


def test_every_registry_name_we_emit_matches_the_registry_with_type_and_unit(registry, telemetry):
    import asyncio

    import duckdb

    import agentotel
    from tests.instrumentation.langgraph.fakes import ToolCallingChatModel, lookup_parcel
    from tests.support.agents import build_agent

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 1 AS i").fetchall()
    con.executemany("INSERT INTO t VALUES (?)", [[2], [3]])
    with pytest.raises(duckdb.Error):
        con.execute("SELECT * FROM missing")
    agent = build_agent(ToolCallingChatModel(), [lookup_parcel], name="registry-check")
    agent.invoke({"messages": [("user", "parcel 42?")]}, {"configurable": {"thread_id": "t-1"}})
    list(agent.stream({"messages": [("user", "parcel 42?")]}, stream_mode="messages"))
    asyncio.run(agent.ainvoke({"messages": [("user", "parcel 42?")]}))

    @agentotel.agent(name="checked")
    def act() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        act()
    cache = agentotel.Cache("checked")
    cache.get_or_load("k", lambda: 1)
    agentotel.CircuitBreaker("checked").call(lambda: None)
    agentotel.LoadBalancer("checked", ["a"]).call(lambda instance: instance)
    agentotel.RateLimiter("checked", requests_per_minute=60).acquire()

    problems = []
    spans = telemetry.spans()
    assert {"SELECT missing", "execute_tool lookup_parcel", "invoke_agent registry-check"} <= {s.name for s in spans}
    for span in spans:
        groups = [dict(span.attributes or {})] + [dict(event.attributes or {}) for event in span.events]
        for attributes in groups:
            for key, value in attributes.items():
                if not key.startswith(CHECKED_PREFIXES):
                    continue
                entry = registry["attributes"].get(key)
                if entry is None:
                    problems.append(f"span {span.name!r}: {key} not in the registry")
                elif not _type_ok(entry["type"], value):
                    problems.append(f"span {span.name!r}: {key}={value!r} is not {entry['type']}")
    metrics = telemetry.metrics()
    assert semconv.GEN_AI_CLIENT_TOKEN_USAGE in metrics and semconv.PROCESS_MEMORY_USAGE in metrics
    for name, metric in metrics.items():
        for point in metric.data.data_points:
            for key, value in (point.attributes or {}).items():
                entry = registry["attributes"].get(key)
                if key.startswith(CHECKED_PREFIXES) and (entry is None or not _type_ok(entry["type"], value)):
                    problems.append(f"metric {name}: attribute {key}={value!r}")
        if not name.startswith(CHECKED_PREFIXES):
            continue
        entry = registry["metrics"].get(name)
        if entry is None:
            problems.append(f"metric {name} not in the registry")
            continue
        if metric.unit != entry["unit"]:
            problems.append(f"metric {name}: unit {metric.unit!r} != {entry['unit']!r}")
        if _instrument_kind(metric) != entry["instrument"]:
            problems.append(f"metric {name}: {_instrument_kind(metric)} != {entry['instrument']}")
    assert problems == []
