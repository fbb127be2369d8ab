"""The closed loop (闭环整改) of domain.md section 4 as a table: every action in every stage,
allowed or refused, with the reason in every refusal; then the guards that look beyond the stage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alerting.ledger import Ledger
from alerting.lifecycle import TRANSITIONS, Action
from alerting.vocabulary import Disposition, Grade, Status
from gateway.errors import LedgerError
from tests.unit.test_ledger_fixtures import (
    DAY,
    GW1,
    MINUTE,
    OWNER,
    T0,
    VERIFIER,
    drive,
    fill_plan,
    fill_remediation,
    finding,
    gas_alarm,
)

ALL = frozenset(Status)
OPEN = ALL - {Status.CLOSED}
BEFORE_REVIEW = OPEN - {Status.VERIFIED}
WORKING = frozenset({Status.ACKNOWLEDGED, Status.PLANNED, Status.RECTIFYING, Status.REJECTED})

# The specification: in which stages each action is allowed ...
ALLOWED: dict[Action, frozenset[Status]] = {
    Action.ACKNOWLEDGE: frozenset({Status.REGISTERED}),
    Action.ASSIGN: BEFORE_REVIEW,
    Action.PLAN: WORKING,
    Action.GRADE: BEFORE_REVIEW,
    Action.LIST_SUPERVISION: OPEN,
    Action.REMEDIATION_PLAN: WORKING,
    Action.NOTE: OPEN,
    Action.RECTIFY: frozenset({Status.ACKNOWLEDGED, Status.PLANNED, Status.REJECTED}),
    Action.REQUEST_REVIEW: frozenset({Status.RECTIFYING}),
    Action.VERIFY: frozenset({Status.REVIEW_REQUESTED}),
    Action.REJECT: frozenset({Status.REVIEW_REQUESTED}),
    Action.CLOSE: frozenset({Status.ACKNOWLEDGED, Status.VERIFIED}),
}
# ... and where it leads (actions not listed leave the stage as it was).
LEADS_TO: dict[Action, Status] = {
    Action.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Action.RECTIFY: Status.RECTIFYING,
    Action.REQUEST_REVIEW: Status.REVIEW_REQUESTED,
    Action.VERIFY: Status.VERIFIED,
    Action.REJECT: Status.REJECTED,
    Action.CLOSE: Status.CLOSED,
}
T = T0 + DAY  # actions come after the entry was driven to its stage


def perform(ledger: Ledger, number: str, action: Action) -> None:
    """Each action with arguments that satisfy every guard, so only the stage can refuse it."""
    do: dict[Action, Callable[[], object]] = {
        Action.ACKNOWLEDGE: lambda: ledger.acknowledge(number, by=OWNER, ts_ns=T),
        Action.ASSIGN: lambda: ledger.assign(number, responsible="li", by=VERIFIER, ts_ns=T),
        Action.PLAN: lambda: fill_plan(ledger, number, T),
        Action.GRADE: lambda: ledger.change_grade(
            number, grade=Grade.GENERAL, basis="fixed on inspection", by=VERIFIER, ts_ns=T
        ),
        Action.LIST_SUPERVISION: lambda: ledger.list_supervision(
            number,
            level="municipal",
            document="AJ-2026-17",
            office="City emergency bureau",
            listed_ns=T,
            by=VERIFIER,
            ts_ns=T,
        ),
        Action.REMEDIATION_PLAN: lambda: fill_remediation(ledger, number, T),
        Action.NOTE: lambda: ledger.note(number, text="Parts ordered", by=OWNER, ts_ns=T),
        Action.RECTIFY: lambda: ledger.rectify(number, by=OWNER, ts_ns=T),
        Action.REQUEST_REVIEW: lambda: ledger.request_review(
            number, by=OWNER, ts_ns=T, reason="done"
        ),
        Action.VERIFY: lambda: ledger.verify_rectification(
            number, by=VERIFIER, ts_ns=T, opinion="good"
        ),
        Action.REJECT: lambda: ledger.reject(number, by=VERIFIER, ts_ns=T, opinion="not yet"),
        Action.CLOSE: lambda: ledger.close(number, by=VERIFIER, ts_ns=T, reason="done"),
    }
    do[action]()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite", GW1) as opened:
        yield opened


def test_the_stage_graph_is_the_one_of_domain_md() -> None:
    assert {
        Status.REGISTERED: {Status.ACKNOWLEDGED},
        Status.ACKNOWLEDGED: {Status.PLANNED, Status.RECTIFYING, Status.CLOSED},
        Status.PLANNED: {Status.RECTIFYING},
        Status.RECTIFYING: {Status.REVIEW_REQUESTED},
        Status.REVIEW_REQUESTED: {Status.VERIFIED, Status.REJECTED},
        Status.REJECTED: {Status.RECTIFYING},
        Status.VERIFIED: {Status.CLOSED},
        Status.CLOSED: set(),
    } == TRANSITIONS


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("status", list(Status), ids=str)
def test_every_action_in_every_stage(ledger: Ledger, status: Status, action: Action) -> None:
    # supervision listing and grade changes are for major entries; the rest run on general ones
    major = action in (Action.LIST_SUPERVISION, Action.GRADE)
    number = finding(ledger, grade=Grade.MAJOR if major else Grade.GENERAL)
    drive(ledger, number, status)
    stored = len(ledger.events())
    if status in ALLOWED[action]:
        perform(ledger, number, action)
        expected = LEADS_TO.get(action, status)
        if action is Action.PLAN and status is Status.ACKNOWLEDGED:
            expected = Status.PLANNED  # all five were given
        assert ledger.hazard(number).status is expected
        assert len(ledger.events()) == stored + 1
        return
    with pytest.raises(LedgerError) as refusal:
        perform(ledger, number, action)
    reason = str(refusal.value)
    if action is Action.ACKNOWLEDGE:  # said as a person would want to hear it
        assert (
            "is closed" if status is Status.CLOSED else "already acknowledged by wang"
        ) in reason
    else:
        assert f"{number} is {status.value} ({status.label.zh})" in reason
        assert "possible now:" in reason
    assert len(ledger.events()) == stored  # a refusal leaves no trace


# ---- guards ------------------------------------------------------------------------------------
def test_a_major_hazard_cannot_enter_rectifying_until_the_five_are_filled(ledger: Ledger) -> None:
    number = finding(ledger, grade=Grade.MAJOR, responsible=None)
    ledger.acknowledge(number, by=OWNER, ts_ns=T0 + MINUTE)
    fill_remediation(ledger, number, T0 + 2 * MINUTE)
    with pytest.raises(LedgerError, match=r"五到位.*missing: measures, responsible, funds"):
        ledger.rectify(number, by=OWNER, ts_ns=T0 + 3 * MINUTE)
    ledger.plan(number, by=OWNER, ts_ns=T0 + 3 * MINUTE, measures="clear", funds="CNY 100")
    assert ledger.hazard(number).status is Status.ACKNOWLEDGED  # partial: not yet planned
    with pytest.raises(LedgerError, match="missing: responsible, deadline, contingency"):
        ledger.rectify(number, by=OWNER, ts_ns=T0 + 4 * MINUTE)
    ledger.plan(
        number, by=OWNER, ts_ns=T0 + 4 * MINUTE, responsible=OWNER, deadline_ns=T0 + DAY,
        contingency="second exit",
    )  # fmt: skip
    assert ledger.hazard(number).status is Status.PLANNED
    ledger.rectify(number, by=OWNER, ts_ns=T0 + 5 * MINUTE)
    assert ledger.hazard(number).status is Status.RECTIFYING


def test_a_major_hazard_also_needs_its_six_part_remediation_plan(ledger: Ledger) -> None:
    number = finding(ledger, grade=Grade.MAJOR)
    ledger.acknowledge(number, by=OWNER, ts_ns=T0 + MINUTE)
    fill_plan(ledger, number, T0 + 2 * MINUTE)
    ledger.set_remediation_plan(number, by=OWNER, ts_ns=T0 + 3 * MINUTE, methods="move pallets")
    with pytest.raises(
        LedgerError, match=r"治理方案.*missing: goal_and_tasks, funds_and_materials"
    ):
        ledger.rectify(number, by=OWNER, ts_ns=T0 + 4 * MINUTE)


def test_a_general_hazard_may_be_rectified_at_once(ledger: Ledger) -> None:
    number = finding(ledger, responsible=None)
    ledger.acknowledge(number, by=OWNER, ts_ns=T0 + MINUTE)
    ledger.rectify(number, by=OWNER, ts_ns=T0 + 2 * MINUTE)
    assert ledger.hazard(number).status is Status.RECTIFYING


@pytest.mark.parametrize("verdict", ["verify", "reject"])
def test_the_review_is_by_a_different_person_than_responsible_and_requester(
    ledger: Ledger, verdict: str
) -> None:
    number = finding(ledger)
    drive(ledger, number, Status.RECTIFYING)
    ledger.request_review(number, by="li", ts_ns=T, reason="cleared")
    review = ledger.verify_rectification if verdict == "verify" else ledger.reject
    with pytest.raises(LedgerError, match=r"different person than the responsible person \(wang\)"):
        review(number, by=OWNER, ts_ns=T, opinion="fine")
    with pytest.raises(LedgerError, match="li requested the review"):
        review(number, by="li", ts_ns=T, opinion="fine")
    review(number, by=VERIFIER, ts_ns=T, opinion="fine")
    assert ledger.hazard(number).reviews[-1].by == VERIFIER


def test_a_rejected_review_goes_back_to_rectifying_and_keeps_every_opinion(ledger: Ledger) -> None:
    number = finding(ledger)
    t = drive(ledger, number, Status.REJECTED)
    ledger.rectify(number, by=OWNER, ts_ns=t + MINUTE)
    ledger.request_review(number, by=OWNER, ts_ns=t + 2 * MINUTE, reason="moved for good")
    ledger.verify_rectification(number, by=VERIFIER, ts_ns=t + 3 * MINUTE, opinion="now free")
    hazard = ledger.hazard(number)
    assert [(r.verdict.value, r.opinion) for r in hazard.reviews] == [
        ("rejected", "Pallets still in the corridor"),
        ("passed", "now free"),
    ]
    assert (hazard.verified_by, hazard.verified_at_ns) == (VERIFIER, t + 3 * MINUTE)


def test_closing_before_verification_is_for_fixes_on_the_spot_and_non_hazards(
    ledger: Ledger,
) -> None:
    general, major = finding(ledger), finding(ledger, grade=Grade.MAJOR)
    for number in (general, major):
        ledger.acknowledge(number, by=OWNER, ts_ns=T0 + MINUTE)
    with pytest.raises(LedgerError, match=r"closed only after verification.*false_alarm"):
        ledger.close(major, by=VERIFIER, ts_ns=T, reason="looks fine")
    ledger.close(
        major, by=VERIFIER, ts_ns=T, reason="sensor test", disposition=Disposition.FALSE_ALARM
    )
    ledger.close(general, by=VERIFIER, ts_ns=T, reason="pallets moved at once")
    assert ledger.hazard(major).disposition is Disposition.FALSE_ALARM
    assert ledger.hazard(general).disposition is Disposition.FIXED_ON_THE_SPOT


def test_a_verified_entry_closes_as_rectified_only(ledger: Ledger) -> None:
    number = finding(ledger)
    drive(ledger, number, Status.VERIFIED)
    with pytest.raises(LedgerError, match="closed as rectified"):
        ledger.close(number, by=VERIFIER, ts_ns=T, reason="x", disposition=Disposition.DUPLICATE)
    ledger.close(number, by=VERIFIER, ts_ns=T, reason="done")
    assert ledger.hazard(number).disposition is Disposition.RECTIFIED


def test_grading_needs_a_basis_a_change_and_listing_keeps_it_major(ledger: Ledger) -> None:
    number = finding(ledger)
    with pytest.raises(LedgerError, match="basis"):
        ledger.change_grade(number, grade=Grade.MAJOR, basis=" ", by=VERIFIER, ts_ns=T)
    with pytest.raises(LedgerError, match="already general"):
        ledger.change_grade(number, grade=Grade.GENERAL, basis="x", by=VERIFIER, ts_ns=T)
    with pytest.raises(LedgerError, match="only a major hazard"):
        ledger.list_supervision(
            number, level="county", document="D-1", office="Bureau", listed_ns=T, by=VERIFIER,
            ts_ns=T,
        )  # fmt: skip
    ledger.change_grade(number, grade=Grade.MAJOR, basis="GB item 3.2", by=VERIFIER, ts_ns=T)
    ledger.list_supervision(
        number, level="county", document="D-1", office="Bureau", listed_ns=T, by=VERIFIER, ts_ns=T
    )
    with pytest.raises(LedgerError, match="stays major until closed"):
        ledger.change_grade(number, grade=Grade.GENERAL, basis="x", by=VERIFIER, ts_ns=T)
    hazard = ledger.hazard(number)
    assert (hazard.grade, hazard.basis) == (Grade.MAJOR, "GB item 3.2")
    assert hazard.supervision is not None
    assert (hazard.supervision.document, hazard.supervision.office) == ("D-1", "Bureau")


def test_made_major_while_rectifying_it_goes_back_to_planning(ledger: Ledger) -> None:
    number = finding(ledger)
    drive(ledger, number, Status.RECTIFYING)  # a general entry: no remediation plan
    ledger.change_grade(number, grade=Grade.MAJOR, basis="判定标准 item 4", by=VERIFIER, ts_ns=T)
    assert ledger.hazard(number).status is Status.PLANNED
    assert "back to planned" in ledger.events(number)[-1].reason


def test_a_level_rise_while_rectifying_must_be_acknowledged_before_the_loop_goes_on(
    ledger: Ledger,
) -> None:
    number = gas_alarm(ledger)
    drive(ledger, number, Status.RECTIFYING)
    gas_alarm(ledger, level=2, ts_ns=T)  # the leak got worse
    hazard = ledger.hazard(number)
    assert (hazard.status, hazard.acknowledged_at_ns, hazard.escalating) == (
        Status.RECTIFYING, None, True,
    )  # fmt: skip
    with pytest.raises(LedgerError, match="rose to level 2 and is unacknowledged"):
        ledger.request_review(number, by=OWNER, ts_ns=T + MINUTE, reason="done")
    ledger.acknowledge(number, by=OWNER, ts_ns=T + MINUTE)
    assert ledger.hazard(number).status is Status.RECTIFYING  # the stage is kept
    ledger.request_review(number, by=OWNER, ts_ns=T + 2 * MINUTE, reason="done")


def test_nobody_acts_anonymously(ledger: Ledger) -> None:
    number = finding(ledger)
    ledger.acknowledge(number, by=OWNER, ts_ns=T)
    with pytest.raises(LedgerError, match="anonymous may only report"):
        ledger.note(number, text="I saw it", by="anonymous", ts_ns=T)
    with pytest.raises(LedgerError, match="named person"):
        ledger.assign(number, responsible="anonymous", by=VERIFIER, ts_ns=T)


def test_plans_refuse_nothing_and_deadlines_in_the_past(ledger: Ledger) -> None:
    number = finding(ledger)
    ledger.acknowledge(number, by=OWNER, ts_ns=T)
    with pytest.raises(LedgerError, match="at least one"):
        ledger.plan(number, by=OWNER, ts_ns=T, measures="  ")
    with pytest.raises(LedgerError, match="not in the future"):
        ledger.plan(number, by=OWNER, ts_ns=T, deadline_ns=T - DAY)


def test_notes_keep_the_stage_they_were_written_in(ledger: Ledger) -> None:
    number = finding(ledger)
    ledger.note(number, text="Reported by the night shift", by=OWNER, ts_ns=T)
    drive(ledger, number, Status.RECTIFYING, ts_ns=T)
    ledger.note(number, text="Half cleared", by=OWNER, ts_ns=T + DAY)
    assert [(n.status, n.text) for n in ledger.hazard(number).notes] == [
        (Status.REGISTERED, "Reported by the night shift"),
        (Status.RECTIFYING, "Half cleared"),
    ]
    with pytest.raises(LedgerError, match="cannot be empty"):
        ledger.note(number, text=" ", by=OWNER, ts_ns=T)


def test_an_alarm_after_a_rectified_closure_links_the_new_entry(ledger: Ledger) -> None:
    old = gas_alarm(ledger)
    drive(ledger, old, Status.CLOSED)
    new = gas_alarm(ledger, ts_ns=T)
    assert new != old
    assert ledger.hazard(new).recurrence_of == old
    assert ledger.hazard(new).responsible == OWNER  # the engine passed the zone's owner again


def test_every_refusal_names_what_is_possible_instead(ledger: Ledger) -> None:
    number = finding(ledger)
    with pytest.raises(LedgerError) as refusal:
        ledger.rectify(number, by=OWNER, ts_ns=T)
    assert str(refusal.value).endswith("possible now: ack, assign, grade, list-supervision, note")
