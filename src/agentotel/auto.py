"""``import agentotel.auto``: one import that turns everything on.

If the application (or ``opentelemetry-instrument``) has not installed SDK
providers, install them from the standard ``OTEL_*`` variables (OTLP by default,
service name from ``OTEL_SERVICE_NAME``); then instrument every installed target
library and start process metrics. With ``OTEL_SDK_DISABLED=true`` it does nothing.

Nothing is imported on the application's behalf: a target library already
imported is patched at once, the others when (and only if) the application
imports them. Import it first all the same: a function taken from a library
before it was patched (``from duckdb import sql``) stays unpatched.
"""

from __future__ import annotations

from agentotel import _config, _telemetry, instrument

_config.check_sdk_environment()  # before the SDK is imported: it raises at import on some bad values

from agentotel import _sdk  # noqa: E402

try:
    if not _sdk.sdk_disabled():
        _sdk.setup_sdk()
        instrument()
except Exception as _exc:  # never break the importing application
    _telemetry.log_internal_error("import agentotel.auto", _exc)
