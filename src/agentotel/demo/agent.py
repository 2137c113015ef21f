"""The land-use analytics agent: a LangGraph graph that answers questions with SQL on DuckDB.

Graph (``landuse-agent``)::

    START -> plan -> agent <-> tools -> ...
                      |
                      +-> END (when the model answers without a tool call)

* ``plan`` reads the schema (through the cache) and writes the system prompt;
* ``agent`` calls a chat model through a :class:`~agentotel.LoadBalancer` over
  several model instances, each behind its own :class:`~agentotel.CircuitBreaker`;
  a failed or rejected call is retried on another instance;
* ``tools`` runs the model's ``run_sql`` calls on DuckDB (read-only, row limit
  applied), with results cached in an :class:`~agentotel.Cache` under stable keys;
  an SQL error goes back to the model, which may fix its query (up to
  ``max_sql_attempts`` failed attempts).

Every piece reports through OpenTelemetry once ``agentotel.instrument()`` has run.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import duckdb
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from agentotel import Cache, CircuitBreaker, LoadBalancer, stable_key
from agentotel.demo.data import SCHEMA_DOC
from agentotel.demo.model import SQL_TOOL_NAME, LanduseSQLModel
from agentotel.resilience.balancer import OutlierPolicy

__all__ = ["Answer", "LandUseAgent", "ModelInstance", "UnsafeQueryError", "default_models"]

GRAPH_NAME = "landuse-agent"
DEFAULT_ROW_LIMIT = 1000
_READ_ONLY_STARTS = ("select", "with", "describe", "show", "summarize", "explain", "pragma", "from")


class UnsafeQueryError(ValueError):
    """The model asked for a statement that is not a read-only query."""


class AgentState(TypedDict):
    """Graph state: the conversation so far."""

    messages: Annotated[list[AnyMessage], add_messages]


@dataclass(eq=False)  # hashable by identity: the balancer keys its instances by them
class ModelInstance:
    """One model endpoint behind the balancer: a name and the tool-bound model."""

    name: str
    model: Runnable[Any, Any]

    def invoke(self, messages: Sequence[AnyMessage]) -> AIMessage:
        """One model call."""
        return self.model.invoke(list(messages))

    def __str__(self) -> str:
        return self.name


@dataclass
class Answer:
    """What :meth:`LandUseAgent.ask` returns."""

    question: str
    text: str
    sql: list[str] = field(default_factory=list)  # every query the model ran, in order
    sql_errors: int = 0
    messages: list[AnyMessage] = field(default_factory=list)


def default_models(seed: int = 7) -> list[LanduseSQLModel]:
    """Three instances of the deterministic model: a fast one, a slow one and a flaky one."""
    return [
        LanduseSQLModel(model_name="landuse-sql-fast", latency_s=0.015),
        LanduseSQLModel(model_name="landuse-sql-slow", latency_s=0.25),
        LanduseSQLModel(model_name="landuse-sql-flaky", latency_s=0.02, outage=(1, 4), failure_rate=0.1, seed=seed),
    ]


def _instance_names(models: Sequence[BaseChatModel]) -> list[str]:
    """A unique name per model: its model name (``name#2`` for a repeat), else ``model-<index>``."""
    names: list[str] = []
    for index, model in enumerate(models):
        base = next(
            (
                value
                for attribute in ("model_name", "model", "model_id", "deployment_name")
                if isinstance(value := getattr(model, attribute, None), str) and value
            ),
            f"model-{index}",
        )
        name, repeat = base, 1
        while name in names:
            repeat += 1
            name = f"{base}#{repeat}"
        names.append(name)
    return names


class LandUseAgent:
    """Answers questions about the land-use database (see the module docstring for the graph).

    Args:
        database: Path of a database made by :mod:`agentotel.demo.data`.
        models: Chat models to balance over (any langchain-core chat model with tool
            calling); default: :func:`default_models`.
        cache: Cache for query results and the schema (default: 256 entries, 10 minutes).
        row_limit: At most this many rows go back to the model.
        max_sql_attempts: Failed SQL attempts after which the agent gives up.
        model_attempts: Model calls tried (on different instances) before a turn fails.
        seed: Seeds the balancer's choices (``None``: unseeded).
        breaker_options / balancer_options: Keyword arguments that override the demo's
            settings for each :class:`~agentotel.CircuitBreaker` and for the
            :class:`~agentotel.LoadBalancer` (tuned so that a short run shows ejection,
            breaker transitions and re-admission).
    """

    def __init__(
        self,
        database: str,
        models: Sequence[BaseChatModel] | None = None,
        *,
        cache: Cache | None = None,
        row_limit: int = DEFAULT_ROW_LIMIT,
        max_sql_attempts: int = 3,
        model_attempts: int = 3,
        breaker_options: dict[str, Any] | None = None,
        balancer_options: dict[str, Any] | None = None,
        seed: int | None = 7,
    ) -> None:
        self.database = database
        self.row_limit = row_limit
        self.max_sql_attempts = max_sql_attempts
        self.model_attempts = model_attempts
        self.cache = cache if cache is not None else Cache("landuse.queries", max_entries=256, ttl=600.0)
        self._connection = duckdb.connect(database, read_only=True)
        self._connection_lock = threading.Lock()
        self._local = threading.local()
        self.sql_tool = self._make_sql_tool()
        breaker_settings = {
            "failure_rate_threshold": 0.5,
            "minimum_calls": 3,
            "window_size": 10,
            "open_duration": 0.5,
            **(breaker_options or {}),
        }
        chosen = list(models) if models is not None else default_models()
        self.instances = [
            ModelInstance(name, model.bind_tools([self.sql_tool]))
            for name, model in zip(_instance_names(chosen), chosen, strict=False)
        ]
        if not self.instances:
            raise ValueError("at least one chat model is needed")
        balancer_settings = {
            "retries": model_attempts - 1,
            "rng": random.Random(seed),
            "failure_penalty": 0.05,
            "outliers": OutlierPolicy(consecutive_failures=3, base_ejection_time=0.3, max_ejection_time=3.0),
            "breaker_factory": lambda instance: CircuitBreaker(f"model.{instance.name}", **breaker_settings),
            **(balancer_options or {}),
        }
        self.balancer = LoadBalancer("landuse.models", self.instances, **balancer_settings)
        self.graph = self._build_graph()

    # ------------------------------------------------------------------ graph
    def _build_graph(self) -> Any:
        builder = StateGraph(AgentState)
        builder.add_node("plan", self._plan)
        builder.add_node("agent", self._agent)
        builder.add_node("tools", ToolNode([self.sql_tool], handle_tool_errors=True))
        builder.add_edge(START, "plan")
        builder.add_edge("plan", "agent")
        builder.add_conditional_edges("agent", self._route, {"tools": "tools", END: END})
        builder.add_edge("tools", "agent")
        return builder.compile(name=GRAPH_NAME)

    def _plan(self, state: AgentState) -> dict[str, Any]:
        schema = self.cache.get_or_load(stable_key("schema", self.database), self._describe_tables)
        prompt = (
            "You answer questions about the USDA Forest Service RPA land-use projections by writing "
            f"DuckDB SQL and calling the `{SQL_TOOL_NAME}` tool; then you answer from its rows.\n"
            f"{SCHEMA_DOC}\nTables and row counts: {schema}\n"
            f"Results are limited to {self.row_limit} rows: aggregate in SQL."
        )
        return {"messages": [SystemMessage(content=prompt)]}

    def _agent(self, state: AgentState) -> dict[str, Any]:
        failed = sum(1 for m in state["messages"] if isinstance(m, ToolMessage) and m.status == "error")
        if failed >= self.max_sql_attempts:
            return {
                "messages": [
                    AIMessage(
                        content=f"I could not write a working query in {failed} attempts; please rephrase the question."
                    )
                ]
            }
        return {"messages": [self._call_model(state["messages"])]}

    @staticmethod
    def _route(state: AgentState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    def _call_model(self, messages: Sequence[AnyMessage]) -> AIMessage:
        """One model turn through the balancer (each instance behind its breaker; failures retried elsewhere)."""
        return self.balancer.call(ModelInstance.invoke, messages)  # pyright: ignore[reportArgumentType]

    # ------------------------------------------------------------------- SQL
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for the calling thread (a DuckDB connection must not be shared across threads)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._connection_lock:
                cursor = self._connection.cursor()
            self._local.cursor = cursor
        return cursor

    def _describe_tables(self) -> str:
        rows = (
            self._cursor()
            .execute("SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY table_name")
            .fetchall()
        )
        return ", ".join(f"{name} (~{size:,})" for name, size in rows)

    def run_sql(self, query: str) -> dict[str, Any]:
        """Run a read-only query (result cached; at most ``row_limit`` rows returned)."""
        statement = query.strip().rstrip(";")
        if not statement.lower().startswith(_READ_ONLY_STARTS):
            raise UnsafeQueryError("only read-only queries (SELECT / WITH ...) are allowed")
        return self.cache.get_or_load(
            stable_key("sql", self.database, statement, self.row_limit), lambda: self._execute(statement)
        )

    def _execute(self, statement: str) -> dict[str, Any]:
        cursor = self._cursor()
        cursor.execute(statement)
        columns = [column[0] for column in cursor.description or ()]
        rows = cursor.fetchmany(self.row_limit + 1)
        return {
            "columns": columns,
            "rows": [list(row) for row in rows[: self.row_limit]],
            "row_count": min(len(rows), self.row_limit),
            "truncated": len(rows) > self.row_limit,
        }

    def _make_sql_tool(self) -> BaseTool:
        def run_sql(query: str) -> str:
            return json.dumps(self.run_sql(query), default=str)

        return StructuredTool.from_function(
            run_sql,
            name=SQL_TOOL_NAME,
            description=(
                f"Run one read-only DuckDB SQL query on the land-use database; returns JSON with "
                f"columns, rows (at most {self.row_limit}) and whether rows were cut off."
            ),
        )

    # -------------------------------------------------------------- asking
    def ask(self, question: str, *, thread_id: str | None = None) -> Answer:
        """Answer ``question`` (one graph run, so one trace)."""
        config = {"configurable": {"thread_id": thread_id}} if thread_id else None
        state = self.graph.invoke({"messages": [HumanMessage(content=question)]}, config)
        return self._answer(question, state["messages"])

    async def aask(self, question: str, *, thread_id: str | None = None) -> Answer:
        """Async :meth:`ask` (sync nodes run in LangGraph's thread pool)."""
        config = {"configurable": {"thread_id": thread_id}} if thread_id else None
        state = await self.graph.ainvoke({"messages": [HumanMessage(content=question)]}, config)
        return self._answer(question, state["messages"])

    @staticmethod
    def _answer(question: str, messages: list[AnyMessage]) -> Answer:
        sql = [call["args"].get("query", "") for m in messages if isinstance(m, AIMessage) for call in m.tool_calls]
        errors = sum(1 for m in messages if isinstance(m, ToolMessage) and m.status == "error")
        return Answer(question, str(messages[-1].content), sql, errors, list(messages))

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._connection.close()

    def __enter__(self) -> LandUseAgent:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
