"""Pytest plugin for running a target library's own test suite with and without agentotel.

Loaded with ``-p agentotel_upstream`` (this folder on ``PYTHONPATH``) by ``.ci/upstream``.
``AGENTOTEL_UPSTREAM_MODE`` says how:

* ``plain``: nothing is instrumented; the plugin only records each test's outcome.
* ``instrumented``: at pytest start, ``agentotel.instrument()`` with an SDK tracer provider
  whose only processor is :class:`RunLedger` (in memory) and an in-memory metric reader.
  Per test it records, besides the outcome:

  - ``open_runs``: LangGraph run spans started during the test and still open after it
    (after a garbage collection, so that streams dropped by the test end first);
  - ``roots``: run spans with no run span above them;
  - ``top_calls``: top-level graph calls, counted independently of agentotel: calls of
    ``Pregel.invoke/ainvoke/stream/astream`` made outside every graph task, that is with no
    LangGraph task id in the config passed nor in LangChain's ambient child config (which
    LangGraph sets for each node and ``@task`` and which threads started through executors
    inherit), not counting the ``stream``/``astream`` that an ``invoke``/``ainvoke`` makes for
    itself. A graph invoked inside a node is nested even when it is given a ``thread_id`` of
    its own (LangGraph then keeps its checkpoints apart, but it still runs inside the node,
    and LangChain's callbacks, LangSmith's tree with them, nest it there too);
  - ``gc_ended``: run spans that were still open at the end of the test and ended only when
    the garbage collector finalised a dropped stream (correct, but late);
  - ``double_ends``: spans ended more than once (the SDK warns and ignores the second end).

One JSON line per test goes to ``$AGENTOTEL_UPSTREAM_OUT/<suite>-<label>-<worker>.jsonl`` (label:
``AGENTOTEL_UPSTREAM_LABEL``, by default the mode);
``compare.py`` judges the two modes.
"""

from __future__ import annotations

import contextvars
import gc
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanProcessor

MODE = os.environ.get("AGENTOTEL_UPSTREAM_MODE", "plain")
OUT = Path(os.environ.get("AGENTOTEL_UPSTREAM_OUT", "."))
SUITE = os.environ.get("AGENTOTEL_UPSTREAM_SUITE", "suite")
LABEL = os.environ.get("AGENTOTEL_UPSTREAM_LABEL", MODE)  # names the result files (a re-run has its own)
RUN_OPERATIONS = frozenset({"invoke_workflow", "invoke_agent"})


class RunLedger(SpanProcessor):
    """Span processor that remembers every span's parent and which run spans are still open."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.parents: dict[int, int | None] = {}
        self.runs: set[int] = set()
        self.open: dict[int, str] = {}
        self.ended: set[int] = set()
        self.double_ends = 0
        self.test_id = ""

    def reset(self, test_id: str) -> None:
        """Forget the previous test's spans, except run spans still open (they are reported once)."""
        with self._lock:
            self.test_id = test_id
            self.parents.clear()
            self.runs.clear()
            self.ended.clear()
            self.double_ends = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Remember the span's parent; a run span is open until it ends."""
        span_id = span.context.span_id
        parent = span.parent.span_id if span.parent is not None else None
        is_run = (span.attributes or {}).get("gen_ai.operation.name") in RUN_OPERATIONS
        with self._lock:
            self.parents[span_id] = parent
            if is_run:
                self.runs.add(span_id)
                self.open[span_id] = self.test_id

    def on_end(self, span: Any) -> None:
        """The run span is no longer open."""
        with self._lock:
            self.open.pop(span.context.span_id, None)
            self.ended.add(span.context.span_id)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing buffered."""
        return True

    def open_in(self, test_id: str) -> int:
        """Run spans started during ``test_id`` that are still open."""
        with self._lock:
            return sum(1 for owner in self.open.values() if owner == test_id)

    def roots(self) -> int:
        """Run spans of the current test with no run span above them."""
        with self._lock:
            count = 0
            for span_id in self.runs:
                parent = self.parents.get(span_id)
                while parent is not None and parent not in self.runs:
                    parent = self.parents.get(parent)
                count += parent is None
            return count


class _DoubleEnds(logging.Handler):
    """Counts the SDK's warning for a span ended twice."""

    def __init__(self, ledger: RunLedger) -> None:
        super().__init__(logging.WARNING)
        self.ledger = ledger

    def emit(self, record: logging.LogRecord) -> None:
        if "ended span" in record.getMessage():
            self.ledger.double_ends += 1


# --------------------------------------------------------------------------- #
# Top-level graph calls, counted independently of agentotel
# --------------------------------------------------------------------------- #
_calls = 0
_calls_lock = threading.Lock()
_ambient_config: Any = None
_TASK_ID = ""
_invoking: contextvars.ContextVar[Any] = contextvars.ContextVar("agentotel_upstream_invoking", default=None)


def _count_if_top_level(graph: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    global _calls
    try:
        config = args[1] if len(args) > 1 else kwargs.get("config")
        ambient = _ambient_config.get()
        nested = _TASK_ID in ((config or {}).get("configurable") or {}) or (
            ambient is not None and _TASK_ID in (ambient.get("configurable") or {})
        )
    except Exception:  # the counter must never change the test's outcome
        nested = None
    with _calls_lock:
        if nested is None:
            _calls = -(10**6)  # makes the test's comparison fail visibly
        elif not nested:
            _calls += 1


def _install_call_counter() -> None:
    global _ambient_config, _TASK_ID
    import wrapt
    from langchain_core.runnables.config import var_child_runnable_config
    from langgraph._internal._constants import CONFIG_KEY_TASK_ID
    from langgraph.pregel import Pregel

    def invoke(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        _count_if_top_level(instance, args, kwargs)
        token = _invoking.set(instance)
        try:
            return wrapped(*args, **kwargs)
        finally:
            _invoking.reset(token)

    async def ainvoke(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        _count_if_top_level(instance, args, kwargs)
        token = _invoking.set(instance)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _invoking.reset(token)

    def stream(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if _invoking.get() is instance:
            _invoking.set(None)  # the invoke's own stream; calls made while it runs count again
        else:
            _count_if_top_level(instance, args, kwargs)
        return wrapped(*args, **kwargs)

    _ambient_config, _TASK_ID = var_child_runnable_config, CONFIG_KEY_TASK_ID
    for name, wrapper in (("invoke", invoke), ("ainvoke", ainvoke), ("stream", stream), ("astream", stream)):
        wrapt.wrap_function_wrapper(Pregel, name, wrapper)


# --------------------------------------------------------------------------- #
# Pytest hooks
# --------------------------------------------------------------------------- #
_ledger: RunLedger | None = None
_out_file: Any = None


def pytest_configure(config: pytest.Config) -> None:
    """Instrument (in ``instrumented`` mode) and open this process's result file."""
    global _ledger, _out_file
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if worker == "main" and hasattr(config.option, "numprocesses") and config.option.numprocesses:
        return  # the xdist controller runs no test
    OUT.mkdir(parents=True, exist_ok=True)
    _out_file = open(OUT / f"{SUITE}-{LABEL}-{worker}.jsonl", "w", encoding="utf-8")  # noqa: SIM115
    if MODE != "instrumented":
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    import agentotel

    _ledger = RunLedger()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(_ledger)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    logging.getLogger("opentelemetry.sdk.trace").addHandler(_DoubleEnds(_ledger))
    _install_call_counter()
    agentotel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)


_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fold the phases into one outcome: failed/error beat skipped beat passed."""
    if _out_file is None:
        return
    previous = _outcomes.get(report.nodeid)
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    if previous in ("failed", "error") or (previous == "skipped" and outcome == "passed"):
        return
    _outcomes[report.nodeid] = outcome


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Account the spans and calls of one test (setup, call and teardown)."""
    global _calls
    if _out_file is None:
        yield
        return
    if _ledger is not None:
        _ledger.reset(item.nodeid)
        with _calls_lock:
            _calls = 0
    yield
    record: dict[str, Any] = {"test": item.nodeid, "outcome": _outcomes.pop(item.nodeid, "unknown")}
    if _ledger is not None:
        open_runs = before_gc = _ledger.open_in(item.nodeid)
        if open_runs:  # streams the test dropped end when collected
            gc.collect()
            open_runs = _ledger.open_in(item.nodeid)
        record.update(
            open_runs=open_runs,
            gc_ended=before_gc - open_runs,
            roots=_ledger.roots(),
            top_calls=_calls,
            double_ends=_ledger.double_ends,
        )
    _out_file.write(json.dumps(record) + "\n")
    _out_file.flush()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the result file."""
    if _out_file is not None:
        _out_file.close()
