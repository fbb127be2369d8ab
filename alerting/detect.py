"""Detection over all sensors at once: one vectorised pass per tick, O(sensors) per tick.

Each sensor keeps a preallocated ring of recent (time, value) samples in time order, and running
least-squares sums (n, sum t, sum t^2, sum v, sum t*v) over the samples inside the rate window,
with t relative to the last tick. Samples enter the sums at ingest; at a tick the sums are moved to
the new time with three multiply-adds and samples that left the window are taken off the ring's
tail, so the rate of rise never recomputes 64 samples per sensor.

How quality is used:
- GOOD: a measurement.
- BAD: a sign of life only; the device says the value is not a measurement. It is an out-of-range
  fault and every process condition holds its state.
- UNCERTAIN (warming up, or doubtful): stored and shown, but the process conditions (levels, rate of
  rise, dose) hold their previous state, so a warm-up value never raises an alarm (nor clears one).
  Uncertain for longer than `warmup_max_s` is a fault (warm-up overrun).
- TEST: a person is testing the detector. Conditions are evaluated from the test values (that is
  the test result); the engine keeps them out of the real alarms.
A sensor moving between normal, uncertain and test readings starts a fresh ring (no slope across a
warm-up or a test), and entering or leaving a test resets its process conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alerting.presets import MAX_DOSE_BANDS, Preset
from alerting.rules import DETECTED, Condition
from gateway.model import BoolArray, FloatArray, IntArray, Quality, ReadingBatch

NS = 1_000_000_000
MODE_NORMAL, MODE_UNCERTAIN, MODE_TEST = 0, 1, 2
_MODE_OF = np.array([MODE_NORMAL, MODE_UNCERTAIN, MODE_NORMAL, MODE_TEST], dtype=np.int8)
ROR_RELEASE = 0.75  # rate of rise clears only well below its limit
DOSE_RECOVERY = 0.25  # CO leaves the blood far slower than it enters: counters fall at 1/4 rate
COL = {c: i for i, c in enumerate(DETECTED)}
_LEVELS = 5  # level1, level2, high_high, low, low_low: the columns delays apply to
_PER_SENSOR = (
    "ring_t", "ring_v", "head", "count", "newest", "last_ts", "last_q", "mode", "mode_since",
    "last_value", "ref_value", "ref_since", "raw", "lv_active", "pending", "releasing", "ror",
)  # fmt: skip
_BY_LEVEL = ("raw", "lv_active", "pending", "releasing")
_TIMES = ("ring_t", "newest", "last_ts", "mode_since", "ref_since", "pending", "releasing")


@dataclass(frozen=True, slots=True)
class Conditions:
    """What one tick found, one row per sensor."""

    active: BoolArray  # (sensors, len(DETECTED)) in rules.DETECTED order
    level: IntArray  # high side: 0 normal, 1, 2, 3 (high-high)
    rate_of_rise: BoolArray
    stale: BoolArray
    stuck: BoolArray
    testing: BoolArray  # the latest reading is a test reading
    masked: BoolArray  # the latest reading is uncertain: process conditions held
    value: FloatArray  # latest stored value (nan before the first)
    slope_per_min: FloatArray  # nan where there are too few samples

    def column(self, condition: Condition) -> BoolArray:
        return self.active[:, COL[condition]]


def preset_column(presets: Sequence[Preset], name: str) -> FloatArray:
    """One preset field for every sensor, as a column (OFF is nan)."""
    return np.array([getattr(p, name) for p in presets], dtype=np.float64)


def _dose(presets: Sequence[Preset], part: int) -> FloatArray:
    out = np.full((len(presets), MAX_DOSE_BANDS), np.nan)
    for i, p in enumerate(presets):
        for j, band in enumerate(p.co_dose[:MAX_DOSE_BANDS]):
            out[i, j] = band[part]
    return out


class Detector:
    """Detection state for a fixed list of sensors (index = position in `presets`).

    Times are float seconds since `origin_ns`; `start_ns` is when silence starts counting.
    """

    def __init__(
        self,
        presets: Sequence[Preset],
        *,
        start_ns: int,
        ring: int = 64,
        window_s: float = 60.0,
        origin_ns: int | None = None,
    ) -> None:
        n = len(presets)
        self.origin_ns = start_ns if origin_ns is None else origin_ns
        start = (start_ns - self.origin_ns) / NS
        self.window_s = window_s
        self._settings(presets)
        self.ring_t, self.ring_v = np.zeros((n, ring)), np.zeros((n, ring))
        self._flat_t, self._flat_v = self.ring_t.reshape(-1), self.ring_v.reshape(-1)  # views
        self._base = np.arange(n, dtype=np.int64) * ring  # flat index of each ring's slot 0
        self.head = np.zeros(n, dtype=np.int64)  # next slot to write
        self.count = np.zeros(n, dtype=np.int64)  # samples inside the window (in the sums)
        # Least-squares sums over the window: t, t^2, v, t*v, with t relative to anchor_s.
        self.st, self.stt, self.sv, self.stv = (np.zeros(n) for _ in range(4))
        self.anchor_s = start
        self.newest = np.full(n, -np.inf)  # newest stored sample: older readings are ignored
        self.last_ts = np.full(n, start)  # any reading; a sensor never heard goes stale too
        self.last_q = np.full(n, int(Quality.GOOD), dtype=np.int64)
        self.mode = np.zeros(n, dtype=np.int8)
        self.mode_since = np.full(n, start)
        self.last_value = np.full(n, np.nan)
        self.ref_value = np.full(n, np.nan)  # the value a stuck check compares against
        self.ref_since = np.full(n, start)
        # Per level (rows: level1, level2, high_high, low, low_low), one column per sensor.
        self.raw = np.zeros((_LEVELS, n), dtype=bool)  # set point crossed (with deadband)
        self.lv_active = np.zeros((_LEVELS, n), dtype=bool)  # ... and held past the on-delay
        self.pending = np.full((_LEVELS, n), np.nan)  # since when raw, not yet active
        self.releasing = np.full((_LEVELS, n), np.nan)  # since when clear, still active
        self.ror = np.zeros(n, dtype=bool)
        self.dose = np.zeros((len(self._dose_rows), MAX_DOSE_BANDS))  # seconds per band
        self._dose_pos = np.full(n, -1, dtype=np.int64)  # sensor -> row of `dose`, or -1
        self._dose_pos[self._dose_rows] = np.arange(len(self._dose_rows))
        self.last_eval_s: float | None = None

    def _settings(self, presets: Sequence[Preset]) -> None:
        def c(name: str) -> FloatArray:
            return preset_column(presets, name)

        self.sp = np.stack([c(k) for k in ("level1", "level2", "high_high", "low", "low_low")])
        self._levels_used = [j for j in range(_LEVELS) if np.isfinite(self.sp[j]).any()]
        l1_rising, self.rising_per_min = c("level1_when_rising"), c("rising_per_min")
        self._a1 = bool(np.isfinite(l1_rising).any())  # the A1 rule anywhere?
        self.l1_when_rising = np.where(np.isnan(l1_rising), self.sp[0], l1_rising)
        self.deadband, self.on_delay, self.off_delay = (
            c("deadband"),
            c("on_delay_s"),
            c("off_delay_s"),
        )
        self._delayed = bool((self.on_delay > 0).any() or (self.off_delay > 0).any())
        self.ror_limit, self.noise_floor = c("rate_of_rise_per_min"), c("noise_floor")
        self.range_min, self.range_max = c("range_min"), c("range_max")
        self.stale_after, self.stuck_after = c("stale_after_s"), c("stuck_after_s")
        self.warmup_max = c("warmup_max_s")
        ppm, minutes = _dose(presets, 0), _dose(presets, 1)
        self._dose_rows = np.flatnonzero(np.isfinite(ppm).any(axis=1))  # only they count a dose
        self.dose_ppm, self.dose_s = ppm[self._dose_rows], minutes[self._dose_rows] * 60.0

    def __len__(self) -> int:
        return len(self.count)

    def seconds(self, ts_ns: int | IntArray) -> FloatArray:
        return np.asarray((np.asarray(ts_ns) - self.origin_ns) / NS, dtype=np.float64)

    # --- ingest ---------------------------------------------------------------------------

    def ingest(self, batch: ReadingBatch) -> None:
        """Store a batch. Every reading counts as a sign of life; BAD ones are not stored."""
        if len(batch) == 0:
            return
        sensor, ts, value, q = batch.sensor, batch.ts_ns, batch.value, batch.quality
        unique = len(sensor) == 1 or bool(np.all(sensor[1:] > sensor[:-1]))
        if not unique:
            order = np.lexsort((ts, sensor))
            sensor, ts, value, q = sensor[order], ts[order], value[order], q[order]
        t = self.seconds(ts)
        last = slice(None) if unique else np.flatnonzero(np.r_[sensor[1:] != sensor[:-1], True])
        # Every sensor in one sorted batch: plain slices instead of fancy indexing.
        first: IntArray | slice = (
            slice(None) if unique and len(sensor) == len(self) else sensor[last]
        )
        t_last = t[last]
        self.last_ts[first] = np.maximum(self.last_ts[first], t_last)
        self.last_q[first] = q[last]
        if q.any() or self.mode.any():  # not all good readings in normal mode: sort modes out
            row_mode = _MODE_OF[np.clip(q, 0, len(_MODE_OF) - 1)]
            switched = row_mode[last] != self.mode[first]
            if switched.any():
                s = np.arange(len(self))[first][switched]
                self._switch(s, row_mode[last][switched], t_last[switched])
            # Only rows of the sensor's latest mode are stored (a batch may hold a test's end).
            keep = (q != Quality.BAD) & (row_mode == self.mode[sensor])
            if not keep.all():
                sensor, t, value = sensor[keep], t[keep], value[keep]
        if len(sensor):
            self._store(sensor, t, value, unique=unique)

    def _store(self, sensor: IntArray, t: FloatArray, value: FloatArray, *, unique: bool) -> None:
        """Push rows rank by rank (every sensor's first row, then every second row...): each
        round touches each sensor once, so it is sequential per sensor, vectorised across."""
        if unique:
            self._push(sensor, t, value)
            return
        ring = self.ring_t.shape[1]
        starts = np.flatnonzero(np.r_[True, sensor[1:] != sensor[:-1]])
        counts = np.diff(np.r_[starts, len(sensor)])
        skip = np.maximum(counts - ring, 0)  # only the newest `ring` rows can survive
        for rank in range(int((counts - skip).max())):
            rows = (starts + skip + rank)[counts - skip > rank]
            self._push(sensor[rows], t[rows], value[rows])

    def _push(self, s: IntArray, t: FloatArray, v: FloatArray) -> None:
        """Append one sample to each ring in `s` (unique) and add it to the window sums."""
        n = len(self.count)
        ix: IntArray | slice = slice(None) if len(s) == n else s  # all sensors: no fancy index
        fresh = t > self.newest[ix]  # older or repeated readings are not measurements again
        if not fresh.all():
            s, t, v = s[fresh], t[fresh], v[fresh]
            ix = s
        full = np.zeros(n, dtype=bool)
        full[ix] = self.count[ix] >= self.ring_t.shape[1]
        if full.any():  # the oldest sample still in the window is overwritten: take it off
            self._drop(full, self._wrap(self.head - self.count))
        slot = self.head[ix]
        flat = self._base[ix] + slot
        self._flat_t[flat], self._flat_v[flat] = t, v
        self.head[ix] = self._wrap(slot + 1)
        if isinstance(ix, slice):
            tp, vz = t - self.anchor_s, v
        else:
            tp, vz = np.zeros(n), np.zeros(n)
            tp[ix], vz[ix] = t - self.anchor_s, v
        self.st += tp
        self.stt += tp * tp
        self.sv += vz
        self.stv += tp * vz
        self.count[ix] += 1
        self.newest[ix], self.last_value[ix] = t, v
        # Stuck: move the reference when a value leaves reference +- noise floor (nan moves).
        moved = ~(np.abs(v - self.ref_value[ix]) <= self.noise_floor[ix])
        if moved.any():
            m = s[moved] if isinstance(ix, np.ndarray) else moved
            self.ref_value[m], self.ref_since[m] = v[moved], t[moved]

    def _wrap(self, slot: IntArray) -> IntArray:
        """A slot number in -ring..2*ring-1 back into the ring."""
        ring = self.ring_t.shape[1]
        if ring & (ring - 1) == 0:
            return slot & (ring - 1)
        return np.asarray(slot - ring * (slot >= ring) + ring * (slot < 0), dtype=np.int64)

    def _drop(self, mask: BoolArray, tail: IntArray, times: FloatArray | None = None) -> None:
        """Take the tail sample of every ring in `mask` off the window sums."""
        flat = self._base + tail
        times = self._flat_t[flat] if times is None else times
        tp = np.where(mask, times - self.anchor_s, 0.0)
        vz = np.where(mask, self._flat_v[flat], 0.0)
        self.st -= tp
        self.stt -= tp * tp
        self.sv -= vz
        self.stv -= tp * vz
        self.count -= mask
        if (emptied := mask & (self.count == 0)).any():  # an empty window is exactly zero
            for a in (self.st, self.stt, self.sv, self.stv):
                a[emptied] = 0.0

    def _switch(self, s: IntArray, mode: IntArray, t: FloatArray) -> None:
        """A sensor changed between normal, uncertain and test readings: fresh ring."""
        self.count[s], self.newest[s] = 0, -np.inf
        for a in (self.st, self.stt, self.sv, self.stv):
            a[s] = 0.0
        self.last_value[s], self.ref_value[s], self.ref_since[s] = np.nan, np.nan, t
        test = s[(mode == MODE_TEST) | (self.mode[s] == MODE_TEST)]
        self.raw[:, test], self.lv_active[:, test], self.ror[test] = False, False, False
        pos = self._dose_pos[test]
        self.dose[pos[pos >= 0]] = 0.0
        self.pending[:, test], self.releasing[:, test] = np.nan, np.nan
        self.mode[s], self.mode_since[s] = mode, t

    def restart_silence(self, sensors: IntArray, now_ns: int) -> None:
        """Count silence from now (e.g. their bus just came back): no stale flood on recovery."""
        self.last_ts[sensors] = np.maximum(self.last_ts[sensors], self.seconds(now_ns))

    # --- evaluate -------------------------------------------------------------------------

    def evaluate(self, now_ns: int) -> Conditions:
        now = float(self.seconds(now_ns))
        dt = 0.0 if self.last_eval_s is None else max(now - self.last_eval_s, 0.0)
        self.last_eval_s = now
        self._reanchor(now)
        slope = self._slope(now, self._evict(now - self.window_s))
        v, masked = self.last_value, self.mode == MODE_UNCERTAIN
        trusted = ~masked & (self.last_q != Quality.BAD) & np.isfinite(v)
        stale = (now - self.last_ts) > self.stale_after
        with np.errstate(invalid="ignore"):
            self._levels(v, slope, trusted, now)
            fast = slope >= self.ror_limit
            holding = self.ror & (slope >= ROR_RELEASE * self.ror_limit)
            self.ror = np.where(trusted, fast | holding, self.ror)
            dose = self._dose(v, trusted & ~stale, dt)
            out_of_range = (
                (self.last_q == Quality.BAD) | (v < self.range_min) | (v > self.range_max)
            )
        stuck = ((now - self.ref_since) > self.stuck_after) & ~stale & (self.mode == MODE_NORMAL)
        warm_up = masked & ((now - self.mode_since) > self.warmup_max)
        lv = self.lv_active
        active = np.stack([*lv, self.ror, dose, stale, stuck, out_of_range, warm_up], axis=1)
        level = np.where(lv[2], 3, np.where(lv[1], 2, lv[0].astype(np.int64)))
        return Conditions(
            active, level, self.ror.copy(), stale, stuck, self.mode == MODE_TEST, masked,
            v.copy(), slope,
        )  # fmt: skip

    def _reanchor(self, now: float) -> None:
        """Move the sums' time origin to `now`: t' = t - d."""
        d = now - self.anchor_s
        if d:
            self.stt += (self.count * d - 2 * self.st) * d  # sum (t - d)^2
            self.stv -= d * self.sv
            self.st -= self.count * d
            self.anchor_s = now

    def _evict(self, cutoff: float) -> FloatArray:
        """Take samples older than the window off each ring's tail (one round per sample a
        sensor lost since the last tick); return each window's oldest sample time."""
        while True:
            tail = self._wrap(self.head - self.count)
            oldest = np.where(self.count > 0, self._flat_t[self._base + tail], np.inf)
            old = oldest < cutoff
            if not old.any():
                return oldest
            self._drop(old, tail, oldest)

    def _slope(self, now: float, oldest: FloatArray) -> FloatArray:
        """Least-squares slope per minute; nan with fewer than 3 samples or under half a
        window of history."""
        n = self.count
        den = n * self.stt - self.st * self.st
        enough = (n >= 3) & (now - oldest >= 0.5 * self.window_s) & (den > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (n * self.stv - self.st * self.sv) / den * 60.0
        return np.where(enough, slope, np.nan)

    def _levels(self, v: FloatArray, slope: FloatArray, trusted: BoolArray, now: float) -> None:
        """Thresholds with deadband (raw), then on- and off-delays (active)."""
        # Out of range still bounds the truth: over range proves high, under range proves low.
        high_ok, low_ok = trusted & ~(v < self.range_min), trusted & ~(v > self.range_max)
        db, raw = self.deadband, self.raw
        for j in self._levels_used:
            sp = self.sp[j]
            if j == 0 and self._a1:
                sp = np.where(slope >= self.rising_per_min, self.l1_when_rising, sp)
            if j < 3:
                crossed = (v >= sp) | (raw[j] & (v >= sp - db))
            else:
                crossed = (v <= sp) | (raw[j] & (v <= sp + db))
            raw[j] = np.where(high_ok if j < 3 else low_ok, crossed, raw[j])
        if not self._delayed:
            self.lv_active[:] = raw
            return
        act, since = self.lv_active, self.newest  # the sample that made the change
        pending, releasing = self.pending, self.releasing
        self.pending = np.where(raw & ~act, np.where(np.isnan(pending), since, pending), np.nan)
        self.releasing = np.where(
            ~raw & act, np.where(np.isnan(releasing), since, releasing), np.nan
        )
        on = raw & ~act & trusted & (now - self.pending >= self.on_delay)
        off = ~raw & act & (now - self.releasing >= self.off_delay)
        self.lv_active = (act | on) & ~off

    def _dose(self, v: FloatArray, counting: BoolArray, dt: float) -> BoolArray:
        found = np.zeros(len(v), dtype=bool)
        r = self._dose_rows
        if len(r):
            dose = self.dose
            above = v[r, None] >= self.dose_ppm
            acc = np.where(above, dose + dt, np.maximum(dose - dt * DOSE_RECOVERY, 0.0))
            self.dose = dose = np.where(counting[r, None], acc, dose)
            found[r] = (dose >= self.dose_s).any(axis=1)
        return found

    def carry_over(self, old: Detector, mapping: dict[int, int]) -> None:
        """Keep the history of sensors that survive a reload (new index -> old index)."""
        if not mapping or old.ring_t.shape[1] != self.ring_t.shape[1]:
            return
        new_idx = np.fromiter(mapping.keys(), dtype=np.int64)
        old_idx = np.fromiter(mapping.values(), dtype=np.int64)
        shift = (old.origin_ns - self.origin_ns) / NS
        for name in _PER_SENSOR:
            by_level = name in _BY_LEVEL  # (levels, sensors) arrays
            moved = getattr(old, name)[:, old_idx] if by_level else getattr(old, name)[old_idx]
            moved = moved + shift if name in _TIMES else moved
            if by_level:
                getattr(self, name)[:, new_idx] = moved
            else:
                getattr(self, name)[new_idx] = moved
        old_pos, new_pos = old._dose_pos[old_idx], self._dose_pos[new_idx]
        both = (old_pos >= 0) & (new_pos >= 0)
        self.dose[new_pos[both]] = old.dose[old_pos[both]]
        # The carried sums are relative to the old detector's last tick: move them to ours.
        for name in ("st", "stt", "sv", "stv"):
            getattr(self, name)[new_idx] = getattr(old, name)[old_idx]
        anchor, self.anchor_s = self.anchor_s, old.anchor_s + shift
        self._reanchor(anchor)  # sensors not carried have empty sums, which stay zero
