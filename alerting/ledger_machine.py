"""What enters the ledger and what the machine records there: entries raised by alarms and
registered by people, alarm transitions, escalation steps, overdue deadlines and deliveries.

A base of `alerting.ledger.Ledger`, which supplies storage (`_append`) and numbering (`_number`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

from alerting.flood import Flood
from alerting.hazards import Projection
from alerting.records import (
    DeliveryAttempt,
    Draft,
    EscalationState,
    EscalationStep,
    Hazard,
    LedgerEvent,
)
from alerting.vocabulary import ANONYMOUS, EventType, Grade, Json, Kind, Source, iso_utc
from gateway.errors import LedgerError


@dataclass(frozen=True)
class Entry:
    """The facts a "registered" event stores; an alarm's facts also feed its occurrences."""

    dedup_key: str
    title: str
    kind: Kind
    grade: Grade
    source: Source
    device: str | None
    zone: str | None
    location: str
    level: int
    value: float | None
    condition: str | None  # None for people's findings: no alarm is attached
    start_level: int
    description: str = ""
    responsible: str | None = None  # default: the zone's owner, passed by the engine or CLI
    responsible_unit: str = ""
    basis: str = ""  # why this grade
    category: str = ""
    inspection: str = ""

    def where(self) -> str:
        return self.device or self.zone or self.location


class LedgerCore:
    """What the action mixins need from the Ledger."""

    def _append(self, decide: Callable[[Projection], Draft]) -> LedgerEvent:
        raise NotImplementedError

    def _number(self, state: Projection, ts_ns: int, *, drill: bool = False) -> str:
        raise NotImplementedError

    def hazard(self, number: str) -> Hazard:
        raise NotImplementedError

    def _registration(self, state: Projection, entry: Entry, actor: str, ts_ns: int) -> Draft:
        if entry.responsible in ("", ANONYMOUS):
            raise LedgerError("the responsible person must be a named person")
        number = self._number(state, ts_ns)
        payload: Json = asdict(entry)
        payload["dedup_key"] = entry.dedup_key or f"finding:{number}"
        payload["recurrence_of"] = state.last_closed_by_key.get(entry.dedup_key)
        if entry.condition is not None:
            reason = (
                f"{entry.condition} at {entry.where()}: level {entry.level}, value {entry.value}"
            )
        else:
            reason = f"{entry.source.label.en} by {actor}: {entry.title}"
        return Draft(ts_ns, actor, EventType.REGISTERED, number, payload, reason)


class MachineRecords(LedgerCore):
    def raise_alarm_hazard(
        self,
        *,
        dedup_key: str,
        kind: Kind,
        title: str,
        grade: Grade,
        level: int,
        device: str | None,
        zone: str | None,
        location: str,
        value: float | None,
        condition: str,
        actor: str,
        ts_ns: int,
        start_level: int,
        responsible: str | None = None,
        basis: str = "",
    ) -> tuple[Hazard, bool]:
        """Register a new entry for `dedup_key`, or count an occurrence on its open one."""
        alarm = Entry(
            dedup_key=dedup_key, title=title, kind=kind, grade=grade,
            source=Source.MONITORING_ALARM, device=device, zone=zone, location=location,
            level=level, value=finite(value), condition=condition, start_level=start_level,
            responsible=responsible, basis=basis,
        )  # fmt: skip

        def decide(state: Projection) -> Draft:
            number = state.open_by_key.get(dedup_key)
            if number is None:
                return self._registration(state, alarm, actor, ts_ns)
            return _occurrence(state.get(number), alarm, actor, ts_ns)

        event = self._append(decide)
        return self.hazard(number_of(event)), event.type == EventType.REGISTERED

    def register_finding(
        self,
        *,
        title: str,
        kind: Kind,
        grade: Grade,
        source: Source,
        location: str,
        zone: str | None,
        found_by: str,
        ts_ns: int,
        description: str = "",
        responsible: str | None = None,
        responsible_unit: str = "",
        basis: str = "",
        category: str = "",
        inspection: str = "",
    ) -> Hazard:
        """An entry found by people (inspection, report); never merged with another.

        found_by "anonymous" (whistleblower reports only) records nobody: the event's actor is
        "anonymous" and nothing about who typed it in is stored.
        """
        if found_by == ANONYMOUS and source is not Source.REPORT:
            raise LedgerError("only a report (举报) can be anonymous; inspections name the finder")
        if source in (Source.MONITORING_ALARM, Source.DRILL):
            raise LedgerError(f"people register findings and reports, not {source.value}")
        if not title.strip() or not location.strip():
            raise LedgerError("a finding needs a title and a location")
        entry = Entry(
            dedup_key="", title=title.strip(), kind=kind, grade=grade, source=source,
            device=None, zone=zone, location=location.strip(), level=1, value=None,
            condition=None, start_level=0, description=description, responsible=responsible,
            responsible_unit=responsible_unit, basis=basis, category=category,
            inspection=inspection,
        )  # fmt: skip
        event = self._append(lambda state: self._registration(state, entry, found_by, ts_ns))
        return self.hazard(number_of(event))

    def record_alarm_transition(
        self,
        *,
        number: str | None,
        alarm_key: str,
        device: str,
        condition: str,
        from_state: str,
        to_state: str,
        value: float | None,
        actor: str,
        ts_ns: int,
        peak: float | None = None,
    ) -> LedgerEvent:
        """The audit trail of the alarm state machine; `number` links it to an entry.

        `peak` is the worst value seen while the condition was present, given when it clears.
        """
        payload: Json = {"alarm_key": alarm_key, "device": device, "condition": condition}
        payload.update({"from": from_state, "to": to_state, "value": finite(value)})
        if peak is not None:
            payload["peak"] = finite(peak)
        reason = f"{alarm_key}: {from_state} -> {to_state}"

        def decide(state: Projection) -> Draft:
            if number is not None:
                state.get(number)
            return Draft(ts_ns, actor, EventType.ALARM_TRANSITION, number, payload, reason)

        return self._append(decide)

    def record_flood(
        self, flood: Flood, *, limit: int, window_s: float, actor: str, ts_ns: int,
        ended: bool = False,
    ) -> LedgerEvent:  # fmt: skip
        """A zone's alarm flood: when it starts (its notifications are grouped from then on) and,
        with `ended`, when it is over, with the alarms and entries it counted."""
        payload: Json = {"zone": flood.zone, "alarms": flood.alarms, "limit": limit}
        payload.update(window_s=window_s, started_at=iso_utc(flood.started_ns))
        payload["hazards"] = list(flood.hazards)
        if ended:
            kind = EventType.ALARM_FLOOD_ENDED
            reason = f"alarm flood in zone {flood.zone} over: {flood.alarms} alarm(s) on "
            reason += f"{len(flood.hazards)} entr{'y' if len(flood.hazards) == 1 else 'ies'}"
        else:
            kind = EventType.ALARM_FLOOD
            reason = f"alarm flood in zone {flood.zone}: {flood.alarms} new alarms within "
            reason += f"{window_s:g} s (limit {limit}); its notifications are grouped, not sent "
            reason += "one by one"
        return self._append(lambda _state: Draft(ts_ns, actor, kind, None, payload, reason))

    def record_service(
        self, device: str, *, in_service: bool, by: str, ts_ns: int, owner: str = "",
        reason: str = "",
    ) -> LedgerEvent:  # fmt: skip
        """A detector taken out of service (a coverage gap: who, why, who brings it back) or
        returned to service."""
        payload: Json = {"device": device, "in_service": in_service}
        if in_service:
            text = f"{device} returned to service"
        else:
            payload.update(owner=owner, reason=reason)
            text = f"{device} out of service: {reason} (owner {owner})"
        return self._append(
            lambda _state: Draft(ts_ns, by, EventType.DEVICE_SERVICE, None, payload, text)
        )

    def record_shelf(
        self, alarm_key: str, *, by: str, ts_ns: int, until_ns: int | None = None,
        reason: str = "",
    ) -> LedgerEvent:  # fmt: skip
        """An alarm shelved until `until_ns` (why), or unshelved (`until_ns` None)."""
        payload: Json = {"alarm_key": alarm_key, "shelved": until_ns is not None}
        if until_ns is None:
            text = f"{alarm_key} unshelved"
        else:
            payload.update(until=iso_utc(until_ns), until_ns=until_ns, reason=reason)
            text = f"{alarm_key} shelved until {iso_utc(until_ns)[:19]}Z: {reason}"
        return self._append(
            lambda _state: Draft(ts_ns, by, EventType.ALARM_SHELF, None, payload, text)
        )

    def record_escalation(self, number: str, step: EscalationStep, *, actor: str) -> LedgerEvent:
        """Record that `step` is being notified; refused once acknowledged, closed or recorded."""

        def decide(state: Projection) -> Draft:
            hazard = state.get(number)
            if not hazard.escalating:
                raise LedgerError(f"{number} is {hazard.status.value}: escalation has stopped")
            _check_step(number, step, hazard.escalation)
            reason = f"unacknowledged: notify level {step.level} ({step.name})"
            if hazard.drill:
                reason = f"DRILL: notify level {step.level} ({step.name})"
            reason += f", repeat {step.repeat}" if step.repeat else ""
            return Draft(step.ts_ns, actor, EventType.ESCALATION, number, _step_json(step), reason)

        return self._append(decide)

    def record_overdue(self, number: str, step: EscalationStep, *, actor: str) -> LedgerEvent:
        """A deadline ladder step: the next level is notified and the entry is supervised (督办)."""

        def decide(state: Projection) -> Draft:
            hazard = state.get(number)
            ladder = hazard.deadline_escalation
            if ladder is None or not hazard.overdue_at(step.ts_ns):
                raise LedgerError(f"{number} is not overdue at {iso_utc(step.ts_ns)}")
            _check_step(number, step, ladder)
            payload = _step_json(step) | {"deadline_ns": ladder.started_ns}
            reason = f"rectification overdue since {iso_utc(ladder.started_ns)} (督办):"
            reason += f" notify level {step.level} ({step.name})"
            reason += f", repeat {step.repeat}" if step.repeat else ""
            return Draft(step.ts_ns, actor, EventType.OVERDUE, number, payload, reason)

        return self._append(decide)

    def record_delivery(self, attempt: DeliveryAttempt) -> LedgerEvent:
        """One attempt of one channel to carry one notification; failures are recorded too."""
        a = attempt  # short: every line below reads it
        if not a.channel.strip():
            raise LedgerError("a delivery names its channel")
        if a.attempt < 1 or a.step < -1 or a.round < 0 or a.repeat < 0:
            raise LedgerError(
                f"delivery numbers out of range: step={a.step} round={a.round}"
                f" repeat={a.repeat} attempt={a.attempt}"
            )
        payload: Json = {"channel": a.channel, "recipients": list(a.recipients), "step": a.step}
        payload.update(round=a.round, repeat=a.repeat, attempt=a.attempt, ok=a.ok)
        payload.update(retryable=a.retryable, detail=a.detail)
        outcome = "delivered" if a.ok else "failed, " + ("will retry" if a.retryable else "final")
        detail = f" ({a.detail})" if a.detail else ""
        reason = f"{a.channel} attempt {a.attempt}: {outcome}{detail}"

        def decide(state: Projection) -> Draft:
            state.get(a.number)
            return Draft(a.ts_ns, a.actor, EventType.DELIVERY, a.number, payload, reason)

        return self._append(decide)


def _check_step(number: str, step: EscalationStep, ladder: EscalationState) -> None:
    if step.round != ladder.round:
        raise LedgerError(f"{number}: step of round {step.round}, ladder is in {ladder.round}")
    key = (step.round, step.level, step.repeat)
    if any((s.round, s.level, s.repeat) == key for s in ladder.steps):
        raise LedgerError(f"{number}: level {step.level} repeat {step.repeat} already notified")


def _step_json(step: EscalationStep) -> Json:
    payload: Json = {"level": step.level, "name": step.name, "repeat": step.repeat}
    payload.update(recipients=list(step.recipients), round=step.round)
    return payload


def _occurrence(hazard: Hazard, alarm: Entry, actor: str, ts_ns: int) -> Draft:
    """Another alarm on an open entry; a higher level restarts escalation and re-arms an ack."""
    raised = alarm.level > hazard.level
    start = hazard.escalation.start_level
    if raised:
        start = max(alarm.start_level, start)
    rearmed = raised and hazard.acknowledged_at_ns is not None
    payload: Json = {"device": alarm.device, "value": alarm.value, "condition": alarm.condition}
    payload.update(level=alarm.level, raised=raised, start_level=start, rearmed=rearmed)
    reason = f"again: {alarm.condition} at {alarm.where()}"
    if raised:
        reason += f"; level raised {hazard.level} -> {alarm.level}, escalation from level {start}"
    if rearmed:
        reason += "; acknowledgement cleared"
    return Draft(ts_ns, actor, EventType.OCCURRENCE, hazard.number, payload, reason)


def finite(value: float | None) -> float | None:
    """A NaN or infinite reading is stored as null: it must not keep a hazard out of the ledger."""
    return value if value is None or math.isfinite(value) else None


def number_of(event: LedgerEvent) -> str:
    if event.number is None:  # registrations and occurrences always carry one
        raise LedgerError(f"event {event.seq} ({event.type}) has no hazard number")
    return event.number
