"""What the docs and examples say matches what the code does."""

from __future__ import annotations

import importlib.util
import re
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path
from types import ModuleType

from agentotel.demo.agent import GRAPH_NAME

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def test_the_fastapi_example_names_the_root_span_the_agent_makes() -> None:
    doc = (REPO / "examples" / "fastapi_service" / "app.py").read_text().split('"""')[1]
    assert f"invoke_agent {GRAPH_NAME}" in doc and "invoke_workflow" not in doc


def test_the_load_test_says_what_its_limits_are() -> None:
    load_test = _module(REPO / "examples" / "load_test.py")
    timed = load_test.Scenario(users=2, ramp_up_s=1, duration_s=20)
    counted = load_test.Scenario(users=2, ramp_up_s=1, requests=40)
    assert "20 s limit" in timed.describe() and "no request limit" in timed.describe()
    assert "40 requests" in counted.describe() and "no time limit" in counted.describe()
    assert "no s limit" not in counted.describe()


def test_benchmark_commands_name_the_extra_they_need() -> None:
    page = (DOCS / "performance.md").read_text()
    bench = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    needs_bench = [
        script.name
        for script in (REPO / "benchmarks").glob("*.py")
        if re.search(r"^\s*(from|import) (opentelemetry\.instrumentation\.dbapi|pybreaker)", script.read_text(), re.M)
    ]
    assert needs_bench and bench
    first_command = min(page.index(f"benchmarks/{name}") for name in needs_bench if f"benchmarks/{name}" in page)
    assert '".[bench]"' in page[:first_command]


def test_the_sdk_variables_that_shape_what_is_exported_are_documented() -> None:
    page = (DOCS / "configuration.md").read_text()
    for variable in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME", "OTEL_TRACES_EXPORTER"):
        assert f"`{variable}`" in page, variable


def test_every_extra_the_docs_name_exists_and_the_target_extras_are_named() -> None:
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {
        extra
        for page in [*DOCS.glob("*.md"), REPO / "README.md"]
        for group in re.findall(r"agentotel\[([a-z0-9_,\- ]+)\]", page.read_text())
        for extra in group.replace(" ", "").split(",")
    } | set(re.findall(r'"\.\[([a-z0-9\-]+)\]"', (DOCS / "quickstart.md").read_text()))
    assert named <= extras, named - extras
    quickstart = (DOCS / "quickstart.md").read_text()
    for target in ("duckdb", "langgraph", "cachetools", "pydantic-ai", "instruments-any"):
        assert f"[{target}]" in quickstart, target


def test_duckdb_md_describes_early_imports_as_they_behave() -> None:
    page = (DOCS / "duckdb.md").read_text()
    assert "from duckdb import sql" in page
    assert "traced at its terminal" in page  # a lazy SELECT through an early-imported sql() is traced there
