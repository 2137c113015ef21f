"""Shared plumbing for everything that emits: settings, the on/off switch, fail-safe helpers.

``agentotel.instrument()`` stores the providers (through :mod:`agentotel._handle`,
where every tracer and instrument comes from) and the settings here. Nothing in
this module may raise into user code.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import TYPE_CHECKING

from agentotel._config import Settings, load_settings

if TYPE_CHECKING:  # pragma: no cover
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "current_settings",
    "configure",
    "restore",
    "save",
    "error_type",
    "is_enabled",
    "set_enabled",
    "log_internal_error",
    "package_version",
]

_logger = logging.getLogger("agentotel")

_lock = threading.Lock()
_settings: Settings | None = None
_enabled = True


def set_enabled(enabled: bool) -> None:
    """Switch all of agentotel's telemetry on or off (``uninstrument()`` switches it off)."""
    global _enabled
    _enabled = enabled


def is_enabled() -> bool:
    """False after ``agentotel.uninstrument()``: components and callbacks then emit nothing."""
    return _enabled


@functools.cache
def package_version() -> str:
    """The agentotel version (static: reading package metadata would import ``importlib.metadata`` at start-up)."""
    from agentotel._version import __version__

    return __version__


def configure(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    settings: Settings | None = None,
) -> None:
    """Set the providers (the handle in force) and settings that instrumentors and components use from now on.

    The handle in force before is flushed first, so what it counted since its last
    collection is exported (see :func:`agentotel._handle.use`).
    """
    global _settings
    from agentotel import _handle

    with _lock:
        if settings is not None:
            _settings = settings
    _handle.use(_handle.handle_for(tracer_provider, meter_provider))


def save() -> tuple[object, Settings | None, bool]:
    """The handle in force, the settings and the on/off switch, for :func:`restore`."""
    from agentotel import _handle

    return _handle.current(), _settings, _enabled


def restore(saved: tuple[object, Settings | None, bool]) -> None:
    """Put back what :func:`save` returned."""
    global _settings, _enabled
    from agentotel import _handle

    handle, settings, enabled = saved
    with _lock:
        _settings = settings
    _handle.use(handle)  # type: ignore[arg-type]
    _enabled = enabled


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
