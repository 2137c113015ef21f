"""Settings: keyword arguments override ``AGENTOTEL_*`` / ``OTEL_*`` variables, which override defaults.

A malformed value never crashes the application: it is reported once (one
warning naming the variable, the bad value and the accepted values) and the
default is used instead. Every option is listed in ``docs/configuration.md``;
a test keeps that page and :data:`OPTIONS` in step.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final, cast

_logger = logging.getLogger("agentotel")

__all__ = ["ContentCapture", "Settings", "Option", "OPTIONS", "load_settings", "parse_bool"]


class ContentCapture(str, enum.Enum):
    """Where message content (prompts, completions, tool arguments/results) is recorded."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_span(self) -> bool:
        return self in (ContentCapture.SPAN_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        return self in (ContentCapture.EVENT_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        return self is not ContentCapture.NO_CONTENT


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})

_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def _shown(value: object) -> str:
    """How a value reads in a warning: the value itself (``'abc'``, ``2048``), never an enum's or a set's repr."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (set, frozenset)):
        return ", ".join(sorted(map(str, cast("set[object]", value)))) or "none"
    return repr(value)


def report_bad_value(name: str, value: object, accepted: str, default: object) -> None:
    """Warn once per (setting, value) that ``value`` is not accepted and ``default`` is used."""
    key = (name, repr(value))
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    _logger.warning(
        "agentotel: %s=%s is not valid (accepted: %s); using the default %s.",
        name,
        _shown(value),
        accepted,
        _shown(default),
    )


def parse_bool(raw: str) -> bool:
    """Parse a boolean setting; raises ``ValueError`` for anything else."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(raw)


def _parse_content(raw: str) -> ContentCapture:
    value = raw.strip()
    lowered = value.lower()
    if lowered in _TRUE:
        return ContentCapture.SPAN_ONLY
    if lowered in _FALSE:
        return ContentCapture.NO_CONTENT
    return ContentCapture(value.upper())


def _positive_int(raw: str) -> int:
    number = int(raw.strip())
    if number <= 0:
        raise ValueError(raw)
    return number


def _non_negative_int(raw: str) -> int:
    number = int(raw.strip())
    if number < 0:
        raise ValueError(raw)
    return number


def _non_negative_number(raw: str) -> float:
    number = float(raw.strip())
    if not 0 <= number < float("inf"):  # also rejects NaN
        raise ValueError(raw)
    return number


def _key_list(raw: str) -> frozenset[str]:
    return metadata_keys(raw.split(","))


def metadata_keys(keys: Iterable[str]) -> frozenset[str]:
    """Metadata keys as they are compared: trimmed, case kept, empty ones dropped; ``ValueError`` for a non-string."""
    found: set[str] = set()
    for key in keys:
        if not isinstance(key, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # callers pass user input
            raise ValueError(key)
        if key.strip():
            found.add(key.strip())
    return frozenset(found)


def _price_file(raw: str) -> Any:
    from agentotel._prices import load_price_file

    return load_price_file(raw)


def _name_list(raw: str) -> frozenset[str]:
    return instrumentation_names(raw.split(","))


def instrumentation_names(names: Iterable[object]) -> frozenset[str]:
    """Instrumentation names as they are compared: trimmed, lower-case, empty ones (and non-strings) dropped."""
    return frozenset(name.strip().lower() for name in names if isinstance(name, str) and name.strip())


def instrumentation_disabled(name: str, disabled: frozenset[str]) -> bool:
    """Whether ``disabled`` (normalised names, ``*`` for all) switches instrumentation ``name`` off."""
    return "*" in disabled or name.lower() in disabled


_checked_names: set[str] = set()


def check_instrumentation_names(names: frozenset[str], source: str) -> None:
    """Warn once per name in ``names`` that no installed ``opentelemetry_instrumentor`` answers to.

    Names of other packages' instrumentors are legitimate there (the variable is
    shared with ``opentelemetry-instrument``); the entry points are read only when a
    name is not one of agentotel's.
    """
    with _reported_lock:
        unseen = names - _checked_names - {"*"}
        _checked_names.update(unseen)
    from agentotel import INSTRUMENTORS  # at call time: the package imports this module

    if not unseen - set(INSTRUMENTORS):
        return
    from importlib.metadata import entry_points

    found = list(entry_points(group="opentelemetry_instrumentor"))
    installed = {entry.name.strip().lower() for entry in found} | set(INSTRUMENTORS)
    for name in sorted(unseen - installed):
        _logger.warning(
            "agentotel: %s names %r, which no installed instrumentation answers to (a typo?); "
            "agentotel's instrumentations are: %s.",
            source,
            name,
            ", ".join(sorted(INSTRUMENTORS)),
        )


@dataclass(frozen=True)
class Option:
    """One setting: its keyword, its variable, how it parses, what it accepts and its default."""

    keyword: str
    env: str
    parse: Callable[[str], Any]
    accepted: str
    default: Any
    description: str
    #: How the default reads in a warning, where the value itself would not say it.
    shown_default: str | None = None

    @property
    def default_for_warnings(self) -> Any:
        """The default as a warning names it."""
        return self.default if self.shown_default is None else self.shown_default


OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        "capture_message_content",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        _parse_content,
        "true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT",
        ContentCapture.NO_CONTENT,
        "Record prompts, completions, tool arguments and results (`true` means `SPAN_ONLY`).",
    ),
    Option(
        "capture_sql_parameters",
        "AGENTOTEL_CAPTURE_SQL_PARAMETERS",
        parse_bool,
        "true, false",
        False,
        "Record DuckDB query parameters as `db.query.parameter.<n>` and keep literals in `db.query.text`.",
    ),
    Option(
        "capture_query_text",
        "AGENTOTEL_CAPTURE_QUERY_TEXT",
        parse_bool,
        "true, false",
        True,
        "Record `db.query.text` (sanitised: literals replaced by `?`).",
    ),
    Option(
        "capture_cache_keys",
        "AGENTOTEL_CAPTURE_CACHE_KEYS",
        parse_bool,
        "true, false",
        False,
        "Record cache keys as `cache.key` on cache spans.",
    ),
    Option(
        "max_attribute_length",
        "AGENTOTEL_MAX_ATTRIBUTE_LENGTH",
        _positive_int,
        "a positive integer",
        2048,
        "Cap, in characters, for query text and captured content (JSON stays valid).",
    ),
    Option(
        "sql_cache_size",
        "AGENTOTEL_SQL_CACHE_SIZE",
        _non_negative_int,
        "an integer >= 0",
        1024,
        "Entries in the bounded map of sanitised query texts and summaries (0 disables it).",
    ),
    Option(
        "slow_query_threshold_ms",
        "AGENTOTEL_DUCKDB_SLOW_QUERY_MS",
        _non_negative_number,
        "a number of milliseconds >= 0",
        None,
        "DuckDB statements at least this slow get their operator profile as a span event (off by default).",
    ),
    Option(
        "process_metrics",
        "AGENTOTEL_PROCESS_METRICS",
        parse_bool,
        "true, false",
        True,
        "Report `process.*` metrics (CPU, memory, threads, file descriptors, GC).",
    ),
    Option(
        "disabled_instrumentations",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        _name_list,
        "comma-separated names: duckdb, langgraph, cachetools, pydantic_ai, threading (any case), * for all",
        frozenset(),
        "Instrumentors that `agentotel.instrument()` and `import agentotel.auto` skip.",
    ),
    Option(
        "prices",
        "AGENTOTEL_PRICES",
        _price_file,
        'a JSON file path or {model: {"input": usd, "output": usd, "cached_input": usd}} in USD per 1M tokens',
        None,
        "Model prices (USD per 1M tokens) laid over the bundled table, model by model: "
        "`agentotel.usage.cost_usd` and `agentotel.gen_ai.usage.cost`.",
        shown_default="the bundled table",
    ),
    Option(
        "langgraph_metadata_keys",
        "AGENTOTEL_LANGGRAPH_METADATA_KEYS",
        _key_list,
        "comma-separated metadata keys (case-sensitive)",
        frozenset(),
        'Keys of a LangGraph run\'s `config["metadata"]` recorded, under their own names, on every span of '
        "the run (like `agentotel.attributes(**custom)`); `session_id` and `user_id` always are.",
    ),
)

_BY_KEYWORD: Final = {option.keyword: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings shared by every instrumentor and component."""

    capture_message_content: ContentCapture = ContentCapture.NO_CONTENT
    capture_sql_parameters: bool = False
    capture_query_text: bool = True
    capture_cache_keys: bool = False
    max_attribute_length: int = 2048
    sql_cache_size: int = 1024
    slow_query_threshold_ms: float | None = None
    process_metrics: bool = True
    disabled_instrumentations: frozenset[str] = frozenset()
    prices: Any = None  # a PriceTable (agentotel._prices): the user's prices; None: the bundled table alone
    langgraph_metadata_keys: frozenset[str] = frozenset()

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with keyword overrides applied (validated like variables)."""
        return replace(self, **_validate_keywords(overrides))


def _validate_keywords(overrides: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for keyword, value in overrides.items():
        option = _BY_KEYWORD.get(keyword)
        if option is None:
            raise TypeError(f"agentotel: unknown option {keyword!r}; known options: {', '.join(sorted(_BY_KEYWORD))}")
        if value is None:
            continue
        if isinstance(value, str) or (keyword == "capture_message_content" and isinstance(value, bool)):
            raw = str(value)
            try:
                value = option.parse(raw)
            except (ValueError, TypeError):
                report_bad_value(keyword, raw, option.accepted, option.default_for_warnings)
                continue
        elif keyword == "capture_message_content" and not isinstance(value, ContentCapture):
            report_bad_value(keyword, value, option.accepted, option.default)
            continue
        elif keyword == "disabled_instrumentations":
            value = instrumentation_names(value)
        elif keyword == "prices":
            from agentotel._prices import parse_prices

            try:
                value = parse_prices(value)
            except ValueError:
                report_bad_value(keyword, value, option.accepted, option.default_for_warnings)
                continue
        elif keyword == "langgraph_metadata_keys":
            try:
                value = metadata_keys(value)
            except (ValueError, TypeError):
                report_bad_value(keyword, value, option.accepted, option.default)
                continue
        elif keyword == "slow_query_threshold_ms":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                report_bad_value(keyword, value, option.accepted, option.default)
                continue
            value = float(value)
        elif isinstance(option.default, bool) and not isinstance(value, bool):
            report_bad_value(keyword, value, option.accepted, option.default)
            continue
        elif isinstance(option.default, int) and not isinstance(option.default, bool):
            if not isinstance(value, int) or isinstance(value, bool):
                report_bad_value(keyword, value, option.accepted, option.default)
                continue
            try:
                option.parse(str(value))
            except ValueError:
                report_bad_value(keyword, value, option.accepted, option.default)
                continue
        clean[keyword] = value
    return clean


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve settings from ``environ`` (default ``os.environ``), then keyword overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = env.get(option.env)
        if raw is None:
            continue
        try:
            values[option.keyword] = option.parse(raw)
        except (ValueError, TypeError):
            report_bad_value(option.env, raw, option.accepted, option.default_for_warnings)
    settings = Settings(**values)
    if settings.disabled_instrumentations:
        check_instrumentation_names(settings.disabled_instrumentations, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")
    if not overrides:
        return settings
    settings = settings.with_overrides(**overrides)
    if overrides.get("disabled_instrumentations"):
        check_instrumentation_names(settings.disabled_instrumentations, "disabled_instrumentations")
    return settings


assert {f.name for f in fields(Settings)} == set(_BY_KEYWORD), "Settings and OPTIONS out of step"

# --------------------------------------------------------------------------- the SDK's own variables
_SDK_LIMITS: Final = (
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
)
_SDK_TIMEOUTS: Final = (
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
)
_SDK_COMPRESSIONS: Final = (
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
)


def check_sdk_environment(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Drop malformed ``OTEL_*`` values that would make the SDK or its exporters raise; return their names.

    The SDK raises at import (span limits) or when an exporter is built (timeout,
    compression), which would leave the application without telemetry, or
    without its import. Each bad value is reported once, like ours, and removed
    from ``environ`` so that the SDK uses its default.
    """
    env = os.environ if environ is None else environ
    checks: list[tuple[str, Callable[[str], Any], str, Any]] = [
        (name, _non_negative_int, "an integer >= 0", "no limit / the SDK default") for name in _SDK_LIMITS
    ]
    checks += [(name, _non_negative_number, "a number >= 0", 10) for name in _SDK_TIMEOUTS]
    checks += [(name, _compression, "gzip, deflate, none", "none") for name in _SDK_COMPRESSIONS]
    dropped: list[str] = []
    for name, parse, accepted, default in checks:
        raw = env.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            parse(raw)
        except (ValueError, TypeError):
            report_bad_value(name, raw, accepted, default)
            env.pop(name, None)
            dropped.append(name)
    return dropped


def _compression(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("gzip", "deflate", "none"):
        raise ValueError(raw)
    return value
