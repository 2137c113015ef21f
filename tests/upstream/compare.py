"""Judge an upstream suite run without and with agentotel (results written by ``agentotel_upstream``).

    python tests/upstream/compare.py OUT_DIR SUITE [SUITE ...] [--baseline full|failed]

``--baseline failed``: the plain run covered only the tests that failed instrumented, so
"passed" counts the instrumented passes (their plain outcome was not measured).

For each suite prints the counts (tests, passed both ways, skipped, regressions, run spans
left open, root mismatches, spans ended twice) and every offending test; exits 1 when any
test passes without agentotel and fails with it, leaves a run span open, has a number of
root run spans other than its number of top-level graph calls, or ends a span twice.
A test that fails without agentotel is reported, not judged (nothing to compare with).
A test that fails instrumented is run once more, instrumented and alone (``instrumented-rerun``
results): if it passes then, it is reported as flaky (timing-dependent upstream tests exist), not
as a regression.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


def _load(out: Path, suite: str, mode: str) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    pattern = re.compile(rf"{re.escape(suite)}-{re.escape(mode)}-(gw\d+|main)\.jsonl")
    for path in sorted(p for p in out.glob(f"{suite}-{mode}-*.jsonl") if pattern.fullmatch(p.name)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                records[record["test"]] = record
    return records


def judge(out: Path, suite: str, full_baseline: bool = True) -> tuple[list[str], list[str]]:
    """Return (summary lines, offence lines) for one suite."""
    plain = _load(out, suite, "plain")
    instrumented = _load(out, suite, "instrumented")
    rerun = _load(out, suite, "instrumented-rerun")
    if not instrumented:
        return [f"{suite}: no instrumented results"], [f"{suite}: no instrumented results in {out}"]
    offences: list[str] = []
    both = skipped = regressions = open_tests = open_spans = mismatches = doubles = gc_ended = 0
    failing_upstream: list[str] = []
    flaky: list[str] = []
    for test, record in sorted(instrumented.items()):
        base = plain.get(test, {}).get("outcome")
        outcome = record["outcome"]
        if outcome == "skipped":
            skipped += 1
        elif outcome == "passed" and (base == "passed" or not full_baseline):
            both += 1
        if base == "passed" and outcome in ("failed", "error") and rerun.get(test, {}).get("outcome") == "passed":
            flaky.append(test)
        elif base == "passed" and outcome in ("failed", "error"):
            regressions += 1
            offences.append(f"REGRESSION {test}: passes without agentotel, {outcome} with it")
        elif base in ("failed", "error"):
            failing_upstream.append(test)
        if record.get("open_runs"):
            open_tests += 1
            open_spans += record["open_runs"]
            offences.append(f"OPEN {test}: {record['open_runs']} run span(s) never ended")
        if outcome != "skipped" and record.get("roots") != record.get("top_calls"):
            mismatches += 1
            offences.append(
                f"ROOTS {test}: {record.get('roots')} root run span(s) for {record.get('top_calls')} call(s)"
            )
        gc_ended += record.get("gc_ended", 0)
        if record.get("double_ends"):
            doubles += 1
            offences.append(f"DOUBLE-END {test}: {record['double_ends']} span(s) ended twice")
    only_plain = sorted(set(plain) - set(instrumented)) if full_baseline else []
    for test in only_plain:
        offences.append(f"MISSING {test}: ran without agentotel only")
    summary = [
        f"{suite}: {len(instrumented)} tests, {both} passed {'both ways' if full_baseline else 'instrumented'}, "
        f"{skipped} skipped, "
        f"{regressions} regressions, {open_spans} run spans left open (in {open_tests} tests), "
        f"{mismatches} root mismatches, {doubles} tests ending a span twice, "
        f"{gc_ended} run spans ended only by garbage collection (abandoned streams), "
        f"{len(failing_upstream)} failing without agentotel, {len(flaky)} flaky (failed instrumented, passed re-run)"
    ]
    summary += [f"  flaky (not judged): {test}" for test in flaky]
    summary += [f"  failing without agentotel (not judged): {test}" for test in failing_upstream]
    return summary, offences


def main(argv: list[str]) -> int:
    """Print each suite's verdict; 1 if any suite has an offence."""
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    full_baseline = True
    if "--baseline" in argv:
        at = argv.index("--baseline")
        full_baseline = argv[at + 1] != "failed"
        argv = argv[:at] + argv[at + 2 :]
    out = Path(argv[0])
    failed = False
    for suite in argv[1:]:
        summary, offences = judge(out, suite, full_baseline)
        print("\n".join(summary))
        for line in offences:
            print("  " + line)
        failed = failed or bool(offences)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
