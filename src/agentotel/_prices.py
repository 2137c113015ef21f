"""Model prices: the bundled, dated table, the user's own, and how a reported model name finds its price.

Prices are in USD per one million tokens, per model::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60, "cached_input": 0.075}}

``input`` and ``output`` are required; ``cached_input`` (input tokens served from the
provider's cache) and ``cache_creation_input`` (input tokens written to it) are
optional and default to ``input``. ``source`` and ``as_of`` (strings) may say where a
price came from and when; the bundled table (``_prices.json``) gives both for every entry.

The user's prices (``instrument(prices=...)``, or ``AGENTOTEL_PRICES``: a path to a JSON
file of the same shape) are laid over the bundled table model by model.

Matching a reported model name (the response model first, then the requested one):

1. the name as reported, case-insensitively, against every key;
2. else its base name against the keys that are base names themselves. The base name
   drops a provider prefix (everything up to the last ``/``: ``openai/gpt-4o``,
   ``models/gemini-2.5-pro``; leading all-letter dot segments: ``us.anthropic.``), then a
   version or date suffix (``-v1:0``, ``:0``, ``@20240620``, ``@latest``, ``-latest``,
   ``-2024-08-06``, ``-20241022``, ``-0613``, ``-001``).

So ``gpt-4o-2024-08-06`` and ``azure/gpt-4o`` are priced as ``gpt-4o`` unless the table
names them; a key with a date (``gpt-4o-2024-05-13``) matches that exact name only. A name
that matches nothing has no price, and gets no cost: a price is never guessed.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

__all__ = ["Price", "PriceTable", "base_name", "bundled_prices", "load_price_file", "parse_prices", "ACCEPTED"]

#: How a price table is described in warnings.
ACCEPTED = (
    'a JSON file path or {model: {"input": usd, "output": usd, "cached_input": usd, '
    '"cache_creation_input": usd}} in USD per 1M tokens'
)
_NUMBERS = ("input", "output", "cached_input", "cache_creation_input")
_TEXTS = ("source", "as_of", "provider")
_LOOKUP_CACHE_SIZE = 1024

_PREFIX_PATH = re.compile(r"^.*/")
_PREFIX_DOTTED = re.compile(r"^(?:[a-z]+\.)+")
_SUFFIXES = (
    re.compile(r"-v\d+(?::\d+)?$"),
    re.compile(r":\d+$"),
    re.compile(r"@(?:\d{8}|latest)$"),
    re.compile(r"-latest$"),
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),
    re.compile(r"-\d{8}$"),
    re.compile(r"-\d{3,4}$"),
)


@dataclass(frozen=True, slots=True)
class Price:
    """One model's prices in USD per 1M tokens, and where they came from."""

    input: float
    output: float
    cached_input: float | None = None
    cache_creation_input: float | None = None
    source: str | None = None
    as_of: str | None = None

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_creation: int = 0) -> float:
        """USD for one call; ``input_tokens`` includes the cached and cache-writing ones, as LangChain reports."""
        uncached = max(input_tokens - cache_read - cache_creation, 0)
        cached_price = self.input if self.cached_input is None else self.cached_input
        creation_price = self.input if self.cache_creation_input is None else self.cache_creation_input
        micro = (
            uncached * self.input
            + cache_read * cached_price
            + cache_creation * creation_price
            + output_tokens * self.output
        )
        return micro / 1_000_000


def base_name(model: str) -> str:
    """``model`` lower-cased, without provider prefix and version or date suffix (see the module doc)."""
    name = _PREFIX_DOTTED.sub("", _PREFIX_PATH.sub("", model.strip().lower()))
    for suffix in _SUFFIXES:
        stripped = suffix.sub("", name)
        if stripped and stripped != name:
            name = stripped
    return name


class PriceTable:
    """Prices by model name, with the matching rule of the module doc; immutable, compares by its entries."""

    __slots__ = ("entries", "_exact", "_base", "_found", "_lock")

    def __init__(self, entries: Mapping[str, Price] | Iterable[tuple[str, Price]] = ()) -> None:
        items = cast("Mapping[str, Price]", entries).items() if isinstance(entries, Mapping) else entries
        self.entries: tuple[tuple[str, Price], ...] = tuple(items)
        self._exact = {name.lower(): price for name, price in self.entries}
        self._base = {name.lower(): price for name, price in self.entries if base_name(name) == name.lower()}
        self._found: dict[str, Price | None] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PriceTable) and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"PriceTable({len(self.entries)} models)"

    def overlaid(self, other: PriceTable | None) -> PriceTable:
        """This table with ``other``'s models added or replacing ours, model by model."""
        if not other:
            return self
        merged = dict(self.entries)
        lowered = {name.lower(): name for name in merged}
        for name, price in other.entries:
            merged.pop(lowered.get(name.lower(), name), None)
            merged[name] = price
        return PriceTable(merged)

    def lookup(self, model: str | None) -> Price | None:
        """The price of ``model`` as a provider reports it, or ``None``."""
        if not model:
            return None
        try:
            return self._found[model]
        except KeyError:
            pass
        lowered = model.lower()
        found = self._exact.get(lowered)
        if found is None:
            found = self._base.get(base_name(model))
        with self._lock:
            if len(self._found) >= _LOOKUP_CACHE_SIZE:
                self._found.clear()
            self._found[model] = found
        return found


def _number(entry: Mapping[str, Any], key: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} must be a number >= 0")
    return float(value)


def _price(value: Any) -> Price:
    if not isinstance(value, Mapping):
        raise ValueError("not a mapping")
    entry = cast("Mapping[str, Any]", value)
    unknown = set(entry) - set(_NUMBERS) - set(_TEXTS)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    for key in _TEXTS:
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ValueError(f"{key} must be a string")
    input_price, output_price = _number(entry, "input"), _number(entry, "output")
    if input_price is None or output_price is None:
        raise ValueError("input and output are required")
    return Price(
        input_price,
        output_price,
        _number(entry, "cached_input"),
        _number(entry, "cache_creation_input"),
        entry.get("source"),
        entry.get("as_of"),
    )


def parse_prices(value: Any, where: str = "prices") -> PriceTable:
    """A :class:`PriceTable` from ``{model: {...}}``; a malformed entry is reported once and left out.

    Raises ``ValueError`` when ``value`` is not a mapping at all.
    """
    if isinstance(value, PriceTable):
        return value
    if not isinstance(value, Mapping):
        raise ValueError("not a mapping of model names to prices")
    from agentotel._config import report_bad_value

    entries: list[tuple[str, Price]] = []
    for model, entry in cast("Mapping[Any, Any]", value).items():
        if not isinstance(model, str) or not model.strip():
            report_bad_value(f"{where} model name", model, "a non-empty string", "no price for it")
            continue
        try:
            entries.append((model.strip(), _price(entry)))
        except ValueError:
            report_bad_value(f"{where}[{model!r}]", entry, ACCEPTED, "no price for this model")
    return PriceTable(entries)


def load_price_file(path: str) -> PriceTable:
    """The prices in the JSON file at ``path`` (``AGENTOTEL_PRICES``); ``ValueError`` when unreadable."""
    try:
        with open(path.strip(), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    return parse_prices(data, "AGENTOTEL_PRICES")


_bundled: PriceTable | None = None
_bundled_lock = threading.Lock()


def bundled_prices() -> PriceTable:
    """The table shipped with agentotel (``_prices.json``: list prices with their source and date), read once."""
    global _bundled
    if _bundled is None:
        with _bundled_lock:
            if _bundled is None:
                text = resources.files("agentotel").joinpath("_prices.json").read_text(encoding="utf-8")
                data = json.loads(text)
                _bundled = parse_prices(data["models"], "bundled prices")
    return _bundled
