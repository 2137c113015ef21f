"""A deterministic, local langchain-core chat model that writes the demo's SQL.

No network and no keys: :class:`LanduseSQLModel` recognises the demo's questions
(:mod:`agentotel.demo.questions`), answers with a ``run_sql`` tool call, fixes its
query when the tool reports an SQL error, and words the final answer from the
rows the tool returned. It reports ``usage_metadata`` (tokens estimated at four
characters each) like a hosted model, and can be made slow or flaky to exercise
the load balancer and circuit breakers.

Any other langchain-core chat model that supports tool calling can replace it;
see ``docs/demo.md``.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from agentotel.demo.questions import DEFAULT_QUESTIONS, match_intent

if TYPE_CHECKING:
    from langchain_core.language_models import LangSmithParams

__all__ = ["DEMO_PRICES", "LanduseSQLModel", "ModelUnavailableError", "SQL_TOOL_NAME"]

SQL_TOOL_NAME = "run_sql"
PROVIDER = "agentotel.demo"
#: What the demo's local models are priced at (USD per 1M tokens), so that the summary shows a run cost:
#: the list prices of a small hosted model (gpt-4o-mini in the bundled table), not a real bill.
DEMO_PRICES = {
    name: {
        "input": 0.15,
        "output": 0.60,
        "cached_input": 0.075,
        "source": "demo: priced like gpt-4o-mini (bundled table)",
    }
    for name in ("landuse-sql", "landuse-sql-fast", "landuse-sql-slow", "landuse-sql-flaky")
}


class ModelUnavailableError(RuntimeError):
    """The simulated model endpoint failed (like an HTTP 503 from a hosted model)."""


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class LanduseSQLModel(BaseChatModel):
    """Deterministic text-to-SQL chat model for the land-use demo.

    ``latency_s`` adds a fixed delay per call. Calls raise :class:`ModelUnavailableError`
    during an ``outage`` (``(first, last)``: the 1-based call numbers that fail) and
    otherwise with probability ``failure_rate``, drawn from ``random.Random(seed)``,
    so a run's sequence of failures is reproducible.
    """

    model_name: str = "landuse-sql"
    latency_s: float = 0.0
    failure_rate: float = 0.0
    outage: tuple[int, int] | None = None
    seed: int = 0

    _rng: random.Random = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)

    def model_post_init(self, context: Any) -> None:
        """Seed the failure RNG."""
        self._rng = random.Random(self.seed)

    @property
    def _llm_type(self) -> str:
        return PROVIDER

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params.update(ls_provider=PROVIDER, ls_model_name=self.model_name)
        return params

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Bind tools the way hosted chat models do (OpenAI tool schema)."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        if self.failure_rate > 0 or self.outage is not None:
            with self._lock:
                self._calls += 1
                in_outage = self.outage is not None and self.outage[0] <= self._calls <= self.outage[1]
                failed = in_outage or self._rng.random() < self.failure_rate
            if failed:
                raise ModelUnavailableError(f"{self.model_name}: 503 Service Unavailable (simulated)")
        message = self._respond(messages)
        prompt_tokens = sum(_tokens(str(m.content)) for m in messages) + 40 * len(kwargs.get("tools") or ())
        completion = str(message.content) + json.dumps(message.tool_calls)
        output_tokens = _tokens(completion)
        message.usage_metadata = {  # pyright: ignore[reportAttributeAccessIssue]
            "input_tokens": prompt_tokens,
            "output_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        }
        message.response_metadata = {
            "model_name": self.model_name,
            "finish_reason": "tool_calls" if message.tool_calls else "stop",
        }
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _respond(self, messages: list[BaseMessage]) -> AIMessage:
        question = next((str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        intent = match_intent(question)
        if intent is None:
            known = "; ".join(DEFAULT_QUESTIONS)
            return AIMessage(content=f"I can answer questions like these about the RPA land-use projections: {known}.")
        last = messages[-1]
        if not isinstance(last, ToolMessage):
            return self._call_sql(intent.first_try_sql or intent.sql)
        if last.status == "error":
            return self._call_sql(intent.sql)
        result = json.loads(str(last.content))
        if not result["rows"]:
            return AIMessage(content="The query returned no rows; the database has no data for that question.")
        return AIMessage(content=intent.answer(result["rows"]))

    @staticmethod
    def _call_sql(sql: str) -> AIMessage:
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": SQL_TOOL_NAME,
                    "args": {"query": sql},
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "tool_call",
                }
            ],
        )
