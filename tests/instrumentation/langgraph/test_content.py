"""Content serialisation: always valid JSON within the cap, newest messages kept."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from agentotel.instrumentation.langgraph._content import capped_json

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=_json, cap=st.integers(min_value=2, max_value=400))
def test_capped_json_is_valid_and_within_the_cap(value: object, cap: int) -> None:
    text = capped_json(value, cap)

    assert len(text) <= cap
    json.loads(text)


def test_short_values_are_unchanged() -> None:
    value = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]

    assert json.loads(capped_json(value, 1000)) == value


def test_long_strings_are_shortened_first() -> None:
    text = capped_json([{"content": "a" * 1000}, {"content": "b"}], 120)

    parsed = json.loads(text)
    assert parsed[1] == {"content": "b"}
    assert parsed[0]["content"].startswith("aaa") and parsed[0]["content"].endswith("…")


def test_many_messages_keep_the_newest() -> None:
    messages = [{"role": "user", "n": i} for i in range(100)]

    parsed = json.loads(capped_json(messages, 100))

    assert parsed and parsed[-1] == {"role": "user", "n": 99}
