"""The land-use agent served over HTTP: FastAPI on uvicorn, traced end to end.

    pip install "agentotel[examples]"
    python examples/fastapi_service/app.py --port 8000      # or: uvicorn examples.fastapi_service.app:app
    curl -s localhost:8000/ask -H 'content-type: application/json' \\
         -d '{"question": "Which counties have the most development?"}'
    curl -s localhost:8000/health

Each request is one trace: the HTTP server span made by the contrib FastAPI
instrumentation, with the agent's run under it (``invoke_agent landuse-agent``
-> ``plan`` / ``agent`` / ``tools`` -> ``chat`` / ``execute_tool run_sql`` ->
DuckDB). ``/health`` returns :func:`agentotel.health` (circuit breakers, balancer
instances, caches, process) with HTTP 503 when it says ``unhealthy``.
Telemetry goes where the ``OTEL_*`` variables say (OTLP to localhost:4317 by default;
``OTEL_TRACES_EXPORTER=console`` prints spans).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel, Field

import agentotel
import agentotel.auto  # noqa: F401  first: SDK from OTEL_* variables, everything instrumented
from agentotel.demo.agent import LandUseAgent
from agentotel.demo.data import SMALL_SCALE, cached_database


class Question(BaseModel):
    """Request body of ``POST /ask``."""

    question: str = Field(min_length=1, max_length=1000)


class Reply(BaseModel):
    """Response body of ``POST /ask``."""

    question: str
    answer: str
    sql: list[str]
    trace_id: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the agent (database size from ``LANDUSE_SCALE``) for the server's lifetime."""
    scale = float(os.environ.get("LANDUSE_SCALE", SMALL_SCALE))
    app.state.agent = LandUseAgent(cached_database(scale).path)
    try:
        yield
    finally:
        app.state.agent.close()


app = FastAPI(title="land-use agent", lifespan=lifespan)
FastAPIInstrumentor.instrument_app(app, excluded_urls="health")


@app.post("/ask", response_model=Reply)
async def ask(body: Question, request: Request) -> Reply:
    """Answer one question (one trace: HTTP server span -> agent run)."""
    trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
    try:
        answer = await request.app.state.agent.aask(body.question)
    except Exception as exc:  # e.g. every model instance failing: tell the client, keep serving
        raise HTTPException(status_code=503, detail=f"{type(exc).__name__}: {exc}") from exc
    return Reply(question=body.question, answer=answer.text, sql=answer.sql, trace_id=trace_id)


@app.get("/health")
def health() -> JSONResponse:
    """``agentotel.health()``: 200 when healthy or degraded, 503 when unhealthy."""
    snapshot = agentotel.health()
    return JSONResponse(snapshot, status_code=503 if snapshot.get("status") == "unhealthy" else 200)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve on loopback with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the land-use agent over HTTP (loopback).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
