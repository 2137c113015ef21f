"""The public surface: names, __all__, entry points, typing marker (kept stable across releases)."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from pathlib import Path

import agentotel


def test_all_names_resolve_and_have_docstrings():
    for name in agentotel.__all__:
        value = getattr(agentotel, name)
        if name == "__version__":
            assert isinstance(value, str)
            continue
        assert inspect.getdoc(value), f"agentotel.{name} has no docstring"


def test_all_lists_exactly_the_public_names():
    expected = {
        # the documented public API
        "instrument",
        "uninstrument",
        "Cache",
        "CircuitBreaker",
        "CircuitOpenError",
        "LoadBalancer",
        "DuckDBPool",
        "attributes",
        "agent",
        "workflow",
        "tool",
        # ours, around them
        "CircuitState",
        "NoInstanceAvailable",
        "RateLimiter",
        "RateLimitExceeded",
        "health",
        "instrumented",
        "stable_key",
        "__version__",
    }
    assert set(agentotel.__all__) == expected
    assert len(agentotel.__all__) == len(expected)


def test_design_imports_work():
    from agentotel import Cache, CircuitBreaker, CircuitOpenError, LoadBalancer  # noqa: F401
    from agentotel.instrumentation.cachetools import CachetoolsInstrumentor  # noqa: F401
    from agentotel.instrumentation.duckdb import DuckDBInstrumentor  # noqa: F401
    from agentotel.instrumentation.langgraph import LangGraphInstrumentor  # noqa: F401


def test_instrumentors_are_registered_as_entry_points():
    registered = {
        e.name: e.value for e in entry_points(group="opentelemetry_instrumentor") if e.value.startswith("agentotel.")
    }
    # "threading" (context into the application's threads) is installed by instrument() without an instrumentor.
    assert registered == {
        **agentotel.INSTRUMENTORS,
        "threading": "agentotel.instrumentation.threading:ThreadContextInstrumentor",
    }
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

    for name, target in registered.items():
        module_name, _, class_name = target.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(cls, BaseInstrumentor), name
        assert cls.__doc__ or importlib.import_module(module_name).__doc__


def test_package_is_typed():
    assert (Path(agentotel.__file__).parent / "py.typed").is_file()


def test_console_script_is_declared():
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("agentotel") == "agentotel.cli:main"


def test_dir_lists_the_public_api_and_nothing_else():
    listed = dir(agentotel)
    assert listed == sorted(agentotel.__all__)
    assert not {"sys", "logging", "importlib", "threading", "types"} & set(listed)
    for name in listed:
        getattr(agentotel, name)


def test_every_module_an_instrumentor_patches_switches_it_on():
    from agentotel.instrumentation.langgraph._patches import PATCH_POINTS

    assert set(agentotel.TRIGGER_MODULES) == set(agentotel.INSTRUMENTORS)
    patched = {module for point in PATCH_POINTS for module in point.modules}
    assert patched <= set(agentotel.TRIGGER_MODULES["langgraph"])


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    assert agentotel.__version__ == version("agentotel")
