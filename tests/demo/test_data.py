"""The generated land-use database: shape, invariants, determinism, caching."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from agentotel.demo import data


def test_star_schema_shape(small_db: data.DatabaseInfo) -> None:
    with duckdb.connect(small_db.path, read_only=True) as con:
        tables = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert tables == {"dim_scenario", "dim_geography", "dim_landuse", "dim_time", "fact_landuse_transitions"}
        assert views == {"v_landuse_with_metadata", "v_state_urbanization", "v_scenario_summary"}
        assert con.execute(
            "SELECT count(*), count(DISTINCT rcp_scenario), count(DISTINCT climate_model) FROM dim_scenario"
        ).fetchone() == (20, 2, 5)
        assert [r[0] for r in con.execute("SELECT landuse_name FROM dim_landuse ORDER BY landuse_id").fetchall()] == [
            "Crop",
            "Pasture",
            "Range",
            "Forest",
            "Urban",
        ]
        assert con.execute("SELECT min(start_year), max(end_year), count(*) FROM dim_time").fetchone() == (
            2020,
            2070,
            5,
        )
        expected_counties = sum(max(1, round(n * data.SMALL_SCALE)) for *_, n in data.STATES)
        assert small_db.counties == expected_counties
        assert con.execute("SELECT count(DISTINCT state_code) FROM dim_geography").fetchone()[0] == 48
        bad_fips = con.execute(
            "SELECT count(*) FROM dim_geography WHERE NOT regexp_full_match(fips_code, '[0-9]{5}') "
            "OR substr(fips_code, 1, 2) <> state_code"
        ).fetchone()[0]
        assert bad_fips == 0
        # 20 scenarios x 5 periods x counties x 21 (from, to) pairs: urban never converts back
        assert small_db.fact_rows == 20 * 5 * expected_counties * 21 == data.fact_row_count(small_db.counties)
        assert small_db.counties == data.county_count(data.SMALL_SCALE)
        assert (
            con.execute(
                "SELECT count(*) FROM fact_landuse_transitions WHERE from_landuse_id = 5 AND to_landuse_id <> 5"
            ).fetchone()[0]
            == 0
        )


def test_invariants(small_db: data.DatabaseInfo) -> None:
    with duckdb.connect(small_db.path, read_only=True) as con:
        negative, wrong_type = con.execute("""
            SELECT count(*) FILTER (WHERE acres < 0),
                   count(*) FILTER (WHERE (from_landuse_id = to_landuse_id) <> (transition_type = 'same'))
            FROM fact_landuse_transitions""").fetchone()  # pyright: ignore[reportGeneralTypeIssues]
        assert (negative, wrong_type) == (0, 0)
        # High-growth SSP5 urbanizes more than low-growth SSP3; RCP8.5 loses more forest per scenario.
        urban = dict(
            con.execute("""SELECT ssp_scenario, sum(acres) FROM v_landuse_with_metadata
            WHERE to_landuse = 'Urban' AND transition_type = 'change' GROUP BY 1""").fetchall()
        )
        assert urban["ssp5"] > urban["ssp2"] > urban["ssp3"]
        forest = dict(
            con.execute("""SELECT rcp_scenario, sum(acres) / count(DISTINCT scenario_id)
            FROM v_landuse_with_metadata WHERE from_landuse = 'Forest' AND transition_type = 'change'
            GROUP BY 1""").fetchall()
        )
        assert forest["rcp85"] > forest["rcp45"]
        # The view joins every fact row exactly once.
        assert con.execute("SELECT count(*) FROM v_landuse_with_metadata").fetchone()[0] == small_db.fact_rows


def _fingerprint(path: str) -> tuple | None:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute("""SELECT count(*), md5(string_agg(concat_ws(':', transition_id, scenario_id, time_id,
                                  geography_id, from_landuse_id, to_landuse_id, acres), ',' ORDER BY transition_id))
                              FROM fact_landuse_transitions""").fetchone()


def test_deterministic(tmp_path: Path) -> None:
    first = data.build_database(tmp_path / "a.duckdb", 0.02)
    second = data.build_database(tmp_path / "b.duckdb", 0.02)
    assert _fingerprint(first.path) == _fingerprint(second.path)


def test_cached_database_is_built_once(tmp_path: Path) -> None:
    built = data.cached_database(0.02, tmp_path)
    reused = data.cached_database(0.02, tmp_path)
    assert built.build_seconds > 0 and reused.build_seconds == 0.0
    assert (reused.path, reused.counties, reused.fact_rows) == (built.path, built.counties, built.fact_rows)
    assert [p.name for p in Path(built.path).parent.iterdir()] == ["landuse.duckdb"]  # no temporary leftovers


def test_rejects_bad_scale(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        data.build_database(tmp_path / "x.duckdb", 0)
