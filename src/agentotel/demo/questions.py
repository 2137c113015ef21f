"""The demo's questions, the SQL that answers each, and how an answer is worded.

The deterministic model (:mod:`agentotel.demo.model`) uses this table to turn a
question into SQL and a result into a sentence. The SQL is written against the
schema in :mod:`agentotel.demo.data`; tests run it next to independent queries
to check the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_QUESTIONS", "Intent", "INTENTS", "match_intent"]

Rows = Sequence[Sequence[Any]]


def _acres(value: Any) -> str:
    return f"{float(value):,.0f}"


def _ranked(rows: Rows, label: Callable[[Sequence[Any]], str], top: int = 3) -> str:
    return ", ".join(f"{label(row)} ({_acres(row[-1])} acres)" for row in rows[:top])


def _urban_by_state(rows: Rows) -> str:
    first = rows[0]
    return (
        f"{first[0]} has the most urban expansion: {_acres(first[1])} acres become urban from 2020 to 2070 "
        f"(mean of the 20 RPA scenarios). Next: {_ranked(rows[1:], lambda r: r[0])}."
    )


def _forest_by_rcp(rows: Rows) -> str:
    by_rcp = {row[0]: float(row[1]) for row in rows}
    low, high = by_rcp.get("rcp45", 0.0), by_rcp.get("rcp85", 0.0)
    change = (high - low) / low * 100 if low else 0.0
    return (
        f"Forest loss 2020-2070: {_acres(low)} acres under RCP4.5 and {_acres(high)} acres under RCP8.5 "
        f"(mean per scenario), {change:+.1f}% with the higher-warming pathway."
    )


def _california_agriculture(rows: Rows) -> str:
    periods = "; ".join(f"{r[0]}: -{_acres(r[1])} / +{_acres(r[2])}" for r in rows)
    net = sum(float(r[2]) - float(r[1]) for r in rows)
    trend = "gains" if net >= 0 else "loses"
    return (
        f"California agricultural land (acres lost / gained per period, mean per scenario): {periods}. "
        f"Overall agriculture {trend} {_acres(abs(net))} acres net by 2070."
    )


def _urban_by_scenario(rows: Rows) -> str:
    parts = ", ".join(f"{r[0].upper()}-{r[1].upper()} {_acres(r[2])}" for r in rows)
    return (
        f"New urban land 2020-2070 by scenario (acres, mean over climate models): {parts}. "
        f"{rows[0][0].upper()}-{rows[0][1].upper()} urbanizes the most."
    )


def _counties_by_development(rows: Rows) -> str:
    first = rows[0]
    return (
        f"The county with the most development is {first[1]}, {first[2]} (FIPS {first[0]}): "
        f"{_acres(first[3])} acres become urban by 2070 (mean per scenario). "
        f"Next: {_ranked(rows[1:], lambda r: f'{r[1]}, {r[2]}')}."
    )


@dataclass(frozen=True)
class Intent:
    """One kind of question the deterministic model understands."""

    name: str
    keywords: tuple[tuple[str, ...], ...]  # every group must have one word in the question
    sql: str
    answer: Callable[[Rows], str]
    first_try_sql: str | None = None  # a plausible mistake, to show the retry on SQL errors

    def matches(self, question: str) -> bool:
        """True when every keyword group has a word in ``question`` (case-insensitive)."""
        text = question.lower()
        return all(any(word in text for word in group) for group in self.keywords)


_URBAN_BY_STATE = """\
SELECT g.state_name, round(sum(f.acres) / count(DISTINCT f.scenario_id)) AS acres_to_urban
FROM fact_landuse_transitions f
JOIN dim_geography g ON g.geography_id = f.geography_id
JOIN dim_landuse tl ON tl.landuse_id = f.to_landuse_id
WHERE tl.landuse_name = 'Urban' AND f.transition_type = 'change'
GROUP BY g.state_name
ORDER BY acres_to_urban DESC
LIMIT 10"""

_FOREST_BY_RCP = """\
SELECT s.rcp_scenario, round(sum(f.acres) / count(DISTINCT f.scenario_id)) AS forest_acres_lost
FROM fact_landuse_transitions f
JOIN dim_scenario s ON s.scenario_id = f.scenario_id
JOIN dim_landuse fl ON fl.landuse_id = f.from_landuse_id
WHERE fl.landuse_name = 'Forest' AND f.transition_type = 'change'
GROUP BY s.rcp_scenario
ORDER BY s.rcp_scenario"""

_CALIFORNIA_AGRICULTURE = """\
SELECT year_range,
       round(sum(CASE WHEN from_category = 'Agriculture' AND to_category <> 'Agriculture'
                      THEN acres ELSE 0 END) / count(DISTINCT scenario_id)) AS ag_acres_lost,
       round(sum(CASE WHEN to_category = 'Agriculture' AND from_category <> 'Agriculture'
                      THEN acres ELSE 0 END) / count(DISTINCT scenario_id)) AS ag_acres_gained
FROM v_landuse_with_metadata
WHERE state_name = 'California' AND transition_type = 'change'
GROUP BY year_range
ORDER BY year_range"""

_URBAN_BY_SCENARIO = """\
SELECT rcp_scenario, ssp_scenario, round(sum(acres_gained) / count(DISTINCT scenario_name)) AS acres_to_urban
FROM v_scenario_summary
WHERE to_landuse = 'Urban'
GROUP BY rcp_scenario, ssp_scenario
ORDER BY acres_to_urban DESC"""

_COUNTIES_BY_DEVELOPMENT = """\
SELECT g.fips_code, g.county_name, g.state_abbrev,
       round(sum(f.acres) / count(DISTINCT f.scenario_id)) AS acres_developed
FROM fact_landuse_transitions f
JOIN dim_geography g ON g.geography_id = f.geography_id
JOIN dim_landuse tl ON tl.landuse_id = f.to_landuse_id
WHERE tl.landuse_name = 'Urban' AND f.transition_type = 'change'
GROUP BY g.fips_code, g.county_name, g.state_abbrev
ORDER BY acres_developed DESC
LIMIT 10"""

INTENTS: tuple[Intent, ...] = (
    Intent(
        "counties_by_development",
        (("count",), ("develop", "urban")),
        _COUNTIES_BY_DEVELOPMENT,
        _counties_by_development,
        first_try_sql=_COUNTIES_BY_DEVELOPMENT.replace("g.county_name", "g.county"),
    ),
    Intent("urban_by_scenario", (("scenario",), ("urban",)), _URBAN_BY_SCENARIO, _urban_by_scenario),
    Intent("forest_by_rcp", (("forest",),), _FOREST_BY_RCP, _forest_by_rcp),
    Intent(
        "california_agriculture",
        (("california",), ("agricultur", "crop", "farm")),
        _CALIFORNIA_AGRICULTURE,
        _california_agriculture,
    ),
    Intent("urban_by_state", (("urban",), ("state",)), _URBAN_BY_STATE, _urban_by_state),
)

DEFAULT_QUESTIONS: tuple[str, ...] = (
    "Which states have the most urban expansion?",
    "Compare forest loss between RCP4.5 and RCP8.5 scenarios",
    "What are the agricultural land trends in California?",
    "How does urbanization differ by scenario?",
    "Which counties have the most development?",
)


def match_intent(question: str) -> Intent | None:
    """The first intent whose keywords all appear in ``question``, else ``None``."""
    for intent in INTENTS:
        if intent.matches(question):
            return intent
    return None
