"""The one place that reads time.

Every other module takes timestamps as arguments. The daemon gets a clock from here:
`SystemClock` in production; `LoopClock` derives wall and monotonic time from the event loop,
so the demo can run faster than real time (`speed`) and tests can run on a fast-forwarding loop
(looptime) without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

NS_PER_S = 1_000_000_000


class Clock(Protocol):
    def wall_ns(self) -> int:
        """Unix time in nanoseconds: acquisition timestamps and ledger times."""
        ...

    def monotonic(self) -> float:
        """Seconds that never jump back: durations, timers and deadlines."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    """The machine's clocks, one second per second."""

    def wall_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LoopClock:
    """Time of the running event loop, optionally sped up, anchored at `epoch_ns`.

    The anchor is taken on first use inside the loop, so construct it anywhere.
    """

    def __init__(self, speed: float = 1.0, epoch_ns: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.epoch_ns = time.time_ns() if epoch_ns is None else epoch_ns
        self._t0: float | None = None

    def _elapsed(self) -> float:
        now = asyncio.get_running_loop().time()
        if self._t0 is None:
            self._t0 = now
        return (now - self._t0) * self.speed

    def wall_ns(self) -> int:
        return self.epoch_ns + int(self._elapsed() * NS_PER_S)

    def monotonic(self) -> float:
        return self._elapsed()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


async def sleep_unless(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` of clock time, or less if `event` is set first; True if it was set."""
    if event.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
    return event.is_set()
