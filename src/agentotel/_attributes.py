"""``agentotel.attributes``: session, user and custom attributes on every span agentotel starts inside a block.

::

    import agentotel

    with agentotel.attributes(session_id="s-81", user_id="u-7", tenant="acme"):
        graph.invoke(...)            # the run's root, nodes, tools, chat, DuckDB, cache spans: all carry them

    @agentotel.attributes(tenant="acme")   # also on async functions, generators, async generators
    def handle(request): ...

Every span agentotel starts while the block is current carries ``session.id``,
``user.id`` and the custom keys as given, in this thread and in the threads and
asyncio tasks that inherit the context (the values live in the OpenTelemetry
context, so they go wherever the context goes). Blocks nest: the inner block's
values are added to the outer ones and win where both set a key. A span's own
attributes win over custom keys of the same name. pydantic-ai's own spans, which
agentotel switches on, get them too; spans other libraries start are left alone
(use a span processor for those).

Values are checked as span attributes are: ``str``, ``bool``, ``int``, ``float``, or a
list/tuple of one of them; ``session_id`` and ``user_id`` must be strings (an ``int`` is
turned into one). A value that is none of these, or a key that is not a non-empty
string, gets one warning and is left out; ``None`` means "not given". Nothing here
ever raises into the application.

Cost when unused: one module-global check per span start; inside a block, one
context lookup and a dict merge per span start.

LangGraph runs map ``config["metadata"]["session_id"]`` / ``["user_id"]`` (and the keys
listed in ``langgraph_metadata_keys``) to the same attributes for every span of that run
(:func:`run_context`).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from agentotel import semconv
from agentotel._spanctx import AsyncSpanIterator, SpanIterator, attach, current_context, detach, iterate_in
from agentotel._tracers import CurrentSpanTracer

__all__ = ["attributes", "AttributesBlock", "AttributedTracer", "current", "run_context", "with_attributes"]

F = TypeVar("F", bound=Callable[..., Any])
Value = str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | Sequence[float]

#: Context key holding the attributes in force (a dict never changed once stored).
KEY = otel_context.create_key("agentotel.attributes")

_logger = logging.getLogger("agentotel")
_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()
# False until attributes were first put in a context: until then starting a span costs one global read.
_in_use = False


# --------------------------------------------------------------------------- values
def _warn_once(key: Any, value: Any, why: str) -> None:
    mark = (repr(key)[:100], type(value).__name__)
    with _reported_lock:
        if mark in _reported:
            return
        _reported.add(mark)
    _logger.warning("agentotel.attributes: %s=%r left out: %s.", key, value, why)


def _valid_sequence(value: Sequence[Any]) -> bool:
    kinds: set[type] = {type(item) for item in value}
    return len(kinds) <= 1 and kinds <= {str, bool, int, float}


def _checked(key: Any, value: Any) -> Any:
    """``value`` as an attribute value, or ``None`` (reported once) when it cannot be one."""
    if not isinstance(key, str) or not key:
        _warn_once(key, value, "attribute keys are non-empty strings")
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and _valid_sequence(value):  # pyright: ignore[reportUnknownArgumentType]
        return tuple(value)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    _warn_once(key, value, "values are str, bool, int, float or a list of one of them")
    return None


def _identifier(key: str, value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    _warn_once(key, value, "session and user ids are strings")
    return None


def collect(session_id: Any = None, user_id: Any = None, custom: Mapping[Any, Any] | None = None) -> dict[str, Any]:
    """The checked attributes for ``session_id``, ``user_id`` and ``custom`` (``None`` values left out)."""
    found: dict[str, Any] = {}
    try:
        if session_id is not None and (sid := _identifier("session_id", session_id)) is not None:
            found[semconv.SESSION_ID] = sid
        if user_id is not None and (uid := _identifier("user_id", user_id)) is not None:
            found[semconv.USER_ID] = uid
        for key, value in (custom or {}).items():
            if value is not None and (checked := _checked(key, value)) is not None:
                found[key] = checked
    except Exception as exc:  # e.g. a value whose __repr__ fails in the warning
        from agentotel._telemetry import log_internal_error

        log_internal_error("agentotel.attributes", exc)
    return found


# --------------------------------------------------------------------------- the context
def current(ctx: Context | None = None) -> Mapping[str, Any] | None:
    """The attributes in force in ``ctx`` (default: the current context), or ``None``."""
    return (ctx if ctx is not None else current_context()).get(KEY)  # type: ignore[return-value]


def with_attributes(values: Mapping[str, Any], ctx: Context | None = None) -> Context:
    """``ctx`` (default: the current one) with ``values`` added to the attributes in force (``values`` win)."""
    global _in_use
    base = ctx if ctx is not None else current_context()
    if not values:
        return base
    _in_use = True
    outer: dict[str, Any] | None = base.get(KEY)  # pyright: ignore[reportAssignmentType]
    return otel_context.set_value(KEY, {**outer, **values} if outer else dict(values), base)


def run_context(ctx: Context, configs: Sequence[Any], metadata_keys: frozenset[str]) -> Context:
    """``ctx`` with the attributes a LangGraph run's configs give (later configs win); ``ctx`` itself if none.

    ``session_id`` and ``user_id`` of each config's ``metadata`` become ``session.id`` and
    ``user.id``; the keys in ``metadata_keys`` are recorded under their own names.
    """
    values: dict[str, Any] = {}
    for config in configs:
        metadata = config.get("metadata") if config else None
        if not metadata:
            continue
        custom = {key: metadata[key] for key in metadata_keys if key in metadata} if metadata_keys else None
        values.update(collect(metadata.get("session_id"), metadata.get("user_id"), custom))
    return with_attributes(values, ctx) if values else ctx


# --------------------------------------------------------------------------- the tracer
class AttributedTracer(CurrentSpanTracer):
    """A tracer whose spans carry the attributes in force in their parent context (every agentotel tracer)."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """Start a span as the wrapped tracer does, with the attributes in force added (its own win)."""
        if _in_use:
            if context is None:
                context = current_context()  # read here, the SDK need not read it again
            extra: dict[str, Any] | None = context.get(KEY)  # pyright: ignore[reportAssignmentType]
            if extra:
                attributes = {**extra, **attributes} if attributes else extra
        return self._tracer.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    def __getattr__(self, name: str) -> Any:
        if name == "_tracer":
            raise AttributeError(name)
        return getattr(self._tracer, name)


# --------------------------------------------------------------------------- the public block
class _Scope:
    """What the iterator proxies of :mod:`agentotel._spanctx` drive for a decorated generator: a context, no span."""

    __slots__ = ("context",)

    def __init__(self, context: Context) -> None:
        self.context = context

    def finish(self, exc: BaseException | None = None) -> None:
        """Nothing to end."""

    def abandon(self) -> None:
        """Nothing to end."""


# Tokens of the blocks entered and not yet left, per thread / asyncio task (blocks nest: a stack).
_ENTERED: contextvars.ContextVar[tuple[object, ...]] = contextvars.ContextVar(
    "agentotel.attributes.entered", default=()
)


class AttributesBlock:
    """Context manager and decorator made by :func:`attributes`; see the module documentation."""

    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def _context(self) -> Context:
        return with_attributes(self.values)

    # ------------------------------------------------------ context manager
    def __enter__(self) -> AttributesBlock:
        token = attach(self._context()) if self.values else None
        _ENTERED.set((*_ENTERED.get(), token))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        *outer, token = _ENTERED.get() or (None,)
        _ENTERED.set(tuple(outer))
        if token is not None:
            detach(token)

    async def __aenter__(self) -> AttributesBlock:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    # ------------------------------------------------------------- decorator
    def __call__(self, func: F) -> F:
        if not self.values:
            return func
        context = self._context

        if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
            proxy = AsyncSpanIterator if inspect.isasyncgenfunction(func) else SpanIterator

            @functools.wraps(func)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                return iterate_in(_Scope(context()), func, args, kwargs, proxy)  # the body runs on iteration

            return generator_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = attach(context())
                try:
                    return await func(*args, **kwargs)
                finally:
                    detach(token)

            return coroutine_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = attach(context())
            try:
                return func(*args, **kwargs)
            finally:
                detach(token)

        return wrapper  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"agentotel.attributes({self.values!r})"


def attributes(*, session_id: str | None = None, user_id: str | None = None, **custom: Value) -> AttributesBlock:
    """Put ``session.id``, ``user.id`` and ``custom`` attributes on every span agentotel starts inside.

    Use as ``with agentotel.attributes(...):`` (or ``async with``) or as a decorator on
    functions, coroutine functions, generators and async generators. Nested blocks
    merge (the inner wins). Invalid values get one warning and are left out; this
    never raises. See :mod:`agentotel._attributes` for the rules.
    """
    return AttributesBlock(collect(session_id, user_id, custom))
