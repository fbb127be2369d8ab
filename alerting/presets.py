"""Set points by sensor class, with their basis, and how site, zone and device settings compose.

Sources are summarised in shared/domain.md section 2; where a standard's text was not at hand the
value is the commonly cited one (marked "unconfirmed") and stays a default, never a constant in
the detection code. Every number can be overridden per site, per zone and per device:
device > zone > site > preset. A layer may also pick a named variant (`preset: heat_a1`) of the
class preset; the highest layer that names one wins, and the layers' numbers apply on top of it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from gateway.model import SensorClass

OFF = math.nan  # a threshold that is not used
NEVER = math.inf  # a timeout that never fires
MAX_DOSE_BANDS = 3

DoseBands = tuple[tuple[float, float], ...]  # (concentration, minutes above it)


@dataclass(frozen=True, slots=True)
class Preset:
    level1: float  # high side, first level (gas level 1, heat static response)
    level2: float  # high side, second level (gas level 2)
    deadband: float  # hysteresis: a high level clears below set point - deadband (low: above +)
    rate_of_rise_per_min: float  # units per minute; OFF = no rate-of-rise alarm
    stale_after_s: float  # no reading for this long = fault
    stuck_after_s: float  # no change beyond noise_floor for this long = fault
    noise_floor: float
    basis: str
    high_high: float = OFF  # a third high level (e.g. evacuate); level 3 in the ledger
    low: float = OFF  # low side, first level (oxygen deficiency)
    low_low: float = OFF  # low side, second level
    on_delay_s: float = 0.0  # a level must hold this long before it alarms
    off_delay_s: float = 0.0  # and stay clear this long before it clears (never delays an alarm)
    max_on_delay_s: float = 0.0  # the class's budget: a longer on-delay is refused
    level1_when_rising: float = OFF  # level 1 drops to this while rising at rising_per_min ...
    rising_per_min: float = OFF  # ... or faster (the A1 heat rule)
    range_min: float = -math.inf  # instrument range: outside it the value is a fault
    range_max: float = math.inf
    warmup_max_s: float = NEVER  # warming up (quality uncertain) longer than this = fault
    co_dose: DoseBands = ()  # EN 50291-style time-weighted rule
    name: str = ""  # which preset this came from
    overridden: frozenset[str] = frozenset()  # fields a device set itself (for layering)

    def with_overrides(self, **overrides: Any) -> Preset:
        """This preset with the given values replaced; None keeps the preset's value."""
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        if "co_dose" in given:
            given["co_dose"] = _dose_bands(given["co_dose"])
        return replace(self, **given, overridden=self.overridden | given.keys())

    def within_budget(self) -> Preset:
        """This preset with its on-delay cut to the class's budget."""
        return replace(self, on_delay_s=min(self.on_delay_s, self.max_on_delay_s))

    def problems(self) -> list[str]:
        """Why this combination of numbers cannot protect anybody (empty when it can)."""
        out: list[str] = []
        order = [(n, getattr(self, n)) for n in ("low_low", "low", "level1", "level2", "high_high")]
        used = [(n, v) for n, v in order if not math.isnan(v)]
        for (lo_name, lo), (hi_name, hi) in itertools.pairwise(used):
            if hi < lo:
                out.append(f"{hi_name} ({hi:g}) is below {lo_name} ({lo:g})")
        if self.on_delay_s > self.max_on_delay_s:
            out.append(
                f"on_delay_s ({self.on_delay_s:g}) exceeds this class's alarm budget "
                f"({self.max_on_delay_s:g} s): a life-safety alarm must not wait longer"
            )
        if self.range_min >= self.range_max:
            out.append(
                f"range_min ({self.range_min:g}) is not below range_max ({self.range_max:g})"
            )
        if len(self.co_dose) > MAX_DOSE_BANDS:
            out.append(f"co_dose has {len(self.co_dose)} bands; at most {MAX_DOSE_BANDS}")
        return out


def _dose_bands(bands: Sequence[Any]) -> DoseBands:
    """Accept (ppm, minutes) pairs or {ppm, minutes} mappings (as the config gives them)."""
    out = []
    for band in bands:
        ppm, minutes = (band["ppm"], band["minutes"]) if isinstance(band, Mapping) else band
        out.append((float(ppm), float(minutes)))
    return tuple(out)


# EN 50291 asks for an alarm within 60-90 min at 50 ppm, 10-40 min at 100 ppm and 3 min at 300 ppm,
# and none within 120 min at 30 ppm. Each band counts the minutes spent at or above its
# concentration; 10 % below the test points so a detector reading a little low still alarms in time.
EN50291_BANDS: DoseBands = ((45.0, 70.0), (90.0, 20.0), (270.0, 2.0))

_GAS_BASIS = "GB/T 50493-2019 5.5.2: level 1 <= 100 % OEL, level 2 <= 200 % OEL"
_GAS_DELAY = 10.0  # unconfirmed: a gas head's own T90 is tens of seconds; add at most 10 s
_WARMUP = 900.0  # unconfirmed: catalytic and electrochemical heads settle within minutes


def _gas(level1: float, level2: float, span: float, basis: str, **more: Any) -> Preset:
    """A gas transmitter 0..span: deadband 1 % of range (EEMUA 191), mains-powered cadence."""
    values: dict[str, Any] = {
        "deadband": span / 100, "rate_of_rise_per_min": OFF, "stale_after_s": 60.0,
        # Clean air reads a flat zero on many heads: stuck detection only where configured.
        "stuck_after_s": NEVER, "noise_floor": span / 1000, "max_on_delay_s": _GAS_DELAY,
        "range_min": -span / 20,  # unconfirmed: a zero drifted 5 % below zero is a fault
        "range_max": span, "warmup_max_s": _WARMUP,
    }  # fmt: skip
    values.update(more)
    return Preset(level1=level1, level2=level2, basis=basis, **values)


PRESETS: dict[SensorClass, Preset] = {
    SensorClass.COMBUSTIBLE_GAS: _gas(
        25.0, 50.0, 100.0, "GB/T 50493-2019 5.5.2: level 1 <= 25 %LEL, level 2 <= 50 %LEL"
    ),
    SensorClass.CO: _gas(
        24.0,
        160.0,
        1000.0,
        f"{_GAS_BASIS}; typical CO 24/160 ppm; EN 50291 dose bands",
        deadband=2.0,  # finer than 1 % of range: level 1 is only 24 ppm
        noise_floor=0.5,
        co_dose=EN50291_BANDS,
    ),
    SensorClass.H2S: _gas(6.0, 20.0, 100.0, f"{_GAS_BASIS}; typical H2S 6/20 ppm"),
    SensorClass.NH3: _gas(25.0, 50.0, 100.0, f"{_GAS_BASIS}; typical NH3 25/50 ppm"),
    SensorClass.CL2: _gas(0.3, 0.6, 10.0, f"{_GAS_BASIS}; typical Cl2 0.3/0.6 ppm", deadband=0.05),
    SensorClass.H2: _gas(1.0, 2.0, 4.0, "GB/T 50493-2019: typical H2 1/2 %VOL (LEL 4.0 %VOL)"),
    SensorClass.OXYGEN: _gas(
        23.5,
        OFF,
        30.0,
        "GB/T 50493-2019: oxygen low 19.5 %VOL, high 23.5 %VOL",
        low=19.5,
        low_low=18.0,  # unconfirmed: the second low alarm commonly used; set per site
        deadband=0.3,
        range_min=0.0,
    ),
    SensorClass.TEMPERATURE: Preset(
        level1=56.0,  # a fire alarm from the heat detector's static response
        level2=OFF,
        deadband=1.0,  # EEMUA 191: temperature 1 %
        rate_of_rise_per_min=8.3,  # UL 521 / NFPA 72 rate-of-rise heat detectors: 15 °F/min
        stale_after_s=120.0,
        stuck_after_s=1800.0,  # a live room temperature always jitters a little
        noise_floor=0.05,
        basis="EN 54-5 class A1 static response 54-65 °C (alarm at 56 °C); UL 521 8.3 °C/min",
        max_on_delay_s=5.0,  # fire within 10 s (EN 54-2): half of it for polling and the tick
        range_min=-40.0,  # a common sensor range; set the instrument's own per device
        range_max=125.0,
        warmup_max_s=_WARMUP,
    ),
    SensorClass.SMOKE: Preset(
        level1=0.5,  # the detector's own alarm flag: 1 = smoke alarm
        level2=OFF,
        deadband=0.0,
        rate_of_rise_per_min=OFF,
        stale_after_s=300.0,
        stuck_after_s=NEVER,  # a flag is meant to stay put
        noise_floor=0.0,
        basis="the detector's own alarm decision (EN 54-7 / GB 4715)",
        max_on_delay_s=0.0,  # the detector has already decided: show it at once
        range_min=0.0,  # a flag is 0 or 1; anything else is garbage
        range_max=1.0,
        warmup_max_s=_WARMUP,
    ),
}
PRESETS = {cls: replace(p, name=cls.value) for cls, p in PRESETS.items()}

_TEMP, _SMOKE, _CO = (
    PRESETS[SensorClass.TEMPERATURE],
    PRESETS[SensorClass.SMOKE],
    PRESETS[SensorClass.CO],
)
# Named variants a layer can pick with `preset:`; each belongs to one class.
VARIANTS: dict[str, tuple[SensorClass, Preset]] = {
    "heat_a1": (
        SensorClass.TEMPERATURE,
        replace(
            _TEMP,
            rate_of_rise_per_min=OFF,
            level1_when_rising=46.0,
            rising_per_min=4.0,
            basis="EN 54-5 class A1 panel rule: alarm at 56 °C, or at 46 °C when rising "
            "faster than 4 °C/min",
        ),
    ),
    "co_en50291": (
        SensorClass.CO,
        replace(
            _CO,
            level1=OFF,
            level2=OFF,
            basis="EN 50291 residential CO alarm: the time-weighted dose rule only",
        ),
    ),
    "smoke_battery": (
        SensorClass.SMOKE,
        replace(
            _SMOKE,
            stale_after_s=7200.0,
            basis="battery Zigbee smoke detector: check-in about hourly (unconfirmed)",
        ),
    ),
    "temperature_battery": (
        SensorClass.TEMPERATURE,
        replace(
            _TEMP,
            stale_after_s=7200.0,
            stuck_after_s=NEVER,
            basis="battery Zigbee thermometer: reports on change, about hourly otherwise "
            "(unconfirmed); rate of rise and static response as the class",
        ),
    ),
}
VARIANTS = {name: (cls, replace(p, name=name)) for name, (cls, p) in VARIANTS.items()}

_FIELDS = frozenset(f.name for f in fields(Preset)) - {"basis", "name", "overridden"}


def resolve(
    sensor_class: SensorClass, layers: Sequence[Mapping[str, Any]]
) -> tuple[Preset, list[str]]:
    """The preset for a sensor from its layers, lowest first (site, zone, device), and the
    problems found. A layer maps Preset field names to values, plus `preset` for a variant."""
    problems: list[str] = []
    base = PRESETS[sensor_class]
    for layer in layers:
        name = layer.get("preset")
        if name is None:
            continue
        if name not in VARIANTS:
            problems.append(f"unknown preset {name!r}; known: {sorted(VARIANTS)}")
        elif VARIANTS[name][0] is not sensor_class:
            problems.append(f"preset {name!r} is for {VARIANTS[name][0].value} sensors")
        else:
            base = VARIANTS[name][1]
    for layer in layers:
        unknown = layer.keys() - _FIELDS - {"preset"}
        if unknown:
            problems.append(f"unknown settings {sorted(unknown)}")
        base = base.with_overrides(**{k: v for k, v in layer.items() if k in _FIELDS})
    return base, problems + base.problems()


def device_layer(preset: Preset) -> dict[str, Any]:
    """The settings a device made itself, recovered from its preset (see `overridden`)."""
    layer: dict[str, Any] = {k: getattr(preset, k) for k in preset.overridden & _FIELDS}
    if preset.name in VARIANTS:
        layer["preset"] = preset.name
    return layer
