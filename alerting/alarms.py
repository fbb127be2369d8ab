"""Alarm states after ISA-18.2 / IEC 62682 (and OPC UA Part 9), driven by tables.

An alarm is one condition on one device (e.g. kitchen-gas-1 / level2). The process side says
active or clear; people acknowledge and reset. Fire and gas alarms latch: after the process clears
they stay annunciated until a person has acknowledged and reset them.

Beside that base machine (TRANSITIONS) an alarm can be held out of annunciation by overlays:
out of service (a person, with reason and owner), test (a person is testing the detector),
suppressed by design (its parent bus is down) and shelved (a person, with reason, always
expiring). Overlays stack; the highest one (OVERLAYS order) is the state shown. While any overlay
is on, the process is still followed (`active`) but the base state is frozen; when the last one
leaves, the condition as it is then decides (RESUME): an alarm whose condition holds is
annunciated anew, never silently normal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class AlarmState(StrEnum):
    NORMAL = "normal"
    UNACKED = "unacknowledged"
    ACKED = "acknowledged"
    RTN_UNACKED = "rtn_unacknowledged"  # returned to normal, nobody acknowledged yet
    LATCHED_UNACKED = "latched_unacknowledged"  # latching alarm cleared, still unacknowledged
    LATCHED = "latched"  # acknowledged and cleared, waiting for a reset
    SHELVED = "shelved"  # by a person, with a reason, until a time
    SUPPRESSED = "suppressed"  # by design: the parent bus or connection failed
    OUT_OF_SERVICE = "out_of_service"  # by a person, with reason and owner: a coverage gap
    TEST = "test"  # the detector is under test, condition clear
    TEST_ACTIVE = "test_active"  # under test and the condition is present: the test result


class AlarmEvent(StrEnum):
    ACTIVATE = "activate"
    CLEAR = "clear"
    ACK = "ack"
    RESET = "reset"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    REMOVE = "remove_from_service"
    RESTORE = "return_to_service"
    TEST_START = "test_start"
    TEST_END = "test_end"


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

# Overlays, highest first: the one shown when several are on.
OVERLAYS: tuple[AlarmState, ...] = (S.OUT_OF_SERVICE, S.TEST, S.SUPPRESSED, S.SHELVED)
ENTER: dict[AlarmEvent, AlarmState] = {
    E.REMOVE: S.OUT_OF_SERVICE, E.TEST_START: S.TEST, E.SUPPRESS: S.SUPPRESSED,
    E.SHELVE: S.SHELVED,
}  # fmt: skip
LEAVE: dict[AlarmEvent, AlarmState] = {
    E.RESTORE: S.OUT_OF_SERVICE, E.TEST_END: S.TEST, E.UNSUPPRESS: S.SUPPRESSED,
    E.UNSHELVE: S.SHELVED,
}  # fmt: skip
# Leaving the last overlay: condition present -> annunciate anew; clear -> normal.
RESUME: dict[bool, AlarmState] = {True: S.UNACKED, False: S.NORMAL}
# What an overlay shows while the condition is present.
SHOWN_ACTIVE: dict[AlarmState, AlarmState] = {S.TEST: S.TEST_ACTIVE}

BASE = frozenset({S.NORMAL, S.UNACKED, S.ACKED, S.RTN_UNACKED, S.LATCHED_UNACKED, S.LATCHED})
ANNUNCIATED = BASE - {S.NORMAL}
UNACKNOWLEDGED = frozenset({S.UNACKED, S.RTN_UNACKED, S.LATCHED_UNACKED})
TESTING = frozenset({S.TEST, S.TEST_ACTIVE})


def next_state(state: AlarmState, event: AlarmEvent, *, latching: bool) -> AlarmState:
    """The base machine only (no overlays)."""
    return TRANSITIONS.get((state, event, latching), state)


@dataclass(frozen=True, slots=True)
class AlarmKey:
    device: str  # a device id, or bus:<driver id> / zone:<zone id> for parent alarms
    condition: str  # a rules.Condition value

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

    @property
    def is_test(self) -> bool:
        """A transition inside a detector test: never a real hazard."""
        return self.after in TESTING or self.before in TESTING


@dataclass(frozen=True, slots=True)
class Shelf:
    by: str
    reason: str
    since_ns: int
    until_ns: int  # always set: shelving always expires


@dataclass(frozen=True, slots=True)
class Service:
    """Why a device is out of service, and who owns bringing it back."""

    by: str
    owner: str
    reason: str
    since_ns: int


@dataclass(slots=True)
class Alarm:
    key: AlarmKey
    latching: bool
    state: AlarmState = AlarmState.NORMAL  # what is shown: the top overlay, else the base
    base: AlarmState = AlarmState.NORMAL
    active: bool = False  # the condition is present (followed under overlays too)
    overlays: set[AlarmState] = field(default_factory=set)
    since_ns: int = 0
    value: float | None = None
    hazard: str | None = None  # the ledger entry this alarm feeds
    active_since_ns: int | None = None
    shelf: Shelf | None = None

    def shown(self) -> AlarmState:
        for overlay in OVERLAYS:
            if overlay in self.overlays:
                return SHOWN_ACTIVE.get(overlay, overlay) if self.active else overlay
        return self.base


class AlarmBook:
    """Every alarm raised (or held under an overlay) since start, keyed by device and condition."""

    def __init__(self) -> None:
        self._alarms: dict[AlarmKey, Alarm] = {}
        self.out_of_service: dict[str, Service] = {}  # device -> why

    def get(self, key: AlarmKey) -> Alarm | None:
        return self._alarms.get(key)

    def ensure(self, key: AlarmKey, *, latching: bool) -> Alarm:
        """The alarm for `key`, created normal if it has never been seen (e.g. to shelve it)."""
        return self._alarms.setdefault(key, Alarm(key, latching))

    def __iter__(self) -> Iterator[Alarm]:
        return iter(list(self._alarms.values()))

    def apply(
        self,
        key: AlarmKey,
        event: AlarmEvent,
        ts_ns: int,
        *,
        latching: bool,
        value: float | None = None,
    ) -> Transition | None:
        """Feed one event; return the transition, or None when the shown state does not change."""
        alarm = self._alarms.get(key)
        if alarm is None:
            if event is not AlarmEvent.ACTIVATE and event not in ENTER:
                return None
            alarm = self._alarms[key] = Alarm(key, latching)
        before = alarm.state
        _feed(alarm, event, ts_ns)
        alarm.state = alarm.shown()
        if value is not None:
            alarm.value = value
        if alarm.state is before:
            return None
        alarm.since_ns = ts_ns
        return Transition(key, event, before, alarm.state, value, ts_ns)

    def sync(
        self,
        key: AlarmKey,
        *,
        active: bool,
        overlays: frozenset[AlarmState],
        ts_ns: int,
        latching: bool,
        value: float | None = None,
    ) -> list[Transition]:
        """Bring one alarm to the given condition and overlays: overlays coming on first (they
        hide what follows), then the process change, then overlays going off (so resuming
        sees the condition as it is now). Returns at most one transition, from the state
        before to the state after."""
        alarm = self._alarms.get(key)
        if alarm is None and not active:
            return []  # nothing to show: an alarm is created by its condition (or `ensure`)
        if alarm is None:
            alarm = self._alarms[key] = Alarm(key, latching)
        events = [ev for ev, ov in ENTER.items() if ov in overlays - alarm.overlays]
        if active != alarm.active:
            events.append(AlarmEvent.ACTIVATE if active else AlarmEvent.CLEAR)
        events += [ev for ev, ov in LEAVE.items() if ov in alarm.overlays - overlays]
        before, last = alarm.state, None
        for event in events:
            last = self.apply(key, event, ts_ns, latching=latching, value=value) or last
        if last is None or alarm.state is before:
            return []
        # One moment, one transition: e.g. normal -> test_active, not normal -> test -> ...
        return [Transition(key, last.event, before, alarm.state, value, ts_ns)]

    def restore(
        self, key: AlarmKey, state: AlarmState, *, latching: bool, hazard: str, since_ns: int
    ) -> Alarm:
        """Put back an alarm a restart found standing in the ledger, in its base state (an
        annunciated one: overlays are not kept across a restart). Its condition counts as
        present when the state says so (unacknowledged or acknowledged)."""
        if state not in ANNUNCIATED:
            raise ValueError(f"only an annunciated state stands after a restart, not {state}")
        active = state in (AlarmState.UNACKED, AlarmState.ACKED)
        alarm = Alarm(key, latching, state, state, active, since_ns=since_ns, hazard=hazard)
        alarm.active_since_ns = since_ns if active else None
        self._alarms[key] = alarm
        return alarm

    def shelve(
        self, key: AlarmKey, *, latching: bool, by: str, reason: str, now_ns: int, until_ns: int
    ) -> Alarm:
        """Put a shelf on an alarm (it takes effect at the next sync): always with a reason and
        an end."""
        if not reason.strip():
            raise ValueError("shelving needs a reason")
        if until_ns <= now_ns:
            raise ValueError("a shelf must end after it starts")
        alarm = self.ensure(key, latching=latching)
        alarm.shelf = Shelf(by, reason.strip(), now_ns, until_ns)
        return alarm

    def remove_from_service(
        self, device: str, *, by: str, owner: str, reason: str, now_ns: int
    ) -> None:
        if not reason.strip() or not owner.strip():
            raise ValueError("out of service needs a reason and an owner")
        self.out_of_service[device] = Service(by, owner.strip(), reason.strip(), now_ns)

    def of_device(self, device: str) -> list[Alarm]:
        return [a for a in self._alarms.values() if a.key.device == device]

    def annunciated(self) -> list[Alarm]:
        return [a for a in self._alarms.values() if a.state in ANNUNCIATED]

    def for_hazard(self, number: str) -> list[Alarm]:
        return [a for a in self._alarms.values() if a.hazard == number]

    def expired_shelves(self, now_ns: int) -> list[Alarm]:
        return [a for a in self._alarms.values() if a.shelf and a.shelf.until_ns <= now_ns]


def _feed(alarm: Alarm, event: AlarmEvent, ts_ns: int) -> None:
    if event in (AlarmEvent.ACTIVATE, AlarmEvent.CLEAR):
        was = alarm.active
        alarm.active = event is AlarmEvent.ACTIVATE
        if alarm.active and not was:
            alarm.active_since_ns = ts_ns
        elif not alarm.active:
            alarm.active_since_ns = None
    if event in ENTER:
        alarm.overlays.add(ENTER[event])
    elif event in LEAVE:
        if LEAVE[event] in alarm.overlays:
            alarm.overlays.discard(LEAVE[event])
            if not alarm.overlays:
                alarm.base = RESUME[alarm.active]
    elif not alarm.overlays:
        alarm.base = next_state(alarm.base, event, latching=alarm.latching)
