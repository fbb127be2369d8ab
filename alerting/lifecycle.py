"""The closed loop (闭环整改) as a table: which action a person may take in which stage, where it
leads, and the guards that look beyond the stage. Every refusal says why and what is possible now.

    registered → acknowledged → planned (五到位 complete) → rectifying → review requested → verified
    → closed (销号);  review requested → rejected → rectifying;  acknowledged → closed only as
    fixed on the spot (一般) or as not a hazard (false alarm, duplicate).

A general hazard may go from acknowledged straight to rectifying (一般: it can be fixed at once); a
major one (重大) needs the five in place and its six-part remediation plan first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from alerting.records import REARMABLE, Hazard
from alerting.vocabulary import ANONYMOUS, NOT_A_HAZARD, Disposition, Grade, Status
from gateway.errors import LedgerError


class Action(StrEnum):
    """What people do to an entry; the values are the `hazgw ledger` verbs."""

    ACKNOWLEDGE = "ack"
    ASSIGN = "assign"
    PLAN = "plan"
    GRADE = "grade"
    LIST_SUPERVISION = "list-supervision"
    REMEDIATION_PLAN = "remediation-plan"
    NOTE = "note"
    RECTIFY = "rectify"
    REQUEST_REVIEW = "request-review"
    VERIFY = "verify"
    REJECT = "reject"
    CLOSE = "close"


_OPEN = frozenset(Status) - {Status.CLOSED}
_WORKING = frozenset({Status.ACKNOWLEDGED, Status.PLANNED, Status.RECTIFYING, Status.REJECTED})


def _stay(statuses: frozenset[Status]) -> dict[Status, Status | None]:
    return dict.fromkeys(sorted(statuses), None)


# action -> {stage it is allowed in: the stage it leads to (None: the entry stays where it is)}
ACTIONS: Mapping[Action, Mapping[Status, Status | None]] = {
    Action.ACKNOWLEDGE: {Status.REGISTERED: Status.ACKNOWLEDGED} | _stay(REARMABLE),
    Action.ASSIGN: _stay(_OPEN - {Status.VERIFIED}),
    Action.PLAN: {Status.ACKNOWLEDGED: Status.PLANNED} | _stay(_WORKING - {Status.ACKNOWLEDGED}),
    Action.GRADE: _stay(_OPEN - {Status.VERIFIED}),
    Action.LIST_SUPERVISION: _stay(_OPEN),
    Action.REMEDIATION_PLAN: _stay(_WORKING),
    Action.NOTE: _stay(_OPEN),
    Action.RECTIFY: dict.fromkeys(
        (Status.ACKNOWLEDGED, Status.PLANNED, Status.REJECTED), Status.RECTIFYING
    ),
    Action.REQUEST_REVIEW: {Status.RECTIFYING: Status.REVIEW_REQUESTED},
    Action.VERIFY: {Status.REVIEW_REQUESTED: Status.VERIFIED},
    Action.REJECT: {Status.REVIEW_REQUESTED: Status.REJECTED},
    Action.CLOSE: {Status.ACKNOWLEDGED: Status.CLOSED, Status.VERIFIED: Status.CLOSED},
}
# A drill is not a hazard: people acknowledge it (each one is timed), note it, and end it.
DRILL_ACTIONS: Mapping[Action, Mapping[Status, Status | None]] = {
    Action.ACKNOWLEDGE: {Status.REGISTERED: None},
    Action.NOTE: {Status.REGISTERED: None},
    Action.CLOSE: {Status.REGISTERED: Status.CLOSED},
}
# The stage graph the table implies (for documentation and the table tests).
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    s: frozenset(t for moves in ACTIONS.values() if (t := moves.get(s)) is not None) for s in Status
}
_TARGET = {a: next(iter({t for t in m.values() if t}), None) for a, m in ACTIONS.items()}


@dataclass(frozen=True)
class Move:
    """An action someone asks for, with what the guards need to judge it."""

    action: Action
    actor: str
    disposition: Disposition | None = None  # close
    grade: Grade | None = None  # grade


Guard = Callable[[Hazard, Move, Status | None], str | None]


def _named_person(h: Hazard, m: Move, to: Status | None) -> str | None:
    if m.actor.strip() in ("", ANONYMOUS):
        return "every action names the person who takes it (anonymous may only report)"
    return None


def _drills(h: Hazard, m: Move, to: Status | None) -> str | None:
    if h.drill and m.action is Action.CLOSE and m.disposition is not Disposition.DRILL_ENDED:
        return "a drill is closed as drill_ended (演练结束)"
    if not h.drill and m.disposition is Disposition.DRILL_ENDED:
        return "drill_ended closes drills only"
    return None


def _rearmed(h: Hazard, m: Move, to: Status | None) -> str | None:
    """A worsened alarm during the loop must be acknowledged before the loop goes on."""
    blocked = (Action.RECTIFY, Action.REQUEST_REVIEW, Action.VERIFY, Action.CLOSE)
    if h.status in REARMABLE and h.awaiting_ack and m.action in blocked:
        return f"its alarm rose to level {h.level} and is unacknowledged: acknowledge it first"
    return None


def _major_before_rectifying(h: Hazard, m: Move, to: Status | None) -> str | None:
    if to is not Status.RECTIFYING or h.grade is not Grade.MAJOR:
        return None
    missing = h.missing_five()
    if missing:
        return (
            "a major hazard (重大) cannot enter rectifying until the five in place (五到位)"
            f" are filled; missing: {', '.join(missing)}"
        )
    parts = h.missing_remediation()
    if parts:
        return (
            "a major hazard (重大) cannot enter rectifying without its remediation plan"
            f" (治理方案); missing: {', '.join(parts)}"
        )
    return None


def _another_verifier(h: Hazard, m: Move, to: Status | None) -> str | None:
    if m.action not in (Action.VERIFY, Action.REJECT):
        return None
    if m.actor == h.responsible:
        return (
            "verification must be by a different person than the responsible person"
            f" ({h.responsible})"
        )
    if m.actor == h.review_requested_by:
        return f"{m.actor} requested the review: verification must be by a different person"
    return None


def _closing(h: Hazard, m: Move, to: Status | None) -> str | None:
    if m.action is not Action.CLOSE or h.drill:
        return None
    d = m.disposition
    if h.status is Status.VERIFIED:
        return None if d is Disposition.RECTIFIED else "a verified entry is closed as rectified"
    if d in NOT_A_HAZARD:
        return None
    if d is Disposition.FIXED_ON_THE_SPOT and h.grade is Grade.GENERAL:
        return None
    if h.grade is Grade.MAJOR:
        return (
            "a major hazard (重大) is closed only after verification (plan, rectify, request a"
            " review, verify); if it was no hazard, close it as false_alarm or duplicate"
        )
    return "before verification only fixed_on_the_spot, false_alarm or duplicate can close it"


def _grading(h: Hazard, m: Move, to: Status | None) -> str | None:
    if m.action is Action.GRADE and m.grade is h.grade:
        return f"it is already {h.grade.value} ({h.grade.label.zh})"
    if m.action is Action.GRADE and h.supervision is not None and m.grade is Grade.GENERAL:
        return (
            f"it is listed for supervision (挂牌督办, {h.supervision.document}):"
            " it stays major until closed"
        )
    if m.action is Action.LIST_SUPERVISION and h.grade is not Grade.MAJOR:
        return "only a major hazard (重大) is listed for supervision: change its grade first"
    return None


GUARDS: tuple[Guard, ...] = (
    _named_person,
    _drills,
    _rearmed,
    _major_before_rectifying,
    _another_verifier,
    _closing,
    _grading,
)


def check(hazard: Hazard, move: Move) -> Status | None:
    """The stage `move` leads to (None: it stays), or LedgerError saying why not and what can."""
    if hazard.drill and move.action not in DRILL_ACTIONS:
        raise LedgerError(
            f"{hazard.number}: it is a drill (演练): only ack, note and close (ending it) apply"
        )
    moves = (DRILL_ACTIONS if hazard.drill else ACTIONS)[move.action]
    if hazard.status not in moves:
        target = _TARGET[move.action]
        wanted = f"it cannot become {target.value}" if target else f"{move.action} is not possible"
        raise LedgerError(
            f"{hazard.number} is {hazard.status.value} ({hazard.status.label.zh}); {wanted}"
            f"; possible now: {_possible(hazard)}"
        )
    if move.action is Action.ACKNOWLEDGE and not (hazard.awaiting_ack or hazard.drill):
        raise LedgerError(f"{hazard.number}: nothing awaits acknowledgement")
    for guard in GUARDS:
        refusal = guard(hazard, move, moves[hazard.status])
        if refusal:
            raise LedgerError(f"{hazard.number}: {refusal}")
    return moves[hazard.status]


def possible_actions(hazard: Hazard) -> list[Action]:
    """What the table allows in the entry's stage (guards may still refuse)."""
    table = DRILL_ACTIONS if hazard.drill else ACTIONS
    allowed = [a for a, moves in table.items() if hazard.status in moves]
    if not hazard.awaiting_ack and not hazard.drill:
        allowed = [a for a in allowed if a is not Action.ACKNOWLEDGE]
    return allowed


def _possible(hazard: Hazard) -> str:
    return ", ".join(possible_actions(hazard)) or "nothing (the entry is closed)"
