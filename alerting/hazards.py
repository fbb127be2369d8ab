"""The hazard ledger's vocabulary and its projection: what the stored events mean.

`alerting.ledger` stores events; this module turns them into the current hazards by replay.
`apply(state, event)` reads nothing but its arguments (no clock, no I/O), so replaying the same
file always rebuilds the same hazards. It updates `state` in place (copying the whole projection per
event would make replay quadratic); callers get copies through `Hazard.snapshot()`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, Self, TypeVar

from gateway.errors import LedgerError

Json = dict[str, object]
GENESIS_HASH = "0" * 64
RECENT_SAMPLES = 10  # the evidence keeps the last few alarm values, not all of them


class Label(NamedTuple):
    en: str
    zh: str


class LabelledEnum(StrEnum):
    """A StrEnum whose members carry English and Chinese labels (in LABELS)."""

    @property
    def label(self) -> Label:
        return LABELS[self]

    @classmethod
    def parse(cls, text: str) -> Self:
        """Accept the stored value, the English label (any case) or the Chinese label."""
        stripped = text.strip()
        folded = stripped.casefold()
        for member in cls:
            if folded in (member.value, member.label.en.casefold()) or stripped == member.label.zh:
                return member
        accepted = "; ".join(f"{m.value} / {m.label.en} / {m.label.zh}" for m in cls)
        raise LedgerError(f"unknown {cls.__name__.lower()} {text!r}; accepted: {accepted}")


class Grade(LabelledEnum):
    """隐患等级 (order No. 16): a major hazard needs stoppage, time or outside help to fix."""

    GENERAL = "general"
    MAJOR = "major"


class Status(LabelledEnum):
    """Where an entry is in the closed loop (闭环整改); the skeleton uses the first two + closed."""

    REGISTERED = "registered"
    ACKNOWLEDGED = "acknowledged"
    RECTIFYING = "rectifying"
    REVIEW_REQUESTED = "review_requested"
    VERIFIED = "verified"
    CLOSED = "closed"


class Source(LabelledEnum):
    """How the hazard was found."""

    MONITORING_ALARM = "monitoring_alarm"
    SELF_INSPECTION = "self_inspection"
    UPPER_INSPECTION = "upper_inspection"
    REPORT = "report"


class Kind(LabelledEnum):
    """What kind of danger; gas is kept apart from fire, as panels must show them apart."""

    FIRE = "fire"
    GAS = "gas"
    HEAT = "heat"
    FAULT = "fault"


LABELS: dict[LabelledEnum, Label] = {
    Grade.GENERAL: Label("general", "一般"),
    Grade.MAJOR: Label("major", "重大"),
    Status.REGISTERED: Label("registered", "已登记"),
    Status.ACKNOWLEDGED: Label("acknowledged", "已确认"),
    Status.RECTIFYING: Label("rectifying", "整改中"),
    Status.REVIEW_REQUESTED: Label("review requested", "待验收"),
    Status.VERIFIED: Label("verified", "已验收"),
    Status.CLOSED: Label("closed", "已销号"),
    Source.MONITORING_ALARM: Label("monitoring alarm", "监测报警"),
    Source.SELF_INSPECTION: Label("self-inspection", "自查"),
    Source.UPPER_INSPECTION: Label("upper-level inspection", "上级检查"),
    Source.REPORT: Label("report", "举报"),
    Kind.FIRE: Label("fire", "火灾"),
    Kind.GAS: Label("gas", "可燃/有毒气体"),
    Kind.HEAT: Label("heat", "高温"),
    Kind.FAULT: Label("fault", "故障"),
}


class EventType(StrEnum):
    REGISTERED = "registered"
    OCCURRENCE = "occurrence"
    ALARM_TRANSITION = "alarm_transition"
    ESCALATION = "escalation"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


def iso_utc(ts_ns: int) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2026-03-01T08:00:00.000000Z."""
    seconds, rest_ns = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest_ns // 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class EscalationStep:
    """One notification of one duty level; `round` counts restarts of the ladder (level rises)."""

    level: int
    name: str
    recipients: tuple[str, ...]
    ts_ns: int
    repeat: int = 0
    round: int = 0

    def to_json(self) -> Json:
        return {
            "level": self.level,
            "name": self.name,
            "recipients": list(self.recipients),
            "at": iso_utc(self.ts_ns),
            "repeat": self.repeat,
            "round": self.round,
        }


@dataclass
class EscalationState:
    """The ladder's timers, rebuilt from events: the current round started at `started_ns`."""

    start_level: int
    started_ns: int
    steps: list[EscalationStep] = field(default_factory=list)  # every round, in ledger order
    round: int = 0

    def to_json(self) -> Json:
        return {
            "start_level": self.start_level,
            "started_at": iso_utc(self.started_ns),
            "round": self.round,
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass
class Hazard:
    """The projection of one ledger entry."""

    number: str
    title: str
    kind: Kind
    grade: Grade
    status: Status
    source: Source
    device: str | None
    zone: str | None
    location: str
    found_at_ns: int
    found_by: str
    dedup_key: str  # one open hazard per key, e.g. "dev:kitchen-gas-1:gas"
    level: int
    occurrences: int
    peak_value: float | None
    evidence: Json
    acknowledged_at_ns: int | None
    acknowledged_by: str | None
    escalation: EscalationState
    events: list[int]
    description: str = ""
    recurrence_of: str | None = None  # the closed entry of the same key this one follows
    closed_at_ns: int | None = None
    closed_by: str | None = None

    def snapshot(self) -> Hazard:
        """A copy that later events cannot change under its holder."""
        esc = replace(self.escalation, steps=list(self.escalation.steps))
        return replace(
            self, evidence=copy.deepcopy(self.evidence), escalation=esc, events=list(self.events)
        )

    def to_json(self) -> Json:
        return {
            "number": self.number,
            "title": self.title,
            "description": self.description,
            "kind": self.kind.value,
            "grade": self.grade.value,
            "status": self.status.value,
            "source": self.source.value,
            "device": self.device,
            "zone": self.zone,
            "location": self.location,
            "found_at": iso_utc(self.found_at_ns),
            "found_by": self.found_by,
            "dedup_key": self.dedup_key,
            "level": self.level,
            "occurrences": self.occurrences,
            "peak_value": self.peak_value,
            "evidence": copy.deepcopy(self.evidence),
            "acknowledged_at": _opt_iso(self.acknowledged_at_ns),
            "acknowledged_by": self.acknowledged_by,
            "closed_at": _opt_iso(self.closed_at_ns),
            "closed_by": self.closed_by,
            "recurrence_of": self.recurrence_of,
            "escalation": self.escalation.to_json(),
            "events": list(self.events),
        }


def _opt_iso(ts_ns: int | None) -> str | None:
    return None if ts_ns is None else iso_utc(ts_ns)


@dataclass(frozen=True)
class LedgerEvent:
    """One stored event, exactly as read back from the file."""

    seq: int
    ts_ns: int
    actor: str
    type: str
    number: str | None
    payload: Json
    reason: str
    prev_hash: str
    hash: str

    def to_json(self) -> Json:
        return {
            "seq": self.seq, "at": iso_utc(self.ts_ns), "actor": self.actor, "type": self.type,
            "number": self.number, "payload": self.payload, "reason": self.reason,
            "hash": self.hash,
        }  # fmt: skip


# Moves people may make. The closed-loop stages (rectifying → review requested → verified) join
# this table with their issue; rules that look beyond the status go into TRANSITION_GUARDS.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.REGISTERED: frozenset({Status.ACKNOWLEDGED}),
    Status.ACKNOWLEDGED: frozenset({Status.CLOSED}),
}
# A guard returns why a move is refused, or None. Extension point for the major-hazard rules
# (重大: the five-in-place fields complete before rectifying; a verifier other than the owner).
TransitionGuard = Callable[["Hazard", Status], str | None]
TRANSITION_GUARDS: tuple[TransitionGuard, ...] = ()


def check_transition(hazard: Hazard, target: Status) -> None:
    """Raise LedgerError unless a person may move `hazard` to `target` now."""
    allowed = TRANSITIONS.get(hazard.status, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(s.value for s in allowed)) or "nothing"
        raise LedgerError(
            f"{hazard.number} is {hazard.status.value} ({hazard.status.label.zh}); "
            f"it cannot become {target.value}, only: {options}"
        )
    for guard in TRANSITION_GUARDS:
        refusal = guard(hazard, target)
        if refusal:
            raise LedgerError(f"{hazard.number}: {refusal}")


@dataclass
class Projection:
    """Everything replay rebuilds; `issued` counts numbers so the next one is issued + 1."""

    hazards: dict[str, Hazard] = field(default_factory=dict)  # in issue order
    open_by_key: dict[str, str] = field(default_factory=dict)
    last_closed_by_key: dict[str, str] = field(default_factory=dict)
    issued: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH

    def get(self, number: str) -> Hazard:
        hazard = self.hazards.get(number)
        if hazard is None:
            raise LedgerError(f"unknown hazard {number!r}")
        return hazard


def apply(state: Projection, event: LedgerEvent) -> None:
    """Fold one event into the projection (deterministic; reads nothing else)."""
    try:
        handler = _HANDLERS[EventType(event.type)]
    except ValueError:
        raise LedgerError(f"event {event.seq} has unknown type {event.type!r}") from None
    handler(state, event)
    state.last_seq = event.seq
    state.last_hash = event.hash


def _on_registered(state: Projection, event: LedgerEvent) -> None:
    p = event.payload
    number = _number(event)
    condition = _opt(p, "condition", str)
    hazard = Hazard(
        number=number,
        title=_req(p, "title", str),
        kind=Kind(_req(p, "kind", str)),
        grade=Grade(_req(p, "grade", str)),
        status=Status.REGISTERED,
        source=Source(_req(p, "source", str)),
        device=_opt(p, "device", str),
        zone=_opt(p, "zone", str),
        location=_req(p, "location", str),
        found_at_ns=event.ts_ns,
        found_by=event.actor,
        dedup_key=_req(p, "dedup_key", str),
        level=_req(p, "level", int),
        occurrences=0,
        peak_value=None,
        evidence={},
        acknowledged_at_ns=None,
        acknowledged_by=None,
        escalation=EscalationState(_req(p, "start_level", int), event.ts_ns),
        events=[event.seq],
        description=_req(p, "description", str),
        recurrence_of=_opt(p, "recurrence_of", str),
    )
    if condition is not None:  # registered by an alarm: that alarm is the first occurrence
        _add_sample(hazard, event, condition)
    state.hazards[number] = hazard
    state.open_by_key[hazard.dedup_key] = number
    state.issued += 1


def _on_occurrence(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    p = event.payload
    _add_sample(hazard, event, _req(p, "condition", str))
    if _req(p, "raised", bool):
        hazard.level = _req(p, "level", int)
        # a higher level starts a new round of the ladder from the raised start level
        esc = hazard.escalation
        hazard.escalation = EscalationState(
            _req(p, "start_level", int), event.ts_ns, esc.steps, esc.round + 1
        )
    if _req(p, "rearmed", bool):
        hazard.status = Status.REGISTERED
        hazard.acknowledged_at_ns = None
        hazard.acknowledged_by = None
    hazard.events.append(event.seq)


def _add_sample(hazard: Hazard, event: LedgerEvent, condition: str) -> None:
    """Count one alarm and keep the evidence: devices, conditions, peak and recent values."""
    p = event.payload
    value, device = _opt_float(p, "value"), _opt(p, "device", str)
    hazard.occurrences += 1
    if value is not None and (hazard.peak_value is None or value > hazard.peak_value):
        hazard.peak_value = value
        hazard.evidence["peak_at"] = iso_utc(event.ts_ns)
    ev = hazard.evidence
    ev["device"] = hazard.device
    ev["devices"] = sorted({*_strings(ev.get("devices")), *([device] if device else [])})
    ev["conditions"] = sorted({*_strings(ev.get("conditions")), condition})
    ev["alarm_count"] = hazard.occurrences
    ev["peak_value"] = hazard.peak_value
    ev["last_value"] = value
    ev["last_at"] = iso_utc(event.ts_ns)
    sample: Json = {"at": iso_utc(event.ts_ns), "device": device, "value": value}
    sample.update(condition=condition, level=_req(p, "level", int))
    recent = ev.get("recent")
    ev["recent"] = [*(recent if isinstance(recent, list) else []), sample][-RECENT_SAMPLES:]


def _on_alarm_transition(state: Projection, event: LedgerEvent) -> None:
    if event.number is None:  # an alarm that never made a ledger entry: audit trail only
        return
    hazard = state.get(event.number)
    states = hazard.evidence.get("alarm_states")
    states = dict(states) if isinstance(states, dict) else {}
    states[_req(event.payload, "alarm_key", str)] = _req(event.payload, "to", str)
    hazard.evidence["alarm_states"] = states
    peak = _opt_float(event.payload, "peak")
    if peak is not None and (hazard.peak_value is None or peak > hazard.peak_value):
        hazard.peak_value = hazard.evidence["peak_value"] = peak
    hazard.events.append(event.seq)


def _on_escalation(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    p = event.payload
    recipients = p.get("recipients")
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise LedgerError(f"event {event.seq}: recipients must be a list of strings")
    step = EscalationStep(
        level=_req(p, "level", int),
        name=_req(p, "name", str),
        recipients=tuple(recipients),
        ts_ns=event.ts_ns,
        repeat=_req(p, "repeat", int),
        round=_req(p, "round", int),
    )
    hazard.escalation.steps.append(step)
    hazard.events.append(event.seq)


def _on_acknowledged(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    hazard.status = Status.ACKNOWLEDGED
    hazard.acknowledged_at_ns = event.ts_ns
    hazard.acknowledged_by = event.actor
    hazard.events.append(event.seq)


def _on_closed(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    hazard.status = Status.CLOSED
    hazard.closed_at_ns = event.ts_ns
    hazard.closed_by = event.actor
    hazard.events.append(event.seq)
    if state.open_by_key.get(hazard.dedup_key) == hazard.number:
        del state.open_by_key[hazard.dedup_key]
    state.last_closed_by_key[hazard.dedup_key] = hazard.number


_HANDLERS: dict[EventType, Callable[[Projection, LedgerEvent], None]] = {
    EventType.REGISTERED: _on_registered,
    EventType.OCCURRENCE: _on_occurrence,
    EventType.ALARM_TRANSITION: _on_alarm_transition,
    EventType.ESCALATION: _on_escalation,
    EventType.ACKNOWLEDGED: _on_acknowledged,
    EventType.CLOSED: _on_closed,
}


# Typed reads of payload fields: a malformed event is refused, never guessed at.
_T = TypeVar("_T")


def _number(event: LedgerEvent) -> str:
    if event.number is None:
        raise LedgerError(f"event {event.seq} ({event.type}) has no hazard number")
    return event.number


def _opt(p: Json, key: str, kind: type[_T]) -> _T | None:
    value = p.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise LedgerError(f"payload field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _req(p: Json, key: str, kind: type[_T]) -> _T:
    value = _opt(p, key, kind)
    if value is None:
        raise LedgerError(f"payload field {key!r} is missing")
    return value


def _opt_float(p: Json, key: str) -> float | None:
    value = p.get(key)
    return float(_req(p, key, int)) if isinstance(value, int) else _opt(p, key, float)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
