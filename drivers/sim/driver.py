"""The simulated driver: plays the scenario on the daemon's clock.

Sample k is taken at start + k * period and stamped with that time, so a run is reproducible
whatever the scheduling jitter, and a restarted driver resumes at the next sample instead of
repeating one.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Self

from drivers.base import DriverStatus
from drivers.sim.scenario import Scenario
from gateway.clock import NS_PER_S, Clock
from gateway.model import ReadingBatch


class SimDriver:
    def __init__(
        self,
        name: str,
        sensors: Sequence[tuple[int, str]],  # (sensor index, scenario channel)
        *,
        clock: Clock,
        start_ns: int,
        seed: int,
        period_s: float,
    ) -> None:
        self.name = name
        self.produced = 0
        self.status = DriverStatus(connected=True)
        self._index = [s for s, _ in sensors]
        self._scenario = Scenario([c for _, c in sensors], seed=seed, period_s=period_s)
        self._clock = clock
        self._start_ns = start_ns
        self._period_ns = int(period_s * NS_PER_S)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def batches(self) -> AsyncIterator[ReadingBatch]:
        k = max(0, math.ceil((self._clock.wall_ns() - self._start_ns) / self._period_ns))
        while True:
            due_ns = self._start_ns + k * self._period_ns
            wait_s = (due_ns - self._clock.wall_ns()) / NS_PER_S
            if wait_s > 0:
                await self._clock.sleep(wait_s)
            rows, values = self._scenario.sample(k)
            self.produced += len(rows)
            yield ReadingBatch.of([self._index[r] for r in rows], values, [due_ns] * len(rows))
            k += 1
