"""Demo test fixtures: a small land-use database (built once per session, ~1 s) and the rotel collector."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentotel.demo import data
from tests.pipeline.conftest import collector, otlp_sink  # noqa: F401  (the rotel collector and its sink)


@pytest.fixture(scope="session")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> data.DatabaseInfo:
    """A database at ``SMALL_SCALE`` in a session temp dir."""
    return data.build_database(Path(tmp_path_factory.mktemp("landuse")) / "landuse.duckdb", data.SMALL_SCALE)


@pytest.fixture(scope="session")
def demo_cache_dir(tmp_path_factory: pytest.TempPathFactory, small_db: data.DatabaseInfo) -> Path:
    """A demo cache directory that already holds the small database (so runs reuse it)."""
    directory = Path(tmp_path_factory.mktemp("demo-cache"))
    target = directory / f"v{data.SCHEMA_VERSION}-scale{data.SMALL_SCALE:g}" / "landuse.duckdb"
    target.parent.mkdir()
    target.write_bytes(Path(small_db.path).read_bytes())
    return directory
