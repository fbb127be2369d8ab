"""The records the ledger keeps: stored events, and the projection of one entry (`Hazard`) with
the closed-loop parts domain.md section 4 names (five in place, remediation plan, supervision,
progress notes, reviews, deliveries, drill acknowledgements).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace

from alerting.vocabulary import (
    ANONYMOUS,
    Disposition,
    EventType,
    Grade,
    Json,
    Kind,
    Source,
    Status,
    Verdict,
    iso_utc,
    opt_iso,
)

# The stages after acknowledgement in which a level rise clears the acknowledgement but keeps the
# stage: a leak that worsens during rectification alarms and escalates again.
REARMABLE = frozenset(
    {Status.PLANNED, Status.RECTIFYING, Status.REJECTED, Status.REVIEW_REQUESTED, Status.VERIFIED}
)
# 五到位 in the order of domain.md; `responsible` lives on the hazard (assign changes it too).
FIVE = ("measures", "responsible", "funds", "deadline", "contingency")


def _text_or(p: Json, key: str, old: str) -> str:
    value = p.get(key)
    return value if isinstance(value, str) and value else old


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
    """A ladder's timers, rebuilt from events: the current round started at `started_ns`."""

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

    def copy(self) -> EscalationState:
        return replace(self, steps=list(self.steps))


@dataclass(frozen=True)
class FiveInPlace:
    """五到位 besides the responsible person: measures, funds, deadline, contingency plan."""

    measures: str = ""
    funds: str = ""
    deadline_ns: int | None = None
    contingency: str = ""

    def merged(self, p: Json) -> FiveInPlace:
        """These fields with the ones `p` gives (a plan event's payload) put over them."""
        deadline = p.get("deadline_ns")
        return FiveInPlace(
            measures=_text_or(p, "measures", self.measures),
            funds=_text_or(p, "funds", self.funds),
            deadline_ns=deadline if isinstance(deadline, int) else self.deadline_ns,
            contingency=_text_or(p, "contingency", self.contingency),
        )

    def to_json(self) -> Json:
        return {
            "measures": self.measures,
            "funds": self.funds,
            "deadline": opt_iso(self.deadline_ns),
            "contingency": self.contingency,
        }


@dataclass(frozen=True)
class RemediationPlan:
    """重大事故隐患治理方案: the six parts order No. 16 requires for a major hazard."""

    goal_and_tasks: str = ""
    methods: str = ""
    funds_and_materials: str = ""
    organisation_and_people: str = ""
    time_limit: str = ""
    safety_measures: str = ""  # safety measures and the emergency plan during the work

    def missing(self) -> list[str]:
        return [f.name for f in fields(self) if not str(getattr(self, f.name)).strip()]

    def merged(self, p: Json) -> RemediationPlan:
        return RemediationPlan(*(_text_or(p, f.name, getattr(self, f.name)) for f in fields(self)))

    def to_json(self) -> Json:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Supervision:
    """挂牌督办: a major hazard listed for supervision by an outside office."""

    level: str  # e.g. provincial, municipal, county (省级/市级/县级)
    document: str  # the listing document's number
    office: str  # the supervising office
    listed_ns: int
    recorded_by: str

    def to_json(self) -> Json:
        return {
            "level": self.level,
            "document": self.document,
            "office": self.office,
            "listed_at": iso_utc(self.listed_ns),
            "recorded_by": self.recorded_by,
        }


@dataclass(frozen=True)
class Note:
    at_ns: int
    by: str
    text: str
    status: Status  # the stage the entry was in

    def to_json(self) -> Json:
        return {"at": iso_utc(self.at_ns), "by": self.by, "text": self.text, "status": self.status}


@dataclass(frozen=True)
class Review:
    at_ns: int
    by: str
    verdict: Verdict
    opinion: str

    def to_json(self) -> Json:
        return {
            "at": iso_utc(self.at_ns),
            "by": self.by,
            "verdict": self.verdict.value,
            "opinion": self.opinion,
        }


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt of one channel to carry one notification (failed attempts included).

    `step` is the notification's escalation level (-1: everyone told so far); `attempt` counts
    from 1. One type for the pipeline, its `record` callable, `Ledger.record_delivery` and the
    entry's list of deliveries.
    """

    number: str
    channel: str
    recipients: tuple[str, ...]
    step: int
    round: int
    repeat: int
    attempt: int
    ok: bool
    retryable: bool
    detail: str
    actor: str
    ts_ns: int

    def to_json(self) -> Json:
        """The entry's view (the hazard is the entry): as recorded, without its number."""
        return {
            "at": iso_utc(self.ts_ns), "channel": self.channel,
            "recipients": list(self.recipients), "step": self.step, "round": self.round,
            "repeat": self.repeat, "attempt": self.attempt, "ok": self.ok,
            "retryable": self.retryable, "detail": self.detail, "actor": self.actor,
        }  # fmt: skip


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
    found_by: str  # a person, "gateway:<id>/rule:<rule>", or "anonymous"
    dedup_key: str  # one open hazard per key, e.g. "dev:kitchen-gas-1:gas"
    level: int
    occurrences: int
    peak_value: float | None
    evidence: Json
    acknowledged_at_ns: int | None  # cleared when a level rise re-arms the alarm
    acknowledged_by: str | None
    escalation: EscalationState
    events: list[int]
    description: str = ""
    recurrence_of: str | None = None  # the closed entry of the same key this one follows
    closed_at_ns: int | None = None
    closed_by: str | None = None
    basis: str = ""  # why it has its grade (a clause of a standard, 判定标准 item)
    category: str = ""
    inspection: str = ""  # which inspection found it
    responsible: str | None = None
    responsible_unit: str = ""
    five: FiveInPlace = FiveInPlace()
    remediation: RemediationPlan | None = None
    supervision: Supervision | None = None
    notes: list[Note] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    deliveries: list[DeliveryAttempt] = field(default_factory=list)
    first_acknowledged_at_ns: int | None = None  # never cleared: time to acknowledge
    rectifying_since_ns: int | None = None
    review_requested_at_ns: int | None = None
    review_requested_by: str | None = None
    verified_at_ns: int | None = None
    verified_by: str | None = None
    disposition: Disposition | None = None
    deadline_escalation: EscalationState | None = None  # its round counts deadline changes
    supervised_since_ns: int | None = None  # 督办: marked by the first overdue step
    drill: bool = False
    drill_acks: dict[str, int] = field(default_factory=dict)  # person -> first ack time

    # ---- derived ----------------------------------------------------------------------
    @property
    def deadline_ns(self) -> int | None:
        return self.five.deadline_ns

    @property
    def anonymous(self) -> bool:
        return self.found_by == ANONYMOUS

    @property
    def awaiting_ack(self) -> bool:
        """An alarm or report nobody has acknowledged yet (a drill never waits: see escalating)."""
        if self.drill:
            return False
        rearmed = self.status in REARMABLE and self.acknowledged_at_ns is None
        return self.status is Status.REGISTERED or rearmed

    @property
    def escalating(self) -> bool:
        """The alarm ladder runs: until acknowledged; a drill's until the drill ends."""
        return self.status is not Status.CLOSED if self.drill else self.awaiting_ack

    def missing_five(self) -> list[str]:
        have = {
            "measures": self.five.measures.strip(),
            "responsible": self.responsible,
            "funds": self.five.funds.strip(),
            "deadline": self.five.deadline_ns,
            "contingency": self.five.contingency.strip(),
        }
        return [name for name in FIVE if not have[name]]

    def missing_remediation(self) -> list[str]:
        return (self.remediation or RemediationPlan()).missing()

    @property
    def rectified_at_ns(self) -> int | None:
        """When the rectification was done: verified, or closed as fixed on the spot."""
        if self.verified_at_ns is not None:
            return self.verified_at_ns
        on_the_spot = self.disposition is Disposition.FIXED_ON_THE_SPOT
        return self.closed_at_ns if on_the_spot else None

    def overdue_at(self, now_ns: int) -> bool:
        """The deadline passed and the rectification is not verified (drills never are)."""
        done = self.status in (Status.VERIFIED, Status.CLOSED)
        late = self.deadline_ns is not None and now_ns >= self.deadline_ns
        return late and not done and not self.drill

    def snapshot(self) -> Hazard:
        """A copy that later events cannot change under its holder."""
        deadline = self.deadline_escalation
        return replace(
            self,
            evidence=copy.deepcopy(self.evidence),
            escalation=self.escalation.copy(),
            events=list(self.events),
            notes=list(self.notes),
            reviews=list(self.reviews),
            deliveries=list(self.deliveries),
            deadline_escalation=None if deadline is None else deadline.copy(),
            drill_acks=dict(self.drill_acks),
        )

    def to_json(self) -> Json:
        doc: Json = {
            "number": self.number, "title": self.title, "description": self.description,
            "kind": self.kind.value, "grade": self.grade.value, "status": self.status.value,
            "source": self.source.value, "device": self.device, "zone": self.zone,
            "location": self.location, "found_at": iso_utc(self.found_at_ns),
            "found_by": self.found_by, "dedup_key": self.dedup_key, "level": self.level,
            "occurrences": self.occurrences, "peak_value": self.peak_value,
            "evidence": copy.deepcopy(self.evidence),
            "acknowledged_at": opt_iso(self.acknowledged_at_ns),
            "acknowledged_by": self.acknowledged_by, "closed_at": opt_iso(self.closed_at_ns),
            "closed_by": self.closed_by, "recurrence_of": self.recurrence_of,
            "escalation": self.escalation.to_json(), "events": list(self.events),
        }  # fmt: skip
        return doc | self._loop_json()

    def _loop_json(self) -> Json:
        """The closed-loop part of the entry (everything after registration)."""
        deadline = self.deadline_escalation
        return {
            "drill": self.drill, "basis": self.basis, "category": self.category,
            "inspection": self.inspection, "responsible": self.responsible,
            "responsible_unit": self.responsible_unit, "five_in_place": self.five.to_json(),
            "missing_five": self.missing_five(),
            "remediation_plan": None if self.remediation is None else self.remediation.to_json(),
            "supervision": None if self.supervision is None else self.supervision.to_json(),
            "notes": [n.to_json() for n in self.notes],
            "reviews": [r.to_json() for r in self.reviews],
            "first_acknowledged_at": opt_iso(self.first_acknowledged_at_ns),
            "rectifying_since": opt_iso(self.rectifying_since_ns),
            "review_requested_at": opt_iso(self.review_requested_at_ns),
            "review_requested_by": self.review_requested_by,
            "verified_at": opt_iso(self.verified_at_ns), "verified_by": self.verified_by,
            "disposition": None if self.disposition is None else self.disposition.value,
            "supervised_since": opt_iso(self.supervised_since_ns),
            "deadline_escalation": None if deadline is None else deadline.to_json(),
            "deliveries": [d.to_json() for d in self.deliveries],
            "drill_acks": {who: iso_utc(at) for who, at in self.drill_acks.items()},
        }  # fmt: skip


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


@dataclass(frozen=True)
class Draft:
    """An event decided on but not yet stored (seq and hashes come at insert time)."""

    ts_ns: int
    actor: str
    type: EventType
    number: str | None
    payload: Json
    reason: str
