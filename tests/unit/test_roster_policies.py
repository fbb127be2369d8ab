"""Escalation policies per alarm kind and grade, with recipients that are roster roles resolved
when the notification is due, and level-2 gas and fire starting higher up the chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerting.escalation import (
    EscalationLevel,
    EscalationPolicy,
    PolicyBook,
    PolicyRule,
    due_steps,
)
from alerting.ledger import Ledger
from alerting.roster import DUTY_OFFICER, LEADER_ON_DUTY, Roster, Shift, parse_days
from alerting.vocabulary import Grade
from tests.unit.test_ledger_fixtures import GW1, T0, S, gas_alarm

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAILY = parse_days(["daily"])
ROSTER = Roster(
    (
        Shift(DUTY_OFFICER, "wang", DAILY, time(8), time(20)),
        Shift(DUTY_OFFICER, "li", DAILY, time(20), time(8)),
        Shift(LEADER_ON_DUTY, "chen", DAILY, time(8), time(8)),
    ),
    tz=SHANGHAI,
)
# T0 is 16:00 in Shanghai: the day shift; the night shift starts four hours later.
NIGHT = T0 + 4 * 3600 * S
ON_DUTY = EscalationPolicy(
    (
        EscalationLevel("duty officer", (DUTY_OFFICER,), 0),
        EscalationLevel("leader on duty", (LEADER_ON_DUTY, "safety.office"), 300),
        EscalationLevel("principal", ("zhang",), 600),
    ),
    repeat_s=900,
)
MAJOR_GAS = EscalationPolicy(
    (EscalationLevel("everyone", (DUTY_OFFICER, LEADER_ON_DUTY, "zhang"), 0),)
)
BOOK = PolicyBook(
    default=ON_DUTY,
    start_level={"fire": 1, "gas_level2": 1},
    rules=(PolicyRule(MAJOR_GAS, kinds=frozenset({"gas"}), grades=frozenset({"major"})),),
)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite", GW1) as opened:
        yield opened


def test_roles_are_resolved_when_the_step_falls_due(ledger: Ledger) -> None:
    day = gas_alarm(ledger, ts_ns=T0)
    (first,) = due_steps(ledger.hazard(day), ON_DUTY, T0, resolve=ROSTER.resolve)
    assert first.recipients == ("wang",)
    ledger.record_escalation(day, first, actor="gateway:gw01")
    (second,) = due_steps(ledger.hazard(day), ON_DUTY, T0 + 300 * S, resolve=ROSTER.resolve)
    assert second.recipients == ("chen", "safety.office")  # roles and people mixed
    night = gas_alarm(ledger, device="store-gas-1", ts_ns=NIGHT)
    (step,) = due_steps(ledger.hazard(night), ON_DUTY, NIGHT, resolve=ROSTER.resolve)
    assert step.recipients == ("li",)  # who holds the role at notification time


def test_without_a_roster_recipients_are_passed_on_as_written(ledger: Ledger) -> None:
    number = gas_alarm(ledger, ts_ns=T0)
    (step,) = due_steps(ledger.hazard(number), ON_DUTY, T0)
    assert step.recipients == (DUTY_OFFICER,)


def test_the_responsible_role_is_the_entrys_responsible_person(ledger: Ledger) -> None:
    policy = EscalationPolicy((EscalationLevel("owner", ("responsible", DUTY_OFFICER), 0),))
    number = gas_alarm(ledger, ts_ns=T0, responsible="zone.owner")
    (step,) = due_steps(ledger.hazard(number), policy, T0, resolve=ROSTER.resolve)
    assert step.recipients == ("zone.owner", "wang")


def test_policies_are_chosen_by_kind_and_grade() -> None:
    assert BOOK.rule_for("gas", "major").policy is MAJOR_GAS
    assert BOOK.rule_for("gas", "general").policy is ON_DUTY
    assert BOOK.rule_for("fire", "major").policy is ON_DUTY


@pytest.mark.parametrize(
    ("kind", "grade", "key", "start"),
    [
        ("gas", "general", "gas_level1", 0),
        ("gas", "general", "gas_level2", 1),  # level-2 gas skips the first rung
        ("fire", "major", "fire", 1),
        ("gas", "major", "gas_level2", 0),  # clamped to the one-level major-gas chain
        ("fault", "general", "fault", 0),
    ],
)
def test_level_two_gas_and_fire_start_higher(kind: str, grade: str, key: str, start: int) -> None:
    assert BOOK.start_level_for(kind, grade, key) == start


def test_a_major_gas_hazard_follows_its_own_policy(ledger: Ledger) -> None:
    number = gas_alarm(ledger, ts_ns=T0, grade=Grade.MAJOR)
    hazard = ledger.hazard(number)
    (step,) = due_steps(hazard, BOOK.policy_for(hazard), T0, resolve=ROSTER.resolve)
    assert (step.name, step.recipients) == ("everyone", ("wang", "chen", "zhang"))
