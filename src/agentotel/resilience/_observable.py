"""One set of observable instruments per (component kind, meter provider).

Components count in plain ints and never call the SDK per operation. Each kind
(``circuit_breaker``, ``load_balancer``, ``rate_limiter``) installs its
observable instruments once per meter provider; the callbacks walk the live
components of that kind (from :mod:`agentotel.resilience._registry`) that report
through that provider. After ``agentotel.uninstrument()`` the callbacks return
nothing.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import Histogram, Meter, MeterProvider, Observation

from agentotel import _telemetry, semconv
from agentotel.resilience import _registry

__all__ = ["resolve_provider", "ensure_instruments", "histogram", "observe"]

Installer = Callable[[Meter, Callable[[], list[Any]]], None]

_lock = threading.Lock()
# provider -> {"instruments:<kind>": True, "histogram:<name>": Histogram | None}; weak, so a
# provider that is shut down and dropped (e.g. a test's) is not kept alive by us.
_per_provider: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_strong: dict[int, tuple[Any, dict[str, Any]]] = {}  # for providers that cannot be weakly referenced


def _state(provider: MeterProvider) -> dict[str, Any]:
    """Our per-provider memo (call under ``_lock``)."""
    try:
        return _per_provider.setdefault(provider, {})
    except TypeError:
        entry = _strong.get(id(provider))
        if entry is None or entry[0] is not provider:
            entry = _strong[id(provider)] = (provider, {})
        return entry[1]


def resolve_provider(meter_provider: MeterProvider | None) -> MeterProvider:
    """The provider a component created now reports through (explicit, else instrument()'s, else global)."""
    return meter_provider or _telemetry._meter_provider or metrics.get_meter_provider()


def ensure_instruments(kind: str, provider: MeterProvider, install: Installer) -> None:
    """Run ``install(meter, live_components)`` once for ``kind`` on ``provider``."""
    with _lock:
        state = _state(provider)
        if state.get(f"instruments:{kind}"):
            return
        state[f"instruments:{kind}"] = True
    meter = _telemetry.get_meter(semconv.SCOPE_NAME, provider)

    def live() -> list[Any]:
        return [c for c in _registry.components(kind) if getattr(c, "_provider", None) is provider]

    try:
        install(meter, live)
    except Exception as exc:  # telemetry must never break construction
        _telemetry.log_internal_error(f"{kind} instruments", exc)


def histogram(
    provider: MeterProvider, name: str, unit: str, description: str, buckets: Iterable[float]
) -> Histogram | None:
    """The histogram ``name`` on ``provider``, created once (``None`` if creating it failed)."""
    key = f"histogram:{name}"
    with _lock:
        state = _state(provider)
        if key in state:
            found = state[key]
            return found() if found is not None else None
        try:
            created: Histogram | None = _telemetry.get_meter(semconv.SCOPE_NAME, provider).create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets)
            )
        except Exception as exc:
            _telemetry.log_internal_error(f"histogram {name}", exc)
            created = None
        # Weakly: the histogram refers to its provider, which would keep the weak key alive forever.
        # The provider's meter holds it as long as the provider lives.
        state[key] = None if created is None else weakref.ref(created)
        return created


def observe(where: str, read: Callable[[], Iterable[Observation]]) -> Iterable[Observation]:
    """Run an observable callback body: nothing when disabled, never an exception."""
    if not _telemetry.is_enabled():
        return []
    try:
        return list(read())
    except Exception as exc:
        _telemetry.log_internal_error(where, exc)
        return []
