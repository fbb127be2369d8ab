"""Detection over all sensors at once: levels with hysteresis, rate of rise, stale and stuck."""

from __future__ import annotations

import numpy as np
import pytest

from alerting.detect import Detector
from alerting.presets import NEVER, OFF, PRESETS, Preset
from alerting.rules import Condition
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


# --- the incremental rate of rise ----------------------------------------------------------


def test_the_running_slope_equals_a_least_squares_fit_over_the_window() -> None:
    """Irregular samples, several ticks, samples leaving the window: still polyfit's slope."""
    rng = np.random.default_rng(7)
    d = Detector([TEMP], start_ns=0, window_s=60.0)
    times = np.cumsum(rng.uniform(0.5, 9.0, size=120))
    values = 20 + 0.2 * times + rng.normal(0, 0.3, size=120)
    for tick in range(10, int(times[-1]), 7):
        due = (times > tick - 7) & (times <= tick)
        d.ingest(ReadingBatch.of([0] * int(due.sum()), values[due], (times[due] * S).astype(int)))
        slope = d.evaluate(tick * S).slope_per_min[0]
        inside = (times <= tick) & (times >= tick - 60)
        if inside.sum() >= 3 and tick - times[inside].min() >= 30:
            expected = np.polyfit(times[inside], values[inside], 1)[0] * 60
            assert slope == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_a_full_ring_drops_its_oldest_sample_from_the_slope() -> None:
    """More samples inside the window than the ring holds: the slope covers the ring only."""
    d = Detector([TEMP], start_ns=0, ring=8)
    t = np.arange(0.0, 40.0, 1.0)  # 40 samples in a 60 s window
    v = np.where(t < 32, 20.0, 20.0 + (t - 31) * 2.0)  # flat, then 2 °C/s for the last 8
    d.ingest(ReadingBatch.of([0] * len(t), v, (t * S).astype(int)))
    c = d.evaluate(39 * S)
    assert np.isnan(c.slope_per_min[0])  # the 8 kept samples span 7 s: under half a window
    assert d.count[0] == 8


def test_readings_older_than_the_newest_are_not_measurements_again() -> None:
    d = Detector([GAS], start_ns=0)
    d.ingest(ReadingBatch.of([0], [30.0], [10 * S]))
    d.ingest(ReadingBatch.of([0, 0], [99.0, 30.0], [5 * S, 10 * S]))  # late and repeated
    c = d.evaluate(11 * S)
    assert (c.value[0], c.level[0], d.count[0]) == (30.0, 1, 1)


# --- levels, delays and ranges -------------------------------------------------------------

OXYGEN = PRESETS[SensorClass.OXYGEN]  # low 19.5, low-low 18.0, high 23.5, deadband 0.3


@pytest.mark.parametrize(
    ("values", "low", "low_low", "high"),
    [
        ([20.9], False, False, False),
        ([19.5], True, False, False),  # at the set point
        ([17.9], True, True, False),
        ([17.9, 18.2], True, True, False),  # inside low-low's deadband: holds
        ([17.9, 18.4], True, False, False),  # above 18.3: low-low clears
        ([19.0, 19.9], False, False, False),  # above 19.8: low clears
        ([23.5], False, False, True),  # enrichment
    ],
)
def test_oxygen_has_low_side_levels_with_a_deadband(
    values: list[float], low: bool, low_low: bool, high: bool
) -> None:
    d = Detector([OXYGEN], start_ns=0)
    for i, v in enumerate(values):
        d.ingest(ReadingBatch.of([0], [v], [i * S]))
        c = d.evaluate(i * S)
    got = (c.column(Condition.LOW)[0], c.column(Condition.LOW_LOW)[0], c.level[0] == 1)
    assert got == (low, low_low, high)


def test_high_high_is_a_third_level() -> None:
    d = Detector([GAS.with_overrides(high_high=80.0)], start_ns=0)
    d.ingest(ReadingBatch.of([0], [85.0], [S]))
    c = d.evaluate(S)
    assert c.level[0] == 3
    assert c.column(Condition.LEVEL1)[0]
    assert c.column(Condition.LEVEL2)[0]


def test_an_on_delay_needs_the_level_held_from_the_reading_that_crossed_it() -> None:
    d = Detector([GAS.with_overrides(on_delay_s=5.0)], start_ns=0)
    d.ingest(ReadingBatch.of([0], [30.0], [10 * S]))
    assert not d.evaluate(14 * S).column(Condition.LEVEL1)[0]
    assert d.evaluate(15 * S).column(Condition.LEVEL1)[0]


def test_a_spike_shorter_than_the_on_delay_never_alarms() -> None:
    d = Detector([GAS.with_overrides(on_delay_s=5.0)], start_ns=0)
    d.ingest(ReadingBatch.of([0], [30.0], [10 * S]))
    d.evaluate(12 * S)
    d.ingest(ReadingBatch.of([0], [5.0], [13 * S]))
    assert not any(d.evaluate(t * S).column(Condition.LEVEL1)[0] for t in range(13, 30))


def test_an_off_delay_holds_the_alarm_after_it_clears() -> None:
    d = Detector([GAS.with_overrides(off_delay_s=10.0)], start_ns=0)
    d.ingest(ReadingBatch.of([0], [30.0], [S]))
    assert d.evaluate(S).column(Condition.LEVEL1)[0]
    d.ingest(ReadingBatch.of([0], [5.0], [2 * S]))  # clear from 2 s
    assert d.evaluate(11 * S).column(Condition.LEVEL1)[0]
    assert not d.evaluate(12 * S).column(Condition.LEVEL1)[0]


def test_the_a1_rule_lowers_level_1_while_rising_fast() -> None:
    a1 = TEMP.with_overrides(level1_when_rising=46.0, rising_per_min=4.0)
    d = Detector([a1, a1], start_ns=0)
    last = feed(d, 0, [40 + 6 * t / 60 for t in range(0, 65, 5)], 0, 5)  # 46 at 60 s, 6 °C/min
    feed(d, 1, [50.0] * 13, 0, 5)  # hot but still
    assert d.evaluate(int(last * S)).column(Condition.LEVEL1).tolist() == [True, False]


def test_over_range_is_a_fault_and_still_proves_the_high_levels() -> None:
    d = Detector([GAS, GAS, GAS], start_ns=0)
    d.ingest(ReadingBatch.of([0, 1, 2], [120.0, -10.0, 60.0], [S, S, S], [0, 0, Quality.BAD]))
    c = d.evaluate(S)
    assert c.column(Condition.OUT_OF_RANGE).tolist() == [True, True, True]
    assert c.level.tolist() == [2, 0, 0]  # under range and bad prove nothing


def test_warm_up_readings_hold_the_levels_and_overrun_is_a_fault() -> None:
    quick = GAS.with_overrides(warmup_max_s=60.0)
    d = Detector([quick, quick], start_ns=0)
    u, g = Quality.UNCERTAIN, Quality.GOOD
    d.ingest(ReadingBatch.of([0, 1], [60.0, 30.0], [0, 0], [u, g]))  # 1 alarms while good
    d.evaluate(0)
    d.ingest(ReadingBatch.of([0, 1], [60.0, 0.0], [S, S], [u, u]))  # then warms up again
    c = d.evaluate(S)
    assert c.level.tolist() == [0, 1]  # neither raised nor cleared while warming up
    assert c.masked.tolist() == [True, True]
    d.ingest(ReadingBatch.of([0, 1], [60.0, 0.0], [61 * S, 61 * S], [u, u]))
    assert d.evaluate(61 * S).column(Condition.WARM_UP).tolist() == [True, False]  # since 0 s
    assert d.evaluate(62 * S).column(Condition.WARM_UP).all()  # sensor 1: since 1 s


def test_test_readings_are_evaluated_apart_and_leave_nothing_behind() -> None:
    d = Detector([TEMP], start_ns=0)
    t = Quality.TEST
    ts = [int(x * S) for x in range(0, 65, 5)]
    d.ingest(ReadingBatch.of([0] * len(ts), [20 + i * 3.0 for i in range(len(ts))], ts, [t] * 13))
    c = d.evaluate(64 * S)
    assert c.testing[0]
    assert c.rate_of_rise[0]
    d.ingest(ReadingBatch.of([0], [21.0], [70 * S]))
    c = d.evaluate(70 * S)
    assert not c.testing[0]
    assert not c.rate_of_rise[0]
    assert d.count[0] == 1


def test_a_batch_that_ends_a_test_keeps_only_the_real_readings() -> None:
    d = Detector([GAS], start_ns=0)
    d.ingest(ReadingBatch.of([0, 0], [60.0, 1.0], [S, 2 * S], [Quality.TEST, Quality.GOOD]))
    c = d.evaluate(2 * S)
    assert (c.testing[0], c.level[0], d.count[0]) == (False, 0, 1)


def test_silence_restarts_for_the_children_of_a_recovered_bus() -> None:
    d = Detector([GAS, GAS], start_ns=0)
    d.restart_silence(np.array([0]), 100 * S)
    assert d.evaluate(120 * S).stale.tolist() == [False, True]


def test_carry_over_between_origins_keeps_the_slope() -> None:
    old = Detector([TEMP], start_ns=0)
    last = feed(old, 0, [20 + 10 * t / 60 for t in range(0, 65, 5)], 0, 5)
    old.evaluate(int(last * S))
    new = Detector([GAS, TEMP], start_ns=int(last * S), origin_ns=int(last * S))
    new.carry_over(old, {1: 0})
    assert new.evaluate(int(last * S)).slope_per_min[1] == pytest.approx(10.0)


def test_the_co_dose_bands_follow_en_50291() -> None:
    """50 ppm alarms within 60-90 min, 100 ppm within 10-40 min, 300 ppm within 3 min; 30 ppm
    not within 120 min (stepped every 10 s)."""
    co = PRESETS[SensorClass.CO].with_overrides(level1=OFF, level2=OFF)
    d = Detector([co] * 4, start_ns=0)
    first: dict[int, float] = {}
    for t in range(0, 7300, 10):
        d.ingest(ReadingBatch.of([0, 1, 2, 3], [50.0, 100.0, 300.0, 30.0], [t * S] * 4))
        dose = d.evaluate(t * S).column(Condition.CO_DOSE)
        for i in np.flatnonzero(dose).tolist():
            first.setdefault(i, t / 60)
    assert 60 <= first[0] <= 90
    assert 10 <= first[1] <= 40
    assert first[2] <= 3
    assert 3 not in first


def test_one_tick_for_many_sensors_is_independent_per_sensor() -> None:
    """Vectorised: sensors with different presets in one array, each as if alone."""
    presets = [GAS, OXYGEN, TEMP, PRESETS[SensorClass.SMOKE]] * 250
    d = Detector(presets, start_ns=0)
    values = [30.0, 17.0, 57.0, 1.0] * 250
    d.ingest(ReadingBatch.of(list(range(1000)), values, [S] * 1000))
    c = d.evaluate(S)
    assert c.column(Condition.LEVEL1).reshape(250, 4).all(axis=0).tolist() == [
        True, False, True, True,
    ]  # fmt: skip
    assert c.column(Condition.LOW_LOW).reshape(250, 4)[:, 1].all()
