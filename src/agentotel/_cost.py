"""Token cost: what a chat call cost, and the running sum its run's root span carries.

A chat call with token usage and a known price (:mod:`agentotel._prices`) gets
``agentotel.usage.cost_usd`` on its span and adds to the ``agentotel.gen_ai.usage.cost``
counter. Every root agentotel opens for a run (a LangGraph run, ``@agentotel.agent``,
``@agentotel.workflow``) puts a :class:`CostTally` in its context; a chat call adds its
cost to the tally of every run it is inside, and each root carries its tally's sum when
it ends (only when some call inside was priced: no price, no attribute).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from agentotel import semconv
from agentotel._prices import Price, PriceTable, bundled_prices
from agentotel._telemetry import current_settings

__all__ = ["CostTally", "call_cost", "charge", "open_tally", "price_of", "prices", "record_call", "settle"]

#: Context key holding the :class:`CostTally` of the innermost run.
TALLY_KEY = otel_context.create_key("agentotel.cost.tally")


class CostTally:
    """The cost of the chat calls inside one run (and, through ``parent``, of the runs around it)."""

    __slots__ = ("parent", "total", "_lock")

    def __init__(self, parent: CostTally | None) -> None:
        self.parent = parent
        self.total: float | None = None
        self._lock = threading.Lock()

    def add(self, cost: float) -> None:
        """Add ``cost`` here and to every enclosing run's tally."""
        tally: CostTally | None = self
        while tally is not None:
            with tally._lock:
                tally.total = cost if tally.total is None else tally.total + cost
            tally = tally.parent


def open_tally(ctx: Context) -> Context:
    """``ctx`` with a new tally for a run starting there (nested in the tally ``ctx`` holds, if any)."""
    return otel_context.set_value(TALLY_KEY, CostTally(ctx.get(TALLY_KEY)), ctx)  # type: ignore[arg-type]


def settle(span: Span, ctx: Context) -> None:
    """Put the sum of the run's priced chat calls on its root ``span`` (nothing when none was priced)."""
    tally: CostTally | None = ctx.get(TALLY_KEY)  # type: ignore[assignment]
    if tally is not None and tally.total is not None and span.is_recording():
        span.set_attribute(semconv.AGENTOTEL_USAGE_COST_USD, tally.total)


def charge(ctx: Context, cost: float) -> None:
    """Add a chat call's ``cost`` to the tallies of the runs ``ctx`` is inside."""
    tally: CostTally | None = ctx.get(TALLY_KEY)  # type: ignore[assignment]
    if tally is not None:
        tally.add(cost)


_effective: tuple[Any, PriceTable] | None = None


def prices() -> PriceTable:
    """The table in force: the user's prices (``prices=`` / ``AGENTOTEL_PRICES``) over the bundled ones."""
    global _effective
    user = current_settings().prices
    found = _effective
    if found is not None and found[0] is user:
        return found[1]
    table = bundled_prices().overlaid(user)
    _effective = (user, table)
    return table


def price_of(response_model: str | None, request_model: str | None) -> Price | None:
    """The price of the model that answered, else of the one requested; ``None`` when neither has one."""
    table = prices()
    return table.lookup(response_model) or table.lookup(request_model)


def call_cost(
    response_model: str | None,
    request_model: str | None,
    usage: Mapping[str, int | None],
) -> float | None:
    """USD for one call from its token ``usage`` (``input``, ``output``, ``cache_read``, ``cache_creation``).

    ``None`` when no token count is known or the model has no price.
    """
    input_tokens, output_tokens = usage.get("input"), usage.get("output")
    if input_tokens is None and output_tokens is None:
        return None
    price = price_of(response_model, request_model)
    if price is None:
        return None
    return price.cost(
        input_tokens or 0, output_tokens or 0, usage.get("cache_read") or 0, usage.get("cache_creation") or 0
    )


def record_call(
    span: Span,
    ctx: Context,
    counter: Any,
    metric_attributes: Mapping[str, Any],
    response_model: str | None,
    usage: Mapping[str, int | None],
) -> None:
    """Price one finished chat call: the span attribute, the counter, the tallies of its runs. Never raises."""
    try:
        cost = call_cost(response_model, metric_attributes.get(semconv.GEN_AI_REQUEST_MODEL), usage)
        if cost is None:
            return
        if semconv.ERROR_TYPE in metric_attributes:
            metric_attributes = {k: v for k, v in metric_attributes.items() if k != semconv.ERROR_TYPE}
        if span.is_recording():
            span.set_attribute(semconv.AGENTOTEL_USAGE_COST_USD, cost)
        counter.add(cost, metric_attributes)
        charge(ctx, cost)
    except Exception as exc:
        from agentotel._telemetry import log_internal_error

        log_internal_error("chat cost", exc)
