"""A reading that crosses a set point wakes the engine at once, not at its next tick.

The engine evaluates every sensor once per tick (`detection.tick_s`, 1 s by default on a Pi), so
an alarm would wait up to a tick for its step. The event loop looks at each batch as it is queued:
one vectorised comparison of the new values against each sensor's first set point on either side
(level 1, the A1 rule's lower level while rising, low). Only a crossing (a sensor that was not
over before) wakes the engine; a value that stays over does not, so a flood costs a few extra
steps, not one per reading. The engine still decides (deadband, on-delay, quality): a wake only
brings its step forward.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alerting.presets import Preset
from gateway.model import ReadingBatch


class CrossingWatch:
    def __init__(self, presets: Sequence[Preset]) -> None:
        def first(values: list[float], pick: str) -> float:
            finite = [v for v in values if np.isfinite(v)]
            if not finite:
                return np.inf if pick == "min" else -np.inf
            return min(finite) if pick == "min" else max(finite)

        self.high = np.array([first([p.level1, p.level1_when_rising], "min") for p in presets])
        self.low = np.array([first([p.low, p.low_low], "max") for p in presets])
        self.over = np.zeros(len(presets), dtype=bool)

    def crossed(self, batch: ReadingBatch) -> bool:
        """Note the batch; True if a sensor in it went over a set point."""
        s, v = batch.sensor, batch.value
        if len(s) == 0 or len(self.over) == 0:
            return False
        with np.errstate(invalid="ignore"):
            over = (v >= self.high[s]) | (v <= self.low[s])
        crossing = bool((over & ~self.over[s]).any())
        self.over[s] = over
        return crossing
