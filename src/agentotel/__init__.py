"""agentotel: OpenTelemetry for LLM-agent systems.

Three ways in:

* ``import agentotel.auto`` sets up the SDK if the application has not, then
  calls :func:`instrument`;
* ``opentelemetry-instrument python app.py`` finds our instrumentors through
  their ``opentelemetry_instrumentor`` entry points;
* :func:`instrument` / :func:`uninstrument`, explicitly.

The resilience components (:class:`Cache`, :class:`CircuitBreaker`,
:class:`LoadBalancer`, :class:`RateLimiter`) report through the providers given
to :func:`instrument`, else the global ones.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from agentotel import _telemetry
from agentotel._config import load_settings

if TYPE_CHECKING:  # pragma: no cover
    from agentotel._agent import agent
    from agentotel._health import health
    from agentotel.resilience.balancer import LoadBalancer, NoInstanceAvailable
    from agentotel.resilience.breaker import CircuitBreaker, CircuitOpenError, CircuitState
    from agentotel.resilience.cache import Cache
    from agentotel.resilience.keys import stable_key
    from agentotel.resilience.ratelimit import RateLimiter, RateLimitExceeded

__all__ = [
    "Cache",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "LoadBalancer",
    "NoInstanceAvailable",
    "RateLimitExceeded",
    "RateLimiter",
    "agent",
    "health",
    "instrument",
    "instrumented",
    "stable_key",
    "uninstrument",
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
    "health": "agentotel._health",
    "agent": "agentotel._agent",
}

_lock = threading.RLock()
_active: dict[str, Any] = {}  # name -> instrumentor instance we instrumented
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


def _load_instrumentor(name: str) -> Any:
    """The instrumentor instance for ``name``, or ``None`` when its target library is missing."""
    module_name, _, class_name = INSTRUMENTORS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        _logger.debug("agentotel: %s instrumentation skipped: %s", name, exc)
        return None
    return getattr(module, class_name)()


def instrument(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    **options: Any,
) -> None:
    """Instrument every available target library and start process metrics.

    Idempotent: a second call with the same arguments does nothing; a call with
    other providers or options re-instruments with them. ``options`` are the
    settings in ``docs/configuration.md`` (they override the environment), e.g.
    ``capture_message_content=True`` or ``disabled_instrumentations={"duckdb"}``.
    Components created afterwards report through these providers.
    """
    global _instrumented_with
    settings = load_settings(**options)
    signature = (tracer_provider, meter_provider, settings)
    with _lock:
        if _instrumented_with == signature:
            return
        if _instrumented_with is not None:
            _uninstrument_locked()
        _telemetry.configure(tracer_provider, meter_provider, settings)
        _telemetry.set_enabled(True)
        from agentotel._export import install_export_log_throttle

        install_export_log_throttle()
        for name in INSTRUMENTORS:
            if name in settings.disabled_instrumentations:
                continue
            try:
                instrumentor = _load_instrumentor(name)
                if instrumentor is None:
                    continue
                if instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.uninstrument()
                instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
                if instrumentor.is_instrumented_by_opentelemetry:
                    _active[name] = instrumentor
            except Exception as exc:  # one broken target must not stop the others
                _telemetry.log_internal_error(f"instrument({name})", exc)
        if settings.process_metrics:
            from agentotel import _process_metrics

            try:
                _process_metrics.start(meter_provider)
            except Exception as exc:
                _telemetry.log_internal_error("process metrics", exc)
        _instrumented_with = signature


def _uninstrument_locked() -> None:
    global _instrumented_with
    for name, instrumentor in list(_active.items()):
        try:
            instrumentor.uninstrument()
        except Exception as exc:
            _telemetry.log_internal_error(f"uninstrument({name})", exc)
        _active.pop(name, None)
    # Instrumentors switched on by opentelemetry-instrument rather than by us.
    for name in INSTRUMENTORS:
        module_name, _, class_name = INSTRUMENTORS[name].partition(":")
        module = sys.modules.get(module_name)
        if module is None:
            continue
        instrumentor = getattr(module, class_name)()
        if instrumentor.is_instrumented_by_opentelemetry:
            try:
                instrumentor.uninstrument()
            except Exception as exc:
                _telemetry.log_internal_error(f"uninstrument({name})", exc)
    from agentotel import _process_metrics

    _process_metrics.stop()
    _telemetry.set_enabled(False)
    _telemetry.configure(None, None)
    _instrumented_with = None


def uninstrument() -> None:
    """Remove every hook and silence every component's telemetry; idempotent."""
    with _lock:
        _uninstrument_locked()


def instrumented() -> dict[str, bool]:
    """Which instrumentors are active now, by entry-point name."""
    state: dict[str, bool] = {}
    for name, target in INSTRUMENTORS.items():
        module_name, _, class_name = target.partition(":")
        module = sys.modules.get(module_name)
        state[name] = bool(module and getattr(module, class_name)().is_instrumented_by_opentelemetry)
    return state
