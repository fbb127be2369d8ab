"""Detection over all sensors at once: levels with hysteresis, rate of rise, stale and stuck."""

from __future__ import annotations

import numpy as np
import pytest

from alerting.detect import Detector
from alerting.presets import NEVER, OFF, PRESETS, Preset
from gateway.model import Quality, ReadingBatch, SensorClass

S = 1_000_000_000
GAS = PRESETS[SensorClass.COMBUSTIBLE_GAS]  # 25 / 50 %LEL, deadband 1
TEMP = PRESETS[SensorClass.TEMPERATURE]  # 56 °C, 8.3 °C/min, stuck after 1800 s


def feed(d: Detector, sensor: int, values: list[float], start_s: float, period_s: float) -> float:
    """Readings every period_s from start_s; returns the time of the last one (s)."""
    ts = [int((start_s + i * period_s) * S) for i in range(len(values))]
    d.ingest(ReadingBatch.of([sensor] * len(values), values, ts))
    return start_s + (len(values) - 1) * period_s


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([10.0], 0),
        ([25.0], 1),  # at the set point
        ([49.9], 1),
        ([50.0], 2),
        ([60.0, 49.5], 2),  # inside the deadband: level 2 holds
        ([60.0, 48.9], 1),  # below level2 - deadband: back to level 1
        ([30.0, 24.5], 1),  # holds inside level 1's deadband
        ([30.0, 23.9], 0),
    ],
)
def test_gas_levels_rise_at_the_set_point_and_clear_below_the_deadband(
    values: list[float], expected: int
) -> None:
    d = Detector([GAS], start_ns=0)
    for i, v in enumerate(values):
        d.ingest(ReadingBatch.of([0], [v], [i * S]))
        level = d.evaluate(i * S).level[0]
    assert level == expected


def test_every_sensor_is_evaluated_in_the_same_tick() -> None:
    d = Detector([GAS, GAS, GAS], start_ns=0)
    d.ingest(ReadingBatch.of([0, 1, 2], [5.0, 30.0, 70.0], [S, S, S]))
    assert d.evaluate(S).level.tolist() == [0, 1, 2]


def test_a_bad_quality_reading_never_raises_a_level_but_counts_as_alive() -> None:
    d = Detector([GAS], start_ns=0)
    d.ingest(ReadingBatch.of([0], [99.0], [10 * S], [Quality.BAD]))
    c = d.evaluate(61 * S)
    assert c.level[0] == 0
    assert not c.stale[0]  # it spoke 51 s ago, within 60 s


def test_rate_of_rise_fires_above_the_limit_and_not_below() -> None:
    d = Detector([TEMP, TEMP], start_ns=0)
    feed(d, 0, [20 + 10 * t / 60 for t in range(0, 65, 5)], 0, 5)  # 10 °C/min
    last = feed(d, 1, [20 + 5 * t / 60 for t in range(0, 65, 5)], 0, 5)  # 5 °C/min
    c = d.evaluate(int(last * S))
    assert c.slope_per_min[0] == pytest.approx(10.0)
    assert c.slope_per_min[1] == pytest.approx(5.0)
    assert c.rate_of_rise.tolist() == [True, False]


def test_rate_of_rise_needs_half_a_window_of_samples_before_it_speaks() -> None:
    d = Detector([TEMP], start_ns=0)
    last = feed(d, 0, [20.0, 25.0, 30.0, 35.0], 0, 5)  # 60 °C/min, but only 15 s of data
    c = d.evaluate(int(last * S))
    assert np.isnan(c.slope_per_min[0])
    assert not c.rate_of_rise[0]


def test_a_sensor_that_stops_reporting_goes_stale_after_its_timeout() -> None:
    d = Detector([GAS, GAS], start_ns=0)
    d.ingest(ReadingBatch.of([0, 1], [1.0, 1.0], [0, 0]))
    d.ingest(ReadingBatch.of([1], [1.0], [50 * S]))
    assert d.evaluate(60 * S).stale.tolist() == [False, False]
    assert d.evaluate(61 * S).stale.tolist() == [True, False]


def test_a_sensor_never_heard_from_goes_stale_counting_from_start() -> None:
    d = Detector([GAS], start_ns=100 * S)
    assert not d.evaluate(160 * S).stale[0]
    assert d.evaluate(161 * S).stale[0]


def test_a_frozen_value_is_stuck_but_noise_above_the_floor_is_not() -> None:
    quick = TEMP.with_overrides(stuck_after_s=60.0)
    d = Detector([quick, quick], start_ns=0)
    frozen = [21.37] * 30
    jitter = [21.0 + (0.1 if i % 2 else 0.0) for i in range(30)]
    feed(d, 0, frozen, 0, 5)
    last = feed(d, 1, jitter, 0, 5)
    assert d.evaluate(int(last * S)).stuck.tolist() == [True, False]


def test_jitter_below_the_noise_floor_does_not_count_as_movement() -> None:
    quick = TEMP.with_overrides(stuck_after_s=60.0, noise_floor=0.2)
    d = Detector([quick], start_ns=0)
    last = feed(d, 0, [21.0 + (0.1 if i % 2 else 0.0) for i in range(30)], 0, 5)
    assert d.evaluate(int(last * S)).stuck[0]


def test_presets_with_off_and_never_disable_their_checks() -> None:
    p = Preset(OFF, OFF, 0.0, OFF, NEVER, NEVER, 0.0, "test")
    d = Detector([p], start_ns=0)
    d.ingest(ReadingBatch.of([0], [1e9], [0]))
    c = d.evaluate(10**6 * S)
    assert (c.level[0], c.rate_of_rise[0], c.stale[0], c.stuck[0]) == (0, False, False, False)


def test_more_readings_than_the_ring_keeps_the_newest() -> None:
    d = Detector([TEMP], start_ns=0, ring=8)
    last = feed(d, 0, [float(i) for i in range(20)], 0, 1)
    assert sorted(d.ring_v[0].tolist()) == [float(i) for i in range(12, 20)]
    assert d.evaluate(int(last * S)).value[0] == 19.0


def test_carry_over_keeps_a_surviving_sensors_history() -> None:
    old = Detector([GAS, TEMP], start_ns=0)
    old.ingest(ReadingBatch.of([0, 1], [30.0, 20.0], [S, S]))
    old.evaluate(S)
    new = Detector([TEMP], start_ns=2 * S)
    new.carry_over(old, {0: 1})
    assert new.evaluate(2 * S).value[0] == 20.0
