"""A reading crossing a set point wakes the engine: crossings only, both sides."""

from __future__ import annotations

import math

from alerting.presets import Preset
from gateway.model import ReadingBatch
from gateway.wake import CrossingWatch

GAS = Preset(level1=20.0, level2=40.0, deadband=2.0, rate_of_rise_per_min=math.nan,
             stale_after_s=60.0, stuck_after_s=3600.0, noise_floor=0.1, basis="test")  # fmt: skip
OXYGEN = Preset(level1=23.5, level2=math.nan, deadband=0.2, rate_of_rise_per_min=math.nan,
                stale_after_s=60.0, stuck_after_s=3600.0, noise_floor=0.1, basis="test",
                low=19.5, low_low=18.0)  # fmt: skip
HEAT = Preset(level1=58.0, level2=70.0, deadband=1.0, rate_of_rise_per_min=8.0,
              stale_after_s=60.0, stuck_after_s=3600.0, noise_floor=0.1, basis="test",
              level1_when_rising=50.0, rising_per_min=8.0)  # fmt: skip


def batch(values: dict[int, float]) -> ReadingBatch:
    return ReadingBatch.of(list(values), list(values.values()), [0] * len(values))


def test_a_crossing_wakes_once_and_a_value_that_stays_over_does_not() -> None:
    watch = CrossingWatch([GAS, GAS])
    assert not watch.crossed(batch({0: 5.0, 1: 5.0}))
    assert watch.crossed(batch({0: 20.0, 1: 5.0}))
    assert not watch.crossed(batch({0: 30.0, 1: 5.0}))  # still over: no new wake
    assert not watch.crossed(batch({1: 6.0}))  # another sensor, below
    assert not watch.crossed(batch({0: 3.0}))  # back below
    assert watch.crossed(batch({0: 25.0}))  # over again: a new crossing


def test_a_value_hovering_at_the_set_point_wakes_once_until_it_falls_past_the_deadband() -> None:
    watch = CrossingWatch([GAS])  # level 1 at 20, deadband 2
    woke = [watch.crossed(batch({0: v})) for v in (20.1, 19.9, 20.2, 18.5, 20.0, 17.9, 20.0)]
    assert woke == [True, False, False, False, False, False, True]


def test_the_low_side_and_the_lower_level_while_rising_count_too() -> None:
    watch = CrossingWatch([OXYGEN, HEAT])
    assert not watch.crossed(batch({0: 20.9, 1: 21.0}))
    assert watch.crossed(batch({0: 19.4}))  # oxygen deficiency
    assert watch.crossed(batch({1: 51.0}))  # heat over the A1 rule's lower level 1


def test_a_missing_value_never_wakes() -> None:
    watch = CrossingWatch([GAS])
    assert not watch.crossed(batch({0: math.nan}))
