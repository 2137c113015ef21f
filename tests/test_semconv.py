"""The names module: in step with the semantic-conventions registry and with docs/conventions.md."""

from __future__ import annotations

import json
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


def test_every_metric_constant_is_in_the_catalogue():
    catalogued = {metric.name for metric in semconv.METRICS} | {a.key for a in semconv.ATTRIBUTES}
    metric_like = {
        value
        for const, value in _string_constants().items()
        if value.startswith("agentotel.") or value in _registry_metric_names()
    }
    assert metric_like <= catalogued, sorted(metric_like - catalogued)


def _registry_metric_names() -> set[str]:
    for path in REGISTRY_CANDIDATES:
        if path.is_file():
            return set(json.loads(path.read_text())["metrics"])
    return set()


def test_docs_page_is_generated_from_the_module():
    page = (ROOT / "docs" / "conventions.md").read_text()
    assert page == semconv.render_markdown(), (
        "docs/conventions.md is out of date: run `python -m agentotel.semconv > docs/conventions.md`"
    )
