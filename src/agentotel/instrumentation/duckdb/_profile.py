"""Slow-query profiles: DuckDB's own operator tree, read after a slow statement and put on its span.

With ``slow_query_threshold_ms`` set, a statement that took at least that long
gets a span event ``agentotel.duckdb.profile`` whose attribute of the same name
is the operator tree as compact JSON::

    {"total_time": 0.41, "rows_returned": 7,
     "operators": {"name": "HASH_GROUP_BY", "time": 0.31, "rows": 7, "children": [
         {"name": "TABLE_SCAN", "time": 0.09, "rows": 3267600, "children": []}]}}

The profile is *read*, never produced on purpose: after the statement ran, one
call to ``get_profiling_information(format="json")`` (which runs nothing and
changes nothing) returns DuckDB's profile of the connection's last statement
when its profiler is on, ``{"result": "disabled"}`` otherwise. agentotel never
switches a user's profiler on or off (DuckDB's Python switch prints every
profile to the terminal, and a ``SET`` would be a statement of ours on the
user's connection); connections from :class:`agentotel.DuckDBPool` are opened
with the profiler on, without output, when the threshold is set, and a user
turns it on for their own connection with ``SET enable_profiling = 'no_output'``.
The statement is never run again.

Operator details (``extra_info``: filters, projections, file names) can hold
literal values; they are included only with ``capture_sql_parameters``. The
JSON is capped at ``max_attribute_length`` by dropping the deepest operators
first (``"pruned"`` counts them), so it always stays valid JSON.
"""

from __future__ import annotations

import json
from typing import Any, cast

from agentotel import semconv
from agentotel._jsoncap import capped_json
from agentotel._telemetry import log_internal_error

__all__ = ["ProfileReader", "operator_tree"]


def _number(node: dict[str, Any], *keys: str) -> float | int | None:
    for key in keys:
        value = node.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def _operator(node: dict[str, Any], details: bool) -> dict[str, Any]:
    """One operator of either profile layout (duckdb 2.x ``name``/``timing``/``intermediate_rows``,
    duckdb 1.x ``operator_name``/``operator_timing``/``operator_cardinality``)."""
    out: dict[str, Any] = {
        "name": node.get("name") or node.get("operator_name") or node.get("operator_type") or "?",
        "time": _number(node, "timing", "operator_timing"),
        "rows": _number(node, "intermediate_rows", "operator_cardinality"),
    }
    if details and node.get("extra_info"):
        out["details"] = node["extra_info"]
    out["children"] = [_operator(child, details) for child in _nodes(node.get("children"))]
    return out


def _nodes(value: Any) -> list[dict[str, Any]]:
    """The operator objects in a profile's list of children (anything else is skipped)."""
    if not isinstance(value, list):
        return []
    return [cast("dict[str, Any]", node) for node in cast("list[object]", value) if isinstance(node, dict)]


def operator_tree(profile: dict[str, Any], *, details: bool = False) -> dict[str, Any] | None:
    """The trimmed tree of a parsed DuckDB JSON profile (None when the profiler was off)."""
    if profile.get("result") == "disabled":
        return None
    query: dict[str, Any] = profile["query"] if isinstance(profile.get("query"), dict) else profile
    nodes = [_operator(node, details) for node in _nodes(profile.get("operator") or profile.get("children"))]
    while len(nodes) == 1 and nodes[0]["name"] in ("RESULT_COLLECTOR", "QUERY") and nodes[0]["children"]:
        nodes = nodes[0]["children"]  # the wrappers around the plan say nothing about the statement
    if not nodes:
        return None
    tree: dict[str, Any] = {"total_time": _number(query, "total_time", "latency")}
    rows = _number(profile, "rows_returned")
    if rows is not None:
        tree["rows_returned"] = rows
    tree["operators"] = nodes[0] if len(nodes) == 1 else {"name": "PLAN", "children": nodes}
    return tree


def _depth(node: dict[str, Any]) -> int:
    return 1 + max((_depth(child) for child in node.get("children", ())), default=0)


def _prune(node: dict[str, Any], depth: int) -> int:
    """Drop the operators below ``depth``; the number dropped."""
    children = node.get("children", [])
    if depth <= 1:
        dropped = sum(1 + _count(child) for child in children)
        if dropped:
            node["children"] = []
            node["pruned"] = dropped
        return dropped
    return sum(_prune(child, depth - 1) for child in children)


def _count(node: dict[str, Any]) -> int:
    return sum(1 + _count(child) for child in node.get("children", ()))


def capped_tree(tree: dict[str, Any], max_length: int) -> str:
    """``tree`` as compact JSON of at most ``max_length`` characters: the deepest operators go first."""
    text = json.dumps(tree, separators=(",", ":"), default=str)
    depth = _depth(tree["operators"])
    while len(text) > max_length and depth > 1:
        depth -= 1
        _prune(tree["operators"], depth)
        text = json.dumps(tree, separators=(",", ":"), default=str)
    return text if len(text) <= max_length else capped_json(tree, max_length)


class ProfileReader:
    """Decides whether a statement is slow and puts its profile on its span."""

    __slots__ = ("threshold", "_details", "_max_length")

    def __init__(self, threshold_ms: float | None, *, details: bool, max_length: int) -> None:
        #: Seconds, or None when profiles are off.
        self.threshold = None if threshold_ms is None else threshold_ms / 1000.0
        self._details = details
        self._max_length = max_length

    def attach(self, span: Any, connection: Any) -> None:
        """Read ``connection``'s profile of its last statement and add it to ``span``; never raises."""
        try:
            read = getattr(connection, "get_profiling_information", None)
            if read is None or not span.is_recording():
                return
            tree = operator_tree(json.loads(read(format="json")), details=self._details)
            if tree is not None:
                text = capped_tree(tree, self._max_length)
                span.add_event(semconv.AGENTOTEL_DUCKDB_PROFILE, {semconv.AGENTOTEL_DUCKDB_PROFILE: text})
        except Exception as exc:
            log_internal_error("duckdb profile", exc)
