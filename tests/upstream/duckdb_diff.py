"""Run DuckDB's own Python tests without and with agentotel, and list every test that only fails with it.

DuckDB's source distribution on PyPI does not ship its Python tests, so this is a
tool to run by hand, not a CI lane. Get the tests of the version you have
installed from a checkout of ``duckdb/duckdb-python`` (e.g. ``git archive v1.5.5
tests | tar -x -C /tmp/duckdb-tests``), make a venv with that duckdb, the test
dependencies (pytest, pytest-reraise, pytest-timeout, pandas, pyarrow, polars,
numpy, fsspec, adbc-driver-manager …) and agentotel, then::

    python tests/upstream/duckdb_diff.py --python /path/venv/bin/python \\
        --tests /tmp/duckdb-tests/tests --select fast

Each mode runs in its own pytest process (``off`` is the baseline; ``instrument``
calls ``agentotel.instrument()``; ``auto`` imports ``agentotel.auto``) with
``tests/upstream/duckdb_plugin.py`` loaded before DuckDB's conftest. The report
gives, per mode, the tests that pass uninstrumented and fail instrumented
(regressions; the exit status is 1 when there is any), and the span count that
shows the instrumented run really traced.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """Test id -> (outcome, first line of the failure message) from a JUnit XML report."""
    found: dict[str, tuple[str, str]] = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = PASSED, ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = FAILED, (child.get("message") or "").splitlines()[0:1]
                message = message[0] if message else ""
                break
            if child.tag == "skipped":
                outcome = SKIPPED
        if found.get(test_id, (PASSED,))[0] != FAILED:  # a test reported twice (call + teardown) keeps its failure
            found[test_id] = (outcome, message)
    return found


def run(python: str, tests: Path, select: list[str], mode: str, out: Path, extra: list[str]) -> tuple[Path, float, int]:
    """One pytest process in ``mode``; returns its JUnit report, wall seconds and span count."""
    junit = out / f"junit-{mode}.xml"
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, AGENTOTEL_UPSTREAM_MODE=mode, PYTHONPATH=path)
    command = [
        python, "-m", "pytest", *[str(tests / s) for s in select], "-p", "duckdb_plugin", "-p", "no:cacheprovider",
        "-q", "-o", "addopts=", "--timeout=300", f"--junitxml={junit}", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tests.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (out / f"pytest-{mode}.log").write_text(done.stdout + done.stderr)
    spans = re.search(r"agentotel-upstream: spans=(\d+)", done.stdout)
    if not junit.exists():
        sys.exit(f"pytest ({mode}) wrote no report; see {out / f'pytest-{mode}.log'}")
    return junit, seconds, int(spans.group(1)) if spans else -1


def main(argv: list[str] | None = None) -> int:
    """Run the baseline and each instrumented mode; print the per-test diff."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the venv with duckdb and agentotel")
    parser.add_argument("--tests", type=Path, required=True, help="DuckDB's tests/ folder")
    parser.add_argument("--select", nargs="+", default=["fast"], help="paths under --tests to run")
    parser.add_argument("--modes", nargs="+", default=["instrument", "auto"], choices=["instrument", "auto"])
    parser.add_argument("--out", type=Path, default=Path("upstream-duckdb"), help="where reports and logs go")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(
        [args.python, "-c", "import duckdb; print(duckdb.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"duckdb {version}; tests {args.tests} {' '.join(args.select)}")
    base_junit, base_s, _ = run(args.python, args.tests, args.select, "off", args.out, args.pytest_args)
    base = outcomes(base_junit)
    base_passed = {t for t, (o, _) in base.items() if o == PASSED}
    print(f"off        {len(base):5d} tests, {len(base_passed):5d} passed   {base_s:6.0f} s")
    regressions_total = 0
    for mode in args.modes:
        junit, seconds, spans = run(args.python, args.tests, args.select, mode, args.out, args.pytest_args)
        result = outcomes(junit)
        passed = {t for t, (o, _) in result.items() if o == PASSED}
        regressions = sorted(t for t in base_passed if result.get(t, (FAILED,))[0] == FAILED)
        fixed = sorted(t for t in passed if base.get(t, (PASSED,))[0] == FAILED)
        print(
            f"{mode:<10} {len(result):5d} tests, {len(passed):5d} passed   {seconds:6.0f} s   spans {spans:,}   "
            f"passed both {len(base_passed & passed)}, regressions {len(regressions)}, "
            f"pass only instrumented {len(fixed)}"
        )
        for test in regressions:
            print(f"  REGRESSION {test}: {result.get(test, ('', 'not run'))[1][:160]}")
        if spans <= 0:
            print(f"  the {mode} run emitted no spans: it did not trace")
            regressions_total += 1
        regressions_total += len(regressions)
    return 1 if regressions_total else 0


if __name__ == "__main__":
    sys.exit(main())
