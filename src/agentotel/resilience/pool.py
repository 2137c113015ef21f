"""A DuckDB connection pool for many threads and event loops, reporting the database client connection metrics.

Example::

    from agentotel import DuckDBPool

    pool = DuckDBPool("landuse.duckdb", size=8, read_only=True, name="landuse")

    with pool.connection() as con:                  # threads
        rows = con.execute("SELECT count(*) FROM parcels").fetchall()

    async with pool.aconnection() as con:           # event loops: waits without blocking the loop
        rows = await asyncio.to_thread(lambda: con.execute(sql).fetchall())

    pool.close()

Why cursors
    DuckDB runs one database instance per file per process, and a
    ``DuckDBPyConnection`` must not be used by two threads at once. The pool opens
    the database once (``duckdb.connect(database, read_only=..., config=...)``) and
    hands out *cursors* of that connection: in DuckDB a cursor is a full
    ``DuckDBPyConnection`` of its own (its own transaction, prepared statements,
    temporary objects and settings) on the same database instance. Separate
    ``duckdb.connect()`` calls would not do: for ``:memory:`` each one is a new,
    empty database, and for a file a second ``connect`` with another ``config`` or
    ``read_only`` is refused while the first is open. A cursor is opened when one is
    first needed (at most ``size``), kept while idle, and closed by :meth:`close`.

One caller at a time
    A connection is lent to one caller at a time and always taken back: when the
    ``with``/``async with`` block ends, raises, or is cancelled. Don't keep it past
    the block. If the block ended with an exception (cancellation included), the
    connection is closed, which rolls back a transaction it left open, and a fresh
    one takes its place, so a failed statement never leaves the next caller in an
    aborted transaction. After a block that ends normally the connection is reused
    as it is: commit or roll back any transaction you began inside it.

Waiting
    When every connection is lent, callers queue in arrival order and each returned
    connection goes straight to the longest waiting caller, whether a thread or a
    task on any event loop. A caller that waits longer than ``timeout`` gets
    :class:`PoolTimeoutError` (a ``TimeoutError``) naming the pool and how long it
    waited; a cancelled waiter leaves the queue and loses nothing. One plain lock
    guards the bookkeeping; it is never held while a connection is opened or
    closed, while a caller waits, or while telemetry is recorded.

Telemetry (OpenTelemetry database client connection metrics, all with ``db.client.connection.pool.name``)
    ``db.client.connection.count`` by ``db.client.connection.state`` (``idle``/``used``),
    ``db.client.connection.max``, ``db.client.connection.pending_requests`` and
    ``db.client.connection.timeouts`` are read from the pool's counters at collection
    time; ``db.client.connection.wait_time``, ``.use_time`` and ``.create_time`` are
    histograms recorded per acquisition, per return and per opened connection.
    The pool also appears in ``agentotel.health()`` under ``duckdb_pool``.
    Statements run on pool connections get the usual DuckDB spans when the DuckDB
    instrumentation is on.

``duckdb`` is imported when the first pool is created, not before.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import MeterProvider, Observation

from agentotel import _telemetry, semconv
from agentotel._handle import Binding, Observed
from agentotel.resilience import _registry

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

__all__ = ["DuckDBPool", "PoolClosedError", "PoolTimeoutError"]

_KIND = "duckdb_pool"
_RECENT_TIMEOUT_S = 60.0  # a timeout this recent makes the pool "degraded" in health()


class PoolTimeoutError(TimeoutError):
    """No connection became free within the caller's timeout."""

    def __init__(self, name: str, waited: float, size: int, pending: int = 0) -> None:
        self.name = name
        #: Seconds the caller waited.
        self.waited = waited
        self.size = size
        self.pending = pending
        super().__init__(
            f"DuckDB pool {name!r}: no connection free after waiting {waited:.3g} s "
            f"(all {size} in use, {pending} other callers waiting); raise size= or timeout=, "
            "or hold connections for less time"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.name, self.waited, self.size, self.pending))


class PoolClosedError(RuntimeError):
    """The pool was closed: it lends no more connections."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"DuckDB pool {name!r} is closed")

    def __reduce__(self) -> Any:
        return (type(self), (self.name,))


# --------------------------------------------------------------------------- waiters
_WAITING, _HANDED, _GONE = 0, 1, 2


class _Waiter:
    """A caller queued for a connection. ``state`` and ``connection`` change under the pool's lock.

    Handed over with ``connection=None``, the waiter owns a free slot and opens the connection itself.
    """

    __slots__ = ("state", "connection", "closed")

    def __init__(self) -> None:
        self.state = _WAITING
        self.connection: Any = None
        self.closed = False

    def wake(self) -> bool:
        """Tell the waiter (outside the pool's lock); False if it can no longer be told."""
        raise NotImplementedError


class _ThreadWaiter(_Waiter):
    __slots__ = ("gate",)

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Lock()
        self.gate.acquire()

    def wake(self) -> bool:
        self.gate.release()
        return True

    def wait(self, timeout: float | None) -> None:
        self.gate.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))


class _TaskWaiter(_Waiter):
    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> bool:
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # its event loop is closed: nobody will take the connection
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --------------------------------------------------------------------------- telemetry
class _PoolTelemetry:
    """Where a pool reports (its meter provider, else the one in force when it records) and its attributes."""

    __slots__ = ("binding", "attributes")

    def __init__(self, name: str, meter_provider: MeterProvider | None) -> None:
        self.binding = Binding(semconv.SCOPE_COMPONENTS, meter_provider=meter_provider)
        self.attributes = {semconv.DB_CLIENT_CONNECTION_POOL_NAME: name}

    def record(self, metric: semconv.Metric, seconds: float) -> None:
        if not _telemetry.is_enabled():
            return
        try:
            self.binding.current()[metric].record(seconds, self.attributes)
        except Exception as exc:
            _telemetry.log_internal_error("duckdb pool histogram", exc)


def _connections(pools: list[DuckDBPool]) -> Iterable[Observation]:
    name_key, state_key = semconv.DB_CLIENT_CONNECTION_POOL_NAME, semconv.DB_CLIENT_CONNECTION_STATE
    for pool in pools:
        idle, used, _, _ = pool._counts()  # pyright: ignore[reportPrivateUsage]
        yield Observation(idle, {name_key: pool.name, state_key: semconv.DB_CLIENT_CONNECTION_STATE_IDLE})
        yield Observation(used, {name_key: pool.name, state_key: semconv.DB_CLIENT_CONNECTION_STATE_USED})


def _per_pool(value: Callable[[DuckDBPool], int]) -> Callable[[list[DuckDBPool]], Iterable[Observation]]:
    def read(pools: list[DuckDBPool]) -> Iterable[Observation]:
        return [Observation(value(pool), {semconv.DB_CLIENT_CONNECTION_POOL_NAME: pool.name}) for pool in pools]

    return read


#: The pools' observable instruments: each live pool, through its binding.
POOLS = Observed(
    _KIND,
    {
        semconv.DB_CLIENT_CONNECTION_COUNT: _connections,
        semconv.DB_CLIENT_CONNECTION_MAX: _per_pool(lambda pool: pool.size),
        semconv.DB_CLIENT_CONNECTION_PENDING_REQUESTS: _per_pool(lambda pool: pool._counts()[2]),  # pyright: ignore[reportPrivateUsage]
        semconv.DB_CLIENT_CONNECTION_TIMEOUTS: _per_pool(lambda pool: pool._counts()[3]),  # pyright: ignore[reportPrivateUsage]
    },
)


# --------------------------------------------------------------------------- leases
class _Lease:
    """``with pool.connection() as con``: one acquisition, returned exactly once."""

    __slots__ = ("_pool", "_timeout", "_connection", "_since")

    def __init__(self, pool: DuckDBPool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._connection: Any = None

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        if self._connection is not None:
            raise RuntimeError("a pool lease is entered once")
        self._connection, self._since = self._pool._acquire(self._timeout)  # pyright: ignore[reportPrivateUsage]
        return self._connection

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool._release(connection, self._since, exc_type is not None)  # pyright: ignore[reportPrivateUsage]


class _AsyncLease(_Lease):
    """``async with pool.aconnection() as con``: waits on the event loop, never blocking it."""

    __slots__ = ()

    async def __aenter__(self) -> duckdb.DuckDBPyConnection:
        if self._connection is not None:
            raise RuntimeError("a pool lease is entered once")
        self._connection, self._since = await self._pool._aacquire(self._timeout)  # pyright: ignore[reportPrivateUsage]
        return self._connection

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


# --------------------------------------------------------------------------- the pool
class DuckDBPool:
    """At most ``size`` connections (cursors) to one DuckDB database, lent to one caller at a time.

    Args:
        database: Path of the database file, or ``":memory:"``.
        size: The most connections open at once (and so the most concurrent callers).
        read_only: Open the database read-only (several processes may then read one file).
        config: DuckDB configuration options for the database, as for ``duckdb.connect``.
        timeout: Default longest wait in seconds for a connection (``None``: wait as long as it takes).
        name: ``db.client.connection.pool.name`` (default: ``database`` as given).
        clock: Monotonic seconds, for the wait and use times.
        meter_provider: Where the metrics go (default: the one given to ``agentotel.instrument()``,
            else the global one).

    Use :meth:`connection` from threads and :meth:`aconnection` from event loops;
    :meth:`close` (or ``with DuckDBPool(...) as pool:``) closes every connection.
    """

    def __init__(
        self,
        database: str | os.PathLike[str] = ":memory:",
        *,
        size: int = 8,
        read_only: bool = False,
        config: dict[str, Any] | None = None,
        timeout: float | None = 5.0,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"DuckDBPool size must be an integer >= 1, not {size!r}")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"DuckDBPool timeout must be >= 0 seconds or None, not {timeout!r}")
        import duckdb

        self.database = os.fspath(database)
        self.name = str(name) if name is not None else self.database
        self.size = size
        self.read_only = read_only
        self.timeout = timeout
        self._clock = clock
        self._root = duckdb.connect(self.database, read_only=read_only, config=dict(config or {}))
        # The root connection is not thread-safe: opening and closing its cursors take turns here.
        # Separate from the bookkeeping lock, which is never held while DuckDB works.
        self._root_lock = threading.Lock()
        self._lock = threading.Lock()
        self._idle: list[Any] = []  # a stack: the most recently used (warmest) connection goes out first
        self._waiters: deque[_Waiter] = deque()
        self._opened = 0  # connections open or being opened, lent or idle (<= size)
        self._used = 0  # lent out, or being opened for a caller
        self._pending = 0  # waiters still waiting
        self._timeouts = 0
        self._acquisitions = 0
        self._last_timeout: float | None = None
        self._closed = False
        self._root_closed = False
        self._telemetry = _PoolTelemetry(self.name, meter_provider)
        #: Where the pool reports: its meter provider, else the one in force when it records.
        self.binding = self._telemetry.binding
        POOLS.add(self)
        _registry.register(_KIND, self)

    # ------------------------------------------------------------------ public
    def connection(self, *, timeout: float | None = None) -> _Lease:
        """``with pool.connection() as con:`` — a connection for this thread until the block ends.

        Waits up to ``timeout`` seconds (default: the pool's) for a free connection,
        then raises :class:`PoolTimeoutError`. Raises :class:`PoolClosedError` once
        the pool is closed.
        """
        return _Lease(self, timeout)

    def aconnection(self, *, timeout: float | None = None) -> _AsyncLease:
        """``async with pool.aconnection() as con:`` — as :meth:`connection`, waiting without blocking the loop.

        A task cancelled while it waits leaves the queue; one cancelled while it
        holds the connection gives it back (closed and replaced, as after any exception).
        """
        return _AsyncLease(self, timeout)

    def close(self) -> None:
        """Close the idle connections now and each lent one when it comes back; fail waiting callers.

        Idempotent. Callers waiting, and every later :meth:`connection`, get
        :class:`PoolClosedError`. The database itself is closed with the last connection.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            waiters = [w for w in self._waiters if w.state == _WAITING]
            self._waiters.clear()
            for waiter in waiters:
                waiter.state, waiter.closed = _HANDED, True
                self._pending -= 1
            last = self._opened == 0
        for connection in idle:
            self._discard(connection)
        for waiter in waiters:
            waiter.wake()
        if last:
            self._close_root()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> DuckDBPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stats(self) -> dict[str, int]:
        """Counts now: ``idle``, ``used``, ``pending`` (waiting callers), ``timeouts``, ``acquisitions``, ``size``."""
        with self._lock:
            return {
                "size": self.size,
                "idle": len(self._idle),
                "used": self._used,
                "pending": self._pending,
                "timeouts": self._timeouts,
                "acquisitions": self._acquisitions,
            }

    def health_snapshot(self) -> dict[str, Any]:
        """Counts and settings; ``degraded`` if a caller timed out in the last minute."""
        stats = self.stats()
        last = self._last_timeout
        recent = last is not None and self._clock() - last < _RECENT_TIMEOUT_S
        return {
            "name": self.name,
            "status": "degraded" if recent else "healthy",
            "database": self.database,
            "read_only": self.read_only,
            "closed": self._closed,
            **stats,
        }

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._used}/{self.size} used"
        return f"DuckDBPool({self.database!r}, name={self.name!r}, {state})"

    # ------------------------------------------------------------------ acquire
    def _counts(self) -> tuple[int, int, int, int]:
        with self._lock:
            return len(self._idle), self._used, self._pending, self._timeouts

    def _take(self, waiter: _Waiter | None) -> tuple[Any, bool]:
        """Under the lock: (connection, False), or (None, True) for a slot to open one in, or
        (None, False) after queueing ``waiter`` (or when there is no waiter to queue)."""
        if self._closed:
            raise PoolClosedError(self.name)
        if self._idle:
            self._used += 1
            self._acquisitions += 1
            return self._idle.pop(), False
        if self._opened < self.size:
            self._opened += 1
            self._used += 1
            self._acquisitions += 1
            return None, True
        if waiter is not None:
            self._waiters.append(waiter)
            self._pending += 1
        return None, False

    def _take_now(self, waiter: _Waiter | None) -> Any:
        """A connection now (an idle one, or one opened in a free slot), else ``None`` after
        queueing ``waiter`` (if given)."""
        with self._lock:
            connection, slot = self._take(waiter)
        return self._open() if slot else connection

    def _waited(self, start: float) -> float:
        """Record the wait for a connection that began at ``start``; the time it ended."""
        since = self._clock()
        self._telemetry.record(semconv.DB_CLIENT_CONNECTION_WAIT_TIME, since - start)
        return since

    def _acquire(self, timeout: float | None) -> tuple[Any, float]:
        start = self._clock()
        connection = self._take_now(None)
        if connection is None:
            connection = self._wait(self.timeout if timeout is None else timeout, start)
        return connection, self._waited(start)

    def _wait(self, timeout: float | None, start: float) -> Any:
        waiter = _ThreadWaiter()
        connection = self._take_now(waiter)  # again: one may have come back meanwhile
        if connection is not None:
            return connection
        deadline = None if timeout is None else time.monotonic() + timeout
        now, others = start, 0
        while True:
            waiter.wait(None if deadline is None else deadline - time.monotonic())
            now = self._clock()
            with self._lock:
                if waiter.state == _HANDED:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    self._leave(waiter, now)
                    others = self._pending
                    break
        if waiter.state == _GONE:
            raise PoolTimeoutError(self.name, now - start, self.size, others)
        return self._receive(waiter)

    async def _aacquire(self, timeout: float | None) -> tuple[Any, float]:
        start = self._clock()
        connection = self._take_now(None)
        if connection is None:
            connection = await self._await(self.timeout if timeout is None else timeout, start)
        return connection, self._waited(start)

    async def _await(self, timeout: float | None, start: float) -> Any:
        waiter = _TaskWaiter(asyncio.get_running_loop())
        connection = self._take_now(waiter)
        if connection is not None:
            return connection
        try:
            if timeout is None:
                await waiter.future
            else:
                await asyncio.wait_for(waiter.future, timeout)
        except asyncio.TimeoutError:
            now = self._clock()
            with self._lock:
                timed_out = waiter.state == _WAITING
                if timed_out:
                    self._leave(waiter, now)
                others = self._pending
            if timed_out:
                raise PoolTimeoutError(self.name, now - start, self.size, others) from None
            # Handed over just as the time ran out: take it.
        except BaseException:  # cancelled (or interrupted): leave the queue, or pass on what was handed over
            with self._lock:
                handed = waiter.state == _HANDED
                if not handed:
                    self._leave(waiter, None)
            if handed and not waiter.closed:
                self._forward(waiter.connection)
            raise
        return self._receive(waiter)

    def _leave(self, waiter: _Waiter, timed_out_at: float | None) -> None:
        """Under the lock: a waiting caller stops waiting (timed out at ``timed_out_at``, or cancelled)."""
        waiter.state = _GONE
        self._pending -= 1
        try:
            self._waiters.remove(waiter)  # O(waiting callers), only when one gives up
        except ValueError:  # pragma: no cover - a waiting waiter is always queued
            pass
        if timed_out_at is not None:
            self._timeouts += 1
            self._last_timeout = timed_out_at

    def _receive(self, waiter: _Waiter) -> Any:
        """The connection handed to ``waiter`` (opened here if it was handed a free slot)."""
        if waiter.closed:
            raise PoolClosedError(self.name)
        if waiter.connection is None:
            return self._open()
        return waiter.connection

    def _open(self) -> Any:
        """Open a connection in a slot already counted as opened and used."""
        start = self._clock()
        try:
            with self._root_lock:
                connection = self._root.cursor()
        except BaseException:
            self._forward(None)
            raise
        _profile_quietly(connection)
        self._telemetry.record(semconv.DB_CLIENT_CONNECTION_CREATE_TIME, self._clock() - start)
        return connection

    # ------------------------------------------------------------------ release
    def _release(self, connection: Any, since: float, failed: bool) -> None:
        self._telemetry.record(semconv.DB_CLIENT_CONNECTION_USE_TIME, self._clock() - since)
        if failed:  # a failed or cancelled block: don't lend out what it may have left half-done
            self._discard(connection)
            connection = None
        self._forward(connection)

    def _forward(self, connection: Any) -> None:
        """Give a lent connection (or, with ``None``, its slot) to the longest waiting caller, else back."""
        while True:
            last = False  # the last connection of a closed pool: close the root with it
            with self._lock:
                waiter = None
                while self._waiters:
                    candidate = self._waiters.popleft()
                    if candidate.state == _WAITING:
                        waiter = candidate
                        break
                if waiter is None:
                    self._used -= 1
                    if connection is None or self._closed:
                        self._opened -= 1
                        last = self._closed and self._opened == 0
                    else:
                        self._idle.append(connection)
                        return
                else:
                    waiter.state, waiter.connection = _HANDED, connection
                    self._pending -= 1
                    self._acquisitions += 1
            if waiter is None:
                if connection is not None:
                    self._discard(connection)
                if last:
                    self._close_root()
                return
            if waiter.wake():
                return
            with self._lock:  # its event loop is gone: it will never take it; pass it on
                if waiter.state != _HANDED:  # pragma: no cover - only the pool changes a handed waiter
                    return
                waiter.state = _GONE
                self._acquisitions -= 1

    def _discard(self, connection: Any) -> None:
        with self._root_lock:
            _close_quietly(connection)

    def _close_root(self) -> None:
        with self._lock:
            if self._root_closed:
                return
            self._root_closed = True
        with self._root_lock:
            _close_quietly(self._root)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception as exc:  # closing must not hide the caller's own outcome
        _telemetry.log_internal_error("duckdb pool close", exc)


def _profile_quietly(connection: Any) -> None:
    """With ``slow_query_threshold_ms`` set, switch the new connection's profiler on without output, so that
    slow statements can carry DuckDB's operator tree (the pool's own connection: a user's is never touched).
    DuckDB before 1.5 has no way to read a profile back; there it stays off."""
    if _telemetry.current_settings().slow_query_threshold_ms is None or not hasattr(
        connection, "get_profiling_information"
    ):
        return
    try:
        with suppress_instrumentation():
            connection.execute("SET enable_profiling = 'no_output'")
    except Exception as exc:  # a pool that cannot profile still lends connections
        _telemetry.log_internal_error("duckdb pool profiling", exc)
