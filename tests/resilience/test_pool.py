"""DuckDBPool: cursors of one database, lent to one caller at a time, taken back on every exit path."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import agentotel
from agentotel import DuckDBPool
from agentotel.resilience.pool import PoolClosedError, PoolTimeoutError
from tests.support.clock import FakeClock


@pytest.fixture
def pool() -> Iterator[DuckDBPool]:
    with DuckDBPool(":memory:", size=4, name="test-pool") as created:
        yield created


def settled(pool: DuckDBPool) -> dict[str, int]:
    """The pool's counts once every caller has gone: nothing lent, nobody waiting."""
    stats = pool.stats()
    assert (stats["used"], stats["pending"]) == (0, 0), stats
    return stats


class Exclusive:
    """Records who holds each connection; fails if two callers ever hold the same one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holders: dict[int, object] = {}
        self.seen: set[int] = set()
        self.overlaps = 0

    def enter(self, con: object, who: object) -> None:
        with self._lock:
            if id(con) in self.holders:
                self.overlaps += 1
            self.holders[id(con)] = who
            self.seen.add(id(con))

    def exit(self, con: object, who: object) -> None:
        with self._lock:
            if self.holders.pop(id(con), None) is not who:
                self.overlaps += 1


def test_cursors_share_one_database(pool: DuckDBPool) -> None:
    with pool.connection() as first:
        assert isinstance(first, duckdb.DuckDBPyConnection)
        first.execute("CREATE TABLE parcels AS SELECT range AS id FROM range(10)")
        with pool.connection() as second:
            assert second is not first
            assert second.execute("SELECT count(*) FROM parcels").fetchall() == [(10,)]
    assert settled(pool)["idle"] == 2
    with pool.connection() as again:  # the last one returned (the warmest) goes out first
        assert again is first


def test_connections_are_opened_when_needed_up_to_size(pool: DuckDBPool) -> None:
    assert pool.stats()["idle"] == 0
    with pool.connection(), pool.connection(), pool.connection():
        assert pool.stats()["used"] == 3
    assert settled(pool)["idle"] == 3
    assert pool.stats()["acquisitions"] == 3


def test_invalid_arguments_are_refused_clearly() -> None:
    for size in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="size"):
            DuckDBPool(":memory:", size=size)  # type: ignore[arg-type]
    for timeout in (-1, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            DuckDBPool(":memory:", timeout=timeout)


def test_file_database_read_only_and_default_name(tmp_path: Path) -> None:
    path = tmp_path / "landuse.duckdb"
    with duckdb.connect(str(path)) as setup:
        setup.execute("CREATE TABLE t AS SELECT 1 AS x")
    with DuckDBPool(path, size=2, read_only=True, config={"threads": 1}) as pool:
        assert pool.name == str(path)
        with pool.connection() as con:
            assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
            assert con.execute("SELECT current_setting('threads')").fetchall() == [(1,)]
            with pytest.raises(duckdb.Error):
                con.execute("INSERT INTO t VALUES (2)")


def test_an_exception_replaces_the_connection_and_rolls_back(pool: DuckDBPool) -> None:
    with pool.connection() as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(duckdb.Error), pool.connection() as broken:
        broken.execute("BEGIN")
        broken.execute("INSERT INTO t VALUES (1)")
        broken.execute("SELECT * FROM no_such_table")  # the transaction is now aborted
    stats = settled(pool)
    assert stats["idle"] == 0  # the failed connection was closed, not put back
    with pool.connection() as fresh:
        assert fresh is not broken
        assert fresh.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    with pytest.raises(duckdb.Error):
        broken.execute("SELECT 1")  # closed


def test_the_users_exception_propagates_unchanged(pool: DuckDBPool) -> None:
    class Mine(Exception):
        pass

    error = Mine("x")
    with pytest.raises(Mine) as raised, pool.connection():
        raise error
    assert raised.value is error
    settled(pool)


def test_timeout_names_the_pool_and_the_wait() -> None:
    with DuckDBPool(":memory:", size=1, name="landuse", timeout=0.05) as pool:
        with pool.connection():
            started = time.monotonic()
            with pytest.raises(PoolTimeoutError) as raised, pool.connection():
                pass
            assert time.monotonic() - started >= 0.05
            message = str(raised.value)
            assert "'landuse'" in message and "waiting" in message and "1 in use" in message
            assert raised.value.waited >= 0.05 and isinstance(raised.value, TimeoutError)
            with pytest.raises(PoolTimeoutError):
                with pool.connection(timeout=0):
                    pass
        stats = settled(pool)
        assert stats["timeouts"] == 2 and stats["idle"] == 1
        report = agentotel.health()
        (entry,) = [c for c in report["components"]["duckdb_pool"] if c["name"] == "landuse"]
        assert entry["status"] == "degraded" and entry["timeouts"] == 2


def test_health_lists_the_pool_and_recovers_after_a_minute() -> None:
    clock = FakeClock()
    with DuckDBPool(":memory:", size=1, name="h-pool", timeout=0, clock=clock) as pool:
        with pool.connection(), pytest.raises(PoolTimeoutError), pool.connection():
            pass
        (entry,) = [c for c in agentotel.health()["components"]["duckdb_pool"] if c["name"] == "h-pool"]
        assert entry["status"] == "degraded" and entry["size"] == 1 and entry["database"] == ":memory:"
        clock.advance(61)
        (entry,) = [c for c in agentotel.health()["components"]["duckdb_pool"] if c["name"] == "h-pool"]
        assert entry["status"] == "healthy"


def test_a_waiting_thread_gets_the_returned_connection_first() -> None:
    with DuckDBPool(":memory:", size=1, timeout=10) as pool:
        order: list[str] = []
        held = pool.connection()
        con = held.__enter__()

        def wait(label: str) -> None:
            with pool.connection() as got:
                assert got is con
                order.append(label)

        first = threading.Thread(target=wait, args=("first",))
        first.start()
        while pool.stats()["pending"] < 1:
            time.sleep(0.001)
        second = threading.Thread(target=wait, args=("second",))
        second.start()
        while pool.stats()["pending"] < 2:
            time.sleep(0.001)
        held.__exit__(None, None, None)
        first.join(10)
        second.join(10)
        assert order == ["first", "second"]
        assert settled(pool)["idle"] == 1


def test_sixteen_threads_never_share_or_lose_a_connection() -> None:
    threads, rounds, size = 16, 200, 4
    exclusive = Exclusive()
    errors: list[BaseException] = []
    with DuckDBPool(":memory:", size=size, timeout=30) as pool:
        with pool.connection() as con:
            con.execute("CREATE TABLE hits (worker INTEGER, round INTEGER)")

        def work(worker: int) -> None:
            try:
                for n in range(rounds):
                    with pool.connection() as con:
                        exclusive.enter(con, threading.current_thread())
                        con.execute("INSERT INTO hits VALUES (?, ?)", [worker, n])
                        exclusive.exit(con, threading.current_thread())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(60)
        assert not errors and exclusive.overlaps == 0
        stats = settled(pool)
        assert stats["acquisitions"] == threads * rounds + 1
        assert stats["idle"] == size == len(exclusive.seen)
        with pool.connection() as con:
            assert con.execute("SELECT count(*), count(DISTINCT (worker, round)) FROM hits").fetchall() == [
                (threads * rounds, threads * rounds)
            ]


async def test_a_thousand_tasks_never_share_or_lose_a_connection() -> None:
    tasks, size = 1000, 4
    exclusive = Exclusive()
    with DuckDBPool(":memory:", size=size, timeout=None) as pool:

        async def work(n: int) -> int:
            async with pool.aconnection() as con:
                me = asyncio.current_task()
                exclusive.enter(con, me)
                await asyncio.sleep(0)  # let the others pile up behind the pool
                value = con.execute("SELECT ?::INTEGER * 2", [n]).fetchone()[0]
                exclusive.exit(con, me)
                return value

        results = await asyncio.gather(*(work(n) for n in range(tasks)))
        assert results == [2 * n for n in range(tasks)]
        assert exclusive.overlaps == 0
        stats = settled(pool)
        assert stats["acquisitions"] == tasks and stats["idle"] == size == len(exclusive.seen)


async def test_waiting_does_not_block_the_event_loop() -> None:
    with DuckDBPool(":memory:", size=1, timeout=5) as pool:
        held = pool.connection()
        held.__enter__()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        async def borrow() -> str:
            async with pool.aconnection():
                return "got it"

        ticking = asyncio.create_task(ticker())
        waiting = asyncio.create_task(borrow())
        await asyncio.sleep(0.05)
        assert not waiting.done() and ticks >= 5  # the loop kept running while the task waited
        await asyncio.to_thread(held.__exit__, None, None, None)  # returned from another thread
        assert await asyncio.wait_for(waiting, 5) == "got it"
        ticking.cancel()
        settled(pool)


async def test_async_timeout_names_the_pool() -> None:
    with DuckDBPool(":memory:", size=1, name="async-pool") as pool:
        async with pool.aconnection():
            with pytest.raises(PoolTimeoutError, match="'async-pool'"):
                async with pool.aconnection(timeout=0.02):
                    pass
        stats = settled(pool)
        assert stats["timeouts"] == 1 and stats["idle"] == 1


async def test_cancelled_while_waiting_leaves_the_queue() -> None:
    with DuckDBPool(":memory:", size=1, timeout=None) as pool:
        async with pool.aconnection() as con:
            waiting = asyncio.create_task(_borrow(pool))
            await asyncio.sleep(0.01)
            assert pool.stats()["pending"] == 1
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert pool.stats()["pending"] == 0
        stats = settled(pool)
        assert stats["idle"] == 1 and stats["timeouts"] == 0
        async with pool.aconnection(timeout=0) as again:
            assert again is con


async def test_cancelled_after_the_handover_passes_the_connection_on() -> None:
    with DuckDBPool(":memory:", size=1, timeout=None) as pool:
        lease = pool.aconnection()
        con = await lease.__aenter__()
        first = asyncio.create_task(_borrow(pool))
        second = asyncio.create_task(_borrow(pool, hold=0))
        await asyncio.sleep(0.01)
        assert pool.stats()["pending"] == 2
        await lease.__aexit__(None, None, None)  # handed to `first`, whose wake-up is scheduled...
        first.cancel()  # ...but it is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await asyncio.wait_for(second, 5) is con  # the connection went on to the next waiter
        assert settled(pool)["idle"] == 1


async def test_cancelled_while_holding_gives_the_connection_back() -> None:
    with DuckDBPool(":memory:", size=1, timeout=None) as pool:
        holding = asyncio.create_task(_borrow(pool, hold=10))
        await asyncio.sleep(0.01)
        assert pool.stats()["used"] == 1
        holding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holding
        stats = settled(pool)
        assert stats["idle"] == 0  # interrupted mid-use: closed, a fresh one opens on demand
        async with pool.aconnection(timeout=0) as con:
            assert con.execute("SELECT 1").fetchall() == [(1,)]


def test_many_event_loops_in_threads_share_one_pool() -> None:
    loops, tasks, size = 4, 100, 2
    exclusive = Exclusive()
    with DuckDBPool(":memory:", size=size, timeout=30) as pool:

        async def work() -> None:
            async with pool.aconnection() as con:
                exclusive.enter(con, asyncio.current_task())
                await asyncio.sleep(0)
                con.execute("SELECT 1").fetchall()
                exclusive.exit(con, asyncio.current_task())

        async def run() -> None:
            await asyncio.gather(*(work() for _ in range(tasks)))

        threads = [threading.Thread(target=asyncio.run, args=(run(),)) for _ in range(loops)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert exclusive.overlaps == 0
        assert settled(pool)["acquisitions"] == loops * tasks


def test_a_waiter_whose_event_loop_closed_is_skipped() -> None:
    with DuckDBPool(":memory:", size=1, timeout=None) as pool:
        lease = pool.connection()
        lease.__enter__()
        loop = asyncio.new_event_loop()
        task = loop.create_task(_borrow(pool))
        loop.run_until_complete(asyncio.sleep(0.01))
        assert pool.stats()["pending"] == 1
        loop.close()  # the task can never run again
        lease.__exit__(None, None, None)
        assert settled(pool)["idle"] == 1
        with pool.connection(timeout=0):
            pass
        del task


def test_close_while_in_use() -> None:
    pool = DuckDBPool(":memory:", size=2, timeout=None)
    idle_lease = pool.connection()
    idle = idle_lease.__enter__()
    idle_lease.__exit__(None, None, None)
    outcome: list[object] = []
    holding = pool.connection()
    con = holding.__enter__()

    def wait() -> None:
        try:
            with pool.connection():
                outcome.append("got one")
        except PoolClosedError as exc:
            outcome.append(exc)

    # Fill the pool so the next caller waits.
    other = pool.connection()
    other.__enter__()
    waiter = threading.Thread(target=wait)
    waiter.start()
    while pool.stats()["pending"] < 1:
        time.sleep(0.001)

    pool.close()
    waiter.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], PoolClosedError) and "closed" in str(outcome[0])
    assert con.execute("SELECT 42").fetchall() == [(42,)]  # lent connections keep working until returned
    with pytest.raises(PoolClosedError):
        pool.connection().__enter__()
    holding.__exit__(None, None, None)
    other.__exit__(None, None, None)
    for closed in (con, idle):
        with pytest.raises(duckdb.Error):
            closed.execute("SELECT 1")
    assert pool.closed and pool.stats() | {"acquisitions": 0} == {
        "size": 2,
        "idle": 0,
        "used": 0,
        "pending": 0,
        "timeouts": 0,
        "acquisitions": 0,
    }
    pool.close()  # idempotent


async def test_close_fails_waiting_tasks() -> None:
    pool = DuckDBPool(":memory:", size=1, timeout=None)
    async with pool.aconnection():
        waiting = asyncio.create_task(_borrow(pool))
        await asyncio.sleep(0.01)
        pool.close()
        with pytest.raises(PoolClosedError):
            await waiting
    assert pool.stats()["used"] == 0


def test_a_dropped_pool_is_collected() -> None:
    import weakref

    pool = DuckDBPool(":memory:", size=1)
    with pool.connection():
        pass
    ref = weakref.ref(pool)
    del pool
    gc.collect()
    assert ref() is None


def test_importing_the_name_does_not_import_duckdb() -> None:
    code = (
        "import sys, agentotel; cls = agentotel.DuckDBPool; assert 'duckdb' not in sys.modules, 'imported early'; "
        "cls(':memory:').close(); assert 'duckdb' in sys.modules; print('OK')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "OK", done.stderr


async def _borrow(pool: DuckDBPool, hold: float = 0.0) -> object:
    async with pool.aconnection() as con:
        if hold:
            await asyncio.sleep(hold)
        return con
