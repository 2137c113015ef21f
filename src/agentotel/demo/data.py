"""A synthetic land-use projection database, shaped like the USDA Forest Service RPA projections.

The 2020 RPA Assessment projects land-use transitions (crop, pasture, range,
forest, urban) for every conterminous-US county under 20 climate/socio-economic
scenarios (5 climate models x 4 RCP-SSP combinations) from 2020 to 2070. This
module builds a star schema of that shape, with made-up but plausible numbers:

* ``dim_scenario``: 20 scenarios (``rcp45``/``rcp85`` x ``ssp1``/``ssp2``/``ssp3``/``ssp5``);
* ``dim_geography``: the 48 conterminous states (real FIPS codes) and their counties;
* ``dim_landuse``: crop, pasture, range, forest, urban;
* ``dim_time``: five ten-year periods, 2020-2070;
* ``fact_landuse_transitions``: acres moving from one land use to another, per
  scenario, county and period (urban land never converts back, as in the RPA model);
* views ``v_landuse_with_metadata``, ``v_state_urbanization`` and ``v_scenario_summary``.

Everything is deterministic (integer hashing in SQL, no RNG), so the same
``scale`` always gives the same numbers, on every machine and DuckDB version.
``scale=1.0`` has ~3,100 counties and ~6.5 million fact rows.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

__all__ = [
    "DEFAULT_SCALE",
    "SMALL_SCALE",
    "SCHEMA_DOC",
    "DatabaseInfo",
    "build_database",
    "cached_database",
    "county_count",
    "fact_row_count",
]

SCHEMA_VERSION = 2
DEFAULT_SCALE = 0.5
SMALL_SCALE = 0.05

# (FIPS, postal code, name, census region, number of counties)
STATES: tuple[tuple[str, str, str, str, int], ...] = (
    ("01", "AL", "Alabama", "South", 67),
    ("04", "AZ", "Arizona", "West", 15),
    ("05", "AR", "Arkansas", "South", 75),
    ("06", "CA", "California", "West", 58),
    ("08", "CO", "Colorado", "West", 64),
    ("09", "CT", "Connecticut", "Northeast", 8),
    ("10", "DE", "Delaware", "South", 3),
    ("12", "FL", "Florida", "South", 67),
    ("13", "GA", "Georgia", "South", 159),
    ("16", "ID", "Idaho", "West", 44),
    ("17", "IL", "Illinois", "Midwest", 102),
    ("18", "IN", "Indiana", "Midwest", 92),
    ("19", "IA", "Iowa", "Midwest", 99),
    ("20", "KS", "Kansas", "Midwest", 105),
    ("21", "KY", "Kentucky", "South", 120),
    ("22", "LA", "Louisiana", "South", 64),
    ("23", "ME", "Maine", "Northeast", 16),
    ("24", "MD", "Maryland", "South", 24),
    ("25", "MA", "Massachusetts", "Northeast", 14),
    ("26", "MI", "Michigan", "Midwest", 83),
    ("27", "MN", "Minnesota", "Midwest", 87),
    ("28", "MS", "Mississippi", "South", 82),
    ("29", "MO", "Missouri", "Midwest", 115),
    ("30", "MT", "Montana", "West", 56),
    ("31", "NE", "Nebraska", "Midwest", 93),
    ("32", "NV", "Nevada", "West", 17),
    ("33", "NH", "New Hampshire", "Northeast", 10),
    ("34", "NJ", "New Jersey", "Northeast", 21),
    ("35", "NM", "New Mexico", "West", 33),
    ("36", "NY", "New York", "Northeast", 62),
    ("37", "NC", "North Carolina", "South", 100),
    ("38", "ND", "North Dakota", "Midwest", 53),
    ("39", "OH", "Ohio", "Midwest", 88),
    ("40", "OK", "Oklahoma", "South", 77),
    ("41", "OR", "Oregon", "West", 36),
    ("42", "PA", "Pennsylvania", "Northeast", 67),
    ("44", "RI", "Rhode Island", "Northeast", 5),
    ("45", "SC", "South Carolina", "South", 46),
    ("46", "SD", "South Dakota", "Midwest", 66),
    ("47", "TN", "Tennessee", "South", 95),
    ("48", "TX", "Texas", "South", 254),
    ("49", "UT", "Utah", "West", 29),
    ("50", "VT", "Vermont", "Northeast", 14),
    ("51", "VA", "Virginia", "South", 133),
    ("53", "WA", "Washington", "West", 39),
    ("54", "WV", "West Virginia", "South", 55),
    ("55", "WI", "Wisconsin", "Midwest", 72),
    ("56", "WY", "Wyoming", "West", 23),
)

COUNTY_NAMES: tuple[str, ...] = (
    "Washington",
    "Jefferson",
    "Franklin",
    "Lincoln",
    "Jackson",
    "Madison",
    "Clay",
    "Montgomery",
    "Union",
    "Marion",
    "Monroe",
    "Wayne",
    "Greene",
    "Warren",
    "Polk",
    "Grant",
    "Hamilton",
    "Marshall",
    "Lake",
    "Douglas",
    "Adams",
    "Johnson",
    "Lee",
    "Carroll",
    "Clark",
    "Crawford",
    "Fayette",
    "Henry",
    "Morgan",
    "Scott",
    "Shelby",
    "Benton",
    "Boone",
    "Butler",
    "Calhoun",
    "Cass",
    "Clinton",
    "Decatur",
    "Dallas",
    "Fulton",
    "Hancock",
    "Harrison",
    "Houston",
    "Howard",
    "Knox",
    "Lawrence",
    "Logan",
    "Mercer",
    "Mitchell",
    "Perry",
    "Pike",
    "Putnam",
    "Randolph",
    "Richland",
    "Russell",
    "Sullivan",
    "Taylor",
    "Brown",
    "Cherokee",
    "Columbia",
    "Cumberland",
    "Dodge",
    "Hardin",
    "Jasper",
    "Lewis",
)

_NAME_PREFIXES: tuple[str, ...] = ("", "North ", "South ", "East ", "West ")  # for states with many counties

# (id, code, name, category)
LANDUSES: tuple[tuple[int, str, str, str], ...] = (
    (1, "cr", "Crop", "Agriculture"),
    (2, "ps", "Pasture", "Agriculture"),
    (3, "rg", "Range", "Natural"),
    (4, "fr", "Forest", "Natural"),
    (5, "ur", "Urban", "Developed"),
)

CLIMATE_MODELS: tuple[tuple[str, str], ...] = (
    ("CNRM_CM5", "wet"),
    ("HadGEM2_ES365", "hot"),
    ("IPSL_CM5A_MR", "dry"),
    ("MRI_CGCM3", "least warm"),
    ("NorESM1_M", "middle"),
)

# RPA code, RCP, SSP, growth multiplier for development, description
SCENARIO_PATHS: tuple[tuple[str, str, str, float, str], ...] = (
    ("LM", "rcp45", "ssp1", 0.85, "Lower warming, moderate growth, sustainable development"),
    ("HL", "rcp85", "ssp3", 0.70, "High warming, low growth, regional rivalry"),
    ("HM", "rcp85", "ssp2", 1.00, "High warming, moderate growth, middle of the road"),
    ("HH", "rcp85", "ssp5", 1.45, "High warming, high growth, fossil-fuelled development"),
)

PERIODS: tuple[tuple[int, int], ...] = ((2020, 2030), (2030, 2040), (2040, 2050), (2050, 2060), (2060, 2070))

# Share of each land use (crop, pasture, range, forest, urban) in a region's counties.
REGION_SHARES: dict[str, tuple[float, float, float, float, float]] = {
    "Midwest": (0.52, 0.14, 0.08, 0.18, 0.08),
    "South": (0.18, 0.20, 0.12, 0.40, 0.10),
    "West": (0.10, 0.08, 0.50, 0.27, 0.05),
    "Northeast": (0.12, 0.10, 0.02, 0.62, 0.14),
}

SCHEMA_DOC = """\
Star schema (DuckDB):
  fact_landuse_transitions(transition_id, scenario_id, time_id, geography_id,
      from_landuse_id, to_landuse_id, acres DOUBLE, transition_type 'same'|'change')
  dim_scenario(scenario_id, scenario_name, climate_model, rcp_scenario 'rcp45'|'rcp85',
      ssp_scenario 'ssp1'|'ssp2'|'ssp3'|'ssp5', rpa_code 'LM'|'HL'|'HM'|'HH', description)
  dim_geography(geography_id, fips_code, county_name, state_code, state_name, state_abbrev, region)
  dim_landuse(landuse_id, landuse_code, landuse_name 'Crop'|'Pasture'|'Range'|'Forest'|'Urban',
      landuse_category 'Agriculture'|'Natural'|'Developed')
  dim_time(time_id, year_range, start_year, end_year, period_length)
  views: v_landuse_with_metadata (fact joined to every dimension),
         v_state_urbanization, v_scenario_summary"""


@dataclass(frozen=True)
class DatabaseInfo:
    """Where a generated database lives and what it holds."""

    path: str
    scale: float
    counties: int
    fact_rows: int
    build_seconds: float


def county_count(scale: float) -> int:
    """Counties in a database of ``scale`` (each state keeps at least one)."""
    return sum(max(1, round(count * scale)) for *_, count in STATES)


def fact_row_count(counties: int) -> int:
    """Fact rows for ``counties``: scenarios x periods x counties x 21 (from, to) pairs (urban never reverts)."""
    pairs = len(LANDUSES) * len(LANDUSES) - (len(LANDUSES) - 1)
    return len(SCENARIO_PATHS) * len(CLIMATE_MODELS) * len(PERIODS) * counties * pairs


def _u(expr: str, salt: int) -> str:
    """SQL for a deterministic pseudo-random number in [0, 1) from an integer expression."""
    return f"((({expr}) * 2654435761 + {salt * 40503 + 12345}) % 1000003) / 1000003.0"


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]) -> None:
    """One multi-row INSERT (``executemany`` runs a statement per row: seconds for a few thousand)."""
    values = ",\n".join("(" + ", ".join(_literal(value) for value in row) + ")" for row in rows)
    con.execute(f"INSERT INTO {table} VALUES {values}")


def _create_dimensions(con: duckdb.DuckDBPyConnection, scale: float) -> int:
    con.execute("""
        CREATE TABLE dim_scenario (scenario_id INTEGER PRIMARY KEY, scenario_name VARCHAR,
            climate_model VARCHAR, climate_type VARCHAR, rcp_scenario VARCHAR, ssp_scenario VARCHAR,
            rpa_code VARCHAR, growth DOUBLE, description VARCHAR)""")
    scenarios = []
    for path_index, (code, rcp, ssp, growth, description) in enumerate(SCENARIO_PATHS):
        for model_index, (model, climate_type) in enumerate(CLIMATE_MODELS):
            scenario_id = path_index * len(CLIMATE_MODELS) + model_index + 1
            scenarios.append(
                (scenario_id, f"{model}_{rcp}_{ssp}", model, climate_type, rcp, ssp, code, growth, description)
            )
    _insert(con, "dim_scenario", scenarios)

    con.execute("""
        CREATE TABLE dim_landuse (landuse_id INTEGER PRIMARY KEY, landuse_code VARCHAR,
            landuse_name VARCHAR, landuse_category VARCHAR)""")
    _insert(con, "dim_landuse", LANDUSES)

    con.execute("""
        CREATE TABLE dim_time (time_id INTEGER PRIMARY KEY, year_range VARCHAR, start_year INTEGER,
            end_year INTEGER, period_length INTEGER)""")
    _insert(
        con, "dim_time", [(i + 1, f"{start}-{end}", start, end, end - start) for i, (start, end) in enumerate(PERIODS)]
    )

    con.execute("""
        CREATE TABLE dim_geography (geography_id INTEGER PRIMARY KEY, fips_code VARCHAR,
            county_name VARCHAR, state_code VARCHAR, state_name VARCHAR, state_abbrev VARCHAR,
            region VARCHAR, land_acres DOUBLE)""")
    counties = []
    for fips, abbrev, name, region, real_count in STATES:
        for n in range(max(1, round(real_count * scale))):
            geography_id = len(counties) + 1
            county = COUNTY_NAMES[(int(fips) * 7 + n) % len(COUNTY_NAMES)]
            prefix = _NAME_PREFIXES[n // len(COUNTY_NAMES) % len(_NAME_PREFIXES)]
            acres = 150_000 + (geography_id * 7919 % 1000) * 900.0
            counties.append(
                (geography_id, f"{fips}{2 * n + 1:03d}", f"{prefix}{county} County", fips, name, abbrev, region, acres)
            )
    _insert(con, "dim_geography", counties)
    return len(counties)


def _create_facts(con: duckdb.DuckDBPyConnection, counties: int) -> None:
    shares = " ".join(
        f"WHEN '{region}' THEN [{', '.join(map(str, values))}]" for region, values in REGION_SHARES.items()
    )
    # Ten-year transition rate from one land use to another, before scenario effects.
    base_rate = """CASE
        WHEN l2.landuse_id = 5 THEN 0.012
        WHEN l1.landuse_id = 1 AND l2.landuse_id = 2 THEN 0.020
        WHEN l1.landuse_id = 2 AND l2.landuse_id = 1 THEN 0.018
        WHEN l1.landuse_id = 4 THEN 0.006
        WHEN l2.landuse_id = 4 THEN 0.008
        ELSE 0.004 END"""
    # Acres are exact decimals until the end, so that sums do not depend on the order threads add them in.
    con.execute(f"""
        CREATE TABLE fact_landuse_transitions AS
        WITH stock AS (
            SELECT g.geography_id, g.region, l.landuse_id,
                   round(g.land_acres * (CASE g.region {shares} END)[l.landuse_id]
                       * (0.6 + 0.8 * {_u("g.geography_id * 5 + l.landuse_id", 1)}), 2)::DECIMAL(18, 2) AS acres,
                   1.0 + 3.0 * {_u("g.geography_id", 2)} * {_u("g.geography_id", 3)} AS urban_pressure
            FROM dim_geography g CROSS JOIN dim_landuse l
        ),
        moves AS (
            SELECT s.scenario_id, t.time_id, st.geography_id, l1.landuse_id AS from_id, l2.landuse_id AS to_id,
                   round(st.acres::DOUBLE * {base_rate}
                       * CASE WHEN l2.landuse_id = 5 THEN s.growth * st.urban_pressure
                              * (1.0 + 0.08 * (t.time_id - 1)) ELSE 1.0 END
                       * CASE WHEN l1.landuse_id = 4 AND s.rcp_scenario = 'rcp85' THEN 1.3 ELSE 1.0 END
                       * (0.5 + {_u("st.geography_id * 131 + s.scenario_id * 17 + t.time_id * 7 + l2.landuse_id", 4)}),
                       2)::DECIMAL(18, 2) AS acres
            FROM stock st
            JOIN dim_landuse l1 ON l1.landuse_id = st.landuse_id
            CROSS JOIN dim_landuse l2
            CROSS JOIN dim_scenario s
            CROSS JOIN dim_time t
            WHERE l1.landuse_id <> l2.landuse_id AND l1.landuse_id <> 5
        ),
        kept AS (
            SELECT m.scenario_id, m.time_id, m.geography_id, m.from_id, m.from_id AS to_id,
                   greatest(st.acres - sum(m.acres), 0)::DECIMAL(18, 2) AS acres
            FROM moves m JOIN stock st ON st.geography_id = m.geography_id AND st.landuse_id = m.from_id
            GROUP BY m.scenario_id, m.time_id, m.geography_id, m.from_id, st.acres
            UNION ALL
            SELECT s.scenario_id, t.time_id, st.geography_id, 5, 5, st.acres
            FROM stock st CROSS JOIN dim_scenario s CROSS JOIN dim_time t WHERE st.landuse_id = 5
        )
        SELECT ((((scenario_id - 1) * {len(PERIODS)} + time_id - 1) * {counties} + geography_id - 1) * 25
                + (from_id - 1) * 5 + to_id)::BIGINT AS transition_id,
               scenario_id, time_id, geography_id, from_id AS from_landuse_id, to_id AS to_landuse_id,
               acres::DOUBLE AS acres,
               CASE WHEN from_id = to_id THEN 'same' ELSE 'change' END AS transition_type
        FROM (SELECT * FROM moves UNION ALL SELECT * FROM kept)
    """)


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE VIEW v_landuse_with_metadata AS
        SELECT f.transition_id, f.acres, f.transition_type,
               s.scenario_id, s.scenario_name, s.climate_model, s.rcp_scenario, s.ssp_scenario, s.rpa_code,
               t.time_id, t.year_range, t.start_year, t.end_year,
               g.geography_id, g.fips_code, g.county_name, g.state_code, g.state_name, g.state_abbrev, g.region,
               fl.landuse_name AS from_landuse, fl.landuse_category AS from_category,
               tl.landuse_name AS to_landuse, tl.landuse_category AS to_category
        FROM fact_landuse_transitions f
        JOIN dim_scenario s USING (scenario_id)
        JOIN dim_time t USING (time_id)
        JOIN dim_geography g USING (geography_id)
        JOIN dim_landuse fl ON fl.landuse_id = f.from_landuse_id
        JOIN dim_landuse tl ON tl.landuse_id = f.to_landuse_id""")
    con.execute("""
        CREATE VIEW v_state_urbanization AS
        SELECT s.scenario_name, s.rcp_scenario, s.ssp_scenario, g.state_name, t.year_range,
               sum(f.acres) AS acres_to_urban
        FROM fact_landuse_transitions f
        JOIN dim_scenario s USING (scenario_id)
        JOIN dim_time t USING (time_id)
        JOIN dim_geography g USING (geography_id)
        WHERE f.to_landuse_id = 5 AND f.transition_type = 'change'
        GROUP BY ALL""")
    con.execute("""
        CREATE VIEW v_scenario_summary AS
        SELECT s.scenario_name, s.rcp_scenario, s.ssp_scenario, tl.landuse_name AS to_landuse,
               sum(f.acres) AS acres_gained
        FROM fact_landuse_transitions f
        JOIN dim_scenario s USING (scenario_id)
        JOIN dim_landuse tl ON tl.landuse_id = f.to_landuse_id
        WHERE f.transition_type = 'change'
        GROUP BY ALL""")


def build_database(path: str | os.PathLike[str], scale: float = DEFAULT_SCALE) -> DatabaseInfo:
    """Create the database at ``path`` (``":memory:"`` is not useful: the agent opens the file).

    ``scale`` multiplies the real number of counties per state (at least one each).
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    started = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        con.execute("SET enable_progress_bar = false")
        counties = _create_dimensions(con, scale)
        _create_facts(con, counties)
        _create_views(con)
        (rows,) = con.execute("SELECT count(*) FROM fact_landuse_transitions").fetchone()  # pyright: ignore[reportGeneralTypeIssues]
        con.execute("CHECKPOINT")
    return DatabaseInfo(str(path), scale, counties, rows, time.perf_counter() - started)


def default_cache_dir() -> Path:
    """Where generated databases are kept between runs (``AGENTOTEL_DEMO_CACHE`` overrides)."""
    override = os.environ.get("AGENTOTEL_DEMO_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "agentotel" / "demo"


def cached_database(scale: float = DEFAULT_SCALE, directory: Path | None = None) -> DatabaseInfo:
    """The database for ``scale``, built once and reused (the file name carries scale and schema version).

    Built under a temporary name and renamed into place, so concurrent runs never see a half-built file.
    """
    directory = Path(directory) if directory is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"v{SCHEMA_VERSION}-scale{scale:g}" / "landuse.duckdb"  # db.namespace: "landuse"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        counties = county_count(scale)
        return DatabaseInfo(str(target), scale, counties, fact_row_count(counties), 0.0)
    fd, temporary = tempfile.mkstemp(prefix=target.stem, suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.unlink(temporary)  # DuckDB refuses to open an empty file as a database
    try:
        info = build_database(temporary, scale)
        os.replace(temporary, target)
    finally:
        for leftover in (temporary, temporary + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return DatabaseInfo(str(target), info.scale, info.counties, info.fact_rows, info.build_seconds)
