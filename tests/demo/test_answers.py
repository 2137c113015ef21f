"""The deterministic model's answers carry the right numbers: checked against independent DuckDB queries.

Each check recomputes the figures from ``fact_landuse_transitions`` and the
dimensions with different SQL (or in Python) than the model's, and looks for them
in the agent's answer text.
"""

from __future__ import annotations

import re
from collections import defaultdict

import duckdb
import pytest
from langchain_core.messages import HumanMessage

from agentotel.demo import data
from agentotel.demo.agent import LandUseAgent
from agentotel.demo.model import LanduseSQLModel, ModelUnavailableError
from agentotel.demo.questions import DEFAULT_QUESTIONS, match_intent


def _number_after(text: str, label: str) -> float:
    """The number printed right after ``label`` in ``text`` (e.g. ``"Texas ("`` -> 1054382)."""
    match = re.search(re.escape(label) + r"([0-9][0-9,]*(?:\.[0-9]+)?)", text)
    assert match, f"{label!r} followed by a number not in {text!r}"
    return float(match.group(1).replace(",", ""))


def _close(printed: float, exact: float) -> bool:
    """Printed figures are rounded to whole acres (the half-acre case may round either way)."""
    return abs(printed - exact) <= 0.51


@pytest.fixture(scope="module")
def agent(small_db: data.DatabaseInfo):
    with LandUseAgent(small_db.path, [LanduseSQLModel(model_name="exact")]) as landuse_agent:
        yield landuse_agent


@pytest.fixture(scope="module")
def facts(small_db: data.DatabaseInfo) -> list[tuple]:
    """Rows of changes: (scenario_id, rcp, ssp, period, state, fips, county, abbrev, from, to,
    from_cat, to_cat, acres)."""
    with duckdb.connect(small_db.path, read_only=True) as con:
        return con.execute("""
            SELECT s.scenario_id, s.rcp_scenario, s.ssp_scenario, t.year_range, g.state_name, g.fips_code,
                   g.county_name, g.state_abbrev, fl.landuse_name, tl.landuse_name, fl.landuse_category,
                   tl.landuse_category, f.acres
            FROM fact_landuse_transitions f, dim_scenario s, dim_time t, dim_geography g, dim_landuse fl, dim_landuse tl
            WHERE f.scenario_id = s.scenario_id AND f.time_id = t.time_id AND f.geography_id = g.geography_id
              AND f.from_landuse_id = fl.landuse_id AND f.to_landuse_id = tl.landuse_id
              AND f.from_landuse_id <> f.to_landuse_id""").fetchall()


def _top(totals: dict, n: int) -> list[tuple]:
    return sorted(totals.items(), key=lambda item: -item[1])[:n]


def test_urban_expansion_by_state(agent: LandUseAgent, facts: list[tuple]) -> None:
    totals: dict[str, float] = defaultdict(float)
    for row in facts:
        if row[9] == "Urban":
            totals[row[4]] += row[12] / 20
    answer = agent.ask(DEFAULT_QUESTIONS[0])
    (first, acres), *others = _top(totals, 4)
    assert _close(_number_after(answer.text, f"{first} has the most urban expansion: "), acres)
    for state, acres in others:
        assert _close(_number_after(answer.text, f"{state} ("), acres)


def test_forest_loss_by_rcp(agent: LandUseAgent, facts: list[tuple]) -> None:
    totals: dict[str, float] = defaultdict(float)
    scenarios: dict[str, set] = defaultdict(set)
    for row in facts:
        if row[8] == "Forest":
            totals[row[1]] += row[12]
            scenarios[row[1]].add(row[0])
    low, high = totals["rcp45"] / len(scenarios["rcp45"]), totals["rcp85"] / len(scenarios["rcp85"])
    answer = agent.ask(DEFAULT_QUESTIONS[1])
    assert _close(_number_after(answer.text, "2020-2070: "), low)
    assert _close(_number_after(answer.text, "acres under RCP4.5 and "), high)
    assert f"{(high - low) / low * 100:+.1f}%" in answer.text


def test_california_agriculture(agent: LandUseAgent, facts: list[tuple]) -> None:
    lost: dict[str, float] = defaultdict(float)
    gained: dict[str, float] = defaultdict(float)
    for row in facts:
        if row[4] != "California":
            continue
        if row[10] == "Agriculture" and row[11] != "Agriculture":
            lost[row[3]] += row[12] / 20
        if row[11] == "Agriculture" and row[10] != "Agriculture":
            gained[row[3]] += row[12] / 20
    answer = agent.ask(DEFAULT_QUESTIONS[2])
    assert sorted(lost) == ["2020-2030", "2030-2040", "2040-2050", "2050-2060", "2060-2070"]
    for period in lost:
        assert _close(_number_after(answer.text, f"{period}: -"), lost[period])
        segment = answer.text[answer.text.index(f"{period}: -") :]
        assert _close(_number_after(segment, " / +"), gained[period])


def test_urbanization_by_scenario(agent: LandUseAgent, facts: list[tuple]) -> None:
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for row in facts:
        if row[9] == "Urban":
            totals[(row[1], row[2])] += row[12] / 5  # five climate models per RCP-SSP pair
    answer = agent.ask(DEFAULT_QUESTIONS[3])
    ranked = _top(totals, 4)
    for (rcp, ssp), acres in ranked:
        assert _close(_number_after(answer.text, f"{rcp.upper()}-{ssp.upper()} "), acres)
    order = [answer.text.index(f"{rcp.upper()}-{ssp.upper()} ") for (rcp, ssp), _ in ranked]
    assert order == sorted(order)


def test_counties_with_most_development_after_one_sql_error(agent: LandUseAgent, facts: list[tuple]) -> None:
    totals: dict[tuple[str, str, str], float] = defaultdict(float)
    for row in facts:
        if row[9] == "Urban":
            totals[(row[5], row[6], row[7])] += row[12] / 20
    answer = agent.ask(DEFAULT_QUESTIONS[4])
    (fips, county, abbrev), acres = _top(totals, 1)[0]
    assert _close(_number_after(answer.text, f"{county}, {abbrev} (FIPS {fips}): "), acres)
    for (_, county, abbrev), acres in _top(totals, 4)[1:]:
        assert _close(_number_after(answer.text, f"{county}, {abbrev} ("), acres)
    assert answer.sql_errors == 1 and len(answer.sql) == 2
    assert "g.county," in answer.sql[0] and "g.county_name" in answer.sql[1]


def test_results_are_cached(agent: LandUseAgent) -> None:
    agent.ask(DEFAULT_QUESTIONS[1])
    before = agent.cache.stats()
    agent.ask(DEFAULT_QUESTIONS[1])
    after = agent.cache.stats()
    assert after.hits >= before.hits + 2  # the schema and the query
    assert after.misses == before.misses


def test_row_limit_and_read_only(small_db: data.DatabaseInfo) -> None:
    with LandUseAgent(small_db.path, [LanduseSQLModel()], row_limit=7) as limited:
        result = limited.run_sql("SELECT * FROM dim_geography")
        assert result["row_count"] == 7 and len(result["rows"]) == 7 and result["truncated"] is True
        assert limited.run_sql("SELECT count(*) AS n FROM dim_scenario")["rows"] == [[20]]
        with pytest.raises(ValueError):
            limited.run_sql("DELETE FROM dim_scenario")


def test_unknown_question_gets_no_tool_call() -> None:
    reply = LanduseSQLModel().invoke([HumanMessage(content="What is the capital of France?")])
    assert not reply.tool_calls and "RPA land-use projections" in reply.content
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0


def test_every_default_question_has_an_intent() -> None:
    assert [match_intent(q).name for q in DEFAULT_QUESTIONS] == [
        "urban_by_state",
        "forest_by_rcp",
        "california_agriculture",
        "urban_by_scenario",
        "counties_by_development",
    ]


def test_outage_and_failure_rate_are_reproducible() -> None:
    def outcomes(model: LanduseSQLModel) -> list[bool]:
        results = []
        for _ in range(12):
            try:
                model.invoke([HumanMessage(content=DEFAULT_QUESTIONS[0])])
                results.append(True)
            except ModelUnavailableError:
                results.append(False)
        return results

    first = outcomes(LanduseSQLModel(outage=(2, 4), failure_rate=0.3, seed=3))
    assert first == outcomes(LanduseSQLModel(outage=(2, 4), failure_rate=0.3, seed=3))
    assert first[1:4] == [False, False, False]
