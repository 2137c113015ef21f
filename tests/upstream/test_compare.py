"""The upstream lane's verdict: regressions, flaky tests, open spans, root mismatches, double ends."""

from __future__ import annotations

import json
from pathlib import Path

from tests.upstream import compare


def _write(out: Path, name: str, records: list[dict]) -> None:
    (out / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _record(test: str, outcome: str = "passed", **extra: int) -> dict:
    return {"test": test, "outcome": outcome, "open_runs": 0, "gc_ended": 0, "roots": 1, "top_calls": 1, **extra}


def test_clean_suite_passes(tmp_path: Path) -> None:
    _write(tmp_path, "s-plain-gw0.jsonl", [{"test": "a", "outcome": "passed"}, {"test": "b", "outcome": "skipped"}])
    _write(tmp_path, "s-instrumented-gw0.jsonl", [_record("a"), _record("b", "skipped", roots=0)])

    summary, offences = compare.judge(tmp_path, "s")

    assert offences == []
    assert summary[0].startswith("s: 2 tests, 1 passed both ways, 1 skipped, 0 regressions")
    assert compare.main([str(tmp_path), "s"]) == 0


def test_each_offence_is_reported(tmp_path: Path) -> None:
    plain = [{"test": t, "outcome": "passed"} for t in ("reg", "flaky", "open", "roots", "twice")]
    plain.append({"test": "broken", "outcome": "failed"})
    _write(tmp_path, "s-plain-gw0.jsonl", plain)
    _write(
        tmp_path,
        "s-instrumented-gw1.jsonl",
        [
            _record("reg", "failed"),
            _record("flaky", "failed"),
            _record("open", open_runs=2, gc_ended=1),
            _record("roots", roots=2),
            _record("twice", double_ends=1),
            _record("broken", "failed"),
        ],
    )
    _write(tmp_path, "s-instrumented-rerun-main.jsonl", [_record("reg", "failed"), _record("flaky")])

    summary, offences = compare.judge(tmp_path, "s")

    assert [line.split(" ", 2)[:2] for line in offences] == [
        ["OPEN", "open:"],
        ["REGRESSION", "reg:"],
        ["ROOTS", "roots:"],
        ["DOUBLE-END", "twice:"],
    ]
    assert "1 regressions, 2 run spans left open (in 1 tests), 1 root mismatches" in summary[0]
    assert "1 run spans ended only by garbage collection" in summary[0]
    assert "1 failing without agentotel, 1 flaky" in summary[0]
    assert compare.main([str(tmp_path), "s"]) == 1


def test_targeted_baseline_counts_instrumented_passes(tmp_path: Path) -> None:
    _write(tmp_path, "s-plain-gw0.jsonl", [{"test": "x", "outcome": "passed"}])
    _write(tmp_path, "s-instrumented-gw0.jsonl", [_record("x", "failed"), _record("y"), _record("z")])

    summary, offences = compare.judge(tmp_path, "s", full_baseline=False)

    assert summary[0].startswith("s: 3 tests, 2 passed instrumented")
    assert offences == ["REGRESSION x: passes without agentotel, failed with it"]


def test_no_instrumented_results_is_a_failure(tmp_path: Path) -> None:
    assert compare.main([str(tmp_path), "missing"]) == 1
