"""The gas board (%LEL and ppm against the level-1 / level-2 set points) and the fire and heat
board (temperature, rate of rise, smoke detector states).

Threshold lines come from the class presets (alerting/presets.py), the same numbers detection
uses by default; a device with its own set points is judged by those, which the alarm
annotations show.
"""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

import math
from dataclasses import dataclass

from alerting.presets import PRESETS
from gateway.grafana.influxql import alarm_annotation, dashboard, where
from gateway.grafana.model import (
    GREEN,
    RED,
    YELLOW,
    Json,
    Panel,
    Query,
    bargauge,
    override,
    state_timeline,
    table,
    thresholds,
    timeseries,
    value_map,
)
from gateway.grafana.overview import STATE_MAP, active_alarms
from gateway.model import SensorClass


@dataclass(frozen=True)
class GasPanel:
    sensor_class: SensorClass
    title: str
    unit: str  # Grafana unit id
    max_: float | None


# One row per gas class the gateway writes (docs/schema.md); a new class is one line here.
GASES = (
    GasPanel(SensorClass.COMBUSTIBLE_GAS, "Combustible gas", "suffix: %LEL", 100.0),
    GasPanel(SensorClass.CO, "Carbon monoxide", "ppm", None),
)
_BY_DEVICE = 'GROUP BY time($__interval), "device" fill(none)'


def set_point_steps(sensor_class: SensorClass) -> Json:
    """Level 1 yellow, level 2 red, from the class preset (levels that are off are left out)."""
    p = PRESETS[sensor_class]
    levels = [(v, c) for v, c in ((p.level1, YELLOW), (p.level2, RED)) if not math.isnan(v)]
    return thresholds(*levels)


def gas_trend(gas: GasPanel) -> Panel:
    cls = gas.sensor_class.value
    p = PRESETS[gas.sensor_class]
    return timeseries(
        f"{gas.title} ({cls})",
        [Query(f'SELECT max("value") FROM "{cls}"{where()} {_BY_DEVICE}', alias="$tag_device")],
        description=f"Highest reading per interval. Lines: level 1 at {p.level1:g} and level 2 "
        f"at {p.level2:g} (class preset; {p.basis}).",
        unit=gas.unit,
        steps=set_point_steps(gas.sensor_class),
        threshold_style="line+area",
        min_=0.0,
        max_=gas.max_,
        decimals=1,
    )


def gas_peaks(gas: GasPanel) -> Panel:
    cls = gas.sensor_class.value
    return bargauge(
        f"Peak {gas.title.lower()} in range",
        [
            Query(
                f'SELECT max("value") FROM "{cls}"{where()} GROUP BY "device"', alias="$tag_device"
            )
        ],
        description="The highest reading of each detector in the selected time range.",
        unit=gas.unit,
        steps=set_point_steps(gas.sensor_class),
        min_=0.0,
        max_=gas.max_ or PRESETS[gas.sensor_class].level2 * 1.5,
    )


def gas_board() -> Json:
    panels = [p for gas in GASES for p in (gas_trend(gas), gas_peaks(gas))]
    panels.append(_alarm_table("Gas alarms", "gas"))
    return dashboard(
        "hazgw-gas",
        "Gas",
        "Combustible gas in %LEL and toxic gas in ppm against the level-1 and level-2 set points "
        "(GB/T 50493-2019). Gas alarms latch: they stay red until a person resets them.",
        panels,
        annotations=[
            alarm_annotation("Gas alarms", ["gas"], RED),
            alarm_annotation("Detector faults", ["fault"], YELLOW),
        ],
    )


def _alarm_table(title: str, kinds_re: str) -> Panel:
    return table(
        title,
        [active_alarms(f'"kind" =~ /^({kinds_re})$/')],
        description="Alarm points of this kind whose latest state is not normal.",
        mappings=[STATE_MAP],
        overrides=[
            override("byName", "Time", displayName="since", unit="dateTimeAsIso"),
            override("byName", "state", **{"custom.cellOptions": {"type": "color-background"}}),
        ],
        w=24,
    )


def fire_board() -> Json:
    heat = PRESETS[SensorClass.TEMPERATURE]
    temperature = timeseries(
        "Temperature",
        [
            Query(
                f'SELECT max("value") FROM "temperature"{where()} {_BY_DEVICE}', alias="$tag_device"
            )
        ],
        description=f"Highest temperature per interval. Line: static heat response at "
        f"{heat.level1:g} °C (class preset; {heat.basis}).",
        unit="celsius",
        steps=thresholds((heat.level1, RED)),
        threshold_style="dashed",
        decimals=1,
    )
    rate = timeseries(
        "Rate of rise",
        [
            Query(
                f'SELECT derivative(mean("value"), 1m) FROM "temperature"{where()} {_BY_DEVICE}',
                alias="$tag_device",
            )
        ],
        description=f"Temperature change per minute. Line: {heat.rate_of_rise_per_min:g} °C/min, "
        "the rate-of-rise response (UL 521 / NFPA 72); detection measures it over its own window.",
        unit="suffix: °C/min",
        steps=thresholds((heat.rate_of_rise_per_min, RED)),
        threshold_style="dashed",
        decimals=1,
        interval="30s",
    )
    smoke = state_timeline(
        "Smoke detectors",
        [
            Query(
                f'SELECT max("value") FROM "smoke"{where()} '
                'GROUP BY time($__interval), "device" fill(previous)',
                alias="$tag_device",
            )
        ],
        description="Each smoke detector's alarm flag: red while it reports smoke; gaps are "
        "silence (see Device health).",
        mappings=[value_map({"0": ("clear", GREEN), "1": ("smoke", RED)})],
        steps=thresholds((1, RED)),
    )
    return dashboard(
        "hazgw-fire",
        "Fire and heat",
        "Temperatures against the static heat response, the rate of rise, and the smoke "
        "detectors' alarm flags. Fire alarms latch until reset.",
        [temperature, rate, smoke, _alarm_table("Fire and heat alarms", "fire|heat")],
        annotations=[
            alarm_annotation("Fire and heat alarms", ["fire", "heat"], RED),
            alarm_annotation("Detector faults", ["fault"], YELLOW),
        ],
    )
