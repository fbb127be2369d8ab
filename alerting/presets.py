"""Set points by sensor class, with their basis. Every number can be overridden per device.

Sources are summarised in shared/domain.md section 2; where a standard's text was not at hand the
value is the commonly cited one and stays a default, never a constant in the detection code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from gateway.model import SensorClass

OFF = math.nan  # a threshold that is not used
NEVER = math.inf  # a timeout that never fires


@dataclass(frozen=True, slots=True)
class Preset:
    level1: float
    level2: float
    deadband: float  # hysteresis below a level before it clears
    rate_of_rise_per_min: float  # units per minute; OFF = no rate-of-rise alarm
    stale_after_s: float  # no reading for this long = fault
    stuck_after_s: float  # no change beyond noise_floor for this long = fault
    noise_floor: float
    basis: str

    def with_overrides(self, **overrides: float | None) -> Preset:
        """This preset with the given values replaced; None keeps the preset's value."""
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **given)


PRESETS: dict[SensorClass, Preset] = {
    SensorClass.COMBUSTIBLE_GAS: Preset(
        level1=25.0,
        level2=50.0,
        deadband=1.0,  # EEMUA 191: 1 % of a 0-100 %LEL range
        rate_of_rise_per_min=OFF,
        stale_after_s=60.0,  # mains-powered transmitters report every few seconds
        # Clean air reads a flat 0 %LEL on many heads: stuck detection only where configured.
        stuck_after_s=NEVER,
        noise_floor=0.1,
        basis="GB/T 50493-2019 5.5.2: level 1 <= 25 %LEL, level 2 <= 50 %LEL",
    ),
    SensorClass.CO: Preset(
        level1=24.0,
        level2=160.0,
        deadband=2.0,
        rate_of_rise_per_min=OFF,
        stale_after_s=60.0,
        stuck_after_s=NEVER,
        noise_floor=0.5,
        basis="GB/T 50493-2019: level 1 <= 100 % OEL, level 2 <= 200 % OEL; typical CO 24/160 ppm",
    ),
    SensorClass.TEMPERATURE: Preset(
        level1=56.0,  # a fire alarm from the heat detector's static response
        level2=OFF,
        deadband=1.0,
        rate_of_rise_per_min=8.3,  # UL 521 / NFPA 72 rate-of-rise heat detectors: 15 °F/min
        stale_after_s=120.0,
        stuck_after_s=1800.0,  # a live room temperature always jitters a little
        noise_floor=0.05,
        basis="EN 54-5 class A1 static response 54-65 °C (alarm at 56 °C); UL 521 8.3 °C/min",
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
    ),
}
