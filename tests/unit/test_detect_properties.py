"""Properties of the running rate-of-rise sums: whatever the sampling, the ticks and the way
readings are split into batches, the slope is the least-squares fit over the window."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.detect import Detector
from alerting.presets import PRESETS
from gateway.model import ReadingBatch, SensorClass

S = 1_000_000_000
TEMP = PRESETS[SensorClass.TEMPERATURE]


@settings(max_examples=150, deadline=None)
@given(
    gaps=st.lists(st.floats(0.1, 20.0), min_size=3, max_size=80),
    rate=st.floats(-30, 30),
    ticks=st.lists(st.floats(0.2, 15.0), min_size=1, max_size=60),
    ring=st.sampled_from([8, 16, 64]),
)
def test_the_slope_is_the_fit_of_the_window_at_every_tick(
    gaps: list[float], rate: float, ticks: list[float], ring: int
) -> None:
    times = np.cumsum(gaps)
    values = 20 + rate * times / 60 + np.sin(times)  # a trend plus a wiggle
    d = Detector([TEMP], start_ns=0, ring=ring)
    now, fed = 0.0, 0
    for tick in ticks:
        now += tick
        due = int(np.searchsorted(times, now, side="right"))
        if due > fed:
            ts = (times[fed:due] * S).astype(np.int64)
            d.ingest(ReadingBatch.of([0] * (due - fed), values[fed:due], ts))
            fed = due
        slope = d.evaluate(int(now * S)).slope_per_min[0]
        kept = np.arange(fed)[-ring:]  # the ring holds the newest samples only
        kept = kept[times[kept] >= now - 60]
        if len(kept) >= 3 and now - times[kept].min() >= 30:
            expected = np.polyfit(times[kept], values[kept], 1)[0] * 60
            assert slope == pytest.approx(expected, rel=1e-6, abs=1e-6)
        else:
            assert np.isnan(slope)


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, 200), max_size=8), seed=st.integers(0, 2**16))
def test_batching_does_not_change_what_is_found(cuts: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, rows = 5, 200
    sensor = rng.integers(0, n, rows)
    ts = np.sort(rng.uniform(0, 100, rows))
    value = rng.uniform(15, 70, rows)
    whole, split = Detector([TEMP] * n, start_ns=0), Detector([TEMP] * n, start_ns=0)
    whole.ingest(ReadingBatch.of(sensor, value, (ts * S).astype(np.int64)))
    bounds = [0, *sorted(cuts), rows]
    for a, b in itertools.pairwise(bounds):
        order = rng.permutation(np.arange(a, b))  # rows of a batch come in any order
        split.ingest(ReadingBatch.of(sensor[order], value[order], (ts[order] * S).astype(np.int64)))
    one, other = whole.evaluate(100 * S), split.evaluate(100 * S)
    assert np.array_equal(one.active, other.active)
    assert np.allclose(one.slope_per_min, other.slope_per_min, equal_nan=True)
