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
from collections.abc import Iterable

import psutil
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from agentotel import semconv
from agentotel._telemetry import get_meter, log_internal_error

__all__ = ["start", "stop", "ProcessMetrics"]


class ProcessMetrics:
    """Observable ``process.*`` instruments on one meter; callbacks report only while active."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        self.active = True
        self._pid = -1
        self._proc: psutil.Process | None = None
        self._total_memory = psutil.virtual_memory().total
        self._cpu_count = psutil.cpu_count() or 1
        self._last_cpu: tuple[float, float, float] | None = None  # (wall, user, system)
        self._lock = threading.Lock()
        meter = get_meter(f"{semconv.SCOPE_NAME}.process", meter_provider)
        meter.create_observable_counter(
            semconv.PROCESS_CPU_TIME, [self._cpu_time], unit="s", description="CPU time by mode."
        )
        meter.create_observable_gauge(
            semconv.PROCESS_CPU_UTILIZATION,
            [self._cpu_utilization],
            unit="1",
            description="CPU time by mode over wall time since the last collection, divided by the CPU count.",
        )
        meter.create_observable_up_down_counter(
            semconv.PROCESS_MEMORY_USAGE, [self._memory_usage], unit="By", description="Resident memory."
        )
        meter.create_observable_up_down_counter(
            semconv.PROCESS_MEMORY_VIRTUAL, [self._memory_virtual], unit="By", description="Virtual memory."
        )
        meter.create_observable_gauge(
            semconv.PROCESS_MEMORY_UTILIZATION,
            [self._memory_utilization],
            unit="1",
            description="Resident memory over total physical memory.",
        )
        meter.create_observable_up_down_counter(
            semconv.PROCESS_THREAD_COUNT, [self._thread_count], unit="{thread}", description="Threads."
        )
        meter.create_observable_counter(
            semconv.PROCESS_CONTEXT_SWITCHES,
            [self._context_switches],
            unit="{context_switch}",
            description="Context switches by type.",
        )
        if sys.platform != "win32":
            meter.create_observable_up_down_counter(
                semconv.PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
                [self._fd_count],
                unit="{file_descriptor}",
                description="Open file descriptors.",
            )
        meter.create_observable_gauge(
            semconv.PROCESS_UPTIME, [self._uptime], unit="s", description="Seconds since the process started."
        )
        meter.create_observable_counter(
            semconv.CPYTHON_GC_COLLECTIONS,
            [self._gc_collections],
            unit="{collection}",
            description="Garbage collections by generation.",
        )

    def _process(self) -> psutil.Process:
        pid = os.getpid()
        if pid != self._pid:  # first use, or we are a forked child
            self._proc = psutil.Process(pid)
            self._pid = pid
            self._last_cpu = None
        assert self._proc is not None
        return self._proc

    def _observe(self, name: str, read) -> Iterable[Observation]:
        if not self.active:
            return []
        try:
            return read()
        except Exception as exc:  # psutil can fail on exotic platforms
            log_internal_error(f"process metric {name}", exc)
            return []

    def _cpu_time(self, options: CallbackOptions) -> Iterable[Observation]:
        def read():
            times = self._process().cpu_times()
            return [Observation(times.user, {"cpu.mode": "user"}), Observation(times.system, {"cpu.mode": "system"})]

        return self._observe(semconv.PROCESS_CPU_TIME, read)

    def _cpu_utilization(self, options: CallbackOptions) -> Iterable[Observation]:
        def read():
            with self._lock:
                times = self._process().cpu_times()
                now = time.monotonic()
                last, self._last_cpu = self._last_cpu, (now, times.user, times.system)
            if last is None or now <= last[0]:
                return []
            span = (now - last[0]) * self._cpu_count
            return [
                Observation(max(0.0, (times.user - last[1]) / span), {"cpu.mode": "user"}),
                Observation(max(0.0, (times.system - last[2]) / span), {"cpu.mode": "system"}),
            ]

        return self._observe(semconv.PROCESS_CPU_UTILIZATION, read)

    def _memory_usage(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(semconv.PROCESS_MEMORY_USAGE, lambda: [Observation(self._process().memory_info().rss)])

    def _memory_virtual(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(semconv.PROCESS_MEMORY_VIRTUAL, lambda: [Observation(self._process().memory_info().vms)])

    def _memory_utilization(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(
            semconv.PROCESS_MEMORY_UTILIZATION,
            lambda: [Observation(self._process().memory_info().rss / self._total_memory)],
        )

    def _thread_count(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(semconv.PROCESS_THREAD_COUNT, lambda: [Observation(self._process().num_threads())])

    def _context_switches(self, options: CallbackOptions) -> Iterable[Observation]:
        def read():
            switches = self._process().num_ctx_switches()
            return [
                Observation(switches.voluntary, {"process.context_switch.type": "voluntary"}),
                Observation(switches.involuntary, {"process.context_switch.type": "involuntary"}),
            ]

        return self._observe(semconv.PROCESS_CONTEXT_SWITCHES, read)

    def _fd_count(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(
            semconv.PROCESS_UNIX_FILE_DESCRIPTOR_COUNT, lambda: [Observation(self._process().num_fds())]
        )

    def _uptime(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(
            semconv.PROCESS_UPTIME, lambda: [Observation(max(0.0, time.time() - self._process().create_time()))]
        )

    def _gc_collections(self, options: CallbackOptions) -> Iterable[Observation]:
        def read():
            return [
                Observation(stats["collections"], {"cpython.gc.generation": generation})
                for generation, stats in enumerate(gc.get_stats())
            ]

        return self._observe(semconv.CPYTHON_GC_COLLECTIONS, read)


_current: ProcessMetrics | None = None
_lock = threading.Lock()


def start(meter_provider: MeterProvider | None = None) -> ProcessMetrics:
    """Start reporting process metrics (stopping any earlier reporter first)."""
    global _current
    with _lock:
        if _current is not None:
            _current.active = False
        _current = ProcessMetrics(meter_provider)
        return _current


def stop() -> None:
    """Stop reporting: the callbacks return nothing from now on."""
    global _current
    with _lock:
        if _current is not None:
            _current.active = False
            _current = None
