"""process.* metrics from psutil: semconv names and units, sane values, silence after uninstrument."""

from __future__ import annotations

import os

import psutil

from agentotel import semconv
from agentotel.testing import capture_telemetry


def test_process_metrics_report_semconv_names_with_plausible_values():
    with capture_telemetry() as telemetry:
        telemetry.metrics()  # the first collection primes CPU utilization
        sum(i * i for i in range(200_000))
        found = telemetry.metrics()
        for name in (
            semconv.PROCESS_CPU_TIME,
            semconv.PROCESS_CPU_UTILIZATION,
            semconv.PROCESS_MEMORY_USAGE,
            semconv.PROCESS_MEMORY_VIRTUAL,
            semconv.PROCESS_MEMORY_UTILIZATION,
            semconv.PROCESS_THREAD_COUNT,
            semconv.PROCESS_CONTEXT_SWITCHES,
            semconv.PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
            semconv.PROCESS_UPTIME,
            semconv.CPYTHON_GC_COLLECTIONS,
        ):
            assert name in found, name
        units = {m.name: m.unit for m in semconv.METRICS}
        for name, metric in found.items():
            if name in units:
                assert metric.unit == units[name], name
        rss = psutil.Process(os.getpid()).memory_info().rss
        (memory,) = telemetry.metric_points(semconv.PROCESS_MEMORY_USAGE)
        assert 0.5 * rss < memory.value < 2 * rss
        assert 0 < telemetry.metric_points(semconv.PROCESS_MEMORY_UTILIZATION)[0].value < 1
        (threads,) = telemetry.metric_points(semconv.PROCESS_THREAD_COUNT)
        assert threads.value >= 1
        modes = {p.attributes["cpu.mode"]: p.value for p in telemetry.metric_points(semconv.PROCESS_CPU_UTILIZATION)}
        assert set(modes) == {"user", "system"}
        assert all(0 <= v <= 1.0 for v in modes.values())
        generations = {
            p.attributes["cpython.gc.generation"] for p in telemetry.metric_points(semconv.CPYTHON_GC_COLLECTIONS)
        }
        assert generations >= {0, 1, 2}


def test_process_metrics_can_be_switched_off():
    with capture_telemetry(process_metrics=False) as telemetry:
        assert semconv.PROCESS_MEMORY_USAGE not in telemetry.metrics()


def test_process_metrics_stop_reporting_after_uninstrument():
    import agentotel

    with capture_telemetry(instrument=False) as telemetry:
        agentotel.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
        assert telemetry.metric_points(semconv.PROCESS_MEMORY_USAGE)
        agentotel.uninstrument()
        telemetry.metrics()  # the last collection, made by uninstrument()
        assert not telemetry.metric_points(semconv.PROCESS_MEMORY_USAGE)
