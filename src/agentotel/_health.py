"""``agentotel.health()``: one plain dict describing every live component and the process.

Return it from a health endpoint::

    @app.get("/health")
    def health():
        report = agentotel.health()
        return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)

Overall ``status`` is the worst of the components' own statuses:

* circuit breaker: ``degraded`` while open, half-open or forced open;
* load balancer: ``unhealthy`` with no instances or when every instance is
  ejected or behind an open breaker, ``degraded`` when some are;
* rate limiter: ``degraded`` if it rejected a request in the last minute;
* DuckDB pool: ``degraded`` if a caller timed out waiting for a connection in the last minute;
* cache: as its ``health_snapshot()`` reports (``healthy`` unless it says otherwise).

Components are those alive now (the registry holds them weakly). A component
whose snapshot fails is reported as ``unhealthy`` with the error's type.
"""

from __future__ import annotations

import os
import time
from typing import Any

from agentotel import _telemetry
from agentotel.resilience import _registry

__all__ = ["health", "STATUSES"]

#: From best to worst.
STATUSES = ("healthy", "degraded", "unhealthy")
_KINDS = ("cache", "circuit_breaker", "duckdb_pool", "load_balancer", "rate_limiter")


def health() -> dict[str, Any]:
    """Snapshot of every live cache, breaker, balancer, rate limiter and DuckDB pool, plus process memory and CPU."""
    components: dict[str, list[dict[str, Any]]] = {}
    worst = 0
    reasons: list[str] = []
    for kind in sorted(set(_KINDS) | set(_registry.kinds())):
        snapshots: list[dict[str, Any]] = []
        for component in _registry.components(kind):
            snapshot = _snapshot(kind, component)
            status = snapshot.get("status", "healthy")
            rank = STATUSES.index(status) if status in STATUSES else 0
            if rank:
                reasons.append(f"{kind} {snapshot.get('name', '?')!s} is {status}")
            worst = max(worst, rank)
            snapshots.append(snapshot)
        components[kind] = snapshots
    return {
        "status": STATUSES[worst],
        "reasons": reasons,
        "components": components,
        "process": _process(),
    }


def _snapshot(kind: str, component: Any) -> dict[str, Any]:
    try:
        snapshot = dict(component.health_snapshot())
    except Exception as exc:
        _telemetry.log_internal_error(f"health snapshot of {kind}", exc)
        return {
            "name": str(getattr(component, "name", "?")),
            "status": "unhealthy",
            "error": _telemetry.error_type(exc),
        }
    snapshot.setdefault("name", str(getattr(component, "name", "?")))
    return snapshot


_proc: Any = None


def _process() -> dict[str, Any]:
    global _proc
    info: dict[str, Any] = {"pid": os.getpid()}
    try:
        import psutil

        if _proc is None or _proc.pid != info["pid"]:  # first call, or a forked child
            _proc = psutil.Process()
        proc = _proc
        with proc.oneshot():
            # CPU share since the previous health() call (0.0 on the first), over all cores.
            info["cpu_utilization"] = proc.cpu_percent(interval=None) / 100.0 / (psutil.cpu_count() or 1)
            memory = proc.memory_info()
            cpu = proc.cpu_times()
            info.update(
                {
                    "memory_rss_bytes": memory.rss,
                    "memory_virtual_bytes": memory.vms,
                    "memory_utilization": memory.rss / psutil.virtual_memory().total,
                    "cpu_user_seconds": cpu.user,
                    "cpu_system_seconds": cpu.system,
                    "threads": proc.num_threads(),
                    "uptime_seconds": max(0.0, time.time() - proc.create_time()),
                }
            )
    except Exception as exc:  # psutil missing or failing must not break the health endpoint
        _telemetry.log_internal_error("health process info", exc)
    return info
