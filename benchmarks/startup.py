"""What agentotel adds to a process start, and what patching costs when the application imports a target.

    .venv/bin/python benchmarks/startup.py [--reps 11] [--profile]

Every case is a fresh interpreter (``python -c``), run in an order rotated per
repetition so that machine load falls on every case alike; medians are reported.
*wall* is the whole process, spawn to exit, timed by this script; *RSS* is the
child's peak resident set (``VmHWM``, Linux). Exporters are ``none`` throughout: what
is measured is set-up and instrumentation, not export. agentotel's bytecode is
written first (as a wheel install has it), so that no child compiles our sources.

Cases:

* **python**: an empty interpreter (the part of every number no library can cut);
* **SDK floor**: the OpenTelemetry SDK's ``TracerProvider`` and ``MeterProvider``
  created and set as the global providers, the least any OpenTelemetry set-up costs;
* **agentotel.auto**: ``import agentotel.auto`` with every target library
  installed (duckdb, langgraph, cachetools, pydantic-ai) and none of them used;
* **import T**: the application imports target T after the SDK floor (T's own cost);
* **agentotel.auto + import T**: the same after ``import agentotel.auto``, and
  **... T disabled**: the same with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=T``. The
  ``import`` statement is timed inside the child; the difference between these two
  is what patching T on its import costs (loading the instrumentor and the
  OpenTelemetry instrumentation package if T is the first target, our hook modules,
  the patches), with every other module loaded alike. Comparing with *import T*
  instead would credit agentotel with modules (asyncio, typing_extensions …) that
  it happens to share with T.

Goals: agentotel.auto <= 1.3x the SDK floor's wall time and <= +8 MiB RSS; patching a
target on its import <= 30 ms.

``--profile`` also prints the slowest entries of ``python -X importtime -c "import agentotel.auto"``
(cumulative microseconds) so that what our import costs can be traced to a module.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping

from _harness import medians, print_table, rotated

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
REPORT = (
    "import json, sys\n"
    "_hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
    "print(json.dumps({'import_s': _import_s, 'import_cpu_s': globals().get('_import_cpu_s', 0.0),"
    " 'rss_kib': int(_hwm.split()[1]), 'modules': len(sys.modules)}))\n"
)
FLOOR = (
    "from opentelemetry import metrics, trace\n"
    "from opentelemetry.sdk.metrics import MeterProvider\n"
    "from opentelemetry.sdk.trace import TracerProvider\n"
    "trace.set_tracer_provider(TracerProvider())\n"
    "metrics.set_meter_provider(MeterProvider())\n"
)
AUTO = "import agentotel.auto\n"

#: What an application writes to use each target.
TARGETS: Mapping[str, str] = {
    "duckdb": "import duckdb",
    "langgraph": "from langgraph.graph import StateGraph",
    "cachetools": "import cachetools",
    "pydantic_ai": "from pydantic_ai import Agent",
}


def _timed_import(statement: str) -> str:
    return (
        "import time as _t\n_t0, _c0 = _t.perf_counter(), _t.process_time()\n"
        f"{statement}\n"
        "_import_s, _import_cpu_s = _t.perf_counter() - _t0, _t.process_time() - _c0\n"
    )


def cases() -> dict[str, tuple[str, dict[str, str]]]:
    """Case name -> (the child's code, its extra environment)."""
    found: dict[str, tuple[str, dict[str, str]]] = {
        "python": ("_import_s = 0.0\n", {}),
        "SDK floor": (FLOOR + "_import_s = 0.0\n", {}),
        "agentotel.auto": (AUTO + "_import_s = 0.0\n", {}),
    }
    for name, statement in TARGETS.items():
        found[f"import {name}"] = (FLOOR + _timed_import(statement), {})
        found[f"agentotel.auto + import {name}"] = (AUTO + _timed_import(statement), {})
        found[f"agentotel.auto + import {name}, {name} disabled"] = (
            AUTO + _timed_import(statement),
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": name},
        )
    return {name: (code + REPORT, extra) for name, (code, extra) in found.items()}


def environment() -> dict[str, str]:
    """The parent's environment without OTEL_/AGENTOTEL_ settings, exporters ``none``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="startup-bench",
    )
    return env


def compile_agentotel() -> None:
    """Write agentotel's bytecode first, as an installed wheel has it: else every child compiles our sources."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("agentotel")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


def run_case(code: str, env: Mapping[str, str]) -> dict[str, float]:
    """One fresh interpreter: wall and CPU (user + system) time (s), peak RSS (MiB), the timed import, modules."""
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=dict(env), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"case failed ({done.returncode}):\n{code}\n{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "wall": wall,
        "cpu": cpu,
        "rss": report["rss_kib"] / 1024,
        "import": report["import_s"],
        "import_cpu": report["import_cpu_s"],
        "modules": report["modules"],
    }


def profile(env: Mapping[str, str], top: int) -> None:
    """Print the ``top`` slowest entries under ``import agentotel.auto`` in ``-X importtime`` (cumulative)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", AUTO], env=dict(env), capture_output=True, text=True, check=True
    )
    subtree: list[tuple[int, int, str]] = []  # the lines since the last top-level import
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        entry = (int(parts[1]), int(parts[0]), parts[2].rstrip())
        subtree.append(entry)
        if not entry[2].startswith("  "):  # a top-level import closes its subtree
            if entry[2].strip() == "agentotel.auto":
                break
            subtree = []
    subtree.sort(reverse=True)
    print(f"\n`-X importtime` of `import agentotel.auto` (its own subtree), top {top} by cumulative time:\n")
    print_table(
        ["module", "cumulative ms", "self ms"],
        [[f"`{name.strip()}`", f"{cum / 1000:.1f}", f"{own / 1000:.1f}"] for cum, own, name in subtree[:top]],
        numeric=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--profile", action="store_true", help="also print the -X importtime top entries")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    compile_agentotel()
    env = environment()
    codes = cases()
    names = list(codes)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for rep in range(args.reps):
        for name in rotated(names, rep):
            code, extra = codes[name]
            samples[name].append(run_case(code, {**env, **extra}))

    def median_of(key: str) -> dict[str, float]:
        return medians({name: [s[key] for s in runs] for name, runs in samples.items()})

    wall, cpu, rss, modules = median_of("wall"), median_of("cpu"), median_of("rss"), median_of("modules")
    imported, imported_cpu = median_of("import"), median_of("import_cpu")
    floor = "SDK floor"
    load = os.getloadavg()[0]
    rows = [
        [
            name,
            f"{wall[name] * 1000:.0f}",
            f"{wall[name] / wall[floor]:.2f}",
            f"{cpu[name] * 1000:.0f}",
            f"{cpu[name] / cpu[floor]:.2f}",
            f"{rss[name]:.1f}",
            f"{rss[name] - rss[floor]:+.1f}",
            f"{modules[name]:.0f}",
        ]
        for name in ("python", floor, "agentotel.auto")
    ]
    print_table(
        [
            f"process (median of {args.reps}; load average {load:.1f} on {os.cpu_count()} cores)",
            "wall ms",
            "wall x floor",
            "CPU ms",
            "CPU x floor",
            "peak RSS MiB",
            "RSS vs floor MiB",
            "modules",
        ],
        rows,
        numeric=True,
    )
    print()
    rows = []
    for target in TARGETS:
        alone, after = f"import {target}", f"agentotel.auto + import {target}"
        disabled = f"{after}, {target} disabled"
        rows.append(
            [
                target,
                f"{imported[alone] * 1000:.0f}",
                f"{imported[disabled] * 1000:.0f}",
                f"{imported[after] * 1000:.0f}",
                f"{(imported[after] - imported[disabled]) * 1000:+.1f}",
                f"{(imported_cpu[after] - imported_cpu[disabled]) * 1000:+.1f}",
                f"{wall[after] / wall[alone]:.2f}",
                f"{rss[after] - rss[alone]:+.1f}",
            ]
        )
    print_table(
        [
            "target imported by the app",
            "its import after SDK floor ms",
            "after agentotel.auto, target disabled ms",
            "after agentotel.auto ms",
            "patching on import, wall ms",
            "patching on import, CPU ms",
            "process wall vs SDK floor + import",
            "RSS vs SDK floor + import MiB",
        ],
        rows,
        numeric=True,
    )
    if args.profile:
        profile(env, args.top)


if __name__ == "__main__":
    main()
