"""A reading that crosses a set point wakes the engine at once, not at its next tick.

The engine evaluates every sensor once per tick (`detection.tick_s`, 1 s by default on a Pi), so
an alarm would wait up to a tick for its step. The event loop looks at each batch as it is queued:
one vectorised comparison of the new values against each sensor's first set point on either side
(level 1, the A1 rule's lower level while rising, low). Only a crossing wakes the engine: a
sensor goes back under only below its set point less the deadband (as the detector does), so a
value that stays over, or hovers at the set point, does not wake it again and again. The engine
still decides (deadband, on-delay, quality): a wake only brings its step forward, and the daemon
spaces woken steps at least WAKE_GAP_S apart, so a flood costs a few extra steps a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alerting.detect import preset_column
from alerting.presets import Preset
from gateway.model import FloatArray, ReadingBatch

WAKE_GAP_S = 0.02  # woken steps at most 50 a second, whatever the flood


class CrossingWatch:
    def __init__(self, presets: Sequence[Preset]) -> None:
        def col(name: str) -> FloatArray:
            return preset_column(presets, name)

        # fmin/fmax skip an OFF (nan) level; with both OFF the comparison is never true
        self.high = np.fmin(col("level1"), col("level1_when_rising"))
        self.low = np.fmax(col("low"), col("low_low"))
        self.deadband = np.nan_to_num(col("deadband"))
        self.over_high = np.zeros(len(presets), dtype=bool)
        self.over_low = np.zeros(len(presets), dtype=bool)

    def crossed(self, batch: ReadingBatch) -> bool:
        """Note the batch; True if a sensor in it went over a set point."""
        s, v = batch.sensor, batch.value
        if len(s) == 0 or len(self.high) == 0:
            return False
        db, was_high, was_low = self.deadband[s], self.over_high[s], self.over_low[s]
        with np.errstate(invalid="ignore"):
            high = (v >= self.high[s]) | (was_high & (v >= self.high[s] - db))
            low = (v <= self.low[s]) | (was_low & (v <= self.low[s] + db))
        crossing = bool((high & ~was_high).any() or (low & ~was_low).any())
        self.over_high[s], self.over_low[s] = high, low
        return crossing
