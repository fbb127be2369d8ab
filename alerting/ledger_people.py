"""People's actions on ledger entries: acknowledge, assign, plan (五到位), grade, supervision
listing (挂牌督办), remediation plan, notes, rectify, request a review, verify or reject, close
(销号), and the drill's acknowledgements and end. Each is judged by lifecycle.check first.

A base of `alerting.ledger.Ledger`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from alerting.hazards import Projection
from alerting.ledger_machine import LedgerCore
from alerting.lifecycle import Action, Move, check
from alerting.records import Draft, Hazard, LedgerEvent, RemediationPlan
from alerting.vocabulary import (
    ANONYMOUS,
    Disposition,
    EventType,
    Grade,
    Json,
    Status,
    Verdict,
    iso_utc,
)
from gateway.errors import LedgerError

Build = Callable[[Hazard, Status | None], tuple[EventType, Json, str]]


def _text(what: str, value: str) -> str:
    if not value.strip():
        raise LedgerError(f"{what} cannot be empty")
    return value.strip()


class PeopleActions(LedgerCore):
    def _act(self, number: str, move: Move, ts_ns: int, build: Build) -> LedgerEvent:
        def decide(state: Projection) -> Draft:
            hazard = state.get(number)
            to = check(hazard, move)
            etype, payload, reason = build(hazard, to)
            return Draft(ts_ns, move.actor, etype, number, payload, reason)

        return self._append(decide)

    # ---- the alarm's acknowledgement -----------------------------------------------------
    def acknowledge(self, number: str, *, by: str, ts_ns: int, reason: str = "") -> LedgerEvent:
        """Stops escalation; on a drill it records this person's acknowledgement only."""

        def decide(state: Projection) -> Draft:
            hazard = state.get(number)
            if hazard.status is Status.CLOSED:
                raise LedgerError(f"{number} is closed; nothing to acknowledge")
            if hazard.drill:
                return _drill_ack(hazard, by, ts_ns)
            if hazard.acknowledged_at_ns is not None:
                raise LedgerError(
                    f"{number} was already acknowledged by {hazard.acknowledged_by}"
                    f" at {iso_utc(hazard.acknowledged_at_ns)}"
                )
            check(hazard, Move(Action.ACKNOWLEDGE, by))
            why = reason.strip() or f"acknowledged by {by}"
            return Draft(ts_ns, by, EventType.ACKNOWLEDGED, number, {}, why)

        return self._append(decide)

    # ---- planning --------------------------------------------------------------------------
    def assign(
        self, number: str, *, responsible: str, by: str, ts_ns: int, unit: str = ""
    ) -> LedgerEvent:
        """Name the responsible person (and unit); the default was the zone's owner."""
        person = _text("the responsible person", responsible)
        if person == ANONYMOUS:
            raise LedgerError("the responsible person must be a named person")

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            payload: Json = {"responsible": person, "responsible_unit": unit.strip()}
            was = h.responsible or "nobody"
            return EventType.ASSIGNED, payload, f"responsible: {was} -> {person}"

        return self._act(number, Move(Action.ASSIGN, by), ts_ns, build)

    def plan(
        self,
        number: str,
        *,
        by: str,
        ts_ns: int,
        measures: str | None = None,
        responsible: str | None = None,
        responsible_unit: str | None = None,
        funds: str | None = None,
        deadline_ns: int | None = None,
        contingency: str | None = None,
        reason: str = "",
    ) -> LedgerEvent:
        """Fill or amend the five in place (五到位); an acknowledged entry becomes planned once
        all five are filled. A new deadline restarts the deadline ladder."""
        given: Json = {"measures": measures, "responsible": responsible, "funds": funds}
        given.update(deadline_ns=deadline_ns, contingency=contingency)
        payload: Json = {k: v.strip() if isinstance(v, str) else v for k, v in given.items()}
        payload = {k: v for k, v in payload.items() if v not in (None, "")}
        if responsible_unit is not None:
            payload["responsible_unit"] = responsible_unit.strip()
        if not payload:
            raise LedgerError("a plan needs at least one of the five in place")
        if responsible == ANONYMOUS:
            raise LedgerError("the responsible person must be a named person")
        if deadline_ns is not None and deadline_ns <= ts_ns:
            raise LedgerError(f"the deadline {iso_utc(deadline_ns)} is not in the future")

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            after = _with_plan(h, payload)
            missing = after.missing_five()
            if to is Status.PLANNED and missing:
                to = None  # recorded, but not planned until all five are in place
            given = sorted(k.removesuffix("_ns") for k in payload)
            why = reason.strip() or "five in place: " + ", ".join(given)
            why += f"; still missing: {', '.join(missing)}" if missing else "; all five in place"
            return EventType.PLANNED, payload | ({"to": to.value} if to else {}), why

        return self._act(number, Move(Action.PLAN, by), ts_ns, build)

    def change_grade(
        self, number: str, *, grade: Grade, basis: str, by: str, ts_ns: int
    ) -> LedgerEvent:
        """Re-grade with its basis. Made major while rectifying without its plan, the entry goes
        back to planning: the major-hazard rules apply to the work still to do."""
        why = _text("the basis of a grade (clause of a standard or 判定标准 item)", basis)

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            payload: Json = {"grade": grade.value, "basis": why, "from": h.grade.value}
            reason = f"grade {h.grade.label.zh} -> {grade.label.zh}: {why}"
            after = replace(h, grade=grade)
            unready = after.missing_five() or after.missing_remediation()
            if grade is Grade.MAJOR and h.status is Status.RECTIFYING and unready:
                back = Status.ACKNOWLEDGED if after.missing_five() else Status.PLANNED
                payload["to"] = back.value
                reason += f"; back to {back.value} until the major-hazard plan is complete"
            return EventType.GRADED, payload, reason

        return self._act(number, Move(Action.GRADE, by, grade=grade), ts_ns, build)

    def list_supervision(
        self,
        number: str,
        *,
        level: str,
        document: str,
        office: str,
        listed_ns: int,
        by: str,
        ts_ns: int,
    ) -> LedgerEvent:
        """Record 挂牌督办: a major hazard listed for supervision by an outside office."""
        payload: Json = {
            "level": _text("the supervision level", level),
            "document": _text("the document number", document),
            "office": _text("the supervising office", office),
            "listed_ns": listed_ns,
        }
        reason = f"listed for supervision (挂牌督办) by {office.strip()}, {document.strip()}"

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            return EventType.SUPERVISION_LISTED, payload, reason

        return self._act(number, Move(Action.LIST_SUPERVISION, by), ts_ns, build)

    def set_remediation_plan(
        self,
        number: str,
        *,
        by: str,
        ts_ns: int,
        goal_and_tasks: str | None = None,
        methods: str | None = None,
        funds_and_materials: str | None = None,
        organisation_and_people: str | None = None,
        time_limit: str | None = None,
        safety_measures: str | None = None,
    ) -> LedgerEvent:
        """Fill or amend the six-part remediation plan (治理方案) a major hazard needs."""
        given = {
            "goal_and_tasks": goal_and_tasks, "methods": methods,
            "funds_and_materials": funds_and_materials,
            "organisation_and_people": organisation_and_people, "time_limit": time_limit,
            "safety_measures": safety_measures,
        }  # fmt: skip
        payload: Json = {k: v.strip() for k, v in given.items() if v is not None and v.strip()}
        if not payload:
            raise LedgerError("a remediation plan needs at least one part")

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            missing = (h.remediation or RemediationPlan()).merged(payload).missing()
            why = "remediation plan: " + ", ".join(sorted(payload))
            why += f"; still missing: {', '.join(missing)}" if missing else "; all six parts"
            return EventType.REMEDIATION_PLAN, payload, why

        return self._act(number, Move(Action.REMEDIATION_PLAN, by), ts_ns, build)

    def note(self, number: str, *, text: str, by: str, ts_ns: int) -> LedgerEvent:
        """A progress note at any open stage."""
        body = _text("a note", text)

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            return EventType.NOTE, {"text": body}, body

        return self._act(number, Move(Action.NOTE, by), ts_ns, build)

    # ---- rectification and review --------------------------------------------------------
    def rectify(self, number: str, *, by: str, ts_ns: int, reason: str = "") -> LedgerEvent:
        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            again = " again after the rejected review" if h.status is Status.REJECTED else ""
            why = reason.strip() or f"rectification started{again}"
            return EventType.RECTIFYING, {"from": h.status.value}, why

        return self._act(number, Move(Action.RECTIFY, by), ts_ns, build)

    def request_review(self, number: str, *, by: str, ts_ns: int, reason: str) -> LedgerEvent:
        """The rectification is done: `reason` says what was done."""
        done = _text("a review request (say what was done)", reason)

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            return EventType.REVIEW_REQUESTED, {}, done

        return self._act(number, Move(Action.REQUEST_REVIEW, by), ts_ns, build)

    def verify_rectification(
        self, number: str, *, by: str, ts_ns: int, opinion: str
    ) -> LedgerEvent:
        """验收: by a different person than the responsible person and the requester."""
        return self._review(number, Verdict.PASSED, by, ts_ns, opinion)

    def reject(self, number: str, *, by: str, ts_ns: int, opinion: str) -> LedgerEvent:
        """The review fails: the entry goes back to its responsible person to rectify again."""
        return self._review(number, Verdict.REJECTED, by, ts_ns, opinion)

    def _review(
        self, number: str, verdict: Verdict, by: str, ts_ns: int, opinion: str
    ) -> LedgerEvent:
        said = _text("a review opinion", opinion)
        action = Action.VERIFY if verdict is Verdict.PASSED else Action.REJECT

        def build(h: Hazard, to: Status | None) -> tuple[EventType, Json, str]:
            return EventType.REVIEWED, {"verdict": verdict.value}, said

        return self._act(number, Move(action, by), ts_ns, build)

    def close(
        self,
        number: str,
        *,
        by: str,
        ts_ns: int,
        reason: str,
        disposition: Disposition | None = None,
    ) -> LedgerEvent:
        """销号, with a reason. Without a disposition: rectified after verification, drill_ended
        for a drill, fixed_on_the_spot otherwise (一般 only)."""
        if not reason.strip():
            raise LedgerError(f"closing {number} needs a reason")

        def decide(state: Projection) -> Draft:
            hazard = state.get(number)
            how = disposition or _default_disposition(hazard)
            check(hazard, Move(Action.CLOSE, by, disposition=how))
            payload: Json = {"disposition": how.value, "from": hazard.status.value}
            return Draft(ts_ns, by, EventType.CLOSED, number, payload, reason.strip())

        return self._append(decide)

    def end_drill(self, number: str, *, by: str, ts_ns: int, reason: str = "") -> LedgerEvent:
        why = reason.strip() or f"drill ended by {by}"
        return self.close(
            number, by=by, ts_ns=ts_ns, reason=why, disposition=Disposition.DRILL_ENDED
        )


def _default_disposition(hazard: Hazard) -> Disposition:
    if hazard.drill:
        return Disposition.DRILL_ENDED
    if hazard.status is Status.VERIFIED:
        return Disposition.RECTIFIED
    return Disposition.FIXED_ON_THE_SPOT


def _with_plan(hazard: Hazard, payload: Json) -> Hazard:
    """The entry as it would be with these plan fields (to judge completeness)."""
    who = payload.get("responsible")
    responsible = who if isinstance(who, str) else hazard.responsible
    return replace(hazard, five=hazard.five.merged(payload), responsible=responsible)


def _drill_ack(hazard: Hazard, by: str, ts_ns: int) -> Draft:
    check(hazard, Move(Action.ACKNOWLEDGE, by))
    if ts_ns < hazard.escalation.started_ns:
        raise LedgerError(
            f"{hazard.number}: the drill starts at {iso_utc(hazard.escalation.started_ns)}"
        )
    if by in hazard.drill_acks:
        raise LedgerError(
            f"{hazard.number} was already acknowledged by {by} at {iso_utc(hazard.drill_acks[by])}"
        )
    reason = f"DRILL: acknowledged by {by}"
    return Draft(ts_ns, by, EventType.DRILL_ACKNOWLEDGED, hazard.number, {}, reason)
