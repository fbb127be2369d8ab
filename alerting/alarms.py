"""Alarm states after ISA-18.2 / IEC 62682, driven by one transition table.

An alarm is one condition on one device (e.g. kitchen-gas-1 / level2). The process side says
active or clear; people acknowledge and reset. Fire and gas alarms latch: after the process clears
they stay annunciated until a person has acknowledged and reset them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AlarmState(StrEnum):
    NORMAL = "normal"
    UNACKED = "unacknowledged"
    ACKED = "acknowledged"
    RTN_UNACKED = "rtn_unacknowledged"  # returned to normal, nobody acknowledged yet
    LATCHED_UNACKED = "latched_unacknowledged"  # latching alarm cleared, still unacknowledged
    LATCHED = "latched"  # acknowledged and cleared, waiting for a reset


class AlarmEvent(StrEnum):
    ACTIVATE = "activate"
    CLEAR = "clear"
    ACK = "ack"
    RESET = "reset"


S, E = AlarmState, AlarmEvent

# (state, event, latching) -> next state. A pair that is missing means "no change".
TRANSITIONS: dict[tuple[AlarmState, AlarmEvent, bool], AlarmState] = {
    **{(S.NORMAL, E.ACTIVATE, latch): S.UNACKED for latch in (False, True)},
    **{(S.UNACKED, E.ACK, latch): S.ACKED for latch in (False, True)},
    (S.UNACKED, E.CLEAR, False): S.RTN_UNACKED,
    (S.UNACKED, E.CLEAR, True): S.LATCHED_UNACKED,
    (S.ACKED, E.CLEAR, False): S.NORMAL,
    (S.ACKED, E.CLEAR, True): S.LATCHED,
    (S.RTN_UNACKED, E.ACK, False): S.NORMAL,
    (S.RTN_UNACKED, E.ACTIVATE, False): S.UNACKED,
    (S.LATCHED_UNACKED, E.ACK, True): S.LATCHED,
    (S.LATCHED_UNACKED, E.ACTIVATE, True): S.UNACKED,
    (S.LATCHED, E.ACTIVATE, True): S.UNACKED,  # it came back: annunciate again
    (S.LATCHED, E.RESET, True): S.NORMAL,
}

ANNUNCIATED = frozenset(set(AlarmState) - {AlarmState.NORMAL})
UNACKNOWLEDGED = frozenset({S.UNACKED, S.RTN_UNACKED, S.LATCHED_UNACKED})


def next_state(state: AlarmState, event: AlarmEvent, *, latching: bool) -> AlarmState:
    return TRANSITIONS.get((state, event, latching), state)


@dataclass(frozen=True, slots=True)
class AlarmKey:
    device: str
    condition: str  # level1, level2, rate_of_rise, stale, stuck

    def __str__(self) -> str:
        return f"{self.device}/{self.condition}"


@dataclass(frozen=True, slots=True)
class Transition:
    key: AlarmKey
    event: AlarmEvent
    before: AlarmState
    after: AlarmState
    value: float | None
    ts_ns: int


@dataclass(slots=True)
class Alarm:
    key: AlarmKey
    latching: bool
    state: AlarmState = AlarmState.NORMAL
    since_ns: int = 0
    value: float | None = None
    hazard: str | None = None  # the ledger entry this alarm feeds


class AlarmBook:
    """Every alarm that has ever been raised since start, keyed by device and condition."""

    def __init__(self) -> None:
        self._alarms: dict[AlarmKey, Alarm] = {}

    def get(self, key: AlarmKey) -> Alarm | None:
        return self._alarms.get(key)

    def apply(
        self,
        key: AlarmKey,
        event: AlarmEvent,
        ts_ns: int,
        *,
        latching: bool,
        value: float | None = None,
    ) -> Transition | None:
        """Feed one event; return the transition, or None when the state does not change."""
        alarm = self._alarms.get(key)
        if alarm is None:
            if event is not AlarmEvent.ACTIVATE:
                return None
            alarm = self._alarms[key] = Alarm(key, latching)
        after = next_state(alarm.state, event, latching=alarm.latching)
        if after is alarm.state:
            return None
        before, alarm.state, alarm.since_ns = alarm.state, after, ts_ns
        if value is not None:
            alarm.value = value
        return Transition(key, event, before, after, value, ts_ns)

    def annunciated(self) -> list[Alarm]:
        return [a for a in self._alarms.values() if a.state in ANNUNCIATED]

    def for_hazard(self, number: str) -> list[Alarm]:
        return [a for a in self._alarms.values() if a.hazard == number]
