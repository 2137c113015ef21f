"""The one way an agentotel span records an exception: ``error.type``, the ``exception`` event, an ERROR status.

Database errors quote the statement they failed on (DuckDB: ``Could not convert
string 'SSN-123-45-6789' to INT32 … LINE 1: SELECT CAST('SSN-…``), and the same
exception passes through many spans (statement, ``cache.load``, tool, node, run).
Every one of them records it through :func:`record_exception`, so the message is
cleaned the same way everywhere: with default settings, SQL literals are replaced
by ``?`` (:func:`agentotel.instrumentation._sql.analyze`) in the status
description, the event's message and every message of its stack trace. A message
is cleaned when the exception, or any exception chained to it (``__cause__`` /
``__context__``, also one hidden with ``from None``), comes from a SQL library
(DuckDB, sqlite3, SQLAlchemy, psycopg, psycopg2, asyncpg, recognised by module
name without importing them), or when its text carries such an error's marks (it
was copied into another exception). ``AGENTOTEL_CAPTURE_SQL_PARAMETERS`` keeps the
literals. Stack-trace frames keep their file, line and source line (code, not data).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from agentotel import semconv
from agentotel._telemetry import current_settings, error_type, log_internal_error

__all__ = ["clean_message", "record_exception", "stacktrace", "sql_involved"]

#: Top-level modules of libraries whose errors quote SQL statements or their parameters.
SQL_ERROR_MODULES = frozenset(
    {"duckdb", "_duckdb", "sqlite3", "_sqlite3", "sqlalchemy", "psycopg", "psycopg2", "asyncpg"}
)
#: Marks of such an error's text: DuckDB's error kinds and ``LINE n:`` excerpt, SQLAlchemy's ``[SQL: …]``,
#: sqlite's ``near "…"``, PostgreSQL's ``invalid input syntax`` and ``Key (…)=(…)``.
_SQL_TEXT = re.compile(
    r"\bLINE \d+: |\[SQL: |\[parameters: |\bnear \"|invalid input syntax for|\bKey \([^)]*\)=\(|"
    r"\b(?:Conversion|Binder|Parser|Catalog|Constraint|Invalid Input|Out of Range|Syntax|Type Mismatch|"
    r"Dependency|Serialization|Transaction|Sequence|Not implemented|Invalid type|Mismatch Type) Error: "
)
_SQLALCHEMY_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.DOTALL)
_PG_KEY_VALUES = re.compile(r"(\bKey \([^)]*\)=)\([^)]*\)")
_QUOTED_TOKEN = re.compile(r"(\bnear |: )\"[^\"]*\"")
_MAX_CHAIN = 16
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _linked(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception chained to it through ``__cause__`` or ``__context__`` (bounded, cycle-safe)."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def _from_sql_library(exc: BaseException) -> bool:
    for cls in type(exc).__mro__:
        module = getattr(cls, "__module__", None) or ""
        if module.partition(".")[0] in SQL_ERROR_MODULES:
            return True
    return False


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a hostile __str__
        return f"<unprintable {type(exc).__name__}>"


def sql_involved(exc: BaseException) -> bool:
    """True when ``exc`` or an exception chained to it is a SQL library's error, or carries one's text."""
    for linked in _linked(exc):
        if _from_sql_library(linked) or _SQL_TEXT.search(_text(linked)):
            return True
    return False


def clean_message(text: str, max_length: int) -> str:
    """``text`` with SQL literals and parameter values replaced by ``?`` (length-capped)."""
    from agentotel.instrumentation._sql import analyze

    text = _SQLALCHEMY_PARAMETERS.sub("[parameters: ?]", text)
    text = _PG_KEY_VALUES.sub(r"\1(?)", text)
    text = _QUOTED_TOKEN.sub(r'\1"?"', text)
    return analyze(text, max_length=max_length).text


def _message(exc: BaseException, clean: bool, max_length: int) -> str:
    text = _text(exc)
    return clean_message(text, max_length) if clean else text[:max_length]


def stacktrace(exc: BaseException, clean: bool = False, max_length: int = 2048) -> str:
    """The stack trace Python would print for ``exc`` (its chain included), with each message as recorded."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < _MAX_CHAIN:
        seen.add(id(current))
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    parts: list[str] = []
    for older, newer in zip(reversed(chain), [*reversed(chain[:-1]), None], strict=True):
        if older.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_list(traceback.extract_tb(older.__traceback__)))
        parts.append(f"{error_type(older)}: {_message(older, clean, max_length)}\n")
        if newer is not None:
            parts.append(_CAUSE if newer.__cause__ is older else _CONTEXT)
    return "".join(parts)


def record_exception(span: Span, exc: BaseException) -> str:
    """Mark ``span`` failed by ``exc``: ``error.type``, ``exception`` event, ERROR status; returns ``error.type``.

    The user's exception is never changed; a failure in here is reported once and swallowed.
    If the message cannot be cleaned, it is withheld rather than recorded raw.
    """
    kind = error_type(exc)
    try:
        if not span.is_recording():
            return kind
        span.set_attribute(semconv.ERROR_TYPE, kind)
        settings = current_settings()
        limit = settings.max_attribute_length
        clean = not settings.capture_sql_parameters and sql_involved(exc)
        attributes: dict[str, Any] = {semconv.EXCEPTION_TYPE: kind}
        try:
            message = _message(exc, clean, limit)
            attributes[semconv.EXCEPTION_MESSAGE] = message
            attributes[semconv.EXCEPTION_STACKTRACE] = stacktrace(exc, clean, limit)
        except Exception as error:
            log_internal_error("exception message", error)
            message = "<message withheld>"
        span.add_event(semconv.EXCEPTION_EVENT.name, attributes)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
    except Exception as error:  # never let our bug replace the caller's outcome
        log_internal_error("record exception", error)
    return kind
