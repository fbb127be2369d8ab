"""Rectification deadlines escalate too: an entry past its deadline and not verified goes to the
next level, once per level, is marked as supervised (督办), and a restart resumes the ladder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting.escalation import (
    EscalationLevel,
    EscalationPolicy,
    deadline_due_steps,
    deadline_next_due_ns,
    overdue,
)
from alerting.ledger import EscalationStep, Ledger
from alerting.vocabulary import Kind, Status
from gateway.errors import LedgerError
from tests.unit.test_ledger_fixtures import (
    DAY,
    GW1,
    OWNER,
    T0,
    VERIFIER,
    S,
    drive,
    fill_plan,
    finding,
)

HOUR = 3600 * S
DEADLINES = EscalationPolicy(
    (
        EscalationLevel("responsible person", ("responsible",), 0),
        EscalationLevel("safety officer", ("li",), 24 * 3600),
        EscalationLevel("supervising office", ("safety.bureau",), 48 * 3600),
    )
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger(path, GW1) as opened:
        yield opened


def planned(ledger: Ledger, deadline_ns: int) -> str:
    number = finding(ledger)
    ledger.acknowledge(number, by=OWNER, ts_ns=T0 + S)
    fill_plan(ledger, number, T0 + 2 * S, deadline_ns=deadline_ns)
    ledger.rectify(number, by=OWNER, ts_ns=T0 + 3 * S)
    return number


def tick(ledger: Ledger, now: int) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the engine does for deadlines each tick: record and notify the due steps."""
    told = []
    for hazard in overdue(ledger.open_hazards(), now):
        for step in deadline_due_steps(hazard, DEADLINES, now):
            ledger.record_overdue(hazard.number, step, actor="gateway:gw01")
            told.append((hazard.number, step.name, step.recipients))
    return told


def test_nothing_happens_before_the_deadline(ledger: Ledger) -> None:
    deadline = T0 + DAY
    number = planned(ledger, deadline)
    assert tick(ledger, deadline - S) == []
    assert ledger.overdue(deadline - S) == []
    assert deadline_next_due_ns(ledger.hazard(number), DEADLINES) == deadline


def test_each_level_is_told_once_at_its_delay_and_the_entry_is_supervised(ledger: Ledger) -> None:
    deadline = T0 + DAY
    number = planned(ledger, deadline)
    assert tick(ledger, deadline) == [(number, "responsible person", (OWNER,))]
    assert tick(ledger, deadline + HOUR) == []  # once per level
    hazard = ledger.hazard(number)
    assert hazard.supervised_since_ns == deadline
    assert [h.number for h in ledger.overdue(deadline)] == [number]
    assert "overdue since 2026-03-02T08:00" in ledger.events(number)[-1].reason
    assert tick(ledger, deadline + 24 * HOUR) == [(number, "safety officer", ("li",))]
    assert tick(ledger, deadline + 72 * HOUR) == [
        (number, "supervising office", ("safety.bureau",))
    ]
    assert tick(ledger, deadline + 30 * DAY) == []  # no repeat configured
    assert ledger.hazard(number).supervised_since_ns == deadline  # marked at the first step


def test_a_recorded_step_is_refused_a_second_time(ledger: Ledger) -> None:
    deadline = T0 + DAY
    number = planned(ledger, deadline)
    (step,) = deadline_due_steps(ledger.hazard(number), DEADLINES, deadline)
    ledger.record_overdue(number, step, actor="gateway:gw01")
    with pytest.raises(LedgerError, match="already notified"):
        ledger.record_overdue(number, step, actor="gateway:gw01")


def test_a_restart_resumes_the_deadline_ladder_without_repeats(ledger: Ledger, path: Path) -> None:
    deadline = T0 + DAY
    number = planned(ledger, deadline)
    tick(ledger, deadline + 5 * HOUR)  # level 0 told late, at +5 h
    with Ledger(path, GW1) as restarted:
        hazard = restarted.hazard(number)
        assert deadline_next_due_ns(hazard, DEADLINES) == deadline + 29 * HOUR
        assert tick(restarted, deadline + 28 * HOUR) == []
        assert [t[1] for t in tick(restarted, deadline + 29 * HOUR)] == ["safety officer"]


def test_after_a_long_outage_every_missed_level_is_told_at_once(ledger: Ledger) -> None:
    deadline = T0 + DAY
    planned(ledger, deadline)
    told = tick(ledger, deadline + 10 * DAY)
    assert [t[1] for t in told] == ["responsible person", "safety officer", "supervising office"]


def test_verification_stops_the_deadline_ladder(ledger: Ledger) -> None:
    deadline = T0 + DAY
    number = planned(ledger, deadline)
    tick(ledger, deadline)
    ledger.request_review(number, by=OWNER, ts_ns=deadline + HOUR, reason="done late")
    assert [t[1] for t in tick(ledger, deadline + 24 * HOUR)] == ["safety officer"]  # not yet
    ledger.verify_rectification(number, by=VERIFIER, ts_ns=deadline + 25 * HOUR, opinion="ok")
    assert tick(ledger, deadline + 10 * DAY) == []
    late = EscalationStep(2, "supervising office", ("x",), deadline + 10 * DAY)
    with pytest.raises(LedgerError, match="not overdue"):
        ledger.record_overdue(number, late, actor="gateway:gw01")


def test_a_new_deadline_starts_a_new_round_and_keeps_the_old_steps(ledger: Ledger) -> None:
    deadline = T0 + DAY
    number = planned(ledger, deadline)
    tick(ledger, deadline)
    new_deadline = deadline + 7 * DAY
    ledger.plan(
        number, by=OWNER, ts_ns=deadline + HOUR, deadline_ns=new_deadline, reason="parts late"
    )
    assert ledger.overdue(deadline + 2 * HOUR) == []
    assert tick(ledger, deadline + 3 * DAY) == []
    assert [t[1] for t in tick(ledger, new_deadline)] == ["responsible person"]
    ladder = ledger.hazard(number).deadline_escalation
    assert ladder is not None
    assert [(s.round, s.level) for s in ladder.steps] == [(0, 0), (1, 0)]


def test_drills_and_entries_without_deadline_are_never_overdue(ledger: Ledger) -> None:
    ledger.start_drill(title="Drill", kind=Kind.FIRE, by="li", ts_ns=T0)
    number = finding(ledger)
    drive(ledger, number, Status.RECTIFYING)  # the fixture plan has a deadline 7 days on
    unplanned = finding(ledger)
    assert [h.number for h in ledger.overdue(T0 + 30 * DAY)] == [number]
    assert deadline_due_steps(ledger.hazard(unplanned), DEADLINES, T0 + 30 * DAY) == []
