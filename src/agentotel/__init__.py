"""agentotel: OpenTelemetry for LLM-agent systems.

Three ways in:

* ``import agentotel.auto`` sets up the SDK if the application has not, then
  calls :func:`instrument`;
* ``opentelemetry-instrument python app.py`` finds our instrumentors through
  their ``opentelemetry_instrumentor`` entry points;
* :func:`instrument` / :func:`uninstrument`, explicitly.

The resilience components (:class:`Cache`, :class:`CircuitBreaker`,
:class:`LoadBalancer`, :class:`RateLimiter`, :class:`DuckDBPool`) report through the
providers in force when they record (given to :func:`instrument`, else the global
ones), whenever they were created.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import types
from typing import TYPE_CHECKING, Any

from agentotel import _telemetry
from agentotel._config import instrumentation_disabled, load_settings

if TYPE_CHECKING:  # pragma: no cover
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from agentotel._agent import agent, tool, workflow
    from agentotel._attributes import attributes
    from agentotel._health import health
    from agentotel.resilience.balancer import LoadBalancer, NoInstanceAvailable
    from agentotel.resilience.breaker import CircuitBreaker, CircuitOpenError, CircuitState
    from agentotel.resilience.cache import Cache
    from agentotel.resilience.keys import stable_key
    from agentotel.resilience.pool import DuckDBPool
    from agentotel.resilience.ratelimit import RateLimiter, RateLimitExceeded

    __version__: str

__all__ = [
    "Cache",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "DuckDBPool",
    "LoadBalancer",
    "NoInstanceAvailable",
    "RateLimitExceeded",
    "RateLimiter",
    "agent",
    "attributes",
    "health",
    "instrument",
    "instrumented",
    "stable_key",
    "tool",
    "uninstrument",
    "workflow",
    "__version__",
]

_logger = logging.getLogger("agentotel")

# name -> "module:Class"; the same names as the opentelemetry_instrumentor entry points.
INSTRUMENTORS: dict[str, str] = {
    "duckdb": "agentotel.instrumentation.duckdb:DuckDBInstrumentor",
    "langgraph": "agentotel.instrumentation.langgraph:LangGraphInstrumentor",
    "cachetools": "agentotel.instrumentation.cachetools:CachetoolsInstrumentor",
    "pydantic_ai": "agentotel.instrumentation.pydantic_ai:PydanticAIInstrumentor",
}

# name -> the modules whose import switches that instrumentor on (every module it patches).
# Until one of them is imported, neither the instrumentor nor OpenTelemetry's instrumentation
# package is loaded: an application that uses none of the libraries pays for none of it.
TRIGGER_MODULES: dict[str, tuple[str, ...]] = {
    "duckdb": ("duckdb",),
    "langgraph": (
        "langgraph.pregel.main",
        "langgraph.pregel",
        "langgraph.pregel._runner",
        "langgraph.pregel.runner",
        "langgraph.pregel._loop",
        "langgraph.pregel.loop",
        "langchain_core.tools.base",
        "langchain_core.language_models.chat_models",
        "langchain_core.embeddings.embeddings",
        "langchain_core.retrievers",
    ),
    "cachetools": ("cachetools",),
    "pydantic_ai": ("pydantic_ai",),
}

_LAZY: dict[str, str] = {
    "Cache": "agentotel.resilience.cache",
    "CircuitBreaker": "agentotel.resilience.breaker",
    "CircuitOpenError": "agentotel.resilience.breaker",
    "CircuitState": "agentotel.resilience.breaker",
    "LoadBalancer": "agentotel.resilience.balancer",
    "NoInstanceAvailable": "agentotel.resilience.balancer",
    "RateLimiter": "agentotel.resilience.ratelimit",
    "RateLimitExceeded": "agentotel.resilience.ratelimit",
    "stable_key": "agentotel.resilience.keys",
    "DuckDBPool": "agentotel.resilience.pool",
    "health": "agentotel._health",
    "agent": "agentotel._agent",
    "workflow": "agentotel._agent",
    "tool": "agentotel._agent",
    "attributes": "agentotel._attributes",
}

_lock = threading.RLock()
_active: dict[str, Any] = {}  # name -> instrumentor instance we instrumented
_pending: dict[str, Any] = {}  # name -> PatchSet waiting for one of its trigger modules
_generation = 0  # bumped by every uninstrument: a trigger from an older instrument() does nothing
_instrumented_with: tuple[Any, ...] | None = None


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name == "__version__":
            return _telemetry.package_version()
        raise AttributeError(f"module 'agentotel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _load_instrumentor(name: str) -> Any:
    """The instrumentor instance for ``name`` (its module imports no target library)."""
    module_name, _, class_name = INSTRUMENTORS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def _instrument_one(name: str, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
    """Instrument ``name`` now if its library is installed (package metadata; nothing is imported)."""
    from opentelemetry.instrumentation.dependencies import DependencyConflict

    instrumentor = _load_instrumentor(name)
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    try:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True)
    except ImportError as exc:  # opentelemetry-instrumentation without DependencyConflictError
        _logger.debug("agentotel: %s instrumentation skipped: %s", name, exc)
    except Exception as exc:
        conflict = getattr(exc, "conflict", None)
        if not isinstance(conflict, DependencyConflict):
            raise
        if conflict.found or getattr(conflict, "found_any", None):  # installed, but a version we do not support
            _logger.error("agentotel: %s instrumentation skipped: %s", name, conflict)
        else:
            _logger.debug("agentotel: %s instrumentation skipped: %s", name, conflict)
    if instrumentor.is_instrumented_by_opentelemetry:
        _active[name] = instrumentor


def _instrument_when_imported(
    name: str, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
) -> None:
    """Instrument ``name`` now if one of its modules is imported, else on the first import of one."""
    module_name = INSTRUMENTORS[name].partition(":")[0]
    triggers = TRIGGER_MODULES[name]
    if module_name in sys.modules or any(trigger in sys.modules for trigger in triggers):
        _instrument_one(name, tracer_provider, meter_provider)
        return
    from agentotel.instrumentation._patching import PatchSet

    pending = PatchSet(f"instrument {name}")
    _pending[name] = pending
    generation = _generation

    def activate(module: types.ModuleType) -> None:
        with _lock:
            if generation != _generation or _pending.get(name) is not pending:
                return  # uninstrumented since, or another trigger of the same set came first
            del _pending[name]
            pending.remove()
            _instrument_one(name, tracer_provider, meter_provider)

    for trigger in triggers:
        pending.when_imported(trigger, activate)


def instrument(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    **options: Any,
) -> None:
    """Instrument every installed target library and start process metrics.

    A library the application has imported is patched at once; the others when the
    application imports them (this never imports one). Idempotent: a second call
    with the same arguments does nothing; a call with other providers or options
    re-instruments with them. ``options`` are the settings in
    ``docs/configuration.md`` (they override the environment), e.g.
    ``capture_message_content=True`` or ``disabled_instrumentations={"duckdb"}``.
    Every component reports through these providers from now on, also those
    created before this call (unless they were given providers of their own).
    """
    settings = load_settings(**options)
    with _lock:
        _instrument_locked(tracer_provider, meter_provider, settings)


def _instrument_locked(tracer_provider: Any, meter_provider: Any, settings: Any) -> None:
    global _instrumented_with
    signature = (tracer_provider, meter_provider, settings)
    if _instrumented_with == signature:
        return
    if _instrumented_with is not None:
        _uninstrument_locked()
    _telemetry.configure(tracer_provider, meter_provider, settings)
    _telemetry.set_enabled(True)
    from agentotel._export import install_export_log_throttle

    install_export_log_throttle()
    for name in INSTRUMENTORS:
        if instrumentation_disabled(name, settings.disabled_instrumentations):
            continue
        try:
            _instrument_when_imported(name, tracer_provider, meter_provider)
        except Exception as exc:  # one broken target must not stop the others
            _telemetry.log_internal_error(f"instrument({name})", exc)
    if not instrumentation_disabled("threading", settings.disabled_instrumentations):
        from agentotel.instrumentation import _threads

        _threads.install()  # the context into the application's own threads (no target library)
    if settings.process_metrics:
        from agentotel import _process_metrics

        try:
            _process_metrics.start(meter_provider)
        except Exception as exc:
            _telemetry.log_internal_error("process metrics", exc)
    _instrumented_with = signature


def _uninstrument_locked() -> None:
    global _instrumented_with, _generation
    from agentotel import _handle

    if _telemetry.is_enabled():  # counts since the last collection, while our callbacks still report them
        _handle.current().flush()
    _telemetry.set_enabled(False)
    _generation += 1
    for name, pending in list(_pending.items()):
        pending.remove()
        _pending.pop(name, None)
    for name, instrumentor in list(_active.items()):
        try:
            instrumentor.uninstrument()
        except Exception as exc:
            _telemetry.log_internal_error(f"uninstrument({name})", exc)
        _active.pop(name, None)
    # Instrumentors switched on by opentelemetry-instrument rather than by us.
    for name in _externally_instrumented():
        try:
            _load_instrumentor(name).uninstrument()
        except Exception as exc:
            _telemetry.log_internal_error(f"uninstrument({name})", exc)
    from agentotel import _process_metrics
    from agentotel.instrumentation import _threads

    _threads.remove()
    _process_metrics.stop()
    _telemetry.configure(None, None)
    _instrumented_with = None


def _externally_instrumented() -> list[str]:
    """Our instrumentors that are instrumented but not by :func:`instrument` (e.g. by ``opentelemetry-instrument``)."""
    found: list[str] = []
    for name, target in INSTRUMENTORS.items():
        module_name, _, class_name = target.partition(":")
        module = sys.modules.get(module_name)
        if module is None or name in _active:
            continue
        if getattr(module, class_name)().is_instrumented_by_opentelemetry:
            found.append(name)
    return found


def uninstrument() -> None:
    """Remove every hook and silence every component's telemetry; idempotent.

    What the components and instrumentors counted since the last metric collection
    is collected and exported first (the meter provider's readers are flushed).
    """
    with _lock:
        _uninstrument_locked()


class _Saved:
    """What :func:`_save` recorded: how agentotel was instrumented, to be put back by :func:`_restore`."""

    def __init__(self) -> None:
        self.instrumented_with = _instrumented_with
        self.external = _externally_instrumented()
        self.telemetry = _telemetry.save()


def _save() -> _Saved:  # pyright: ignore[reportUnusedFunction]  # agentotel.testing uses it
    """Record the instrumentation state (used by ``agentotel.testing.capture_telemetry``)."""
    with _lock:
        return _Saved()


def _restore(saved: _Saved) -> None:  # pyright: ignore[reportUnusedFunction]  # agentotel.testing uses it
    """Put back what :func:`_save` recorded: instrumentors, providers, settings, on/off."""
    with _lock:
        _uninstrument_locked()
        if saved.instrumented_with is not None:
            _instrument_locked(*saved.instrumented_with)
        for name in saved.external:
            try:
                instrumentor = _load_instrumentor(name)
                if not instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.instrument()
            except Exception as exc:
                _telemetry.log_internal_error(f"instrument({name})", exc)
        _telemetry.restore(saved.telemetry)


def instrumented() -> dict[str, bool]:
    """Which instrumentors are active now, by entry-point name.

    Active means its library is patched, or is installed and will be patched when the
    application imports it.
    """
    state: dict[str, bool] = {}
    for name, target in INSTRUMENTORS.items():
        module_name, _, class_name = target.partition(":")
        module = sys.modules.get(module_name)
        state[name] = bool(module and getattr(module, class_name)().is_instrumented_by_opentelemetry)
        if not state[name] and name in _pending:
            state[name] = _installed(name)
    return state


def _installed(name: str) -> bool:
    """Whether the libraries ``name`` instruments are installed in supported versions (package metadata)."""
    from agentotel.instrumentation._patching import require_installed

    module_name = INSTRUMENTORS[name].partition(":")[0]
    try:
        requirements = importlib.import_module(f"{module_name}.package")._instruments
    except ImportError:
        requirements = getattr(importlib.import_module(module_name), "_instruments", ())
    try:
        require_installed(requirements)
    except Exception:
        return False
    return True
