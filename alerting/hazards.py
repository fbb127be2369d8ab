"""The hazard ledger's projection: what the stored events mean, rebuilt by replay.

`alerting.ledger` stores events; this module turns them into the current hazards.
`apply(state, event)` reads nothing but its arguments (no clock, no I/O), so replaying the same
file always rebuilds the same hazards. It updates `state` in place (copying the whole projection per
event would make replay quadratic); callers get copies through `Hazard.snapshot()`.
The vocabulary lives in vocabulary.py, the records in records.py, the moves in lifecycle.py; their
names are re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

from alerting.payload import number as _number
from alerting.payload import opt as _opt
from alerting.payload import opt_float as _opt_float
from alerting.payload import req as _req
from alerting.payload import string_list as _string_list
from alerting.payload import strings as _strings
from alerting.records import (
    DeliveryAttempt,
    EscalationState,
    EscalationStep,
    Hazard,
    LedgerEvent,
    Note,
    RemediationPlan,
    Review,
    Supervision,
)
from alerting.vocabulary import (
    GENESIS_HASH,
    LABELS,
    Disposition,
    EventType,
    Grade,
    Json,
    Kind,
    Label,
    LabelledEnum,
    Source,
    Status,
    Verdict,
    iso_utc,
)
from gateway.errors import LedgerError

__all__ = [
    "GENESIS_HASH",
    "LABELS",
    "EscalationState",
    "EscalationStep",
    "EventType",
    "Grade",
    "Hazard",
    "Json",
    "Kind",
    "Label",
    "LabelledEnum",
    "LedgerEvent",
    "Projection",
    "Source",
    "Status",
    "apply",
    "iso_utc",
]

RECENT_SAMPLES = 10  # the evidence keeps the last few alarm values, not all of them


@dataclass
class Projection:
    """Everything replay rebuilds; `issued` counts numbers so the next one is issued + 1."""

    hazards: dict[str, Hazard] = field(default_factory=dict)  # in issue order, drills included
    open_by_key: dict[str, str] = field(default_factory=dict)
    last_closed_by_key: dict[str, str] = field(default_factory=dict)
    issued: int = 0
    drills_issued: int = 0
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
    if event.number is not None:  # every event of an entry is listed on it
        state.get(event.number).events.append(event.seq)
    state.last_seq = event.seq
    state.last_hash = event.hash


# ---- registration -----------------------------------------------------------------------------
def _new_hazard(event: LedgerEvent) -> Hazard:
    p = event.payload
    return Hazard(
        number=_number(event),
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
        events=[],
        description=_req(p, "description", str),
        recurrence_of=_opt(p, "recurrence_of", str),
        basis=_opt(p, "basis", str) or "",
        category=_opt(p, "category", str) or "",
        inspection=_opt(p, "inspection", str) or "",
        responsible=_opt(p, "responsible", str),
        responsible_unit=_opt(p, "responsible_unit", str) or "",
    )


def _on_registered(state: Projection, event: LedgerEvent) -> None:
    hazard = _new_hazard(event)
    condition = _opt(event.payload, "condition", str)
    if condition is not None:  # registered by an alarm: that alarm is the first occurrence
        _add_sample(hazard, event, condition)
    state.hazards[hazard.number] = hazard
    state.open_by_key[hazard.dedup_key] = hazard.number
    state.issued += 1


def _on_drill_started(state: Projection, event: LedgerEvent) -> None:
    hazard = _new_hazard(event)
    hazard.drill = True
    starts = _req(event.payload, "starts_at_ns", int)
    hazard.escalation = EscalationState(hazard.escalation.start_level, starts)
    state.hazards[hazard.number] = hazard
    state.drills_issued += 1


# ---- the alarm side ---------------------------------------------------------------------------
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
        if hazard.status is Status.ACKNOWLEDGED:
            hazard.status = Status.REGISTERED  # later stages keep their place in the loop
        hazard.acknowledged_at_ns = None
        hazard.acknowledged_by = None


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


def _step(event: LedgerEvent) -> EscalationStep:
    p = event.payload
    return EscalationStep(
        level=_req(p, "level", int),
        name=_req(p, "name", str),
        recipients=tuple(_string_list(p, "recipients", event.seq)),
        ts_ns=event.ts_ns,
        repeat=_req(p, "repeat", int),
        round=_req(p, "round", int),
    )


def _on_escalation(state: Projection, event: LedgerEvent) -> None:
    state.get(_number(event)).escalation.steps.append(_step(event))


def _on_overdue(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    if hazard.deadline_escalation is None:
        raise LedgerError(f"event {event.seq}: overdue without a deadline")
    hazard.deadline_escalation.steps.append(_step(event))
    if hazard.supervised_since_ns is None:
        hazard.supervised_since_ns = event.ts_ns


def _on_delivery(state: Projection, event: LedgerEvent) -> None:
    p = event.payload
    state.get(_number(event)).deliveries.append(
        DeliveryAttempt(
            number=_number(event), channel=_req(p, "channel", str),
            recipients=tuple(_string_list(p, "recipients", event.seq)),
            step=_req(p, "step", int), round=_req(p, "round", int),
            repeat=_req(p, "repeat", int), attempt=_req(p, "attempt", int),
            ok=_req(p, "ok", bool), retryable=_req(p, "retryable", bool),
            detail=_opt(p, "detail", str) or "", actor=event.actor, ts_ns=event.ts_ns,
        )
    )  # fmt: skip


# ---- people's actions -------------------------------------------------------------------------
def _on_acknowledged(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    if hazard.status is Status.REGISTERED:
        hazard.status = Status.ACKNOWLEDGED  # a re-acknowledgement keeps the later stage
    hazard.acknowledged_at_ns = event.ts_ns
    hazard.acknowledged_by = event.actor
    if hazard.first_acknowledged_at_ns is None:
        hazard.first_acknowledged_at_ns = event.ts_ns


def _on_drill_acknowledged(state: Projection, event: LedgerEvent) -> None:
    state.get(_number(event)).drill_acks.setdefault(event.actor, event.ts_ns)


def _on_closed(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    hazard.status = Status.CLOSED
    hazard.closed_at_ns = event.ts_ns
    hazard.closed_by = event.actor
    disposition = _opt(event.payload, "disposition", str)
    hazard.disposition = None if disposition is None else Disposition(disposition)
    if hazard.drill:
        return
    if state.open_by_key.get(hazard.dedup_key) == hazard.number:
        del state.open_by_key[hazard.dedup_key]
    state.last_closed_by_key[hazard.dedup_key] = hazard.number


def _on_assigned(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    hazard.responsible = _req(event.payload, "responsible", str)
    hazard.responsible_unit = _opt(event.payload, "responsible_unit", str) or ""


def _on_planned(state: Projection, event: LedgerEvent) -> None:
    hazard, p = state.get(_number(event)), event.payload
    for key in ("measures", "funds", "contingency"):
        _opt(p, key, str)  # type-checked before merging
    deadline = _opt(p, "deadline_ns", int)
    old_deadline = hazard.deadline_ns
    hazard.five = hazard.five.merged(p)
    if _opt(p, "responsible", str) is not None:
        _on_assigned(state, event)
    if deadline is not None and deadline != old_deadline:
        _new_deadline(hazard, deadline)
    _move(hazard, p)


def _new_deadline(hazard: Hazard, deadline_ns: int) -> None:
    """A new deadline starts a new round of the deadline ladder (its steps stay on record)."""
    old = hazard.deadline_escalation
    if old is None:
        hazard.deadline_escalation = EscalationState(0, deadline_ns)
    else:
        hazard.deadline_escalation = EscalationState(0, deadline_ns, old.steps, old.round + 1)


def _on_graded(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    hazard.grade = Grade(_req(event.payload, "grade", str))
    hazard.basis = _req(event.payload, "basis", str)
    _move(hazard, event.payload)


def _on_supervision_listed(state: Projection, event: LedgerEvent) -> None:
    p = event.payload
    state.get(_number(event)).supervision = Supervision(
        level=_req(p, "level", str),
        document=_req(p, "document", str),
        office=_req(p, "office", str),
        listed_ns=_req(p, "listed_ns", int),
        recorded_by=event.actor,
    )


def _on_remediation_plan(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    for f in fields(RemediationPlan):
        _opt(event.payload, f.name, str)  # type-checked before merging
    hazard.remediation = (hazard.remediation or RemediationPlan()).merged(event.payload)


def _on_note(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    text = _req(event.payload, "text", str)
    hazard.notes.append(Note(event.ts_ns, event.actor, text, hazard.status))


def _on_rectifying(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    hazard.status = Status.RECTIFYING
    hazard.rectifying_since_ns = event.ts_ns


def _on_review_requested(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    hazard.status = Status.REVIEW_REQUESTED
    hazard.review_requested_at_ns = event.ts_ns
    hazard.review_requested_by = event.actor


def _on_reviewed(state: Projection, event: LedgerEvent) -> None:
    hazard = state.get(_number(event))
    verdict = Verdict(_req(event.payload, "verdict", str))
    hazard.reviews.append(Review(event.ts_ns, event.actor, verdict, event.reason))
    if verdict is Verdict.PASSED:
        hazard.status = Status.VERIFIED
        hazard.verified_at_ns, hazard.verified_by = event.ts_ns, event.actor
    else:
        hazard.status = Status.REJECTED


def _move(hazard: Hazard, p: Json) -> None:
    """Apply the stage an amendment recorded it leads to ("to"), if any."""
    to = _opt(p, "to", str)
    if to is not None:
        hazard.status = Status(to)


def _audit_only(state: Projection, event: LedgerEvent) -> None:
    """Events about the alarm system rather than one entry (an alarm flood, a detector out of
    service, a shelf): the trail only; the engine reads the last two back after a restart."""


_HANDLERS: dict[EventType, Callable[[Projection, LedgerEvent], None]] = {
    EventType.REGISTERED: _on_registered,
    EventType.ALARM_FLOOD: _audit_only,
    EventType.ALARM_FLOOD_ENDED: _audit_only,
    EventType.DEVICE_SERVICE: _audit_only,
    EventType.ALARM_SHELF: _audit_only,
    EventType.OCCURRENCE: _on_occurrence,
    EventType.ALARM_TRANSITION: _on_alarm_transition,
    EventType.ESCALATION: _on_escalation,
    EventType.ACKNOWLEDGED: _on_acknowledged,
    EventType.CLOSED: _on_closed,
    EventType.ASSIGNED: _on_assigned,
    EventType.PLANNED: _on_planned,
    EventType.GRADED: _on_graded,
    EventType.SUPERVISION_LISTED: _on_supervision_listed,
    EventType.REMEDIATION_PLAN: _on_remediation_plan,
    EventType.NOTE: _on_note,
    EventType.RECTIFYING: _on_rectifying,
    EventType.REVIEW_REQUESTED: _on_review_requested,
    EventType.REVIEWED: _on_reviewed,
    EventType.OVERDUE: _on_overdue,
    EventType.DELIVERY: _on_delivery,
    EventType.DRILL_STARTED: _on_drill_started,
    EventType.DRILL_ACKNOWLEDGED: _on_drill_acknowledged,
}
