"""Anomaly detection over all sensors at once, one numpy pass per tick.

Each sensor has a preallocated ring of recent (time, value) samples. A tick evaluates, for every
sensor together: the threshold level with hysteresis, the rate of rise (least-squares slope over
the window), staleness (no reading for too long) and a stuck value (no change beyond the noise
floor for too long). Only the latest good value drives levels; a BAD reading never raises one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alerting.presets import Preset
from gateway.model import BoolArray, FloatArray, IntArray, Quality, ReadingBatch

NS = 1e9


@dataclass(frozen=True, slots=True)
class Conditions:
    """What one tick found, one row per sensor."""

    level: IntArray  # 0 normal, 1, 2
    rate_of_rise: BoolArray
    stale: BoolArray
    stuck: BoolArray
    value: FloatArray  # latest good value (nan before the first)
    slope_per_min: FloatArray  # nan where there are too few samples


def _column(presets: Sequence[Preset], name: str) -> FloatArray:
    return np.array([getattr(p, name) for p in presets], dtype=np.float64)


class Detector:
    """Detection state for a fixed list of sensors (index = position in `presets`)."""

    def __init__(
        self, presets: Sequence[Preset], *, start_ns: int, ring: int = 64, window_s: float = 60.0
    ) -> None:
        n = len(presets)
        self.level1, self.level2 = _column(presets, "level1"), _column(presets, "level2")
        self.deadband = _column(presets, "deadband")
        self.ror_limit = _column(presets, "rate_of_rise_per_min")
        self.stale_after_ns = _column(presets, "stale_after_s") * NS
        self.stuck_after_ns = _column(presets, "stuck_after_s") * NS
        self.noise_floor = _column(presets, "noise_floor")
        self.window_ns = window_s * NS
        self.ring_t = np.full((n, ring), -1, dtype=np.int64)  # -1 = empty slot
        self.ring_v = np.zeros((n, ring), dtype=np.float64)
        self.head = np.zeros(n, dtype=np.int64)  # next slot to write
        self.last_ts = np.full(n, start_ns, dtype=np.int64)  # a sensor never heard goes stale too
        self.last_value = np.full(n, np.nan)
        self.ref_value = np.full(n, np.nan)  # the value a stuck check compares against
        self.ref_since = np.full(n, start_ns, dtype=np.int64)
        self.level = np.zeros(n, dtype=np.int64)
        self.ror = np.zeros(n, dtype=bool)

    def __len__(self) -> int:
        return len(self.level)

    def ingest(self, batch: ReadingBatch) -> None:
        """Store a batch in the rings. Every reading counts as a sign of life; only good or
        uncertain values are stored as measurements."""
        if len(batch) == 0:
            return
        order = np.lexsort((batch.ts_ns, batch.sensor))
        sensor, ts = batch.sensor[order], batch.ts_ns[order]
        np.maximum.at(self.last_ts, sensor, ts)
        usable = batch.quality[order] != Quality.BAD
        self._store(sensor[usable], ts[usable], batch.value[order][usable])

    def _store(self, sensor: IntArray, ts: IntArray, value: FloatArray) -> None:
        if len(sensor) == 0:
            return
        ring = self.ring_t.shape[1]
        # Rank of each row among its sensor's rows (rows are grouped by sensor, in time order).
        starts = np.r_[0, np.flatnonzero(np.diff(sensor)) + 1]
        counts = np.diff(np.r_[starts, len(sensor)])
        rank = np.arange(len(sensor)) - np.repeat(starts, counts)
        keep = rank >= np.repeat(counts, counts) - ring  # only the newest `ring` rows survive
        slot = (self.head[sensor] + rank) % ring
        self.ring_t[sensor[keep], slot[keep]] = ts[keep]
        self.ring_v[sensor[keep], slot[keep]] = value[keep]
        first = sensor[starts]
        self.head[first] = (self.head[first] + counts) % ring
        last = starts + counts - 1
        self.last_value[first] = value[last]
        self._track_changes(sensor, ts, value, starts, counts)

    def _track_changes(
        self, sensor: IntArray, ts: IntArray, value: FloatArray, starts: IntArray, counts: IntArray
    ) -> None:
        """Move a sensor's stuck reference when a value leaves reference +- noise floor.

        Rows are taken rank by rank (every sensor's first row, then every second row...), so
        the comparison is sequential per sensor and still vectorised across sensors.
        """
        for rank in range(int(counts.max())):
            rows = (starts + rank)[counts > rank]
            s = sensor[rows]
            moved = ~(np.abs(value[rows] - self.ref_value[s]) <= self.noise_floor[s])  # nan moves
            self.ref_value[s[moved]] = value[rows][moved]
            self.ref_since[s[moved]] = ts[rows][moved]

    def evaluate(self, now_ns: int) -> Conditions:
        self.level = self._levels(self.last_value)
        slope = self._slopes(now_ns)
        limit = self.ror_limit
        with np.errstate(invalid="ignore"):
            rising = slope >= limit
            holding = self.ror & (slope >= 0.75 * limit)  # hysteresis: clear well below the limit
        self.ror = rising | holding
        stale = (now_ns - self.last_ts) > self.stale_after_ns
        stuck = (now_ns - self.ref_since) > self.stuck_after_ns
        return Conditions(
            self.level.copy(), self.ror.copy(), stale, stuck & ~stale, self.last_value.copy(), slope
        )

    def _levels(self, v: FloatArray) -> IntArray:
        """Two levels with a deadband: rise at the set point, clear below set point - deadband."""
        db = self.deadband
        with np.errstate(invalid="ignore"):
            two = (v >= self.level2) | ((self.level == 2) & (v >= self.level2 - db))
            one = (v >= self.level1) | ((self.level >= 1) & (v >= self.level1 - db))
        return np.where(two, 2, np.where(one, 1, 0)).astype(np.int64)

    def _slopes(self, now_ns: int) -> FloatArray:
        """Least-squares slope in units per minute over the samples inside the window."""
        t = self.ring_t
        inside = (t >= 0) & (now_ns - t <= self.window_ns)
        n = inside.sum(axis=1)
        secs = np.where(inside, (t - now_ns) / NS, 0.0)
        vals = np.where(inside, self.ring_v, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            tm = secs.sum(axis=1) / n
            vm = vals.sum(axis=1) / n
            dt = np.where(inside, secs - tm[:, None], 0.0)
            dv = np.where(inside, vals - vm[:, None], 0.0)
            slope = (dt * dv).sum(axis=1) / (dt * dt).sum(axis=1) * 60.0
        # Fewer than 3 samples, or samples spanning under half the window, say nothing yet.
        span = np.where(inside, secs, np.inf).min(axis=1)
        enough = (n >= 3) & (-span >= 0.5 * self.window_ns / NS)
        return np.where(enough, slope, np.nan)

    def carry_over(self, old: Detector, mapping: dict[int, int]) -> None:
        """Keep the history of sensors that survive a reload (new index -> old index)."""
        if not mapping or old.ring_t.shape[1] != self.ring_t.shape[1]:
            return
        new_idx = np.fromiter(mapping.keys(), dtype=np.int64)
        old_idx = np.fromiter(mapping.values(), dtype=np.int64)
        for name in ("ring_t", "ring_v", "head", "last_ts", "last_value", "ref_value"):
            getattr(self, name)[new_idx] = getattr(old, name)[old_idx]
        for name in ("ref_since", "level", "ror"):
            getattr(self, name)[new_idx] = getattr(old, name)[old_idx]
