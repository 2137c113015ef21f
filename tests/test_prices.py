"""The price table: bundled prices with their source and date, the user's prices over them, name matching, cost."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from agentotel._config import load_settings
from agentotel._prices import Price, PriceTable, base_name, bundled_prices, parse_prices

MODELS = json.loads((Path(__file__).parents[1] / "src" / "agentotel" / "_prices.json").read_text())["models"]


def test_every_bundled_price_says_where_it_came_from_and_when() -> None:
    table = bundled_prices()
    assert len(table) == len(MODELS) >= 20
    for name, price in table.entries:
        assert price.source and price.source.startswith("https://"), name
        assert price.as_of and re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.as_of), name
        assert price.input > 0 and price.output > 0, name
        assert base_name(name) == name  # keys are base names, so dated and prefixed names find them


@pytest.mark.parametrize(
    "reported, key",
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("GPT-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai/gpt-4o", "gpt-4o"),
        ("azure/gpt-4.1-mini", "gpt-4.1-mini"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ],
)
def test_reported_names_match_their_base_name(reported: str, key: str) -> None:
    assert bundled_prices().lookup(reported) == dict(bundled_prices().entries)[key]


@pytest.mark.parametrize("reported", ["gpt-4o-mini-tts", "my-fine-tune", "gpt-4", "claude-3-5", "", None])
def test_names_that_match_nothing_have_no_price(reported: str | None) -> None:
    assert bundled_prices().lookup(reported) is None


def test_a_dated_key_matches_only_that_name() -> None:
    table = PriceTable({"gpt-4o": Price(2.5, 10.0), "gpt-4o-2024-05-13": Price(5.0, 15.0)})
    assert table.lookup("gpt-4o-2024-05-13").input == 5.0
    assert table.lookup("gpt-4o-2024-08-06").input == 2.5  # the base name, not the other dated key


def test_user_prices_lie_over_the_bundled_ones_model_by_model() -> None:
    user = parse_prices({"GPT-4O": {"input": 1.0, "output": 2.0}, "in-house": {"input": 0.1, "output": 0.2}})
    table = bundled_prices().overlaid(user)
    assert table.lookup("gpt-4o-2024-08-06") == Price(1.0, 2.0)
    assert table.lookup("in-house").output == 0.2
    assert table.lookup("gpt-4o-mini") == bundled_prices().lookup("gpt-4o-mini")
    assert len(table) == len(bundled_prices()) + 1


def test_cost_counts_cached_and_cache_writing_input_at_their_prices() -> None:
    price = Price(input=3.0, output=15.0, cached_input=0.3, cache_creation_input=3.75)
    # 1000 input tokens of which 600 read from the cache and 100 written to it.
    assert price.cost(1000, 200, cache_read=600, cache_creation=100) == pytest.approx(
        (300 * 3.0 + 600 * 0.3 + 100 * 3.75 + 200 * 15.0) / 1e6
    )
    assert Price(1.0, 2.0).cost(10, 5, cache_read=4) == pytest.approx(20 / 1e6)  # no cached price: the input price


def test_prices_from_a_file_and_the_keyword(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"local-llm": {"input": 0.5, "output": 1.5, "source": "contract", "as_of": "2026-11"}}))
    from_env = load_settings({"AGENTOTEL_PRICES": str(path)}).prices
    assert from_env.lookup("local-llm") == Price(0.5, 1.5, source="contract", as_of="2026-11")
    from_keyword = load_settings({"AGENTOTEL_PRICES": str(path)}, prices={"other": {"input": 1, "output": 1}}).prices
    assert from_keyword.lookup("local-llm") is None and from_keyword.lookup("other") == Price(1.0, 1.0)
    assert load_settings({}, prices=str(path)).prices == from_env  # a path works as the keyword too


@pytest.mark.parametrize(
    "entry",
    [
        {"input": 1.0},
        {"input": -1.0, "output": 1.0},
        {"input": float("nan"), "output": 1.0},
        {"input": "1", "output": 1.0},
        {"input": True, "output": 1.0},
        {"input": 1.0, "output": 1.0, "currency": "EUR"},
        {"input": 1.0, "output": 1.0, "source": 3},
        [1.0, 2.0],
    ],
)
def test_a_malformed_entry_is_named_once_and_left_out(entry: object, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="agentotel")
    table = parse_prices({"broken-model": entry, "good": {"input": 1, "output": 2}})
    assert table.lookup("broken-model") is None and table.lookup("good") == Price(1.0, 2.0)
    messages = [r.getMessage() for r in caplog.records if "broken-model" in r.getMessage()]
    assert len(messages) == 1 and "USD per 1M tokens" in messages[0]


def test_settings_with_prices_compare_and_hash() -> None:
    first = load_settings({}, prices={"m": {"input": 1, "output": 2}})
    second = load_settings({}, prices={"m": {"input": 1, "output": 2}})
    assert first == second and hash(first) == hash(second)
    assert first != load_settings({}, prices={"m": {"input": 1, "output": 3}})
