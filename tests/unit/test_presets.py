"""Set points by class, with their basis, and how site, zone and device settings compose."""

from __future__ import annotations

import math
from typing import get_args

import pytest

from alerting.presets import EN50291_BANDS, PRESETS, VARIANTS, device_layer, resolve
from alerting.rules import Condition, meaning
from gateway.config import PresetName
from gateway.model import UNITS, SensorClass


def test_every_sensor_class_has_a_preset_a_unit_and_a_basis() -> None:
    assert set(PRESETS) == set(SensorClass) == set(UNITS)
    for cls, preset in PRESETS.items():
        assert preset.basis.strip(), cls
        assert preset.problems() == [], cls


@pytest.mark.parametrize(
    ("cls", "level1", "level2"),
    [
        (SensorClass.COMBUSTIBLE_GAS, 25.0, 50.0),  # GB/T 50493-2019 5.5.2, %LEL
        (SensorClass.CO, 24.0, 160.0),
        (SensorClass.H2S, 6.0, 20.0),
        (SensorClass.NH3, 25.0, 50.0),
        (SensorClass.CL2, 0.3, 0.6),
        (SensorClass.H2, 1.0, 2.0),
    ],
)
def test_gas_presets_carry_the_cited_set_points(
    cls: SensorClass, level1: float, level2: float
) -> None:
    assert (PRESETS[cls].level1, PRESETS[cls].level2) == (level1, level2)
    assert meaning(cls, Condition.LEVEL2).start_key == "gas_level2"


def test_oxygen_alarms_below_19_5_and_above_23_5() -> None:
    o2 = PRESETS[SensorClass.OXYGEN]
    assert (o2.low, o2.level1) == (19.5, 23.5)
    assert o2.low_low < o2.low


def test_life_safety_classes_allow_no_long_on_delay() -> None:
    assert PRESETS[SensorClass.SMOKE].max_on_delay_s == 0.0
    assert PRESETS[SensorClass.TEMPERATURE].max_on_delay_s <= 5.0  # fire within 10 s
    assert all(PRESETS[c].max_on_delay_s <= 10.0 for c in SensorClass)


def test_the_a1_variant_is_the_panel_rule() -> None:
    cls, a1 = VARIANTS["heat_a1"]
    assert cls is SensorClass.TEMPERATURE
    assert (a1.level1, a1.level1_when_rising, a1.rising_per_min) == (56.0, 46.0, 4.0)
    assert math.isnan(a1.rate_of_rise_per_min)


def test_the_config_offers_exactly_the_variants_there_are() -> None:
    assert set(get_args(PresetName)) == set(VARIANTS)


def test_co_dose_bands_sit_inside_en_50291s_windows() -> None:
    (ppm50, min50), (ppm100, min100), (ppm300, min300) = EN50291_BANDS
    assert ppm50 <= 50
    assert 60 <= min50 <= 90
    assert ppm100 <= 100
    assert 10 <= min100 <= 40
    assert ppm100 > 50
    assert ppm300 <= 300
    assert min300 <= 3
    assert ppm300 > 100
    assert ppm50 > 30  # no alarm at 30 ppm


def test_layers_compose_device_over_zone_over_site_over_preset() -> None:
    gas = SensorClass.COMBUSTIBLE_GAS
    site, zone, device = {"level1": 20.0, "deadband": 2.0}, {"level1": 15.0}, {"level2": 40.0}
    preset, problems = resolve(gas, [site, zone, device])
    assert problems == []
    assert (preset.level1, preset.level2, preset.deadband) == (15.0, 40.0, 2.0)
    assert resolve(gas, [site, zone, {"level1": 12.0}])[0].level1 == 12.0


def test_the_highest_layer_naming_a_variant_picks_it() -> None:
    temp = SensorClass.TEMPERATURE
    preset, _ = resolve(temp, [{}, {"preset": "heat_a1"}, {"stale_after_s": 30.0}])
    assert (preset.name, preset.level1_when_rising, preset.stale_after_s) == ("heat_a1", 46.0, 30.0)
    preset, _ = resolve(temp, [{"preset": "heat_a1"}, {"preset": "temperature_battery"}, {}])
    assert preset.name == "temperature_battery"


def test_a_device_layer_survives_the_registry_round_trip() -> None:
    """The registry keeps a device's own settings; the engine lays zone and site under them."""
    temp = SensorClass.TEMPERATURE
    own, _ = resolve(temp, [{"preset": "heat_a1", "level1": 60.0}])
    assert device_layer(own) == {"preset": "heat_a1", "level1": 60.0}
    preset, _ = resolve(temp, [{"level1": 50.0, "deadband": 3.0}, {}, device_layer(own)])
    assert (preset.name, preset.level1, preset.deadband) == ("heat_a1", 60.0, 3.0)


@pytest.mark.parametrize(
    ("cls", "layers", "says"),
    [
        (SensorClass.COMBUSTIBLE_GAS, [{"level1": 60.0}], "level2 (50) is below level1 (60)"),
        (SensorClass.OXYGEN, [{"low": 24.0}], "level1 (23.5) is below low (24)"),
        (SensorClass.SMOKE, [{"on_delay_s": 1.0}], "budget"),
        (SensorClass.CO, [{"preset": "heat_a1"}], "for temperature sensors"),
        (SensorClass.CO, [{"co_dose": [(50, 60)] * 4}], "at most 3"),
        (SensorClass.CO, [{"range_min": 10.0, "range_max": 5.0}], "not below range_max"),
    ],
)
def test_set_points_that_cannot_work_are_named(
    cls: SensorClass, layers: list[dict[str, object]], says: str
) -> None:
    problems = resolve(cls, layers)[1]
    assert any(says in p for p in problems), problems


def test_a_reload_gets_the_budget_instead_of_a_long_delay() -> None:
    preset, problems = resolve(SensorClass.TEMPERATURE, [{"on_delay_s": 30.0}])
    assert problems
    assert preset.within_budget().on_delay_s == 5.0
