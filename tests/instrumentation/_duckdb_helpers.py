"""Helpers shared by the DuckDB instrumentation tests (imported explicitly, not a pytest conftest)."""

from __future__ import annotations

from agentotel.testing import TelemetryCapture


def attributes_of(capture: TelemetryCapture) -> list[str]:
    """Every string value in every span attribute, event attribute and status of ``capture``."""
    found: list[str] = []
    for span in capture.spans():
        found.append(span.name)
        found.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            found.extend(str(v) for v in (event.attributes or {}).values())
        found.append(span.status.description or "")
    return found
