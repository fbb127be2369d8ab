"""What people register and what the machine records: inspection findings, anonymous reports,
delivery attempts, drills with each person's acknowledgement; and replay of all of it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.escalation import EscalationLevel, EscalationPolicy, due_steps
from alerting.ledger import EscalationStep, Ledger
from alerting.records import DeliveryAttempt
from alerting.vocabulary import Disposition, Grade, Kind, Source, Status
from gateway.errors import LedgerError
from gateway.telemetry import ledger_line
from tests.unit.test_ledger_fixtures import (
    DAY,
    GW1,
    MINUTE,
    OWNER,
    T0,
    VERIFIER,
    S,
    drive,
    fill_plan,
    finding,
    gas_alarm,
)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite", GW1) as opened:
        yield opened


# ---- findings and reports ------------------------------------------------------------------
def test_an_inspection_finding_keeps_who_found_it_and_on_which_inspection(ledger: Ledger) -> None:
    hazard = ledger.register_finding(
        title="Extinguisher pressure low", kind=Kind.FIRE, grade=Grade.GENERAL,
        source=Source.UPPER_INSPECTION, location="Kitchen, north wall", zone="kitchen",
        found_by="inspector.liu", ts_ns=T0, responsible=OWNER, responsible_unit="Catering",
        basis="GB 50444 clause 5.2", category="fire equipment",
        inspection="District emergency bureau check 2026-03",
    )  # fmt: skip
    assert (hazard.found_by, hazard.source, hazard.responsible) == (
        "inspector.liu", Source.UPPER_INSPECTION, OWNER,
    )  # fmt: skip
    doc = hazard.to_json()
    assert (doc["inspection"], doc["basis"], doc["responsible_unit"]) == (
        "District emergency bureau check 2026-03", "GB 50444 clause 5.2", "Catering",
    )  # fmt: skip
    assert ledger.events(hazard.number)[0].actor == "inspector.liu"


def test_an_anonymous_report_stores_nobody_anywhere(ledger: Ledger) -> None:
    hazard = ledger.register_finding(
        title="Gas cylinders stored in the corridor", kind=Kind.GAS, grade=Grade.MAJOR,
        source=Source.REPORT, location="Corridor B", zone=None, found_by="anonymous", ts_ns=T0,
    )  # fmt: skip
    (event,) = ledger.events(hazard.number)
    assert (event.actor, hazard.found_by, hazard.anonymous) == ("anonymous", "anonymous", True)
    assert "anonymous" in event.reason
    assert not {"found_by", "reporter", "recorded_by", "contact"} & event.payload.keys()
    line = ledger_line(event, GW1)  # what telemetry sends to InfluxDB
    assert 'actor="anonymous"' in line
    assert hazard.to_json()["found_by"] == "anonymous"


@pytest.mark.parametrize("source", [Source.SELF_INSPECTION, Source.UPPER_INSPECTION])
def test_only_reports_can_be_anonymous(ledger: Ledger, source: Source) -> None:
    with pytest.raises(LedgerError, match="only a report"):
        finding(ledger, source=source, found_by="anonymous")


@pytest.mark.parametrize("source", [Source.MONITORING_ALARM, Source.DRILL])
def test_people_do_not_register_alarms_or_drills_as_findings(
    ledger: Ledger, source: Source
) -> None:
    with pytest.raises(LedgerError, match="not "):
        finding(ledger, source=source)


def test_a_finding_without_a_zone_owner_has_no_responsible_until_assigned(ledger: Ledger) -> None:
    number = finding(ledger, responsible=None)
    assert ledger.hazard(number).responsible is None
    ledger.assign(number, responsible="li", by=VERIFIER, ts_ns=T0 + MINUTE, unit="Logistics")
    hazard = ledger.hazard(number)
    assert (hazard.responsible, hazard.responsible_unit) == ("li", "Logistics")
    assert ledger.events(number)[-1].reason == "responsible: nobody -> li"


# ---- deliveries ----------------------------------------------------------------------------
def deliver(ledger: Ledger, number: str, attempt: int, *, ok: bool, ts_ns: int) -> None:
    ledger.record_delivery(DeliveryAttempt(
        number, channel="webhook:duty", recipients=("wang",), step=0, round=0, repeat=0,
        attempt=attempt, ok=ok, retryable=not ok, detail="" if ok else "connection refused",
        actor="gateway:gw01", ts_ns=ts_ns,
    ))  # fmt: skip


def test_every_delivery_attempt_is_kept_failed_ones_included(ledger: Ledger) -> None:
    number = gas_alarm(ledger)
    deliver(ledger, number, 1, ok=False, ts_ns=T0 + S)
    deliver(ledger, number, 2, ok=True, ts_ns=T0 + 3 * S)
    hazard = ledger.hazard(number)
    assert [(d.attempt, d.ok, d.retryable, d.detail) for d in hazard.deliveries] == [
        (1, False, True, "connection refused"),
        (2, True, False, ""),
    ]
    events = ledger.events(number)[-2:]
    assert [e.type for e in events] == ["delivery", "delivery"]
    assert events[0].reason == "webhook:duty attempt 1: failed, will retry (connection refused)"
    assert hazard.to_json()["deliveries"][1]["at"] == "2026-03-01T08:00:03.000000Z"  # type: ignore[index]


def test_a_delivery_after_closure_is_still_recorded(ledger: Ledger) -> None:
    number = finding(ledger)
    ledger.acknowledge(number, by=OWNER, ts_ns=T0 + S)
    ledger.close(number, by=VERIFIER, ts_ns=T0 + 2 * S, reason="fixed at once")
    deliver(ledger, number, 3, ok=True, ts_ns=T0 + 3 * S)  # a retry that was in flight
    assert len(ledger.hazard(number).deliveries) == 1


@pytest.mark.parametrize(
    ("number", "attempt", "channel", "match"),
    [
        ("YH-none", 1, "log", "unknown hazard"),
        (None, 0, "log", "out of range"),
        (None, 1, " ", "channel"),
    ],
)  # fmt: skip
def test_deliveries_that_cannot_be_true_are_refused(
    ledger: Ledger, number: str | None, attempt: int, channel: str, match: str
) -> None:
    real = gas_alarm(ledger)
    with pytest.raises(LedgerError, match=match):
        ledger.record_delivery(DeliveryAttempt(
            number or real, channel=channel, recipients=("wang",), step=0, round=0, repeat=0,
            attempt=attempt, ok=True, retryable=False, detail="", actor="gw", ts_ns=T0,
        ))  # fmt: skip


# ---- drills --------------------------------------------------------------------------------
CHAIN = EscalationPolicy(
    (EscalationLevel("duty officer", ("wang",), 0), EscalationLevel("safety", ("li", "zhao"), 60)),
    repeat_s=30,
)


def escalate(ledger: Ledger, number: str, now: int) -> list[str]:
    named: list[str] = []
    for step in due_steps(ledger.hazard(number), CHAIN, now):
        ledger.record_escalation(number, step, actor="gateway:gw01")
        named += step.recipients
    return named


def test_a_drill_is_numbered_apart_and_marked_everywhere(ledger: Ledger) -> None:
    real = gas_alarm(ledger)
    drill = ledger.start_drill(title="Kitchen gas leak", kind=Kind.GAS, by="li", ts_ns=T0, level=2)
    after = gas_alarm(ledger, device="store-gas-1", ts_ns=T0 + S)
    assert drill.number == "DRILL-2026-demo-gw01-0001"
    assert (real, after) == ("YH-2026-demo-gw01-0001", "YH-2026-demo-gw01-0002")
    assert (drill.drill, drill.source, drill.level) == (True, Source.DRILL, 2)
    assert ledger.events(drill.number)[0].type == "drill_started"
    assert ledger.hazard(drill.number).to_json()["drill"] is True


def test_each_persons_acknowledgement_is_timed_and_the_chain_runs_on(ledger: Ledger) -> None:
    number = ledger.start_drill(title="Fire in the store", kind=Kind.FIRE, by="li", ts_ns=T0).number
    assert escalate(ledger, number, T0) == ["wang"]
    ledger.acknowledge(number, by="wang", ts_ns=T0 + 42 * S)
    with pytest.raises(LedgerError, match="already acknowledged by wang"):
        ledger.acknowledge(number, by="wang", ts_ns=T0 + 50 * S)
    assert escalate(ledger, number, T0 + 60 * S) == ["li", "zhao"]  # an ack does not stop a drill
    assert escalate(ledger, number, T0 + 10 * 60 * S) == []  # and a drill never repeats
    ledger.acknowledge(number, by="li", ts_ns=T0 + 75 * S)
    ledger.acknowledge(number, by="chen", ts_ns=T0 + 80 * S)  # heard it on the radio
    ledger.end_drill(number, by="li", ts_ns=T0 + 5 * 60 * S)
    report = ledger.drill_report(number)
    rows = {p.person: (p.levels, p.seconds_to_ack) for p in report.people}
    assert rows == {
        "wang": (("duty officer",), 42.0),
        "li": (("safety",), 15.0),
        "zhao": (("safety",), None),
        "chen": ((), 80.0),  # counted from the drill's start
    }
    assert (report.acknowledged, report.median_s, report.ended_at_ns) == (3, 42.0, T0 + 300 * S)
    with pytest.raises(LedgerError, match="closed"):
        ledger.acknowledge(number, by="zhao", ts_ns=T0 + 6 * 60 * S)
    assert escalate(ledger, number, T0 + 3600 * S) == []
    late = EscalationStep(1, "safety", ("li",), T0 + 3600 * S, repeat=1)
    with pytest.raises(LedgerError, match="escalation has stopped"):
        ledger.record_escalation(number, late, actor="gateway:gw01")


def test_a_drill_scheduled_ahead_starts_its_chain_at_its_time(ledger: Ledger) -> None:
    start = T0 + 3600 * S
    number = ledger.start_drill(
        title="Night drill", kind=Kind.GAS, by="li", ts_ns=T0, starts_at_ns=start
    ).number
    assert escalate(ledger, number, T0 + 60 * S) == []
    with pytest.raises(LedgerError, match="the drill starts at 2026-03-01T09:00"):
        ledger.acknowledge(number, by="wang", ts_ns=T0 + 60 * S)
    assert escalate(ledger, number, start) == ["wang"]


def test_a_drill_is_not_a_hazard_to_plan_or_close_as_rectified(ledger: Ledger) -> None:
    number = ledger.start_drill(title="Drill", kind=Kind.FIRE, by="li", ts_ns=T0).number
    with pytest.raises(LedgerError, match="it is a drill"):
        fill_plan(ledger, number, T0 + S)
    with pytest.raises(LedgerError, match="drill_ended"):
        ledger.close(number, by="li", ts_ns=T0 + S, reason="x", disposition=Disposition.RECTIFIED)
    real = finding(ledger)
    ledger.acknowledge(real, by=OWNER, ts_ns=T0 + S)
    with pytest.raises(LedgerError, match="closes drills only"):
        ledger.close(real, by="li", ts_ns=T0 + S, reason="x", disposition=Disposition.DRILL_ENDED)
    with pytest.raises(LedgerError, match="not a drill"):
        ledger.drill_report(real)


def test_the_site_time_zone_is_kept_for_the_cli(tmp_path: Path) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    Ledger(tmp_path / "ledger.sqlite", GW1, tz=shanghai).close_db()
    with Ledger.open_existing(tmp_path / "ledger.sqlite") as reopened:
        assert reopened.tz == shanghai


# ---- property: replay rebuilds everything ------------------------------------------------
ACTIONS = ["alarm", "ack", "plan", "rectify", "review", "verify", "reject", "close", "note",
           "deliver", "drill", "drill_ack", "escalate", "grade", "assign"]  # fmt: skip


def _play(ledger: Ledger, action: str, which: int, now: int) -> None:
    numbers = [h.number for h in ledger.hazards()] or ["YH-none"]
    number = numbers[which % len(numbers)]
    people = ["wang", "li", "zhao"]
    who = people[which % 3]
    do: dict[str, Callable[[], object]] = {
        "alarm": lambda: gas_alarm(ledger, device=f"gas-{which}", level=1 + which % 2, ts_ns=now),
        "ack": lambda: ledger.acknowledge(number, by=who, ts_ns=now),
        "plan": lambda: fill_plan(ledger, number, now),
        "rectify": lambda: ledger.rectify(number, by=who, ts_ns=now),
        "review": lambda: ledger.request_review(number, by=who, ts_ns=now, reason="done"),
        "verify": lambda: ledger.verify_rectification(number, by=who, ts_ns=now, opinion="ok"),
        "reject": lambda: ledger.reject(number, by=who, ts_ns=now, opinion="no"),
        "close": lambda: ledger.close(number, by=who, ts_ns=now, reason="done"),
        "note": lambda: ledger.note(number, text="n", by=who, ts_ns=now),
        "deliver": lambda: deliver(ledger, number, 1 + which, ok=which % 2 == 0, ts_ns=now),
        "drill": lambda: ledger.start_drill(title="d", kind=Kind.FIRE, by=who, ts_ns=now),
        "drill_ack": lambda: ledger.acknowledge(number, by=who, ts_ns=now),
        "escalate": lambda: escalate(ledger, number, now),
        "grade": lambda: ledger.change_grade(
            number, grade=Grade.MAJOR if which % 2 else Grade.GENERAL, basis="b", by=who, ts_ns=now
        ),
        "assign": lambda: ledger.assign(number, responsible=who, by="zhao", ts_ns=now),
    }
    do[action]()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 5), st.integers(0, 3)), max_size=30)
)
def test_replaying_the_ledger_rebuilds_the_closed_loop(ops: list[tuple[str, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite"
        live, now = Ledger(path, GW1), T0
        for action, which, hours in ops:
            now += hours * 3600 * S + S
            stored = len(live.events())
            try:
                _play(live, action, which, now)
            except LedgerError:
                assert len(live.events()) == stored  # a refused action leaves no trace
        expected = [h.to_json() for h in live.hazards()]
        with Ledger(path, GW1) as replayed:
            assert [h.to_json() for h in replayed.hazards()] == expected
            assert replayed.verify().ok
        live.close_db()


def test_the_whole_loop_shows_in_json(ledger: Ledger) -> None:
    number = finding(ledger, grade=Grade.MAJOR)
    drive(ledger, number, Status.VERIFIED)
    doc = ledger.hazard(number).to_json()
    assert doc["missing_five"] == []
    assert doc["five_in_place"] == {
        "measures": "Clear the exit, mark the floor", "funds": "CNY 800 from maintenance",
        "deadline": "2026-03-08T08:03:00.000000Z", "contingency": "Second exit signposted",
    }  # fmt: skip
    assert doc["remediation_plan"]["time_limit"] == "7 days"  # type: ignore[index]
    assert (doc["verified_by"], doc["review_requested_by"]) == (VERIFIER, OWNER)
    assert doc["first_acknowledged_at"] == "2026-03-01T08:02:00.000000Z"
    assert doc["status"] == "verified"
    assert DAY  # the deadline above is seven days after planning
