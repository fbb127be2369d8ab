"""What a detected condition means for people: the alarm's kind, severity, latching, and which
hazard in the ledger it belongs to.

One fire in a room is one hazard however many detectors confirm it, so fire hazards are keyed by
zone; gas, heat and faults are keyed by device (a leak at one head is not the same hazard as a
leak at another, and each blind detector needs its own repair); a dead bus is one fault keyed by
the bus, whatever number of devices hang on it.
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
    HIGH_HIGH = "high_high"
    LOW = "low"
    LOW_LOW = "low_low"
    CO_DOSE = "co_dose"  # EN 50291-style time-weighted CO rule
    OUT_OF_RANGE = "out_of_range"  # outside the instrument's range, or flagged bad by it
    WARM_UP = "warm_up"  # still warming up (uncertain) after its allowance
    COMM_LOSS = "comm_loss"  # the bus is up but this device stopped answering
    BUS_DOWN = "bus_down"  # a bus or broker connection is down (key: bus:<driver id>)
    CORROBORATED = "corroborated"  # smoke and a temperature rise in one zone (key: zone:<id>)
    SERVICE = "service"  # the detector as a whole: out of service, under test


# Columns the detector computes, in its order; the engine adds comm loss from the topology.
DETECTED: tuple[Condition, ...] = (
    Condition.LEVEL1, Condition.LEVEL2, Condition.HIGH_HIGH, Condition.LOW, Condition.LOW_LOW,
    Condition.RATE_OF_RISE, Condition.CO_DOSE, Condition.STALE, Condition.STUCK,
    Condition.OUT_OF_RANGE, Condition.WARM_UP,
)  # fmt: skip
CONDITIONS: tuple[Condition, ...] = (*DETECTED, Condition.COMM_LOSS)  # one column per sensor
# The link to the device: a failed parent suppresses these, and a test does not touch them.
LINK = frozenset({Condition.STALE, Condition.COMM_LOSS})
FAULTS = frozenset(
    {*LINK, Condition.STUCK, Condition.OUT_OF_RANGE, Condition.WARM_UP, Condition.BUS_DOWN}
)
LOW_SIDE = frozenset({Condition.LOW, Condition.LOW_LOW})  # the worst value is the lowest


@dataclass(frozen=True, slots=True)
class AlarmMeaning:
    kind: str  # fire, gas, heat, fault (the ledger's Kind values)
    level: int  # severity within the kind: gas level 1, 2 or 3; fire 2 when corroborated
    latching: bool  # fire and gas alarms stay until reset
    start_key: str  # which escalation start level applies (config escalation.start_level)
    label: str  # for titles and notifications


_GAS_NAME = {
    SensorClass.COMBUSTIBLE_GAS: "Combustible gas",
    SensorClass.CO: "Carbon monoxide",
    SensorClass.H2S: "Hydrogen sulphide",
    SensorClass.NH3: "Ammonia",
    SensorClass.CL2: "Chlorine",
    SensorClass.H2: "Hydrogen",
    SensorClass.OXYGEN: "Oxygen",
}
_FAULT_LABEL = {
    Condition.STALE: "silent (no readings)",
    Condition.STUCK: "value frozen",
    Condition.OUT_OF_RANGE: "value out of instrument range",
    Condition.WARM_UP: "warm-up overrun",
    Condition.COMM_LOSS: "not answering on its bus",
    Condition.BUS_DOWN: "bus down",
    Condition.SERVICE: "out of service",
}
_GAS_LEVEL = {
    Condition.LEVEL1: 1, Condition.LEVEL2: 2, Condition.HIGH_HIGH: 3, Condition.CO_DOSE: 2,
    Condition.LOW: 1, Condition.LOW_LOW: 2,
}  # fmt: skip
_OXYGEN_LABEL = {Condition.LOW: "deficiency", Condition.LOW_LOW: "deficiency"}


_CONFIRMED = AlarmMeaning("fire", 2, True, "fire", "Fire confirmed: smoke and heat in one zone")
_SMOKE = AlarmMeaning("fire", 1, True, "fire", "Fire: smoke detector in alarm")
_LOW_TEMP = AlarmMeaning("heat", 1, False, "heat", "Low temperature")
_HEAT: dict[Condition, AlarmMeaning] = {
    Condition.RATE_OF_RISE: AlarmMeaning("fire", 1, True, "fire", "Fire: temperature rising fast"),
    Condition.LEVEL1: AlarmMeaning("fire", 1, True, "fire", "Fire: heat detector static response"),
    Condition.LEVEL2: AlarmMeaning("heat", 2, True, "heat", "High temperature"),
    Condition.HIGH_HIGH: AlarmMeaning("heat", 3, True, "heat", "High temperature"),
    Condition.LOW: _LOW_TEMP,
    Condition.LOW_LOW: _LOW_TEMP,
}


def meaning(sensor_class: SensorClass, condition: Condition) -> AlarmMeaning:
    if condition in _FAULT_LABEL:
        label = f"Detector fault: {_FAULT_LABEL[condition]}"
        return AlarmMeaning("fault", 1, False, "fault", label)
    if condition is Condition.CORROBORATED:
        return _CONFIRMED
    if sensor_class in _GAS_NAME:
        return _gas_meaning(sensor_class, condition)
    if sensor_class is SensorClass.SMOKE:
        return _SMOKE
    return _HEAT.get(condition, _HEAT[Condition.LEVEL2])


def _gas_meaning(sensor_class: SensorClass, condition: Condition) -> AlarmMeaning:
    level = _GAS_LEVEL.get(condition, 1)
    name = _GAS_NAME[sensor_class]
    if condition is Condition.CO_DOSE:
        label = f"{name} level {level} (EN 50291 dose)"
    elif sensor_class is SensorClass.OXYGEN:
        label = f"{name} {_OXYGEN_LABEL.get(condition, 'enrichment')} level {level}"
    else:
        label = f"{name} level {level}"
    start = "gas_level1" if level == 1 else "gas_level2"
    return AlarmMeaning("gas", level, True, start, label)


def dedup_key(kind: str, device: str, zone: str) -> str:
    return f"zone:{zone}:fire" if kind == "fire" else f"dev:{device}:{kind}"


def bus_dedup_key(driver: str) -> str:
    return f"bus:{driver}:fault"


def title(kind: str, m: AlarmMeaning, device: str, place: str) -> str:
    if kind == "fire":
        return f"Fire in {place}"
    if kind == "gas":
        gas = m.label.rsplit(" level", 1)[0]
        if gas.startswith("Oxygen"):
            return f"{gas} at {place} ({device})"
        return f"{gas} leak at {place} ({device})"
    return f"{m.label} at {place} ({device})"


def bus_title(driver: str, devices: int) -> str:
    return f"Bus fault: {driver} down ({devices} devices without communication)"
