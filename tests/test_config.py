"""Settings: environment and keyword resolution, and bad values reported once with the default used."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agentotel import _config
from agentotel._config import OPTIONS, ContentCapture, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_reports():
    _config._reported.clear()
    yield
    _config._reported.clear()


def test_defaults_keep_content_private():
    settings = load_settings({})
    assert settings == Settings()
    assert settings.capture_message_content is ContentCapture.NO_CONTENT
    assert not settings.capture_sql_parameters
    assert not settings.capture_cache_keys


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", ContentCapture.SPAN_ONLY),
        ("True", ContentCapture.SPAN_ONLY),
        ("false", ContentCapture.NO_CONTENT),
        ("SPAN_AND_EVENT", ContentCapture.SPAN_AND_EVENT),
        ("event_only", ContentCapture.EVENT_ONLY),
        ("NO_CONTENT", ContentCapture.NO_CONTENT),
    ],
)
def test_content_capture_accepts_booleans_and_modes(raw, expected):
    settings = load_settings({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": raw})
    assert settings.capture_message_content is expected


def test_environment_values_are_parsed():
    settings = load_settings(
        {
            "AGENTOTEL_CAPTURE_SQL_PARAMETERS": "yes",
            "AGENTOTEL_MAX_ATTRIBUTE_LENGTH": "512",
            "AGENTOTEL_SQL_CACHE_SIZE": "0",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "duckdb, langgraph",
        }
    )
    assert settings.capture_sql_parameters is True
    assert settings.max_attribute_length == 512
    assert settings.sql_cache_size == 0
    assert settings.disabled_instrumentations == frozenset({"duckdb", "langgraph"})


def test_keywords_override_environment():
    settings = load_settings({"AGENTOTEL_CAPTURE_SQL_PARAMETERS": "true"}, capture_sql_parameters=False)
    assert settings.capture_sql_parameters is False
    assert load_settings({}, capture_message_content=True).capture_message_content is ContentCapture.SPAN_ONLY


@pytest.mark.parametrize(
    ("variable", "bad", "field", "default"),
    [
        ("AGENTOTEL_MAX_ATTRIBUTE_LENGTH", "lots", "max_attribute_length", 2048),
        ("AGENTOTEL_MAX_ATTRIBUTE_LENGTH", "-5", "max_attribute_length", 2048),
        ("AGENTOTEL_SQL_CACHE_SIZE", "1.5", "sql_cache_size", 1024),
        ("AGENTOTEL_CAPTURE_SQL_PARAMETERS", "maybe", "capture_sql_parameters", False),
        (
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "everything",
            "capture_message_content",
            ContentCapture.NO_CONTENT,
        ),
    ],
)
def test_bad_values_warn_once_naming_variable_and_accepted_values(caplog, variable, bad, field, default):
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        first = load_settings({variable: bad})
        second = load_settings({variable: bad})
    assert getattr(first, field) == default and getattr(second, field) == default
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert variable in message and repr(bad) in message and "accepted" in message


def test_bad_keyword_values_fall_back_and_unknown_keywords_are_refused(caplog):
    with caplog.at_level(logging.WARNING, logger="agentotel"):
        settings = load_settings({}, max_attribute_length=-1, capture_sql_parameters="nope")
    assert settings.max_attribute_length == 2048
    assert settings.capture_sql_parameters is False
    assert len(caplog.records) == 2
    with pytest.raises(TypeError, match="unknown option 'capture_everything'"):
        load_settings({}, capture_everything=True)


def test_every_option_is_documented():
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [o.env for o in OPTIONS if f"`{o.env}`" not in page] + [
        o.keyword for o in OPTIONS if f"`{o.keyword}`" not in page
    ]
    assert not missing, f"docs/configuration.md does not document: {missing}"


def test_warnings_print_values_not_enum_reprs(caplog):
    _config._reported.clear()
    caplog.set_level(logging.WARNING, logger="agentotel")
    load_settings({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "abc"}, capture_message_content=42)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "agentotel: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT='abc' is not valid (accepted: true, false, "
        "NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT); using the default 'NO_CONTENT'.",
        "agentotel: capture_message_content=42 is not valid (accepted: true, false, NO_CONTENT, SPAN_ONLY, "
        "EVENT_ONLY, SPAN_AND_EVENT); using the default 'NO_CONTENT'.",
    ]
    assert not any("<" in message for message in messages)
