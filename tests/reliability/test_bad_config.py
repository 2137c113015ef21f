"""Guarantee 7, bad configuration: a malformed value is named once, the default is used, the app runs on.

Every option in :data:`agentotel._config.OPTIONS` (``AGENTOTEL_*`` and the
``OTEL_*`` ones we read) gets malformed values, in the environment and as
keywords. The SDK variables that agentotel reads (``_sdk.py``) or that make the
SDK itself raise (span limits at import, exporter timeout and compression) are
checked through ``import agentotel.auto`` in a fresh interpreter: it still
instruments, the application's query still runs, and exactly one warning names
the variable and its accepted values.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import duckdb
import pytest

import agentotel
from agentotel._config import OPTIONS, Option, load_settings
from agentotel.testing import capture_telemetry

BAD_VALUES: dict[str, tuple[str, ...]] = {
    "bool": ("maybe", "2", "tru e", "ja"),
    "int": ("abc", "-5", "1.5", "0x10", "", "9" * 40 + "x"),
    "content": ("sometimes", "SPAN", "all"),
    "number": ("abc", "-5", "", "inf", "nan", "1e999", "5ms"),
    "prices": ("abc", "/nonexistent/prices.json", "/dev/null", "{'gpt-4o': 1}"),
}
# Options any string is valid for (comma-separated names): only their keywords can be malformed.
FREE_TEXT = ("disabled_instrumentations", "langgraph_metadata_keys")


def _kind(option: Option) -> str:
    if option.keyword == "capture_message_content":
        return "content"
    if option.keyword == "slow_query_threshold_ms":
        return "number"
    if option.keyword == "prices":
        return "prices"
    return "bool" if isinstance(option.default, bool) else "int"


CHECKED = [(o, bad) for o in OPTIONS if o.keyword not in FREE_TEXT for bad in BAD_VALUES[_kind(o)]]


def _warnings_naming(records: Any, name: str) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.WARNING and name in r.getMessage()]


@pytest.mark.parametrize("option, bad", CHECKED, ids=[f"{o.env}={bad!r}" for o, bad in CHECKED])
def test_malformed_variable_is_named_once_and_defaulted(
    option: Option, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    if bad == "" and _kind(option) not in ("int", "number"):
        pytest.skip("empty means unset/false here")
    for _ in range(3):  # reported once, however often it is read
        settings = load_settings({option.env: bad})
        assert getattr(settings, option.keyword) == option.default
    messages = _warnings_naming(caplog.records, option.env)
    if bad == "" and option.keyword in ("max_attribute_length", "sql_cache_size"):
        assert len(messages) == 1
    assert len(messages) == 1, messages
    assert option.accepted in messages[0] and repr(bad) in messages[0]


@pytest.mark.parametrize(
    "option", [o for o in OPTIONS if o.keyword != "disabled_instrumentations"], ids=lambda o: o.keyword
)
def test_malformed_keyword_is_named_once_and_defaulted(option: Option, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    bad: Any = object() if _kind(option) != "content" else 42
    settings = load_settings({}, **{option.keyword: bad})
    assert getattr(settings, option.keyword) == option.default
    assert len(_warnings_naming(caplog.records, option.keyword)) == 1


def test_unknown_keyword_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="unknown option 'capture_sql'.*capture_sql_parameters"):
        load_settings({}, capture_sql="yes")


def test_app_unaffected_with_every_variable_malformed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for option in OPTIONS:
        if option.keyword not in FREE_TEXT:
            monkeypatch.setenv(option.env, BAD_VALUES[_kind(option)][0])
    with capture_telemetry() as capture:
        assert duckdb.connect().execute("SELECT 42").fetchall() == [(42,)]
        span = capture.span("SELECT")
        assert span.attributes["db.query.text"] == "SELECT ?"  # defaults in force: text on, literals hidden
    assert all(agentotel.INSTRUMENTORS)
    named = {o.env for o in OPTIONS if _warnings_naming(caplog.records, o.env)}
    assert named == {o.env for o in OPTIONS if o.keyword not in FREE_TEXT}


# --------------------------------------------------------------------------- SDK variables, through agentotel.auto
SDK_BAD = [
    ("OTEL_SDK_DISABLED", "maybe", "true, false"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp", "grpc, http/protobuf"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:43l7", "a URL"),
    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://localhost:x/v1/traces", "a URL"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "ten", "a number >= 0"),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "zip", "gzip, deflate, none"),
    ("OTEL_TRACES_EXPORTER", "jaeger-thrift", "console"),
    ("OTEL_METRICS_EXPORTER", "statsd", "prometheus"),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "-1", "an integer >= 1"),
    ("OTEL_BSP_SCHEDULE_DELAY", "soon", "an integer >= 1"),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0", "an integer >= 1"),
    ("OTEL_BSP_EXPORT_TIMEOUT", "1e3", "an integer >= 1"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "fast", "an integer >= 1"),
    ("OTEL_METRIC_EXPORT_TIMEOUT", "-2", "an integer >= 1"),
    ("AGENTOTEL_SHUTDOWN_TIMEOUT", "5s", "an integer >= 0"),
    ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "long", "an integer >= 0"),
    ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "-1", "an integer >= 0"),
    ("OTEL_SPAN_EVENT_COUNT_LIMIT", "many", "an integer >= 0"),
]

_APP = """
import logging
logging.basicConfig(level=logging.WARNING, format="%(name)s|%(message)s")
import agentotel.auto, agentotel, duckdb
assert duckdb.connect().execute("SELECT 42").fetchall() == [(42,)]
print("INSTRUMENTED", sorted(name for name, on in agentotel.instrumented().items() if on))
"""


def _auto_app(bad: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOTEL_"))}
    environ.update(
        {
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: no export
            "AGENTOTEL_SHUTDOWN_TIMEOUT": "0",
            "AGENTOTEL_PROCESS_METRICS": "false",
        }
    )
    environ.update(bad)
    return subprocess.run([sys.executable, "-c", _APP], env=environ, capture_output=True, text=True, timeout=120)


# Two interpreters: a signal-specific endpoint would hide the generic one.
# Three interpreters: a signal-specific endpoint hides the generic one, an unknown exporter the endpoints.
_SEPARATE = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER")
_GROUPS = [[case for case in SDK_BAD if case[0] not in _SEPARATE]] + [
    [case for case in SDK_BAD if case[0] == name] for name in _SEPARATE
]


@pytest.mark.parametrize("group", _GROUPS, ids=["together", "traces-endpoint", "traces-exporter"])
def test_sdk_variables_malformed_through_auto(group: list[tuple[str, str, str]]) -> None:
    bad = {name: value for name, value, _ in group}
    done = _auto_app(bad)
    assert done.returncode == 0, done.stderr
    assert "INSTRUMENTED ['cachetools', 'duckdb', 'langgraph', 'pydantic_ai']" in done.stdout, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    for name, value, accepted in group:
        ours = [
            line for line in done.stderr.splitlines() if line.startswith("agentotel|") and f"{name}={value!r}" in line
        ]
        assert len(ours) == 1, (name, done.stderr)
        assert accepted in ours[0]
