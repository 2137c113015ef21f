"""Fixtures for the cache tests: a real ``redis-server`` on a loopback port (the fake clock is the suite's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import LOOPBACK, ServerProcess, free_port, require_binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A throwaway redis-server (no persistence) on a free loopback port, stopped by PID at the end."""
    binary = require_binary("redis-server", "apt-get install redis-server (Debian) — .ci/run installs it")
    workdir: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = ServerProcess(
        [
            binary,
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--protected-mode",
            "no",
        ],
        log_path=workdir / "redis.log",
        ports={"redis": port},
    )
    server.start(wait_port=port)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: ServerProcess) -> Iterator[str]:
    """URL of the test Redis; the database is flushed after each test."""
    import redis

    url = f"redis://{LOOPBACK}:{redis_server.ports['redis']}/0"
    yield url
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
