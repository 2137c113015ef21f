"""Shared plumbing for everything that emits: providers, settings, and fail-safe helpers.

``agentotel.instrument()`` stores the providers and settings here; instrumentors
and components created afterwards take their tracer and meter from here (else the
global providers). Nothing in this module may raise into user code.
"""

from __future__ import annotations

import logging
import threading
import time

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from agentotel import semconv
from agentotel._config import Settings, load_settings

__all__ = [
    "current_settings",
    "configure",
    "error_type",
    "get_meter",
    "get_tracer",
    "is_enabled",
    "set_enabled",
    "log_internal_error",
    "package_version",
]

_logger = logging.getLogger("agentotel")

_lock = threading.Lock()
_tracer_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None
_settings: Settings | None = None
_enabled = True


def set_enabled(enabled: bool) -> None:
    """Switch all of agentotel's telemetry on or off (``uninstrument()`` switches it off)."""
    global _enabled
    _enabled = enabled


def is_enabled() -> bool:
    """False after ``agentotel.uninstrument()``: components and callbacks then emit nothing."""
    return _enabled


def package_version() -> str:
    """The agentotel version (static: reading package metadata would import ``importlib.metadata`` at start-up)."""
    from agentotel._version import __version__

    return __version__


def configure(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    settings: Settings | None = None,
) -> None:
    """Set the providers and settings that instrumentors and components use from now on."""
    global _tracer_provider, _meter_provider, _settings
    with _lock:
        _tracer_provider = tracer_provider
        _meter_provider = meter_provider
        if settings is not None:
            _settings = settings


def current_settings() -> Settings:
    """The settings in force (resolved from the environment on first use)."""
    global _settings
    settings = _settings
    if settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
            settings = _settings
    return settings


def get_tracer(name: str = semconv.SCOPE_NAME, tracer_provider: TracerProvider | None = None) -> Tracer:
    """A tracer from ``tracer_provider``, else the one given to ``instrument()``, else the global one."""
    provider = tracer_provider or _tracer_provider
    return trace.get_tracer(name, package_version(), provider, schema_url="https://opentelemetry.io/schemas/1.41.0")


def get_meter(name: str = semconv.SCOPE_NAME, meter_provider: MeterProvider | None = None) -> Meter:
    """A meter from ``meter_provider``, else the one given to ``instrument()``, else the global one."""
    provider = meter_provider or _meter_provider
    return metrics.get_meter(name, package_version(), provider, schema_url="https://opentelemetry.io/schemas/1.41.0")


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: its qualified class name (module-less for builtins)."""
    cls = type(exc)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


_last_logged: dict[str, float] = {}
_LOG_INTERVAL_S = 60.0


def log_internal_error(where: str, exc: BaseException | None = None) -> None:
    """Log a failure inside agentotel's own code, at most once a minute per place.

    Used by every hook's ``except`` so that a bug of ours is visible but never
    reaches the application, and never floods its logs.
    """
    now = time.monotonic()
    last = _last_logged.get(where)
    if last is not None and now - last < _LOG_INTERVAL_S:
        return
    _last_logged[where] = now
    _logger.warning(
        "agentotel: internal error in %s; the application is unaffected and telemetry for this "
        "call may be incomplete. Please report it.",
        where,
        exc_info=exc if exc is not None else True,
    )
