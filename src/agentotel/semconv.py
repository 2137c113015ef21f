"""Every span name, event, attribute key, metric, unit, bucket list and instrumentation scope agentotel emits.

This module is the single source of truth: instrumentation and components import
their names from here, every instrument is made by its own :class:`Metric`
definition (:meth:`Metric.create`), and ``docs/conventions.md`` is generated from
it (``python -m agentotel.semconv > docs/conventions.md``; a test keeps the two equal).

A :class:`Metric`, :class:`Span` or :class:`Event` constant is the name itself (a
``str``) carrying its definition; a span or event names the modules that produce
it, so any name leads to its producer in one hop.

Names under ``gen_ai.*``, ``db.*``, ``error.*``, ``server.*`` and ``process.*`` come
from the OpenTelemetry semantic conventions (GenAI v1.41, database/process v1.44).
Where no convention exists the names are ours and start with ``agentotel.``,
``cache.``, ``circuit_breaker.``, ``lb.``, ``rate_limiter.`` or ``langgraph.``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "AGENTOTEL_RETRIEVAL_DOCUMENTS_COUNT",
    "AGENTOTEL_USAGE_COST_USD",
    "EMBEDDINGS_SPAN",
    "GEN_AI_DATA_SOURCE_ID",
    "GEN_AI_EMBEDDINGS_DIMENSION_COUNT",
    "GEN_AI_OPERATION_EMBEDDINGS",
    "GEN_AI_OPERATION_RETRIEVAL",
    "GEN_AI_REQUEST_TOP_K",
    "GEN_AI_RETRIEVAL_DOCUMENTS",
    "GEN_AI_RETRIEVAL_QUERY_TEXT",
    "GEN_AI_USAGE_COST",
    "LANGGRAPH_RETRIEVAL_CONTENT_EVENT",
    "LANGGRAPH_TAGS",
    "RETRIEVAL_SPAN",
    "SESSION_ID",
    "USER_ID",
    "DB_CLIENT_CONNECTION_POOL_NAME",
    "DB_CLIENT_CONNECTION_STATE",
    "DB_CLIENT_CONNECTION_STATE_IDLE",
    "DB_CLIENT_CONNECTION_STATE_USED",
    "DB_CLIENT_CONNECTION_TIME_BUCKETS",
    "DB_CLIENT_CONNECTION_COUNT",
    "DB_CLIENT_CONNECTION_MAX",
    "DB_CLIENT_CONNECTION_PENDING_REQUESTS",
    "DB_CLIENT_CONNECTION_TIMEOUTS",
    "DB_CLIENT_CONNECTION_CREATE_TIME",
    "DB_CLIENT_CONNECTION_WAIT_TIME",
    "DB_CLIENT_CONNECTION_USE_TIME",
    "AGENTOTEL_DUCKDB_PROFILE",
    "AGENTOTEL_VERSION",
    "ATTRIBUTES",
    "Attribute",
    "CACHE_COALESCED",
    "CACHE_ENTRIES",
    "CACHE_EVICTIONS",
    "CACHE_EVICTION_CAUSE",
    "CACHE_HIT",
    "CACHE_KEY",
    "CACHE_L2_ERRORS",
    "CACHE_LEVEL",
    "CACHE_LOADS",
    "CACHE_LOAD_DURATION",
    "CACHE_LOAD_DURATION_BUCKETS",
    "CACHE_LOAD_OUTCOME",
    "CACHE_LOAD_SPAN",
    "CACHE_LOOKUPS",
    "CACHE_NAME",
    "CACHE_RESULT",
    "CHAT_SPAN",
    "CIRCUIT_BREAKER_CALLS",
    "CIRCUIT_BREAKER_FROM",
    "CIRCUIT_BREAKER_NAME",
    "CIRCUIT_BREAKER_OUTCOME",
    "CIRCUIT_BREAKER_REJECTED",
    "CIRCUIT_BREAKER_RETRY_AFTER",
    "CIRCUIT_BREAKER_STATE",
    "CIRCUIT_BREAKER_STATE_ATTR",
    "CIRCUIT_BREAKER_TO",
    "CIRCUIT_BREAKER_TRANSITIONS",
    "CIRCUIT_BREAKER_TRANSITION_EVENT",
    "COUNTER",
    "CPU_MODE",
    "CPYTHON_GC_COLLECTIONS",
    "CPYTHON_GC_GENERATION",
    "DB_CLIENT_OPERATION_DURATION",
    "DB_CLIENT_OPERATION_DURATION_BUCKETS",
    "DB_COLLECTION_NAME",
    "DB_NAMESPACE",
    "DB_NAMESPACE_MEMORY",
    "DB_OPERATION_BATCH_SIZE",
    "DB_OPERATION_NAME",
    "DB_QUERY_PARAMETER_PREFIX",
    "DB_QUERY_SUMMARY",
    "DB_QUERY_TEXT",
    "DB_RESPONSE_RETURNED_ROWS",
    "DB_RESPONSE_STATUS_CODE",
    "DB_SPAN_NAME_FALLBACK",
    "DB_STATEMENT_SPAN",
    "DB_SYSTEM_DUCKDB",
    "DB_SYSTEM_NAME",
    "DOCTOR_CHECKS",
    "DOCTOR_SPAN",
    "DUCKDB_FLUSH_HOOK",
    "ERROR_TYPE",
    "ERROR_TYPE_OTHER",
    "EVENTS",
    "EXCEPTION_EVENT",
    "EXCEPTION_MESSAGE",
    "EXCEPTION_STACKTRACE",
    "EXCEPTION_TYPE",
    "EXECUTE_TOOL_SPAN",
    "EXPORT_SPANS_DROPPED",
    "Event",
    "GEN_AI_AGENT_DESCRIPTION",
    "GEN_AI_AGENT_ID",
    "GEN_AI_AGENT_NAME",
    "GEN_AI_CLIENT_OPERATION_DURATION",
    "GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS",
    "GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK",
    "GEN_AI_CLIENT_TOKEN_USAGE",
    "GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS",
    "GEN_AI_CONVERSATION_ID",
    "GEN_AI_EXECUTE_TOOL_DURATION",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_INVOKE_AGENT_DURATION",
    "GEN_AI_INVOKE_WORKFLOW_DURATION",
    "GEN_AI_OPERATION_CHAT",
    "GEN_AI_OPERATION_EXECUTE_TOOL",
    "GEN_AI_OPERATION_INVOKE_AGENT",
    "GEN_AI_OPERATION_INVOKE_WORKFLOW",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_STREAM",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_REQUEST_TOP_P",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK",
    "GEN_AI_SYSTEM_INSTRUCTIONS",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_TOOL_CALL_ARGUMENTS",
    "GEN_AI_TOOL_CALL_ID",
    "GEN_AI_TOOL_CALL_RESULT",
    "GEN_AI_TOOL_DESCRIPTION",
    "GEN_AI_TOOL_NAME",
    "GEN_AI_TOOL_TYPE",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
    "GEN_AI_WORKFLOW_NAME",
    "HISTOGRAM",
    "INVOKE_AGENT_SPAN",
    "INVOKE_WORKFLOW_SPAN",
    "LANGGRAPH_CHAT_CONTENT_EVENT",
    "LANGGRAPH_CHECKPOINT_NS",
    "LANGGRAPH_INTERRUPT_EVENT",
    "LANGGRAPH_NODE",
    "LANGGRAPH_RESUMED",
    "LANGGRAPH_STEP",
    "LANGGRAPH_STREAM_ABANDONED",
    "LANGGRAPH_TOOL_CONTENT_EVENT",
    "LB_EJECTED",
    "LB_EJECTIONS",
    "LB_EJECTION_REASON",
    "LB_INFLIGHT",
    "LB_INSTANCE",
    "LB_NAME",
    "LB_OUTCOME",
    "LB_PANIC",
    "LB_PICKS",
    "LB_REJECTED",
    "LB_REQUEST_DURATION",
    "LB_REQUEST_DURATION_BUCKETS",
    "LB_STRATEGY",
    "LB_WAITS",
    "METRICS",
    "Metric",
    "NODE_SPAN",
    "OBSERVABLE_COUNTER",
    "OBSERVABLE_GAUGE",
    "OBSERVABLE_UP_DOWN_COUNTER",
    "PROCESS_CONTEXT_SWITCHES",
    "PROCESS_CONTEXT_SWITCH_TYPE",
    "PROCESS_CPU_TIME",
    "PROCESS_CPU_UTILIZATION",
    "PROCESS_MEMORY_USAGE",
    "PROCESS_MEMORY_UTILIZATION",
    "PROCESS_MEMORY_VIRTUAL",
    "PROCESS_THREAD_COUNT",
    "PROCESS_UNIX_FILE_DESCRIPTOR_COUNT",
    "PROCESS_UPTIME",
    "RATE_LIMITER_ADMITTED",
    "RATE_LIMITER_CANCELLED",
    "RATE_LIMITER_NAME",
    "RATE_LIMITER_REJECTED",
    "RATE_LIMITER_WAITING",
    "RATE_LIMITER_WAIT_BUCKETS",
    "RATE_LIMITER_WAIT_DURATION",
    "SCHEMA_URL",
    "SCHEMA_URL_GENAI",
    "SCOPES",
    "SCOPE_AGENT",
    "SCOPE_CACHETOOLS",
    "SCOPE_COMPONENTS",
    "SCOPE_DUCKDB",
    "SCOPE_LANGGRAPH",
    "SCOPE_NAME",
    "SCOPE_PROCESS",
    "SPANS",
    "Scope",
    "Span",
    "UP_DOWN_COUNTER",
    "render_markdown",
]

# --------------------------------------------------------------------------- #
# Definitions
# --------------------------------------------------------------------------- #
#: Schema of the GenAI conventions we follow (agent, workflow, tool and chat spans and metrics).
SCHEMA_URL_GENAI: Final = "https://opentelemetry.io/schemas/1.41.0"
#: Schema of the core conventions we follow (database, error, server, process).
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"

HISTOGRAM: Final = "histogram"
COUNTER: Final = "counter"
UP_DOWN_COUNTER: Final = "updowncounter"
OBSERVABLE_COUNTER: Final = "counter (observable)"
OBSERVABLE_UP_DOWN_COUNTER: Final = "updowncounter (observable)"
OBSERVABLE_GAUGE: Final = "gauge (observable)"

_CREATE: Final[dict[str, str]] = {
    HISTOGRAM: "create_histogram",
    COUNTER: "create_counter",
    UP_DOWN_COUNTER: "create_up_down_counter",
    OBSERVABLE_COUNTER: "create_observable_counter",
    OBSERVABLE_UP_DOWN_COUNTER: "create_observable_up_down_counter",
    OBSERVABLE_GAUGE: "create_observable_gauge",
}


@dataclass(frozen=True)
class Scope:
    """An instrumentation scope: its name, the schema of the conventions it follows, what reports through it."""

    name: str
    schema_url: str
    description: str


class Metric(str):
    """A metric name that carries its whole definition and makes its own instrument.

    Compares and hashes as the name, so it can be used wherever a name is expected.
    """

    __slots__ = ("instrument", "unit", "description", "attributes", "buckets", "internal")

    instrument: str
    unit: str
    description: str
    attributes: tuple[str, ...]
    buckets: tuple[float, ...]
    internal: bool

    def __new__(
        cls,
        name: str,
        instrument: str,
        unit: str,
        description: str,
        attributes: tuple[str, ...] = (),
        buckets: tuple[float, ...] = (),
        *,
        internal: bool = False,
    ) -> Metric:
        if instrument not in _CREATE:
            raise ValueError(f"unknown instrument kind {instrument!r}")
        self = super().__new__(cls, name)
        self.instrument = instrument
        self.unit = unit
        self.description = description
        self.attributes = attributes
        self.buckets = buckets
        self.internal = internal
        return self

    @property
    def name(self) -> str:
        """The metric name as a plain ``str``."""
        return str.__str__(self)

    @property
    def observable(self) -> bool:
        """True for instruments reported by callbacks at collection time."""
        return self.instrument.endswith("(observable)")

    def create(self, meter: Any, callbacks: Sequence[Callable[..., Any]] = ()) -> Any:
        """Create this instrument on ``meter`` (``callbacks`` for the observable kinds)."""
        factory = getattr(meter, _CREATE[self.instrument])
        if self.observable:
            return factory(self.name, list(callbacks), unit=self.unit, description=self.description)
        if self.instrument == HISTOGRAM and self.buckets:
            return factory(
                self.name,
                unit=self.unit,
                description=self.description,
                explicit_bucket_boundaries_advisory=list(self.buckets),
            )
        return factory(self.name, unit=self.unit, description=self.description)

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, {self.instrument!r}, {self.unit!r})"


class Span(str):
    """A span name (a template such as ``chat {gen_ai.request.model}``) with its kind, attributes and producers."""

    __slots__ = ("kind", "description", "attributes", "events", "producers", "_prefix", "_suffix")

    kind: str
    description: str
    attributes: tuple[str, ...]
    events: tuple[str, ...]
    producers: tuple[str, ...]

    def __new__(
        cls,
        template: str,
        kind: str,
        description: str,
        attributes: tuple[str, ...] = (),
        *,
        producers: tuple[str, ...],
        events: tuple[str, ...] = (),
    ) -> Span:
        self = super().__new__(cls, template)
        self.kind = kind
        self.description = description
        self.attributes = attributes
        self.events = events
        self.producers = producers
        head, brace, rest = template.partition("{")
        self._prefix = head if brace else template
        self._suffix = rest.partition("}")[2] if brace else ""
        return self

    @property
    def name(self) -> str:
        """The name template as a plain ``str``."""
        return str.__str__(self)

    def render(self, value: str = "") -> str:
        """The span name for one occurrence: the template with its placeholder replaced by ``value``."""
        return f"{self._prefix}{value}{self._suffix}"

    def __repr__(self) -> str:
        return f"Span({self.name!r}, {self.kind!r})"


class Event(str):
    """A span event name with the attributes it carries and the modules that add it."""

    __slots__ = ("description", "attributes", "producers")

    description: str
    attributes: tuple[str, ...]
    producers: tuple[str, ...]

    def __new__(
        cls, name: str, description: str, attributes: tuple[str, ...] = (), *, producers: tuple[str, ...]
    ) -> Event:
        self = super().__new__(cls, name)
        self.description = description
        self.attributes = attributes
        self.producers = producers
        return self

    @property
    def name(self) -> str:
        """The event name as a plain ``str``."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Event({self.name!r})"


@dataclass(frozen=True)
class Attribute:
    """An attribute key we set on spans, events or metric points."""

    key: str
    type: str
    description: str
    opt_in: bool = False


# --------------------------------------------------------------------------- #
# Instrumentation scopes
# --------------------------------------------------------------------------- #
SCOPE_NAME: Final = "agentotel"
SCOPE_COMPONENTS: Final = Scope(
    SCOPE_NAME, SCHEMA_URL, "Cache, CircuitBreaker, LoadBalancer, RateLimiter, the export pipeline, `agentotel doctor`"
)
SCOPE_AGENT: Final = Scope(
    "agentotel.instrumentation.agent",
    SCHEMA_URL_GENAI,
    "`@agentotel.agent`, `@agentotel.workflow`, `@agentotel.tool`",
)
SCOPE_LANGGRAPH: Final = Scope(
    "agentotel.instrumentation.langgraph", SCHEMA_URL_GENAI, "LangGraph runs, nodes, tools and chat models"
)
SCOPE_DUCKDB: Final = Scope("agentotel.instrumentation.duckdb", SCHEMA_URL, "DuckDB statements")
SCOPE_CACHETOOLS: Final = Scope("agentotel.instrumentation.cachetools", SCHEMA_URL, "cachetools caches")
SCOPE_PROCESS: Final = Scope("agentotel.instrumentation.process", SCHEMA_URL, "`process.*` metrics from psutil")
SCOPES: Final[tuple[Scope, ...]] = (
    SCOPE_COMPONENTS,
    SCOPE_AGENT,
    SCOPE_LANGGRAPH,
    SCOPE_DUCKDB,
    SCOPE_CACHETOOLS,
    SCOPE_PROCESS,
)

# --------------------------------------------------------------------------- #
# Common attributes and the exception event
# --------------------------------------------------------------------------- #
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

_LANGGRAPH = "agentotel.instrumentation.langgraph"
_ERRORS = "agentotel._errors"
EXCEPTION_EVENT: Final = Event(
    "exception",
    "On every failed span of ours; the message and stack trace are cleaned of SQL literals by default.",
    (EXCEPTION_TYPE, EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE),
    producers=(_ERRORS,),
)

# --------------------------------------------------------------------------- #
# Run attributes: on every span agentotel starts inside `agentotel.attributes(...)` (core conventions)
# --------------------------------------------------------------------------- #
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"

# --------------------------------------------------------------------------- #
# Database (stable semantic conventions)
# --------------------------------------------------------------------------- #
DB_SYSTEM_NAME: Final = "db.system.name"
DB_SYSTEM_DUCKDB: Final = "duckdb"  # not (yet) in the registry's enum; enums are open
DB_NAMESPACE: Final = "db.namespace"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_QUERY_SUMMARY: Final = "db.query.summary"
DB_QUERY_TEXT: Final = "db.query.text"
DB_QUERY_PARAMETER_PREFIX: Final = "db.query.parameter"  # db.query.parameter.<key>, opt-in
DB_OPERATION_BATCH_SIZE: Final = "db.operation.batch.size"
DB_RESPONSE_RETURNED_ROWS: Final = "db.response.returned_rows"
DB_RESPONSE_STATUS_CODE: Final = "db.response.status_code"
DB_NAMESPACE_MEMORY: Final = "memory"
DB_SPAN_NAME_FALLBACK: Final = "duckdb"  # span name when no summary can be made
#: Span event of a slow statement; its one attribute has the same name (DuckDB's operator tree as JSON).
AGENTOTEL_DUCKDB_PROFILE: Final = Event(
    "agentotel.duckdb.profile",
    "A statement slower than `slow_query_threshold_ms`: DuckDB's own profile of it.",
    ("agentotel.duckdb.profile",),
    producers=("agentotel.instrumentation.duckdb._profile",),
)

DB_CLIENT_OPERATION_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
DB_CLIENT_OPERATION_DURATION: Final = Metric(
    "db.client.operation.duration",
    HISTOGRAM,
    "s",
    "Duration of database client operations.",
    (DB_SYSTEM_NAME, DB_NAMESPACE, DB_OPERATION_NAME, DB_COLLECTION_NAME, ERROR_TYPE),
    DB_CLIENT_OPERATION_DURATION_BUCKETS,
)
DUCKDB_FLUSH_HOOK: Final = Metric(
    "agentotel.internal.duckdb.flush",
    OBSERVABLE_GAUGE,
    "1",
    "Internal: drains batched DuckDB durations just before each collection; reports no point.",
    internal=True,
)
DB_STATEMENT_SPAN: Final = Span(
    "{db.query.summary}",
    "CLIENT",
    "DuckDB statement execution (`duckdb` when no summary can be made)",
    (
        DB_SYSTEM_NAME,
        DB_NAMESPACE,
        DB_OPERATION_NAME,
        DB_COLLECTION_NAME,
        DB_QUERY_SUMMARY,
        DB_QUERY_TEXT,
        DB_OPERATION_BATCH_SIZE,
        DB_RESPONSE_RETURNED_ROWS,
        ERROR_TYPE,
    ),
    producers=("agentotel.instrumentation.duckdb._tracer",),
    events=(AGENTOTEL_DUCKDB_PROFILE, EXCEPTION_EVENT),
)

# Connection pool (DuckDBPool): the database client connection metrics
DB_CLIENT_CONNECTION_POOL_NAME: Final = "db.client.connection.pool.name"
DB_CLIENT_CONNECTION_STATE: Final = "db.client.connection.state"
DB_CLIENT_CONNECTION_STATE_IDLE: Final = "idle"
DB_CLIENT_CONNECTION_STATE_USED: Final = "used"
# Waits are mostly zero or microseconds; uses are query-long.
DB_CLIENT_CONNECTION_TIME_BUCKETS: Final = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
DB_CLIENT_CONNECTION_COUNT: Final = Metric(
    "db.client.connection.count",
    OBSERVABLE_UP_DOWN_COUNTER,
    "{connection}",
    "`DuckDBPool` connections open now, by state.",
    (DB_CLIENT_CONNECTION_POOL_NAME, DB_CLIENT_CONNECTION_STATE),
)
DB_CLIENT_CONNECTION_MAX: Final = Metric(
    "db.client.connection.max",
    OBSERVABLE_UP_DOWN_COUNTER,
    "{connection}",
    "`DuckDBPool` size: the most connections it opens.",
    (DB_CLIENT_CONNECTION_POOL_NAME,),
)
DB_CLIENT_CONNECTION_PENDING_REQUESTS: Final = Metric(
    "db.client.connection.pending_requests",
    OBSERVABLE_UP_DOWN_COUNTER,
    "{request}",
    "Callers waiting for a `DuckDBPool` connection now.",
    (DB_CLIENT_CONNECTION_POOL_NAME,),
)
DB_CLIENT_CONNECTION_TIMEOUTS: Final = Metric(
    "db.client.connection.timeouts",
    OBSERVABLE_COUNTER,
    "{timeout}",
    "Waits for a `DuckDBPool` connection that timed out.",
    (DB_CLIENT_CONNECTION_POOL_NAME,),
)
DB_CLIENT_CONNECTION_CREATE_TIME: Final = Metric(
    "db.client.connection.create_time",
    HISTOGRAM,
    "s",
    "Time to open a `DuckDBPool` connection (a cursor of the pool's database).",
    (DB_CLIENT_CONNECTION_POOL_NAME,),
    DB_CLIENT_CONNECTION_TIME_BUCKETS,
)
DB_CLIENT_CONNECTION_WAIT_TIME: Final = Metric(
    "db.client.connection.wait_time",
    HISTOGRAM,
    "s",
    "Time to obtain a `DuckDBPool` connection (every acquisition, zero waits included).",
    (DB_CLIENT_CONNECTION_POOL_NAME,),
    DB_CLIENT_CONNECTION_TIME_BUCKETS,
)
DB_CLIENT_CONNECTION_USE_TIME: Final = Metric(
    "db.client.connection.use_time",
    HISTOGRAM,
    "s",
    "Time between borrowing a `DuckDBPool` connection and returning it.",
    (DB_CLIENT_CONNECTION_POOL_NAME,),
    DB_CLIENT_CONNECTION_TIME_BUCKETS,
)

# --------------------------------------------------------------------------- #
# GenAI (semantic conventions v1.41)
# --------------------------------------------------------------------------- #
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_OPERATION_CHAT: Final = "chat"
GEN_AI_OPERATION_INVOKE_AGENT: Final = "invoke_agent"
GEN_AI_OPERATION_INVOKE_WORKFLOW: Final = "invoke_workflow"
GEN_AI_OPERATION_EXECUTE_TOOL: Final = "execute_tool"
GEN_AI_OPERATION_EMBEDDINGS: Final = "embeddings"
GEN_AI_OPERATION_RETRIEVAL: Final = "retrieval"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"  # opt-in content
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"  # opt-in content
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"  # opt-in content
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # opt-in content
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"  # opt-in content
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"  # opt-in content
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"  # opt-in content
# No GenAI convention defines cost or a document count: ours.
AGENTOTEL_USAGE_COST_USD: Final = "agentotel.usage.cost_usd"
AGENTOTEL_RETRIEVAL_DOCUMENTS_COUNT: Final = "agentotel.retrieval.documents.count"

GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
GEN_AI_CLIENT_OPERATION_DURATION: Final = Metric(
    "gen_ai.client.operation.duration",
    HISTOGRAM,
    "s",
    "Duration of chat model, embeddings and retrieval calls.",
    (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, GEN_AI_RESPONSE_MODEL, ERROR_TYPE),
    GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
)
GEN_AI_CLIENT_TOKEN_USAGE: Final = Metric(
    "gen_ai.client.token.usage",
    HISTOGRAM,
    "{token}",
    "Tokens used per chat call, by type.",
    (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, GEN_AI_TOKEN_TYPE),
    GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS,
)
GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK: Final = Metric(
    "gen_ai.client.operation.time_to_first_chunk",
    HISTOGRAM,
    "s",
    "Time to the first chunk of streamed chat calls.",
    (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL),
    GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
)
GEN_AI_INVOKE_AGENT_DURATION: Final = Metric(
    "gen_ai.invoke_agent.duration",
    HISTOGRAM,
    "s",
    "Duration of agent runs.",
    (GEN_AI_OPERATION_NAME, GEN_AI_AGENT_NAME, ERROR_TYPE),
    GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
)
GEN_AI_INVOKE_WORKFLOW_DURATION: Final = Metric(
    "gen_ai.invoke_workflow.duration",
    HISTOGRAM,
    "s",
    "Duration of workflow (graph) runs.",
    (GEN_AI_OPERATION_NAME, GEN_AI_WORKFLOW_NAME, ERROR_TYPE),
    GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
)
GEN_AI_EXECUTE_TOOL_DURATION: Final = Metric(
    "gen_ai.execute_tool.duration",
    HISTOGRAM,
    "s",
    "Duration of tool executions.",
    (GEN_AI_OPERATION_NAME, GEN_AI_TOOL_NAME, ERROR_TYPE),
    GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
)

GEN_AI_USAGE_COST: Final = Metric(
    "agentotel.gen_ai.usage.cost",
    COUNTER,
    "USD",
    "Cost of chat calls priced by the price table (models without a price are not counted).",
    (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, GEN_AI_RESPONSE_MODEL),
)

# LangGraph specifics (no convention exists)
LANGGRAPH_NODE: Final = "langgraph.node"
LANGGRAPH_STEP: Final = "langgraph.step"
LANGGRAPH_CHECKPOINT_NS: Final = "langgraph.checkpoint_ns"
LANGGRAPH_STREAM_ABANDONED: Final = "langgraph.stream.abandoned"
LANGGRAPH_RESUMED: Final = "langgraph.resumed"
LANGGRAPH_TAGS: Final = "langgraph.tags"
LANGGRAPH_INTERRUPT_EVENT: Final = Event(
    "langgraph.interrupt",
    "The run or node stopped at an interrupt (control flow, not an error).",
    producers=(f"{_LANGGRAPH}._runs", f"{_LANGGRAPH}._control"),
)
# Span events carrying opt-in content (EVENT_ONLY / SPAN_AND_EVENT capture modes)
LANGGRAPH_CHAT_CONTENT_EVENT: Final = Event(
    "langgraph.chat.content",
    "Prompt and completion (opt-in, `EVENT_ONLY` / `SPAN_AND_EVENT`).",
    (GEN_AI_INPUT_MESSAGES, GEN_AI_OUTPUT_MESSAGES, GEN_AI_SYSTEM_INSTRUCTIONS),
    producers=(f"{_LANGGRAPH}._chat",),
)
LANGGRAPH_TOOL_CONTENT_EVENT: Final = Event(
    "langgraph.tool.content",
    "Tool arguments and result (opt-in, `EVENT_ONLY` / `SPAN_AND_EVENT`).",
    (GEN_AI_TOOL_CALL_ARGUMENTS, GEN_AI_TOOL_CALL_RESULT),
    producers=(f"{_LANGGRAPH}._tools", "agentotel._agent"),
)

LANGGRAPH_RETRIEVAL_CONTENT_EVENT: Final = Event(
    "langgraph.retrieval.content",
    "Retrieval query and documents (opt-in, `EVENT_ONLY` / `SPAN_AND_EVENT`).",
    (GEN_AI_RETRIEVAL_QUERY_TEXT, GEN_AI_RETRIEVAL_DOCUMENTS),
    producers=(f"{_LANGGRAPH}._retrievers",),
)

INVOKE_WORKFLOW_SPAN: Final = Span(
    "invoke_workflow {gen_ai.workflow.name}",
    "INTERNAL",
    "LangGraph graph run and `@agentotel.workflow`",
    (
        GEN_AI_OPERATION_NAME,
        GEN_AI_WORKFLOW_NAME,
        GEN_AI_CONVERSATION_ID,
        AGENTOTEL_USAGE_COST_USD,
        LANGGRAPH_TAGS,
        LANGGRAPH_STREAM_ABANDONED,
        LANGGRAPH_RESUMED,
        ERROR_TYPE,
    ),
    producers=(f"{_LANGGRAPH}._runs", "agentotel._agent"),
    events=(LANGGRAPH_INTERRUPT_EVENT, EXCEPTION_EVENT),
)
INVOKE_AGENT_SPAN: Final = Span(
    "invoke_agent {gen_ai.agent.name}",
    "INTERNAL",
    "agent graph run (a graph with a `ToolNode`) and `@agentotel.agent`",
    (
        GEN_AI_OPERATION_NAME,
        GEN_AI_AGENT_NAME,
        GEN_AI_AGENT_ID,
        GEN_AI_AGENT_DESCRIPTION,
        GEN_AI_CONVERSATION_ID,
        AGENTOTEL_USAGE_COST_USD,
        LANGGRAPH_TAGS,
        LANGGRAPH_STREAM_ABANDONED,
        LANGGRAPH_RESUMED,
        ERROR_TYPE,
    ),
    producers=(f"{_LANGGRAPH}._runs", "agentotel._agent"),
    events=(LANGGRAPH_INTERRUPT_EVENT, EXCEPTION_EVENT),
)
NODE_SPAN: Final = Span(
    "{langgraph.node}",
    "INTERNAL",
    "LangGraph node execution",
    (LANGGRAPH_NODE, LANGGRAPH_STEP, LANGGRAPH_CHECKPOINT_NS, ERROR_TYPE),
    producers=(f"{_LANGGRAPH}._nodes",),
    events=(LANGGRAPH_INTERRUPT_EVENT, EXCEPTION_EVENT),
)
EXECUTE_TOOL_SPAN: Final = Span(
    "execute_tool {gen_ai.tool.name}",
    "INTERNAL",
    "tool call (LangChain tools and `@agentotel.tool`)",
    (
        GEN_AI_OPERATION_NAME,
        GEN_AI_TOOL_NAME,
        GEN_AI_TOOL_CALL_ID,
        GEN_AI_TOOL_TYPE,
        GEN_AI_TOOL_DESCRIPTION,
        GEN_AI_TOOL_CALL_ARGUMENTS,
        GEN_AI_TOOL_CALL_RESULT,
        ERROR_TYPE,
    ),
    producers=(f"{_LANGGRAPH}._tools", "agentotel._agent"),
    events=(LANGGRAPH_TOOL_CONTENT_EVENT, EXCEPTION_EVENT),
)
CHAT_SPAN: Final = Span(
    "chat {gen_ai.request.model}",
    "CLIENT",
    "chat model call",
    (
        GEN_AI_OPERATION_NAME,
        GEN_AI_PROVIDER_NAME,
        GEN_AI_REQUEST_MODEL,
        GEN_AI_RESPONSE_MODEL,
        GEN_AI_USAGE_INPUT_TOKENS,
        GEN_AI_USAGE_OUTPUT_TOKENS,
        GEN_AI_RESPONSE_FINISH_REASONS,
        GEN_AI_REQUEST_STREAM,
        AGENTOTEL_USAGE_COST_USD,
        ERROR_TYPE,
    ),
    producers=(f"{_LANGGRAPH}._chat",),
    events=(LANGGRAPH_CHAT_CONTENT_EVENT, EXCEPTION_EVENT),
)
EMBEDDINGS_SPAN: Final = Span(
    "embeddings {gen_ai.request.model}",
    "CLIENT",
    "LangChain `Embeddings.embed_query` / `embed_documents` (and async)",
    (
        GEN_AI_OPERATION_NAME,
        GEN_AI_PROVIDER_NAME,
        GEN_AI_REQUEST_MODEL,
        GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
        ERROR_TYPE,
    ),
    producers=(f"{_LANGGRAPH}._embeddings",),
    events=(EXCEPTION_EVENT,),
)
RETRIEVAL_SPAN: Final = Span(
    "retrieval {gen_ai.data_source.id}",
    "CLIENT",
    "LangChain `BaseRetriever.invoke` / `ainvoke`",
    (
        GEN_AI_OPERATION_NAME,
        GEN_AI_DATA_SOURCE_ID,
        GEN_AI_REQUEST_TOP_K,
        AGENTOTEL_RETRIEVAL_DOCUMENTS_COUNT,
        GEN_AI_RETRIEVAL_QUERY_TEXT,
        GEN_AI_RETRIEVAL_DOCUMENTS,
        ERROR_TYPE,
    ),
    producers=(f"{_LANGGRAPH}._retrievers",),
    events=(LANGGRAPH_RETRIEVAL_CONTENT_EVENT, EXCEPTION_EVENT),
)

# --------------------------------------------------------------------------- #
# Cache (ours)
# --------------------------------------------------------------------------- #
CACHE_NAME: Final = "cache.name"
CACHE_RESULT: Final = "cache.result"  # hit | miss
CACHE_LEVEL: Final = "cache.level"  # l1 | l2
CACHE_HIT: Final = "cache.hit"  # bool on the current span
CACHE_EVICTION_CAUSE: Final = "cache.eviction.cause"  # size | expired | explicit | replaced
CACHE_LOAD_OUTCOME: Final = "cache.load.outcome"  # success | failure
CACHE_KEY: Final = "cache.key"  # opt-in (AGENTOTEL_CAPTURE_CACHE_KEYS)
CACHE_COALESCED: Final = "cache.coalesced"

CACHE_LOAD_DURATION_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
CACHE_LOOKUPS: Final = Metric(
    "agentotel.cache.lookups",
    OBSERVABLE_COUNTER,
    "{lookup}",
    "Cache lookups, counted in process.",
    (CACHE_NAME, CACHE_RESULT, CACHE_LEVEL),
)
CACHE_LOADS: Final = Metric(
    "agentotel.cache.loads", OBSERVABLE_COUNTER, "{load}", "Loader runs after a miss.", (CACHE_NAME, CACHE_LOAD_OUTCOME)
)
CACHE_LOAD_DURATION: Final = Metric(
    "agentotel.cache.load.duration",
    HISTOGRAM,
    "s",
    "Loader run time.",
    (CACHE_NAME, CACHE_LOAD_OUTCOME),
    CACHE_LOAD_DURATION_BUCKETS,
)
CACHE_EVICTIONS: Final = Metric(
    "agentotel.cache.evictions",
    OBSERVABLE_COUNTER,
    "{eviction}",
    "Entries removed, by cause.",
    (CACHE_NAME, CACHE_EVICTION_CAUSE),
)
CACHE_ENTRIES: Final = Metric(
    "agentotel.cache.entries", OBSERVABLE_UP_DOWN_COUNTER, "{entry}", "Entries held.", (CACHE_NAME, CACHE_LEVEL)
)
CACHE_L2_ERRORS: Final = Metric(
    "agentotel.cache.l2.errors",
    OBSERVABLE_COUNTER,
    "{error}",
    "Second-level (Redis) failures that fell back.",
    (CACHE_NAME,),
)
CACHE_LOAD_SPAN: Final = Span(
    "cache.load {cache.name}",
    "INTERNAL",
    "cache miss that goes to the second level or the loader (`Cache`, cachetools `@cached`)",
    (CACHE_NAME, CACHE_LEVEL, CACHE_COALESCED, CACHE_KEY, ERROR_TYPE),
    producers=("agentotel._cache_telemetry",),
    events=(EXCEPTION_EVENT,),
)

# --------------------------------------------------------------------------- #
# Circuit breaker (ours)
# --------------------------------------------------------------------------- #
CIRCUIT_BREAKER_NAME: Final = "circuit_breaker.name"
CIRCUIT_BREAKER_STATE_ATTR: Final = "circuit_breaker.state"
CIRCUIT_BREAKER_FROM: Final = "circuit_breaker.from"
CIRCUIT_BREAKER_TO: Final = "circuit_breaker.to"
CIRCUIT_BREAKER_OUTCOME: Final = "circuit_breaker.outcome"  # success | failure | slow | ignored | cancelled
CIRCUIT_BREAKER_RETRY_AFTER: Final = "circuit_breaker.retry_after"

CIRCUIT_BREAKER_STATE: Final = Metric(
    "agentotel.circuit_breaker.state",
    OBSERVABLE_UP_DOWN_COUNTER,
    "1",
    "1 for the breaker's current state, 0 for the others.",
    (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_STATE_ATTR),
)
CIRCUIT_BREAKER_TRANSITIONS: Final = Metric(
    "agentotel.circuit_breaker.transitions",
    OBSERVABLE_COUNTER,
    "{transition}",
    "State transitions.",
    (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_FROM, CIRCUIT_BREAKER_TO),
)
CIRCUIT_BREAKER_CALLS: Final = Metric(
    "agentotel.circuit_breaker.calls",
    OBSERVABLE_COUNTER,
    "{call}",
    "Calls let through, by outcome.",
    (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_OUTCOME),
)
CIRCUIT_BREAKER_REJECTED: Final = Metric(
    "agentotel.circuit_breaker.rejected",
    OBSERVABLE_COUNTER,
    "{call}",
    "Calls rejected with CircuitOpenError.",
    (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_STATE_ATTR),
)
CIRCUIT_BREAKER_TRANSITION_EVENT: Final = Event(
    "circuit_breaker.transition",
    "A breaker changed state during a call made inside the span.",
    (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_FROM, CIRCUIT_BREAKER_TO),
    producers=("agentotel.resilience.breaker",),
)

# --------------------------------------------------------------------------- #
# Load balancer (ours)
# --------------------------------------------------------------------------- #
LB_NAME: Final = "lb.name"
LB_INSTANCE: Final = "lb.instance"
LB_STRATEGY: Final = "lb.strategy"
LB_OUTCOME: Final = "lb.outcome"  # success | failure | cancelled
LB_PANIC: Final = "lb.panic"
LB_EJECTION_REASON: Final = "lb.ejection.reason"  # consecutive_failures | failure_rate | probe_failed

LB_REQUEST_DURATION_BUCKETS: Final = GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS
LB_PICKS: Final = Metric(
    "agentotel.lb.picks", OBSERVABLE_COUNTER, "{pick}", "Instances chosen.", (LB_NAME, LB_INSTANCE)
)
LB_REQUEST_DURATION: Final = Metric(
    "agentotel.lb.request.duration",
    HISTOGRAM,
    "s",
    "Lease duration per instance.",
    (LB_NAME, LB_INSTANCE, LB_OUTCOME),
    LB_REQUEST_DURATION_BUCKETS,
)
LB_INFLIGHT: Final = Metric(
    "agentotel.lb.inflight",
    OBSERVABLE_UP_DOWN_COUNTER,
    "{request}",
    "Requests in flight per instance.",
    (LB_NAME, LB_INSTANCE),
)
LB_EJECTIONS: Final = Metric(
    "agentotel.lb.ejections",
    OBSERVABLE_COUNTER,
    "{ejection}",
    "Outlier ejections.",
    (LB_NAME, LB_INSTANCE, LB_EJECTION_REASON),
)
LB_EJECTED: Final = Metric(
    "agentotel.lb.ejected", OBSERVABLE_UP_DOWN_COUNTER, "{instance}", "Instances ejected now.", (LB_NAME,)
)
LB_WAITS: Final = Metric(
    "agentotel.lb.waits",
    OBSERVABLE_COUNTER,
    "{request}",
    "Picks that waited for a free instance (bulkhead).",
    (LB_NAME,),
)
LB_REJECTED: Final = Metric(
    "agentotel.lb.rejected",
    OBSERVABLE_COUNTER,
    "{request}",
    "Picks rejected because every instance was full.",
    (LB_NAME,),
)

# --------------------------------------------------------------------------- #
# Rate limiter (ours)
# --------------------------------------------------------------------------- #
RATE_LIMITER_NAME: Final = "rate_limiter.name"
RATE_LIMITER_WAIT_BUCKETS: Final = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RATE_LIMITER_ADMITTED: Final = Metric(
    "agentotel.rate_limiter.admitted",
    OBSERVABLE_COUNTER,
    "{request}",
    "Requests that got their permit (at once or after waiting).",
    (RATE_LIMITER_NAME,),
)
RATE_LIMITER_REJECTED: Final = Metric(
    "agentotel.rate_limiter.rejected",
    OBSERVABLE_COUNTER,
    "{request}",
    "Requests refused because the wait would exceed their timeout.",
    (RATE_LIMITER_NAME,),
)
RATE_LIMITER_CANCELLED: Final = Metric(
    "agentotel.rate_limiter.cancelled",
    OBSERVABLE_COUNTER,
    "{request}",
    "Waits cancelled before the permit was granted (the reservation was given back).",
    (RATE_LIMITER_NAME,),
)
RATE_LIMITER_WAITING: Final = Metric(
    "agentotel.rate_limiter.waiting",
    OBSERVABLE_UP_DOWN_COUNTER,
    "{request}",
    "Requests waiting for their permit now.",
    (RATE_LIMITER_NAME,),
)
RATE_LIMITER_WAIT_DURATION: Final = Metric(
    "agentotel.rate_limiter.wait.duration",
    HISTOGRAM,
    "s",
    "Time spent waiting for a permit (admitted requests that waited).",
    (RATE_LIMITER_NAME,),
    RATE_LIMITER_WAIT_BUCKETS,
)

# --------------------------------------------------------------------------- #
# Export pipeline and `agentotel doctor` (ours)
# --------------------------------------------------------------------------- #
EXPORT_SPANS_DROPPED: Final = Metric(
    "agentotel.export.spans.dropped", OBSERVABLE_COUNTER, "{span}", "Spans dropped because the export queue was full."
)
DOCTOR_CHECKS: Final = Metric(
    "agentotel.doctor.checks", COUNTER, "{check}", "Test metric sent by `agentotel doctor` (1 per live check)."
)
AGENTOTEL_VERSION: Final = "agentotel.version"
DOCTOR_SPAN: Final = Span(
    "agentotel doctor check",
    "INTERNAL",
    "test span sent by `agentotel doctor`",
    (AGENTOTEL_VERSION,),
    producers=("agentotel.doctor",),
)

# --------------------------------------------------------------------------- #
# Process (semantic conventions v1.44; cpython.* from the runtime conventions)
# --------------------------------------------------------------------------- #
CPU_MODE: Final = "cpu.mode"  # user | system
PROCESS_CONTEXT_SWITCH_TYPE: Final = "process.context_switch.type"  # voluntary | involuntary
CPYTHON_GC_GENERATION: Final = "cpython.gc.generation"

PROCESS_CPU_TIME: Final = Metric("process.cpu.time", OBSERVABLE_COUNTER, "s", "CPU time by mode.", (CPU_MODE,))
PROCESS_CPU_UTILIZATION: Final = Metric(
    "process.cpu.utilization",
    OBSERVABLE_GAUGE,
    "1",
    "CPU time by mode over wall time since the last collection, divided by the CPU count.",
    (CPU_MODE,),
)
PROCESS_MEMORY_USAGE: Final = Metric("process.memory.usage", OBSERVABLE_UP_DOWN_COUNTER, "By", "Resident memory.")
PROCESS_MEMORY_VIRTUAL: Final = Metric("process.memory.virtual", OBSERVABLE_UP_DOWN_COUNTER, "By", "Virtual memory.")
PROCESS_MEMORY_UTILIZATION: Final = Metric(
    "process.memory.utilization", OBSERVABLE_GAUGE, "1", "Resident memory over total physical memory."
)
PROCESS_THREAD_COUNT: Final = Metric("process.thread.count", OBSERVABLE_UP_DOWN_COUNTER, "{thread}", "Threads.")
PROCESS_CONTEXT_SWITCHES: Final = Metric(
    "process.context_switches",
    OBSERVABLE_COUNTER,
    "{context_switch}",
    "Context switches by type.",
    (PROCESS_CONTEXT_SWITCH_TYPE,),
)
PROCESS_UNIX_FILE_DESCRIPTOR_COUNT: Final = Metric(
    "process.unix.file_descriptor.count", OBSERVABLE_UP_DOWN_COUNTER, "{file_descriptor}", "Open file descriptors."
)
PROCESS_UPTIME: Final = Metric("process.uptime", OBSERVABLE_GAUGE, "s", "Seconds since the process started.")
CPYTHON_GC_COLLECTIONS: Final = Metric(
    "cpython.gc.collections",
    OBSERVABLE_COUNTER,
    "{collection}",
    "Garbage collections by generation.",
    (CPYTHON_GC_GENERATION,),
)


# --------------------------------------------------------------------------- #
# The catalogue: what the docs page is generated from
# --------------------------------------------------------------------------- #
def _defined(kind: type) -> tuple[Any, ...]:
    return tuple(value for value in globals().values() if type(value) is kind)


SPANS: Final[tuple[Span, ...]] = _defined(Span)
EVENTS: Final[tuple[Event, ...]] = _defined(Event)
METRICS: Final[tuple[Metric, ...]] = _defined(Metric)

ATTRIBUTES: Final[tuple[Attribute, ...]] = (
    Attribute(ERROR_TYPE, "string", "Exception class (qualified name) or `_OTHER`."),
    Attribute(EXCEPTION_TYPE, "string", "Exception class (qualified name), on the `exception` event."),
    Attribute(
        EXCEPTION_MESSAGE,
        "string",
        "Exception message on the `exception` event; SQL literals replaced by `?` unless "
        "`capture_sql_parameters` (also when the SQL error is a cause or was copied into another message).",
    ),
    Attribute(EXCEPTION_STACKTRACE, "string", "Stack trace on the `exception` event, with the cleaned messages."),
    Attribute(DB_SYSTEM_NAME, "string", "Always `duckdb`."),
    Attribute(DB_NAMESPACE, "string", "Database name: file stem, or `memory` for in-memory databases."),
    Attribute(
        DB_OPERATION_NAME,
        "string",
        "First keyword(s) of the statement, e.g. `SELECT`, `CREATE TABLE`; "
        "`BATCH <op>`/`BATCH` for executemany and scripts.",
    ),
    Attribute(DB_COLLECTION_NAME, "string", "The table the statement reads or writes, when it names exactly one."),
    Attribute(DB_QUERY_SUMMARY, "string", "`{operation} {collection}`; also the span name."),
    Attribute(
        DB_QUERY_TEXT,
        "string",
        "Statement with literals replaced by `?` and comments dropped "
        "(verbatim with `capture_sql_parameters`), length-capped.",
    ),
    Attribute(DB_OPERATION_BATCH_SIZE, "int", "Number of parameter sets passed to `executemany` (when > 1)."),
    Attribute(
        DB_RESPONSE_RETURNED_ROWS,
        "int",
        "Rows the statement returned, when they are fetched whole (or to the end) through its span.",
    ),
    Attribute(
        AGENTOTEL_DUCKDB_PROFILE.name,
        "string",
        "On the `agentotel.duckdb.profile` event of a slow statement: DuckDB's operator tree as JSON "
        "(operator, seconds, rows), capped.",
    ),
    Attribute(f"{DB_QUERY_PARAMETER_PREFIX}.<key>", "string", "Query parameter values.", opt_in=True),
    Attribute(DB_CLIENT_CONNECTION_POOL_NAME, "string", "`DuckDBPool` name (default: the database path)."),
    Attribute(DB_CLIENT_CONNECTION_STATE, "string", "`idle` or `used`."),
    Attribute(
        SESSION_ID,
        "string",
        "Session id: on every span agentotel starts inside `agentotel.attributes(session_id=...)` or in a "
        'LangGraph run whose `config["metadata"]["session_id"]` is set.',
    ),
    Attribute(
        USER_ID,
        "string",
        "User id: on every span agentotel starts inside `agentotel.attributes(user_id=...)` or in a "
        'LangGraph run whose `config["metadata"]["user_id"]` is set.',
    ),
    Attribute(
        "<custom key>",
        "as given",
        "The custom keys of `agentotel.attributes(**custom)` and the LangGraph metadata keys listed in "
        "`langgraph_metadata_keys`, on every span agentotel starts inside.",
    ),
    Attribute(
        GEN_AI_OPERATION_NAME,
        "string",
        "`invoke_workflow`, `invoke_agent`, `execute_tool`, `chat`, `embeddings` or `retrieval`.",
    ),
    Attribute(
        AGENTOTEL_USAGE_COST_USD,
        "double",
        "Cost in USD from the price table: of the call on chat spans; of every chat call inside on "
        "`invoke_agent`/`invoke_workflow` spans. Absent when no price is known.",
    ),
    Attribute(LANGGRAPH_TAGS, "string[]", "The `tags` given to a top-level LangGraph run (on its root span)."),
    Attribute(GEN_AI_EMBEDDINGS_DIMENSION_COUNT, "int", "Dimensions of the returned embeddings."),
    Attribute(
        GEN_AI_DATA_SOURCE_ID,
        "string",
        "Retriever's data source: its `name`, else its vector store's collection name, else the store's class.",
    ),
    Attribute(GEN_AI_REQUEST_TOP_K, "double", 'Documents requested (`search_kwargs["k"]`), when set.'),
    Attribute(AGENTOTEL_RETRIEVAL_DOCUMENTS_COUNT, "int", "Documents the retriever returned."),
    Attribute(GEN_AI_RETRIEVAL_QUERY_TEXT, "string", "Retrieval query.", opt_in=True),
    Attribute(
        GEN_AI_RETRIEVAL_DOCUMENTS,
        "any (JSON string)",
        "Retrieved documents: id, score, content, metadata.",
        opt_in=True,
    ),
    Attribute(GEN_AI_TOOL_DESCRIPTION, "string", "Tool description (`@agentotel.tool(description=...)`)."),
    Attribute(GEN_AI_WORKFLOW_NAME, "string", "Graph name."),
    Attribute(GEN_AI_AGENT_NAME, "string", "Agent name."),
    Attribute(GEN_AI_CONVERSATION_ID, "string", "The run's `thread_id`."),
    Attribute(GEN_AI_PROVIDER_NAME, "string", "Model provider, normalised to the semconv enum where possible."),
    Attribute(GEN_AI_REQUEST_MODEL, "string", "Model requested."),
    Attribute(GEN_AI_RESPONSE_MODEL, "string", "Model that answered."),
    Attribute(GEN_AI_REQUEST_STREAM, "boolean", "Whether the chat call streamed."),
    Attribute(GEN_AI_RESPONSE_FINISH_REASONS, "string[]", "Finish reasons of the response."),
    Attribute(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, "double", "Seconds to the first streamed chunk."),
    Attribute(GEN_AI_USAGE_INPUT_TOKENS, "int", "Input tokens (from `usage_metadata`)."),
    Attribute(GEN_AI_USAGE_OUTPUT_TOKENS, "int", "Output tokens (from `usage_metadata`)."),
    Attribute(GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "int", "Input tokens served from the provider's cache."),
    Attribute(GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, "int", "Input tokens written to the provider's cache."),
    Attribute(GEN_AI_RESPONSE_ID, "string", "Provider's completion id, when the model reports one."),
    Attribute(GEN_AI_REQUEST_TEMPERATURE, "double", "Requested temperature, when set."),
    Attribute(GEN_AI_REQUEST_MAX_TOKENS, "int", "Requested maximum output tokens, when set."),
    Attribute(GEN_AI_AGENT_ID, "string", "Agent id (`@agentotel.agent(agent_id=...)`)."),
    Attribute(GEN_AI_AGENT_DESCRIPTION, "string", "Agent description (`@agentotel.agent(description=...)`)."),
    Attribute(GEN_AI_SYSTEM_INSTRUCTIONS, "any (JSON string)", "System prompt.", opt_in=True),
    Attribute(LANGGRAPH_RESUMED, "boolean", "The run resumed an interrupted run (it links to that run's root span)."),
    Attribute(GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, "int", "Reasoning output tokens."),
    Attribute(GEN_AI_TOKEN_TYPE, "string", "`input` or `output` (token usage metric)."),
    Attribute(GEN_AI_TOOL_NAME, "string", "Tool name."),
    Attribute(GEN_AI_TOOL_CALL_ID, "string", "Tool call id from the model's tool call."),
    Attribute(GEN_AI_TOOL_TYPE, "string", "`function` for langchain tools."),
    Attribute(GEN_AI_INPUT_MESSAGES, "any (JSON string)", "Prompt messages.", opt_in=True),
    Attribute(GEN_AI_OUTPUT_MESSAGES, "any (JSON string)", "Completion messages.", opt_in=True),
    Attribute(GEN_AI_TOOL_CALL_ARGUMENTS, "any (JSON string)", "Tool arguments.", opt_in=True),
    Attribute(GEN_AI_TOOL_CALL_RESULT, "any (JSON string)", "Tool result.", opt_in=True),
    Attribute(LANGGRAPH_NODE, "string", "Node name."),
    Attribute(LANGGRAPH_STEP, "int", "Superstep number."),
    Attribute(LANGGRAPH_CHECKPOINT_NS, "string", "Checkpoint namespace (subgraph path)."),
    Attribute(LANGGRAPH_STREAM_ABANDONED, "boolean", "The caller stopped iterating the stream early."),
    Attribute(CACHE_NAME, "string", "Cache name given at construction."),
    Attribute(CACHE_RESULT, "string", "`hit` or `miss`."),
    Attribute(CACHE_LEVEL, "string", "`l1` (in process) or `l2` (Redis)."),
    Attribute(CACHE_HIT, "boolean", "Set on the current span by a lookup made inside it."),
    Attribute(CACHE_EVICTION_CAUSE, "string", "`size`, `expired`, `explicit` or `replaced`."),
    Attribute(CACHE_LOAD_OUTCOME, "string", "`success` or `failure`."),
    Attribute(CACHE_KEY, "string", "Cache key.", opt_in=True),
    Attribute(CACHE_COALESCED, "int", "Callers that joined a load in flight instead of starting their own."),
    Attribute(CIRCUIT_BREAKER_NAME, "string", "Breaker name."),
    Attribute(CIRCUIT_BREAKER_STATE_ATTR, "string", "`closed`, `open`, `half_open`, `forced_open` or `disabled`."),
    Attribute(CIRCUIT_BREAKER_FROM, "string", "State before a transition."),
    Attribute(CIRCUIT_BREAKER_TO, "string", "State after a transition."),
    Attribute(CIRCUIT_BREAKER_OUTCOME, "string", "`success`, `failure`, `slow`, `ignored` or `cancelled`."),
    Attribute(LB_NAME, "string", "Balancer name."),
    Attribute(LB_INSTANCE, "string", "Chosen instance (also set on the current span)."),
    Attribute(LB_OUTCOME, "string", "`success`, `failure` or `cancelled`."),
    Attribute(
        LB_EJECTION_REASON,
        "string",
        "`consecutive_failures`, `failure_rate` or `probe_failed` (a re-admitted instance failed its probe).",
    ),
    Attribute(RATE_LIMITER_NAME, "string", "Rate limiter name."),
    Attribute(AGENTOTEL_VERSION, "string", "agentotel's version (on the `agentotel doctor` test span)."),
    Attribute(CPU_MODE, "string", "`user` or `system`."),
    Attribute(PROCESS_CONTEXT_SWITCH_TYPE, "string", "`voluntary` or `involuntary`."),
    Attribute(CPYTHON_GC_GENERATION, "int", "Garbage-collector generation (0, 1, 2)."),
)


def _codes(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _producers(modules: Sequence[str]) -> str:
    return ", ".join(f"`{module}`" for module in modules)


def render_markdown() -> str:
    """Return the conventions reference page (``docs/conventions.md``)."""
    out = [
        "# Telemetry conventions",
        "",
        "<!-- Generated by `python -m agentotel.semconv > docs/conventions.md`; do not edit by hand. -->",
        "",
        "Everything agentotel emits. `gen_ai.*`, `db.*`, `error.*`, `server.*` and `process.*` names",
        "follow the OpenTelemetry semantic conventions (GenAI v1.41, database and process v1.44);",
        "the rest are ours, defined in `agentotel.semconv`. Each span and event names the module that",
        "produces it.",
        "",
        "## Instrumentation scopes",
        "",
        "| scope | schema URL | reports |",
        "|---|---|---|",
    ]
    for scope in SCOPES:
        out.append(f"| `{scope.name}` | {scope.schema_url} | {scope.description} |")
    out += [
        "",
        "## Spans",
        "",
        "| name | kind | emitted for | attributes | events | produced by |",
        "|---|---|---|---|---|---|",
    ]
    for s in SPANS:
        out.append(
            f"| `{s.name}` | {s.kind} | {s.description} | {_codes(s.attributes)} | {_codes(s.events)} | "
            f"{_producers(s.producers)} |"
        )
    out += ["", "## Span events", "", "| name | meaning | attributes | produced by |", "|---|---|---|---|"]
    for e in EVENTS:
        out.append(f"| `{e.name}` | {e.description} | {_codes(e.attributes)} | {_producers(e.producers)} |")
    out += ["", "## Attributes", "", "| key | type | meaning | opt-in |", "|---|---|---|---|"]
    for a in ATTRIBUTES:
        out.append(f"| `{a.key}` | {a.type} | {a.description} | {'yes' if a.opt_in else ''} |")
    out += [
        "",
        "## Metrics",
        "",
        "| name | instrument | unit | meaning | attributes | buckets |",
        "|---|---|---|---|---|---|",
    ]
    for m in METRICS:
        buckets = ", ".join(f"{b:g}" for b in m.buckets)
        out.append(
            f"| `{m.name}` | {m.instrument} | `{m.unit}` | {m.description} | {_codes(m.attributes)} | {buckets} |"
        )
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
