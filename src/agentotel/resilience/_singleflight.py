"""Single-flight: one load per key, shared by every thread and asyncio task that asks for it.

A :class:`Flight` is one load in progress. The cache keeps its flights in a dict
guarded by the cache's own (plain, threading) lock and calls the ``*_locked``
methods with that lock held; waiting and waking happen outside it. No asyncio
primitive is shared between callers: each async waiter gets its own future on its
own event loop, completed through ``call_soon_threadsafe`` when the load ends on
another loop or thread, so any number of threads and event loops can share a key.

Async loads run in a task of their own, so cancelling the caller that started the
load does not cancel it for the others; when the last waiter is cancelled the
cache cancels the task.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

__all__ = ["Flight"]


class Flight:
    """One load in progress for one key, and everyone waiting for its outcome."""

    __slots__ = ("thread", "loop", "task", "done", "joined", "_event", "_futures", "_sync_waiters", "_value", "_error")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.thread = threading.get_ident()  # the thread that started the load
        self.loop = loop  # the event loop running an async load; None for a sync load
        self.task: asyncio.Task[Any] | None = None
        self.done = False
        self.joined = 0  # callers that joined after the load started (``cache.coalesced``)
        self._event: threading.Event | None = None  # made for the first blocking waiter
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        self._sync_waiters = 0
        self._value: Any = None
        self._error: BaseException | None = None

    # ------------------------------------------------------- with the lock held
    def add_sync_waiter_locked(self) -> None:
        """Count a thread that will block in :meth:`wait`."""
        self._sync_waiters += 1
        self.joined += 1
        if self._event is None:
            self._event = threading.Event()

    def add_async_waiter_locked(self, loop: asyncio.AbstractEventLoop, *, joined: bool = True) -> asyncio.Future[Any]:
        """A future on ``loop`` that receives the outcome (``joined``: not the caller that started the load)."""
        self.joined += joined
        future = loop.create_future()
        self._futures.append((loop, future))
        return future

    def remove_async_waiter_locked(self, future: asyncio.Future[Any]) -> bool:
        """Forget a cancelled waiter; True when an unfinished async load is now awaited by nobody."""
        self._futures = [(loop, f) for loop, f in self._futures if f is not future]
        return not self.done and self.task is not None and not self._futures and self._sync_waiters == 0

    def finish_locked(
        self, value: Any, error: BaseException | None
    ) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]]:
        """Record the outcome; returns the futures to settle with :meth:`notify` after unlocking."""
        self.done = True
        self._value, self._error = value, error
        futures, self._futures = self._futures, []
        return futures

    # ---------------------------------------------------------- without the lock
    def notify(self, futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]]) -> None:
        """Wake blocked threads and settle each async waiter's future on its own loop."""
        if self._event is not None:
            self._event.set()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, future in futures:
            if loop is running:
                self._settle(future)
                continue
            try:
                loop.call_soon_threadsafe(self._settle, future)
            except RuntimeError:  # that loop is closed: its waiter is gone with it
                pass

    def wait(self) -> Any:
        """Block until the load ends (after :meth:`add_sync_waiter_locked`); its value, or its exception."""
        assert self._event is not None
        self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value

    def _settle(self, future: asyncio.Future[Any]) -> None:
        if future.done():
            return
        error = self._error
        if error is None:
            future.set_result(self._value)
        elif isinstance(error, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(error)
