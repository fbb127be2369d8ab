"""What a restart finds standing in the ledger: the latest state of each alarm on the entries it
fed, and the detectors people took out of service and the alarms they shelved.

The ledger records every alarm transition on the entry the alarm feeds (evidence["alarm_states"]),
so a restarted engine can put its alarms back where they were instead of starting them at normal
and recording a `normal -> unacknowledged` that never happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerting.alarms import ANNUNCIATED, AlarmKey, AlarmState, Service, Shelf
from alerting.records import Hazard, LedgerEvent
from alerting.vocabulary import EventType


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


def people_overlays(
    events: Iterable[LedgerEvent], now_ns: int
) -> tuple[dict[str, Service], dict[AlarmKey, Shelf]]:
    """The detectors out of service and the alarms shelved (shelves not yet expired) as people's
    last `device_service` and `alarm_shelf` records left them."""
    services: dict[str, Service] = {}
    shelves: dict[AlarmKey, Shelf] = {}
    for e in events:
        p = e.payload
        if e.type == EventType.DEVICE_SERVICE:
            device = str(p.get("device", ""))
            services.pop(device, None)
            if not p.get("in_service"):
                reason, owner = str(p.get("reason", "")), str(p.get("owner", ""))
                services[device] = Service(e.actor, owner, reason, e.ts_ns)
        elif e.type == EventType.ALARM_SHELF and (key := parse_key(str(p.get("alarm_key")))):
            shelves.pop(key, None)
            until = p.get("until_ns")
            if p.get("shelved") and isinstance(until, int) and until > now_ns:
                shelves[key] = Shelf(e.actor, str(p.get("reason", "")), e.ts_ns, until)
    return services, shelves
