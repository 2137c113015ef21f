"""Every span name, attribute key, metric name, unit and bucket list agentotel emits.

This module is the single source of truth: instrumentation and components import
their names from here, and ``docs/conventions.md`` is generated from it
(``python -m agentotel.semconv > docs/conventions.md``; a test keeps the two equal).

Names under ``gen_ai.*``, ``db.*``, ``error.*``, ``server.*`` and ``process.*`` come
from the OpenTelemetry semantic conventions (GenAI v1.41, database/process v1.44).
Where no convention exists the names are ours and start with ``agentotel.``,
``cache.``, ``circuit_breaker.``, ``lb.``, ``rate_limiter.`` or ``langgraph.``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "Attribute",
    "Metric",
    "Span",
    "ATTRIBUTES",
    "METRICS",
    "SPANS",
    "render_markdown",
]

# --------------------------------------------------------------------------- #
# Instrumentation scope
# --------------------------------------------------------------------------- #
SCOPE_NAME: Final = "agentotel"

# --------------------------------------------------------------------------- #
# Common attributes
# --------------------------------------------------------------------------- #
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"

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
AGENTOTEL_DUCKDB_PROFILE: Final = "agentotel.duckdb.profile"  # span event of a slow statement, and its attribute

DB_CLIENT_OPERATION_DURATION: Final = "db.client.operation.duration"
DB_CLIENT_OPERATION_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

# Connection pool (DuckDBPool): the database client connection metrics
DB_CLIENT_CONNECTION_POOL_NAME: Final = "db.client.connection.pool.name"
DB_CLIENT_CONNECTION_STATE: Final = "db.client.connection.state"
DB_CLIENT_CONNECTION_STATE_IDLE: Final = "idle"
DB_CLIENT_CONNECTION_STATE_USED: Final = "used"
DB_CLIENT_CONNECTION_COUNT: Final = "db.client.connection.count"
DB_CLIENT_CONNECTION_MAX: Final = "db.client.connection.max"
DB_CLIENT_CONNECTION_PENDING_REQUESTS: Final = "db.client.connection.pending_requests"
DB_CLIENT_CONNECTION_TIMEOUTS: Final = "db.client.connection.timeouts"
DB_CLIENT_CONNECTION_CREATE_TIME: Final = "db.client.connection.create_time"
DB_CLIENT_CONNECTION_WAIT_TIME: Final = "db.client.connection.wait_time"
DB_CLIENT_CONNECTION_USE_TIME: Final = "db.client.connection.use_time"
# Waits are mostly zero or microseconds; uses are query-long.
DB_CLIENT_CONNECTION_TIME_BUCKETS: Final = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

# --------------------------------------------------------------------------- #
# GenAI (semantic conventions v1.41)
# --------------------------------------------------------------------------- #
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_OPERATION_CHAT: Final = "chat"
GEN_AI_OPERATION_INVOKE_AGENT: Final = "invoke_agent"
GEN_AI_OPERATION_INVOKE_WORKFLOW: Final = "invoke_workflow"
GEN_AI_OPERATION_EXECUTE_TOOL: Final = "execute_tool"
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

GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
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
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
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
GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
GEN_AI_INVOKE_AGENT_DURATION: Final = "gen_ai.invoke_agent.duration"
GEN_AI_INVOKE_WORKFLOW_DURATION: Final = "gen_ai.invoke_workflow.duration"
GEN_AI_EXECUTE_TOOL_DURATION: Final = "gen_ai.execute_tool.duration"

# LangGraph specifics (no convention exists)
LANGGRAPH_NODE: Final = "langgraph.node"
LANGGRAPH_STEP: Final = "langgraph.step"
LANGGRAPH_CHECKPOINT_NS: Final = "langgraph.checkpoint_ns"
LANGGRAPH_STREAM_ABANDONED: Final = "langgraph.stream.abandoned"
LANGGRAPH_INTERRUPT_EVENT: Final = "langgraph.interrupt"
LANGGRAPH_RESUMED: Final = "langgraph.resumed"
# Span events carrying opt-in content (EVENT_ONLY / SPAN_AND_EVENT capture modes)
LANGGRAPH_CHAT_CONTENT_EVENT: Final = "langgraph.chat.content"
LANGGRAPH_TOOL_CONTENT_EVENT: Final = "langgraph.tool.content"

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

CACHE_LOOKUPS: Final = "agentotel.cache.lookups"
CACHE_LOADS: Final = "agentotel.cache.loads"
CACHE_LOAD_DURATION: Final = "agentotel.cache.load.duration"
CACHE_EVICTIONS: Final = "agentotel.cache.evictions"
CACHE_ENTRIES: Final = "agentotel.cache.entries"
CACHE_L2_ERRORS: Final = "agentotel.cache.l2.errors"
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
CACHE_LOAD_SPAN: Final = "cache.load {cache.name}"

# --------------------------------------------------------------------------- #
# Circuit breaker (ours)
# --------------------------------------------------------------------------- #
CIRCUIT_BREAKER_NAME: Final = "circuit_breaker.name"
CIRCUIT_BREAKER_STATE_ATTR: Final = "circuit_breaker.state"
CIRCUIT_BREAKER_FROM: Final = "circuit_breaker.from"
CIRCUIT_BREAKER_TO: Final = "circuit_breaker.to"
CIRCUIT_BREAKER_OUTCOME: Final = "circuit_breaker.outcome"  # success | failure | slow | ignored | cancelled
CIRCUIT_BREAKER_RETRY_AFTER: Final = "circuit_breaker.retry_after"

CIRCUIT_BREAKER_STATE: Final = "agentotel.circuit_breaker.state"
CIRCUIT_BREAKER_TRANSITIONS: Final = "agentotel.circuit_breaker.transitions"
CIRCUIT_BREAKER_CALLS: Final = "agentotel.circuit_breaker.calls"
CIRCUIT_BREAKER_REJECTED: Final = "agentotel.circuit_breaker.rejected"
CIRCUIT_BREAKER_TRANSITION_EVENT: Final = "circuit_breaker.transition"

# --------------------------------------------------------------------------- #
# Load balancer (ours)
# --------------------------------------------------------------------------- #
LB_NAME: Final = "lb.name"
LB_INSTANCE: Final = "lb.instance"
LB_STRATEGY: Final = "lb.strategy"
LB_OUTCOME: Final = "lb.outcome"  # success | failure | cancelled
LB_PANIC: Final = "lb.panic"
LB_EJECTION_REASON: Final = "lb.ejection.reason"  # consecutive_failures | failure_rate | probe_failed

LB_PICKS: Final = "agentotel.lb.picks"
LB_REQUEST_DURATION: Final = "agentotel.lb.request.duration"
LB_INFLIGHT: Final = "agentotel.lb.inflight"
LB_EJECTIONS: Final = "agentotel.lb.ejections"
LB_EJECTED: Final = "agentotel.lb.ejected"
LB_WAITS: Final = "agentotel.lb.waits"
LB_REJECTED: Final = "agentotel.lb.rejected"
LB_REQUEST_DURATION_BUCKETS: Final = GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS

# --------------------------------------------------------------------------- #
# Rate limiter (ours)
# --------------------------------------------------------------------------- #
RATE_LIMITER_NAME: Final = "rate_limiter.name"
RATE_LIMITER_ADMITTED: Final = "agentotel.rate_limiter.admitted"
RATE_LIMITER_REJECTED: Final = "agentotel.rate_limiter.rejected"
RATE_LIMITER_WAIT_DURATION: Final = "agentotel.rate_limiter.wait.duration"
RATE_LIMITER_WAIT_BUCKETS: Final = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --------------------------------------------------------------------------- #
# Export pipeline (ours)
# --------------------------------------------------------------------------- #
EXPORT_SPANS_DROPPED: Final = "agentotel.export.spans.dropped"
DOCTOR_SPAN: Final = "agentotel doctor check"  # the test span `agentotel doctor` sends
DOCTOR_CHECKS: Final = "agentotel.doctor.checks"

# --------------------------------------------------------------------------- #
# Process (semantic conventions v1.44; cpython.* from the runtime conventions)
# --------------------------------------------------------------------------- #
PROCESS_CPU_TIME: Final = "process.cpu.time"
PROCESS_CPU_UTILIZATION: Final = "process.cpu.utilization"
PROCESS_MEMORY_USAGE: Final = "process.memory.usage"
PROCESS_MEMORY_VIRTUAL: Final = "process.memory.virtual"
PROCESS_MEMORY_UTILIZATION: Final = "process.memory.utilization"
PROCESS_THREAD_COUNT: Final = "process.thread.count"
PROCESS_CONTEXT_SWITCHES: Final = "process.context_switches"
PROCESS_UNIX_FILE_DESCRIPTOR_COUNT: Final = "process.unix.file_descriptor.count"
PROCESS_UPTIME: Final = "process.uptime"
CPYTHON_GC_COLLECTIONS: Final = "cpython.gc.collections"


# --------------------------------------------------------------------------- #
# The catalogue: what the docs page is generated from
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Attribute:
    """An attribute key we set on spans or metric points."""

    key: str
    type: str
    description: str
    opt_in: bool = False


@dataclass(frozen=True)
class Metric:
    """A metric instrument we create."""

    name: str
    instrument: str  # counter | updowncounter | histogram | gauge (observable variants noted)
    unit: str
    description: str
    attributes: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Span:
    """A span we start: its name pattern, kind and the attributes it carries."""

    name: str
    kind: str
    source: str
    attributes: tuple[str, ...] = field(default_factory=tuple)


SPANS: Final[tuple[Span, ...]] = (
    Span(
        "invoke_workflow {gen_ai.workflow.name}",
        "INTERNAL",
        "LangGraph graph run",
        (
            GEN_AI_OPERATION_NAME,
            GEN_AI_WORKFLOW_NAME,
            GEN_AI_CONVERSATION_ID,
            LANGGRAPH_STREAM_ABANDONED,
            LANGGRAPH_RESUMED,
        ),
    ),
    Span(
        "invoke_agent {gen_ai.agent.name}",
        "INTERNAL",
        "agent graph run / @agentotel.agent",
        (
            GEN_AI_OPERATION_NAME,
            GEN_AI_AGENT_NAME,
            GEN_AI_CONVERSATION_ID,
            LANGGRAPH_STREAM_ABANDONED,
            LANGGRAPH_RESUMED,
        ),
    ),
    Span(
        "{langgraph.node}",
        "INTERNAL",
        "LangGraph node execution",
        (LANGGRAPH_NODE, LANGGRAPH_STEP, LANGGRAPH_CHECKPOINT_NS),
    ),
    Span(
        "execute_tool {gen_ai.tool.name}",
        "INTERNAL",
        "tool call",
        (GEN_AI_OPERATION_NAME, GEN_AI_TOOL_NAME, GEN_AI_TOOL_CALL_ID, GEN_AI_TOOL_TYPE),
    ),
    Span(
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
        ),
    ),
    Span(
        "{db.query.summary}",
        "CLIENT",
        "DuckDB statement execution",
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
    ),
    Span(
        CACHE_LOAD_SPAN,
        "INTERNAL",
        "cache miss that goes to the second level or the loader",
        (CACHE_NAME, CACHE_LEVEL, CACHE_COALESCED, CACHE_KEY, ERROR_TYPE),
    ),
    Span(DOCTOR_SPAN, "INTERNAL", "test span sent by `agentotel doctor`"),
)

ATTRIBUTES: Final[tuple[Attribute, ...]] = (
    Attribute(ERROR_TYPE, "string", "Exception class (qualified name) or `_OTHER`."),
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
        AGENTOTEL_DUCKDB_PROFILE,
        "string",
        "On the `agentotel.duckdb.profile` event of a slow statement: DuckDB's operator tree as JSON "
        "(operator, seconds, rows), capped.",
    ),
    Attribute(f"{DB_QUERY_PARAMETER_PREFIX}.<key>", "string", "Query parameter values.", opt_in=True),
    Attribute(DB_CLIENT_CONNECTION_POOL_NAME, "string", "`DuckDBPool` name (default: the database path)."),
    Attribute(DB_CLIENT_CONNECTION_STATE, "string", "`idle` or `used`."),
    Attribute(GEN_AI_OPERATION_NAME, "string", "`invoke_workflow`, `invoke_agent`, `execute_tool` or `chat`."),
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
)

METRICS: Final[tuple[Metric, ...]] = (
    Metric(
        DB_CLIENT_OPERATION_DURATION,
        "histogram",
        "s",
        "Duration of DuckDB statements.",
        (DB_SYSTEM_NAME, DB_NAMESPACE, DB_OPERATION_NAME, DB_COLLECTION_NAME, ERROR_TYPE),
        DB_CLIENT_OPERATION_DURATION_BUCKETS,
    ),
    Metric(
        DB_CLIENT_CONNECTION_COUNT,
        "updowncounter (observable)",
        "{connection}",
        "`DuckDBPool` connections open now, by state.",
        (DB_CLIENT_CONNECTION_POOL_NAME, DB_CLIENT_CONNECTION_STATE),
    ),
    Metric(
        DB_CLIENT_CONNECTION_MAX,
        "updowncounter (observable)",
        "{connection}",
        "`DuckDBPool` size: the most connections it opens.",
        (DB_CLIENT_CONNECTION_POOL_NAME,),
    ),
    Metric(
        DB_CLIENT_CONNECTION_PENDING_REQUESTS,
        "updowncounter (observable)",
        "{request}",
        "Callers waiting for a `DuckDBPool` connection now.",
        (DB_CLIENT_CONNECTION_POOL_NAME,),
    ),
    Metric(
        DB_CLIENT_CONNECTION_TIMEOUTS,
        "counter (observable)",
        "{timeout}",
        "Waits for a `DuckDBPool` connection that timed out.",
        (DB_CLIENT_CONNECTION_POOL_NAME,),
    ),
    Metric(
        DB_CLIENT_CONNECTION_CREATE_TIME,
        "histogram",
        "s",
        "Time to open a `DuckDBPool` connection (a cursor of the pool's database).",
        (DB_CLIENT_CONNECTION_POOL_NAME,),
        DB_CLIENT_CONNECTION_TIME_BUCKETS,
    ),
    Metric(
        DB_CLIENT_CONNECTION_WAIT_TIME,
        "histogram",
        "s",
        "Time to obtain a `DuckDBPool` connection (every acquisition, zero waits included).",
        (DB_CLIENT_CONNECTION_POOL_NAME,),
        DB_CLIENT_CONNECTION_TIME_BUCKETS,
    ),
    Metric(
        DB_CLIENT_CONNECTION_USE_TIME,
        "histogram",
        "s",
        "Time between borrowing a `DuckDBPool` connection and returning it.",
        (DB_CLIENT_CONNECTION_POOL_NAME,),
        DB_CLIENT_CONNECTION_TIME_BUCKETS,
    ),
    Metric(
        GEN_AI_CLIENT_OPERATION_DURATION,
        "histogram",
        "s",
        "Duration of chat model calls.",
        (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, GEN_AI_RESPONSE_MODEL, ERROR_TYPE),
        GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
    ),
    Metric(
        GEN_AI_CLIENT_TOKEN_USAGE,
        "histogram",
        "{token}",
        "Tokens used per chat call, by type.",
        (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, GEN_AI_TOKEN_TYPE),
        GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS,
    ),
    Metric(
        GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
        "histogram",
        "s",
        "Time to the first chunk of streamed chat calls.",
        (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL),
        GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
    ),
    Metric(
        GEN_AI_INVOKE_AGENT_DURATION,
        "histogram",
        "s",
        "Duration of agent runs.",
        (GEN_AI_OPERATION_NAME, GEN_AI_AGENT_NAME, ERROR_TYPE),
        GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
    ),
    Metric(
        GEN_AI_INVOKE_WORKFLOW_DURATION,
        "histogram",
        "s",
        "Duration of workflow (graph) runs.",
        (GEN_AI_OPERATION_NAME, GEN_AI_WORKFLOW_NAME, ERROR_TYPE),
        GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
    ),
    Metric(
        GEN_AI_EXECUTE_TOOL_DURATION,
        "histogram",
        "s",
        "Duration of tool executions.",
        (GEN_AI_OPERATION_NAME, GEN_AI_TOOL_NAME, ERROR_TYPE),
        GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
    ),
    Metric(
        CACHE_LOOKUPS,
        "counter (observable)",
        "{lookup}",
        "Cache lookups, counted in process.",
        (CACHE_NAME, CACHE_RESULT, CACHE_LEVEL),
    ),
    Metric(
        CACHE_LOADS, "counter (observable)", "{load}", "Loader runs after a miss.", (CACHE_NAME, CACHE_LOAD_OUTCOME)
    ),
    Metric(
        CACHE_LOAD_DURATION,
        "histogram",
        "s",
        "Loader run time.",
        (CACHE_NAME, CACHE_LOAD_OUTCOME),
        CACHE_LOAD_DURATION_BUCKETS,
    ),
    Metric(
        CACHE_EVICTIONS,
        "counter (observable)",
        "{eviction}",
        "Entries removed, by cause.",
        (CACHE_NAME, CACHE_EVICTION_CAUSE),
    ),
    Metric(CACHE_ENTRIES, "updowncounter (observable)", "{entry}", "Entries held.", (CACHE_NAME, CACHE_LEVEL)),
    Metric(
        CACHE_L2_ERRORS,
        "counter (observable)",
        "{error}",
        "Second-level (Redis) failures that fell back.",
        (CACHE_NAME,),
    ),
    Metric(
        CIRCUIT_BREAKER_STATE,
        "updowncounter (observable)",
        "1",
        "1 for the breaker's current state, 0 for the others.",
        (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_STATE_ATTR),
    ),
    Metric(
        CIRCUIT_BREAKER_TRANSITIONS,
        "counter (observable)",
        "{transition}",
        "State transitions.",
        (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_FROM, CIRCUIT_BREAKER_TO),
    ),
    Metric(
        CIRCUIT_BREAKER_CALLS,
        "counter (observable)",
        "{call}",
        "Calls let through, by outcome.",
        (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_OUTCOME),
    ),
    Metric(
        CIRCUIT_BREAKER_REJECTED,
        "counter (observable)",
        "{call}",
        "Calls rejected with CircuitOpenError.",
        (CIRCUIT_BREAKER_NAME, CIRCUIT_BREAKER_STATE_ATTR),
    ),
    Metric(LB_PICKS, "counter (observable)", "{pick}", "Instances chosen.", (LB_NAME, LB_INSTANCE)),
    Metric(
        LB_REQUEST_DURATION,
        "histogram",
        "s",
        "Lease duration per instance.",
        (LB_NAME, LB_INSTANCE, LB_OUTCOME),
        LB_REQUEST_DURATION_BUCKETS,
    ),
    Metric(
        LB_INFLIGHT,
        "updowncounter (observable)",
        "{request}",
        "Requests in flight per instance.",
        (LB_NAME, LB_INSTANCE),
    ),
    Metric(
        LB_EJECTIONS,
        "counter (observable)",
        "{ejection}",
        "Outlier ejections.",
        (LB_NAME, LB_INSTANCE, LB_EJECTION_REASON),
    ),
    Metric(LB_EJECTED, "updowncounter (observable)", "{instance}", "Instances ejected now.", (LB_NAME,)),
    Metric(
        LB_WAITS, "counter (observable)", "{request}", "Picks that waited for a free instance (bulkhead).", (LB_NAME,)
    ),
    Metric(
        LB_REJECTED, "counter (observable)", "{request}", "Picks rejected because every instance was full.", (LB_NAME,)
    ),
    Metric(RATE_LIMITER_ADMITTED, "counter (observable)", "{request}", "Requests admitted.", (RATE_LIMITER_NAME,)),
    Metric(RATE_LIMITER_REJECTED, "counter (observable)", "{request}", "Requests rejected.", (RATE_LIMITER_NAME,)),
    Metric(
        RATE_LIMITER_WAIT_DURATION,
        "histogram",
        "s",
        "Time spent waiting for a permit.",
        (RATE_LIMITER_NAME,),
        RATE_LIMITER_WAIT_BUCKETS,
    ),
    Metric(EXPORT_SPANS_DROPPED, "counter (observable)", "{span}", "Spans dropped because the export queue was full."),
    Metric(DOCTOR_CHECKS, "counter", "{check}", "Test metric sent by `agentotel doctor` (1 per live check)."),
    Metric(PROCESS_CPU_TIME, "counter (observable)", "s", "CPU time by mode."),
    Metric(PROCESS_CPU_UTILIZATION, "gauge (observable)", "1", "CPU utilization by mode."),
    Metric(PROCESS_MEMORY_USAGE, "updowncounter (observable)", "By", "Resident memory."),
    Metric(PROCESS_MEMORY_VIRTUAL, "updowncounter (observable)", "By", "Virtual memory."),
    Metric(PROCESS_THREAD_COUNT, "updowncounter (observable)", "{thread}", "Threads."),
    Metric(PROCESS_CONTEXT_SWITCHES, "counter (observable)", "{context_switch}", "Context switches."),
    Metric(CPYTHON_GC_COLLECTIONS, "counter (observable)", "{collection}", "GC collections by generation."),
    Metric(PROCESS_MEMORY_UTILIZATION, "gauge (observable)", "1", "Resident memory / total physical memory."),
    Metric(
        PROCESS_UNIX_FILE_DESCRIPTOR_COUNT, "updowncounter (observable)", "{file_descriptor}", "Open file descriptors."
    ),
    Metric(PROCESS_UPTIME, "gauge (observable)", "s", "Seconds since the process started."),
)


def render_markdown() -> str:
    """Return the conventions reference page (``docs/conventions.md``)."""
    out = [
        "# Telemetry conventions",
        "",
        "<!-- Generated by `python -m agentotel.semconv > docs/conventions.md`; do not edit by hand. -->",
        "",
        "Everything agentotel emits. `gen_ai.*`, `db.*`, `error.*`, `server.*` and `process.*` names",
        "follow the OpenTelemetry semantic conventions (GenAI v1.41, database and process v1.44);",
        "the rest are ours, defined in `agentotel.semconv`.",
        "",
        "## Spans",
        "",
        "| name | kind | emitted for | attributes |",
        "|---|---|---|---|",
    ]
    for s in SPANS:
        attrs = ", ".join(f"`{a}`" for a in s.attributes)
        out.append(f"| `{s.name}` | {s.kind} | {s.source} | {attrs} |")
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
        attrs = ", ".join(f"`{a}`" for a in m.attributes)
        buckets = ", ".join(f"{b:g}" for b in m.buckets) if m.buckets else ""
        out.append(f"| `{m.name}` | {m.instrument} | `{m.unit}` | {m.description} | {attrs} | {buckets} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
