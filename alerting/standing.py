"""The alarms a restart finds standing: the latest state of each alarm on the ledger's entries.

The ledger records every alarm transition on the entry the alarm feeds (evidence["alarm_states"]),
so a restarted engine can put its alarms back where they were instead of starting them at normal
and recording a `normal -> unacknowledged` that never happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerting.alarms import ANNUNCIATED, AlarmKey, AlarmState
from alerting.records import Hazard


@dataclass(frozen=True, slots=True)
class Standing:
    key: AlarmKey
    state: AlarmState  # an annunciated base state
    hazard: str  # the entry it feeds


def standing_alarms(hazards: Iterable[Hazard]) -> list[Standing]:
    """Each alarm's latest annunciated state; the latest entry an alarm fed wins (an alarm feeds
    a new entry only after returning to normal on the one before)."""
    latest: dict[AlarmKey, Standing | None] = {}
    for hazard in hazards:  # in registration order
        states = hazard.evidence.get("alarm_states")
        if hazard.drill or not isinstance(states, dict):
            continue
        for name, value in states.items():
            key = parse_key(str(name))
            state = _state(value)
            if key is None:
                continue
            latest[key] = Standing(key, state, hazard.number) if state in ANNUNCIATED else None
    return [s for s in latest.values() if s is not None]


def parse_key(name: str) -> AlarmKey | None:
    """ "kitchen-gas-1/level1" (also "bus:rs485-1/bus_down") -> AlarmKey; None if malformed."""
    device, sep, condition = name.rpartition("/")
    return AlarmKey(device, condition) if sep and device and condition else None


def _state(value: object) -> AlarmState | None:
    if not isinstance(value, str):
        return None
    try:
        return AlarmState(value)
    except ValueError:
        return None
