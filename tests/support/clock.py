"""The one fake clock of the test suite: monotonic seconds that move only when a test says so."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock for ``clock=`` parameters; ``sleep``/``async_sleep`` advance it instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """Stands for ``time.sleep``: advances the clock."""
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        """Stands for ``asyncio.sleep``: advances the clock."""
        self.now += seconds
