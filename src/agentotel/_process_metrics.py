"""``process.*`` metrics from psutil, reported through observable instruments.

Why not the contrib ``opentelemetry-instrumentation-system-metrics``: its
``uninstrument()`` does nothing (its callbacks keep reporting), it binds the
``psutil.Process`` at construction (a forked child reports its parent), and it
uses the deprecated ``process.open_file_descriptor.count`` name and lacks
``process.memory.utilization`` and ``process.uptime``. This module is small,
follows semantic conventions v1.44, reads the current pid on each collection,
and goes quiet on :func:`stop`.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil
from opentelemetry.metrics import MeterProvider, Observation

from agentotel import semconv
from agentotel._handle import Binding, Observed

__all__ = ["start", "stop", "ProcessMetrics"]


class ProcessMetrics:
    """The ``process.*`` readings of this process, reported through :data:`PROCESS` while started."""

    name = "process"

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        self.binding = Binding(semconv.SCOPE_PROCESS, meter_provider=meter_provider)
        self._pid = -1
        self._proc: psutil.Process | None = None
        self._total_memory = psutil.virtual_memory().total
        self._cpu_count = psutil.cpu_count() or 1
        self._last_cpu: tuple[float, float, float] | None = None  # (wall, user, system)
        self._lock = threading.Lock()

    def _process(self) -> psutil.Process:
        pid = os.getpid()
        if pid != self._pid:  # first use, or we are a forked child
            self._proc = psutil.Process(pid)
            self._pid = pid
            self._last_cpu = None
        assert self._proc is not None
        return self._proc

    def cpu_time(self) -> list[Observation]:
        return _by_field(self._process().cpu_times(), semconv.CPU_MODE, ("user", "system"))

    def cpu_utilization(self) -> list[Observation]:
        with self._lock:
            times = self._process().cpu_times()
            now = time.monotonic()
            last, self._last_cpu = self._last_cpu, (now, times.user, times.system)
        if last is None or now <= last[0]:
            return []
        span = (now - last[0]) * self._cpu_count
        # CPU times advance in clock ticks (10 ms): over a short interval one tick can exceed the wall time.
        return [
            Observation(min(1.0, max(0.0, (times.user - last[1]) / span)), {semconv.CPU_MODE: "user"}),
            Observation(min(1.0, max(0.0, (times.system - last[2]) / span)), {semconv.CPU_MODE: "system"}),
        ]

    def memory_usage(self) -> list[Observation]:
        return [Observation(self._process().memory_info().rss)]

    def memory_virtual(self) -> list[Observation]:
        return [Observation(self._process().memory_info().vms)]

    def memory_utilization(self) -> list[Observation]:
        return [Observation(self._process().memory_info().rss / self._total_memory)]

    def thread_count(self) -> list[Observation]:
        return [Observation(self._process().num_threads())]

    def context_switches(self) -> list[Observation]:
        switches = self._process().num_ctx_switches()
        return _by_field(switches, semconv.PROCESS_CONTEXT_SWITCH_TYPE, ("voluntary", "involuntary"))

    def fd_count(self) -> list[Observation]:
        return [Observation(self._process().num_fds())] if sys.platform != "win32" else []

    def uptime(self) -> list[Observation]:
        return [Observation(max(0.0, time.time() - self._process().create_time()))]

    def gc_collections(self) -> list[Observation]:
        return [
            Observation(stats["collections"], {semconv.CPYTHON_GC_GENERATION: generation})
            for generation, stats in enumerate(gc.get_stats())
        ]


def _by_field(values: Any, key: str, fields: tuple[str, ...]) -> list[Observation]:
    """One observation per named field of a psutil tuple, the field's name as the ``key`` attribute."""
    return [Observation(getattr(values, field), {key: field}) for field in fields]


def _each(
    read: Callable[[ProcessMetrics], list[Observation]],
) -> Callable[[list[ProcessMetrics]], Iterable[Observation]]:
    def observe(reporters: list[ProcessMetrics]) -> Iterable[Observation]:
        for reporter in reporters:
            yield from read(reporter)

    return observe


#: The process metrics' observable instruments (psutil can fail on exotic platforms: reported once, skipped).
PROCESS = Observed(
    "process",
    {
        semconv.PROCESS_CPU_TIME: _each(ProcessMetrics.cpu_time),
        semconv.PROCESS_CPU_UTILIZATION: _each(ProcessMetrics.cpu_utilization),
        semconv.PROCESS_MEMORY_USAGE: _each(ProcessMetrics.memory_usage),
        semconv.PROCESS_MEMORY_VIRTUAL: _each(ProcessMetrics.memory_virtual),
        semconv.PROCESS_MEMORY_UTILIZATION: _each(ProcessMetrics.memory_utilization),
        semconv.PROCESS_THREAD_COUNT: _each(ProcessMetrics.thread_count),
        semconv.PROCESS_CONTEXT_SWITCHES: _each(ProcessMetrics.context_switches),
        semconv.PROCESS_UNIX_FILE_DESCRIPTOR_COUNT: _each(ProcessMetrics.fd_count),
        semconv.PROCESS_UPTIME: _each(ProcessMetrics.uptime),
        semconv.CPYTHON_GC_COLLECTIONS: _each(ProcessMetrics.gc_collections),
    },
)

_current: ProcessMetrics | None = None
_lock = threading.Lock()


def start(meter_provider: MeterProvider | None = None) -> ProcessMetrics:
    """Start reporting process metrics (stopping any earlier reporter first)."""
    global _current
    with _lock:
        if _current is not None:
            PROCESS.discard(_current)
        _current = ProcessMetrics(meter_provider)
        PROCESS.add(_current)
        return _current


def stop() -> None:
    """Stop reporting: the callbacks report nothing for this process from now on."""
    global _current
    with _lock:
        if _current is not None:
            PROCESS.discard(_current)
            _current = None
