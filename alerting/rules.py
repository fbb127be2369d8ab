"""What a detected condition means for people: the alarm's kind, severity, latching, and which
hazard in the ledger it belongs to.

One fire in a room is one hazard however many detectors confirm it, so fire hazards are keyed by
zone; gas, heat and faults are keyed by device (a leak at one head is not the same hazard as a
leak at another, and each blind detector needs its own repair).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.model import SensorClass


class Condition(StrEnum):
    LEVEL1 = "level1"
    LEVEL2 = "level2"
    RATE_OF_RISE = "rate_of_rise"
    STALE = "stale"
    STUCK = "stuck"


CONDITIONS: tuple[Condition, ...] = tuple(Condition)


@dataclass(frozen=True, slots=True)
class AlarmMeaning:
    kind: str  # fire, gas, heat, fault (the ledger's Kind values)
    level: int  # severity within the kind: gas level 1 or 2; 1 otherwise
    latching: bool  # fire and gas alarms stay until reset
    start_key: str  # which escalation start level applies (config escalation.start_level)
    label: str  # for titles and notifications


_GAS_LABEL = {SensorClass.COMBUSTIBLE_GAS: "Combustible gas", SensorClass.CO: "Carbon monoxide"}
_FAULT_LABEL = {Condition.STALE: "silent (no readings)", Condition.STUCK: "value frozen"}


def meaning(sensor_class: SensorClass, condition: Condition) -> AlarmMeaning:
    if condition in _FAULT_LABEL:
        return AlarmMeaning(
            "fault", 1, False, "fault", f"Detector fault: {_FAULT_LABEL[condition]}"
        )
    if sensor_class in _GAS_LABEL:
        level = 2 if condition is Condition.LEVEL2 else 1
        label = f"{_GAS_LABEL[sensor_class]} level {level}"
        return AlarmMeaning("gas", level, True, f"gas_level{level}", label)
    if sensor_class is SensorClass.SMOKE:
        return AlarmMeaning("fire", 1, True, "fire", "Fire: smoke detector in alarm")
    if condition is Condition.RATE_OF_RISE:
        return AlarmMeaning("fire", 1, True, "fire", "Fire: temperature rising fast")
    if condition is Condition.LEVEL1:
        return AlarmMeaning("fire", 1, True, "fire", "Fire: heat detector static response")
    return AlarmMeaning("heat", 2, True, "heat", "High temperature")


def dedup_key(kind: str, device: str, zone: str) -> str:
    return f"zone:{zone}:fire" if kind == "fire" else f"dev:{device}:{kind}"


def title(kind: str, m: AlarmMeaning, device: str, place: str) -> str:
    if kind == "fire":
        return f"Fire in {place}"
    if kind == "gas":
        return f"{m.label.rsplit(' level', 1)[0]} leak at {place} ({device})"
    return f"{m.label} at {place} ({device})"
