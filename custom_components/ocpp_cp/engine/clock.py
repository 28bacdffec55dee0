"""Time as the engine's samplers see it; tests swap in a clock that jumps forward."""

from __future__ import annotations

import asyncio
import time


class Clock:
    """Wall time for timestamps, monotonic time and sleeps for intervals."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SteppingClock(Clock):
    """A clock whose sleeps move its own time forward at once (for simulated hours)."""

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0
        self._start = time.time() if start is None else start
        self._mono = 0.0

    def time(self) -> float:
        return self._start + self._offset

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        self._offset += seconds
        self._mono += seconds
        await asyncio.sleep(0)
