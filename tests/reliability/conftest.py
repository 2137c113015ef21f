"""Shared tools of the reliability suite: scale, fresh warning state, an exported-telemetry scanner.

Counts are scaled down for CI (the whole suite must stay under 5 minutes on two
cores); ``AGENTOTEL_SOAK=1`` runs the full counts the guarantees are stated for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import agentotel
from agentotel import _config, _telemetry
from agentotel.testing import TelemetryCapture

#: Full counts (``AGENTOTEL_SOAK=1``) instead of the CI ones.
SOAK = os.environ.get("AGENTOTEL_SOAK") == "1"

#: Directory of agentotel's own sources: frames there are ours, not the user's.
AGENTOTEL_DIR = os.path.dirname(os.path.abspath(agentotel.__file__))


def scaled(ci: int, soak: int) -> int:
    """``soak`` with ``AGENTOTEL_SOAK=1``, else ``ci``."""
    return soak if SOAK else ci


def reset_warning_state() -> None:
    """Forget which internal errors and bad settings were already reported (both are once-only)."""
    _telemetry._last_logged.clear()
    with _config._reported_lock:
        _config._reported.clear()


@pytest.fixture(autouse=True)
def clean_agentotel() -> Iterator[None]:
    """Every test starts and ends uninstrumented, with fresh once-only warning state."""
    agentotel.uninstrument()
    reset_warning_state()
    yield
    agentotel.uninstrument()
    _telemetry.configure(None, None, _config.load_settings())
    reset_warning_state()


@pytest.fixture
def agentotel_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` recording agentotel's (and OpenTelemetry's) warnings."""
    caplog.set_level(logging.WARNING)
    return caplog


def internal_errors(records: Iterable[logging.LogRecord]) -> list[logging.LogRecord]:
    """The "internal error" warnings agentotel logged."""
    return [r for r in records if r.name == "agentotel" and "internal error" in r.getMessage()]


# --------------------------------------------------------------------------- scanning what we export
@dataclass(frozen=True)
class Found:
    """One exported string and where it was found (for assertion messages)."""

    where: str
    text: str


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def exported_strings(capture: TelemetryCapture, records: Iterable[logging.LogRecord] = ()) -> list[Found]:
    """Every string we export: span names, attributes, events, links, status; metric attributes; log records."""
    found: list[Found] = []
    for span in capture.spans():
        where = f"span {span.name!r}"
        found.append(Found(f"{where} name", span.name))
        for key, value in (span.attributes or {}).items():
            found.extend(Found(f"{where} attribute {key}", text) for text in _strings(value))
        for event in span.events:
            found.append(Found(f"{where} event name", event.name))
            for key, value in (event.attributes or {}).items():
                found.extend(Found(f"{where} event {event.name} {key}", text) for text in _strings(value))
        for link in span.links:
            for key, value in (link.attributes or {}).items():
                found.extend(Found(f"{where} link {key}", text) for text in _strings(value))
        if span.status.description:
            found.append(Found(f"{where} status", span.status.description))
    for name, metric in capture.metrics().items():
        for point in metric.data.data_points:
            for key, value in (point.attributes or {}).items():
                found.extend(Found(f"metric {name} attribute {key}", text) for text in _strings(value))
    for record in records:
        found.append(Found(f"log {record.name}", record.getMessage()))
        if record.exc_info and record.exc_info[1] is not None:
            found.append(Found(f"log {record.name} exception", repr(record.exc_info[1])))
    return found


def leaks(found: Iterable[Found], sentinels: Iterable[str]) -> list[Found]:
    """The entries of ``found`` that contain any of ``sentinels``."""
    wanted = tuple(sentinels)
    return [item for item in found if any(s in item.text for s in wanted)]


def user_frames(exc: BaseException, here: str | None = None) -> list[tuple[str, int, str]]:
    """``(file, line, function)`` of the traceback frames outside agentotel (optionally only in ``here``)."""
    frames: list[tuple[str, int, str]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        filename = os.path.abspath(code.co_filename)
        if not filename.startswith(AGENTOTEL_DIR) and (here is None or filename == here):
            frames.append((filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames
