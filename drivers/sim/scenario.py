"""The demo facility's scenario: deterministic signals per channel as functions of scenario time.

Timeline (scenario seconds), chosen so every kind of alarm appears once in 20 minutes:
  0-180     quiet
  180       kitchen methane leak starts: +0.15 %LEL/s, level 1 (25 %LEL) at ~343 s,
            level 2 (50 %LEL) at ~510 s, peak 60 %LEL, ventilated away after 840 s
  300       the corridor thermometer freezes (its value never changes again)
  420       the office's second smoke detector goes silent (no readings at all)
  600       store-room fire: temperature rises 10 °C/min (above the 8.3 °C/min rate of rise),
            the store-room smoke detector goes into alarm at 720 s
  1200      end
Noise comes from a generator seeded per channel, so a run is the same every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DURATION_S = 1200.0
LEAK_START, LEAK_RATE, LEAK_PEAK, VENT_START, VENT_RATE = 180.0, 0.15, 60.0, 840.0, 0.2
FREEZE_AT = 300.0
SILENT_AT = 420.0
FIRE_START, FIRE_RATE_PER_MIN, FIRE_PEAK, SMOKE_AT = 600.0, 10.0, 49.0, 720.0


def _leak(t: float) -> float:
    rising = min(LEAK_PEAK, max(0.0, (t - LEAK_START) * LEAK_RATE))
    return max(0.0, rising - max(0.0, (t - VENT_START) * VENT_RATE))


def _fire(t: float, base: float) -> float:
    return min(FIRE_PEAK, base + max(0.0, t - FIRE_START) * FIRE_RATE_PER_MIN / 60.0)


@dataclass(frozen=True, slots=True)
class Channel:
    signal: Callable[[float], float]
    noise: float  # standard deviation
    floor: float = 0.0  # physical minimum (a concentration is never negative)
    silent_from: float | None = None
    frozen_from: float | None = None


def _flag(at: float) -> Callable[[float], float]:
    return lambda t: 1.0 if t >= at else 0.0


def _const(v: float) -> Callable[[float], float]:
    return lambda _t: v


CHANNELS: dict[str, Channel] = {
    "kitchen_gas": Channel(lambda t: 0.5 + _leak(t), noise=0.2),
    "kitchen_co": Channel(_const(2.0), noise=0.5),
    "kitchen_temp": Channel(_const(24.0), noise=0.1, floor=-40.0),
    "kitchen_smoke": Channel(_const(0.0), noise=0.0),
    "store_temp": Channel(lambda t: _fire(t, 21.0), noise=0.1, floor=-40.0),
    "store_smoke": Channel(_flag(SMOKE_AT), noise=0.0),
    "store_co": Channel(_const(3.0), noise=0.5),
    "office_temp": Channel(_const(22.5), noise=0.1, floor=-40.0),
    "office_smoke": Channel(_const(0.0), noise=0.0),
    "office_smoke_2": Channel(_const(0.0), noise=0.0, silent_from=SILENT_AT),
    "office_co": Channel(_const(1.0), noise=0.5),
    "corridor_temp": Channel(_const(20.0), noise=0.1, floor=-40.0, frozen_from=FREEZE_AT),
    "corridor_smoke": Channel(_const(0.0), noise=0.0),
}


class Scenario:
    """Values of the named channels at sample k (time k * period_s)."""

    def __init__(self, channels: list[str], *, seed: int, period_s: float) -> None:
        unknown = sorted(set(channels) - CHANNELS.keys())
        if unknown:
            raise ValueError(f"unknown sim channels {unknown}; known: {sorted(CHANNELS)}")
        self.channels = [CHANNELS[c] for c in channels]
        self.period_s = period_s
        steps = int(DURATION_S / period_s) + 1
        ids = [sorted(CHANNELS).index(c) for c in channels]
        self._noise = [np.random.default_rng([seed, i]).normal(size=steps) for i in ids]

    def sample(self, k: int) -> tuple[list[int], list[float]]:
        """(positions of the channels that report at sample k, their values)."""
        t = k * self.period_s
        rows, values = [], []
        for pos, ch in enumerate(self.channels):
            if ch.silent_from is not None and t >= ch.silent_from:
                continue
            if ch.frozen_from is not None and t > ch.frozen_from:
                t_eff = ch.frozen_from
                k_eff = int(ch.frozen_from / self.period_s)
            else:
                t_eff, k_eff = t, k
            noise = self._noise[pos][k_eff % len(self._noise[pos])] * ch.noise
            rows.append(pos)
            values.append(round(float(max(ch.floor, ch.signal(t_eff) + noise)), 3))
        return rows, values
