"""agentotel.attributes: session, user and custom attributes on every agentotel span started inside a block."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest

import agentotel
from agentotel import semconv
from agentotel.testing import TelemetryCapture


@pytest.fixture(autouse=True)
def no_context_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING)
    yield
    assert not [r for r in caplog.records if "Failed to detach context" in r.getMessage()]


def _attrs(telemetry: TelemetryCapture, name: str) -> dict:
    return dict(telemetry.span(name).attributes)


def test_block_puts_session_user_and_custom_keys_on_agentotel_spans(telemetry: TelemetryCapture) -> None:
    with agentotel.attributes(session_id="s-1", user_id="u-1", tenant="acme", tier=3, beta=True, regions=["eu"]):
        with agentotel.agent(name="landuse"):
            duckdb.connect().execute("SELECT 42").fetchall()

    for name in ("invoke_agent landuse", "SELECT"):
        attributes = _attrs(telemetry, name)
        assert attributes["session.id"] == "s-1"
        assert attributes["user.id"] == "u-1"
        assert attributes["tenant"] == "acme"
        assert attributes["tier"] == 3
        assert attributes["beta"] is True
        assert attributes["regions"] == ("eu",)
    assert _attrs(telemetry, "SELECT")["db.system.name"] == "duckdb"


def test_spans_outside_the_block_and_other_libraries_spans_get_nothing(telemetry: TelemetryCapture) -> None:
    with agentotel.attributes(session_id="s-1"):
        telemetry.tracer_provider.get_tracer("the-app").start_span("app span").end()
    with agentotel.agent(name="after"):
        pass
    assert "session.id" not in _attrs(telemetry, "app span")
    assert "session.id" not in _attrs(telemetry, "invoke_agent after")


def test_nested_blocks_merge_and_the_inner_wins(telemetry: TelemetryCapture) -> None:
    with agentotel.attributes(session_id="outer", user_id="u-1", tenant="acme"):
        with agentotel.attributes(session_id="inner", region="eu"):
            with agentotel.agent(name="inner"):
                pass
        with agentotel.agent(name="outer"):
            pass
    inner = _attrs(telemetry, "invoke_agent inner")
    assert {key: inner[key] for key in ("session.id", "user.id", "tenant", "region")} == {
        "session.id": "inner",
        "user.id": "u-1",
        "tenant": "acme",
        "region": "eu",
    }
    outer = _attrs(telemetry, "invoke_agent outer")
    assert outer["session.id"] == "outer" and "region" not in outer


def test_a_span_s_own_attributes_win_over_custom_keys(telemetry: TelemetryCapture) -> None:
    with agentotel.attributes(**{"gen_ai.agent.name": "spoofed", "gen_ai.operation.name": "chat"}):
        with agentotel.agent(name="real"):
            pass
    attributes = _attrs(telemetry, "invoke_agent real")
    assert attributes["gen_ai.agent.name"] == "real"
    assert attributes["gen_ai.operation.name"] == "invoke_agent"


def test_threads_and_tasks_that_inherit_the_context_carry_them(telemetry: TelemetryCapture) -> None:
    @agentotel.tool(name="in_thread")
    def in_thread() -> None:
        pass

    async def in_task() -> None:
        with agentotel.tool(name="in_task"):
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(asyncio.create_task(in_task()), asyncio.to_thread(in_thread))

    with agentotel.attributes(session_id="s-9"):
        with ThreadPoolExecutor(2) as pool:
            pool.submit(in_thread).result()
        started = threading.Thread(target=in_thread)
        started.start()
        started.join()
        asyncio.run(main())

    spans = telemetry.spans("execute_tool in_thread") + telemetry.spans("execute_tool in_task")
    assert len(spans) == 4
    assert {span.attributes.get("session.id") for span in spans} == {"s-9"}


def test_decorator_on_functions_coroutines_and_generators(telemetry: TelemetryCapture) -> None:
    @agentotel.attributes(user_id="u-sync")
    def sync() -> str:
        with agentotel.agent(name="sync"):
            return "done"

    @agentotel.attributes(user_id="u-async")
    async def coroutine() -> str:
        with agentotel.agent(name="coroutine"):
            return "done"

    @agentotel.attributes(user_id="u-gen")
    def generator() -> Iterator[int]:
        for index in range(2):
            with agentotel.agent(name=f"gen-{index}"):
                yield index

    @agentotel.attributes(user_id="u-agen")
    async def async_generator() -> AsyncIterator[int]:
        for index in range(2):
            with agentotel.agent(name=f"agen-{index}"):
                yield index

    async def consume() -> list[int]:
        return [item async for item in async_generator()]

    assert sync() == "done"
    assert asyncio.run(coroutine()) == "done"
    items = generator()
    assert next(items) == 0
    with agentotel.agent(name="between"):  # the consumer's code is not inside the generator's block
        pass
    assert list(items) == [1]
    assert asyncio.run(consume()) == [0, 1]

    expected = {
        "invoke_agent sync": "u-sync",
        "invoke_agent coroutine": "u-async",
        "invoke_agent gen-0": "u-gen",
        "invoke_agent gen-1": "u-gen",
        "invoke_agent agen-0": "u-agen",
        "invoke_agent agen-1": "u-agen",
    }
    assert {name: _attrs(telemetry, name).get("user.id") for name in expected} == expected
    assert "user.id" not in _attrs(telemetry, "invoke_agent between")


def test_async_with_and_reuse_of_one_block(telemetry: TelemetryCapture) -> None:
    tenant = agentotel.attributes(tenant="acme")

    async def main() -> None:
        async with tenant:
            with agentotel.agent(name="async-with"):
                pass

    asyncio.run(main())
    with tenant, tenant:
        with agentotel.agent(name="twice"):
            pass
    with agentotel.agent(name="left"):
        pass
    assert _attrs(telemetry, "invoke_agent async-with")["tenant"] == "acme"
    assert _attrs(telemetry, "invoke_agent twice")["tenant"] == "acme"
    assert "tenant" not in _attrs(telemetry, "invoke_agent left")


def test_bad_values_get_one_warning_and_never_raise(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agentotel")

    class Opaque:
        pass

    for _ in range(3):
        with agentotel.attributes(session_id=["not", "an", "id"], user_id=42, tenant=Opaque(), mixed=[1, "a"], ok="y"):
            with agentotel.agent(name="checked"):
                pass
    spans = telemetry.spans("invoke_agent checked")
    assert len(spans) == 3 and len({tuple(sorted(span.attributes.items())) for span in spans}) == 1
    attributes = dict(spans[0].attributes)
    assert attributes["user.id"] == "42"  # an int id is made a string
    assert attributes["ok"] == "y"
    assert "session.id" not in attributes and "tenant" not in attributes and "mixed" not in attributes
    messages = [r.getMessage() for r in caplog.records if "agentotel.attributes" in r.getMessage()]
    assert len(messages) == 3, messages
    assert any("session_id" in m for m in messages) and any("tenant" in m for m in messages)


def test_none_means_not_given_and_an_empty_block_is_free(telemetry: TelemetryCapture) -> None:
    with agentotel.attributes(session_id="s-1"):
        with agentotel.attributes(session_id=None, user_id=None, tenant=None):
            with agentotel.agent(name="kept"):
                pass

    def plain() -> int:
        return 1

    assert agentotel.attributes()(plain) is plain
    assert _attrs(telemetry, "invoke_agent kept")["session.id"] == "s-1"


def test_exceptions_pass_through_unchanged(telemetry: TelemetryCapture) -> None:
    error = ValueError("the user's")

    @agentotel.attributes(tenant="acme")
    def failing() -> None:
        raise error

    with pytest.raises(ValueError) as raised:
        failing()
    assert raised.value is error
    with pytest.raises(ValueError) as raised:
        with agentotel.attributes(tenant="acme"):
            raise error
    assert raised.value is error


def test_semconv_names() -> None:
    assert semconv.SESSION_ID == "session.id" and semconv.USER_ID == "user.id"
