"""Escalation through the duty chain: timers derived from the ledger, nobody skipped, no repeats."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.escalation import EscalationLevel, EscalationPolicy, due_steps, next_due_ns
from alerting.hazards import EscalationState, EscalationStep, Grade, Hazard, Kind, Source, Status
from alerting.ledger import Ledger
from gateway.model import Identity

S = 1_000_000_000
T0 = 1_772_352_000 * S  # 2026-03-01T08:00:00Z
DUTY = EscalationLevel("duty", ("wang",), 0)
SUPERVISOR = EscalationLevel("supervisor", ("li", "chen"), 300)
MANAGER = EscalationLevel("manager", ("zhao",), 900)
POLICY = EscalationPolicy((DUTY, SUPERVISOR, MANAGER), repeat_s=600)


def make_hazard(start_level: int = 0, started_ns: int = T0) -> Hazard:
    return Hazard(
        number="YH-2026-demo-gw01-0001",
        title="Combustible gas leak in the kitchen",
        kind=Kind.GAS,
        grade=Grade.GENERAL,
        status=Status.REGISTERED,
        source=Source.MONITORING_ALARM,
        device="kitchen-gas-1",
        zone="kitchen",
        location="Kitchen",
        found_at_ns=started_ns,
        found_by="gateway:gw01/rule:level1",
        dedup_key="dev:kitchen-gas-1:gas",
        level=1,
        occurrences=1,
        peak_value=30.0,
        evidence={},
        acknowledged_at_ns=None,
        acknowledged_by=None,
        escalation=EscalationState(start_level, started_ns),
        events=[1],
    )


def run(hazard: Hazard, policy: EscalationPolicy, now_ns: int) -> list[EscalationStep]:
    """What the engine does each tick: take the due steps and record them (as replay would)."""
    steps = due_steps(hazard, policy, now_ns)
    hazard.escalation.steps.extend(steps)
    return steps


def levels(steps: list[EscalationStep]) -> list[tuple[int, int]]:
    return [(s.level, s.repeat) for s in steps]


# ---- the ladder -------------------------------------------------------------------------------
def test_the_start_level_is_due_at_registration() -> None:
    hazard = make_hazard()
    assert due_steps(hazard, POLICY, T0 - 1) == []
    assert due_steps(hazard, POLICY, T0) == [EscalationStep(0, "duty", ("wang",), T0, 0, 0)]


def test_each_level_waits_its_delay_after_the_previous_one_was_notified() -> None:
    hazard = make_hazard()
    run(hazard, POLICY, T0 + 7 * S)  # the tick came 7 s late: the ladder counts from then
    assert run(hazard, POLICY, T0 + 306 * S) == []
    assert levels(run(hazard, POLICY, T0 + 307 * S)) == [(1, 0)]
    assert next_due_ns(hazard, POLICY) == T0 + (307 + 900) * S
    assert levels(run(hazard, POLICY, T0 + 1207 * S)) == [(2, 0)]


def test_after_the_last_level_it_repeats_and_counts_the_repeats() -> None:
    hazard = make_hazard(start_level=2)
    assert levels(run(hazard, POLICY, T0)) == [(2, 0)]
    assert levels(run(hazard, POLICY, T0 + 600 * S)) == [(2, 1)]
    assert levels(run(hazard, POLICY, T0 + 1200 * S)) == [(2, 2)]


def test_without_repeat_the_ladder_ends_at_the_last_level() -> None:
    policy = EscalationPolicy((DUTY, SUPERVISOR))
    hazard = make_hazard()
    run(hazard, policy, T0)
    run(hazard, policy, T0 + 300 * S)
    assert next_due_ns(hazard, policy) is None
    assert run(hazard, policy, T0 + 10**6 * S) == []


def test_after_downtime_every_missed_level_is_returned_in_order_stamped_now() -> None:
    hazard = make_hazard()
    now = T0 + 10 * 3600 * S
    steps = run(hazard, POLICY, now)
    assert levels(steps) == [(0, 0), (1, 0), (2, 0)]  # no repeat on top of a fresh notification
    assert {s.ts_ns for s in steps} == {now}
    assert levels(run(hazard, POLICY, now + 3 * 3600 * S)) == [(2, 1)]  # missed repeats: one


def test_a_clock_that_stands_still_produces_no_duplicates() -> None:
    hazard = make_hazard()
    assert len(run(hazard, POLICY, T0)) == 1
    assert run(hazard, POLICY, T0) == []
    assert run(hazard, POLICY, T0 - 5 * S) == []  # nor one that steps back


def test_a_start_level_beyond_the_policy_means_the_top() -> None:
    hazard = make_hazard(start_level=7)
    assert levels(run(hazard, POLICY, T0)) == [(2, 0)]


@pytest.mark.parametrize("status", [Status.ACKNOWLEDGED, Status.CLOSED])
def test_acknowledged_or_closed_hazards_do_not_escalate(status: Status) -> None:
    hazard = make_hazard()
    hazard.status = status
    assert due_steps(hazard, POLICY, T0 + 10**6 * S) == []
    assert next_due_ns(hazard, POLICY) is None


@pytest.mark.parametrize(
    ("levels_", "repeat_s"),
    [((), None), ((EscalationLevel("x", ("a",), -1),), None), ((DUTY,), 0.0)],
)
def test_policies_that_cannot_work_are_refused(
    levels_: tuple[EscalationLevel, ...], repeat_s: float | None
) -> None:
    with pytest.raises(ValueError, match=r"level|repeat_s"):
        EscalationPolicy(levels_, repeat_s)


# ---- with the ledger: rounds, acknowledgement, restart --------------------------------------
@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite", Identity("demo", "gw01")) as opened:
        yield opened


def gas(ledger: Ledger, level: int, ts_ns: int, start_level: int | None = None) -> Hazard:
    hazard, _ = ledger.raise_alarm_hazard(
        dedup_key="dev:kitchen-gas-1:gas",
        kind=Kind.GAS,
        title="Combustible gas leak in the kitchen",
        grade=Grade.GENERAL,
        level=level,
        device="kitchen-gas-1",
        zone="kitchen",
        location="Kitchen",
        value=25.0 * level,
        condition=f"level{level}",
        actor=f"gateway:gw01/rule:level{level}",
        ts_ns=ts_ns,
        start_level=level - 1 if start_level is None else start_level,
    )
    return hazard


def tick(ledger: Ledger, number: str, now_ns: int) -> list[EscalationStep]:
    steps = due_steps(ledger.hazard(number), POLICY, now_ns)
    for step in steps:
        ledger.record_escalation(number, step, actor="gateway:gw01")
    return steps


def test_a_raised_start_level_is_due_at_once(ledger: Ledger) -> None:
    number = gas(ledger, 1, T0).number
    assert levels(tick(ledger, number, T0)) == [(0, 0)]
    gas(ledger, 2, T0 + 60 * S)  # gas level 2 starts at the supervisor
    raised = tick(ledger, number, T0 + 60 * S)
    assert [(s.level, s.round) for s in raised] == [(1, 1)]
    assert next_due_ns(ledger.hazard(number), POLICY) == T0 + (60 + 900) * S


def test_a_level_rise_after_acknowledgement_escalates_again(ledger: Ledger) -> None:
    number = gas(ledger, 1, T0).number
    tick(ledger, number, T0)
    ledger.acknowledge(number, by="wang", ts_ns=T0 + 30 * S)
    assert tick(ledger, number, T0 + 3600 * S) == []
    gas(ledger, 2, T0 + 3600 * S)
    assert levels(tick(ledger, number, T0 + 3600 * S)) == [(1, 0)]


def test_a_restarted_daemon_resumes_at_the_right_step(ledger: Ledger, tmp_path: Path) -> None:
    number = gas(ledger, 1, T0).number
    tick(ledger, number, T0)
    tick(ledger, number, T0 + 300 * S)
    with Ledger(tmp_path / "ledger.sqlite", Identity("demo", "gw01")) as restarted:
        hazard = restarted.hazard(number)
    assert next_due_ns(hazard, POLICY) == T0 + 1200 * S
    assert due_steps(hazard, POLICY, T0 + 1199 * S) == []
    assert levels(due_steps(hazard, POLICY, T0 + 1200 * S)) == [(2, 0)]


# ---- properties -------------------------------------------------------------------------------
policies = st.builds(
    lambda delays, repeat: EscalationPolicy(
        tuple(EscalationLevel(f"l{i}", (f"p{i}",), d) for i, d in enumerate(delays)), repeat
    ),
    st.lists(st.integers(0, 3600), min_size=1, max_size=5),
    st.one_of(st.none(), st.integers(1, 3600)),
)


def ladder_deadline(policy: EscalationPolicy, start_level: int) -> int:
    first = min(start_level, len(policy.levels) - 1)
    return T0 + sum(round(lv.delay_s) for lv in policy.levels[first + 1 :]) * S


@given(policies, st.integers(0, 6), st.lists(st.integers(0, 4 * 3600 * S), max_size=20))
def test_an_unacknowledged_hazard_reaches_the_last_level_within_the_sum_of_delays(
    policy: EscalationPolicy, start_level: int, other_ticks: list[int]
) -> None:
    """The engine wakes at each next_due_ns; extra ticks in between change nothing."""
    hazard, top = make_hazard(start_level), len(policy.levels) - 1
    deadline = ladder_deadline(policy, start_level)
    ticks = sorted(T0 + t for t in other_ticks)
    while not any(s.level == top for s in hazard.escalation.steps):
        wake = next_due_ns(hazard, policy)
        assert wake is not None
        now = min([wake, *ticks[:1]])
        ticks = [t for t in ticks if t > now]
        assert now <= deadline
        run(hazard, policy, now)
    reached = next(s for s in hazard.escalation.steps if s.level == top)
    assert reached.ts_ns <= deadline
    first = min(start_level, top)
    assert [s.level for s in hazard.escalation.steps] == list(range(first, top + 1))


@given(policies, st.integers(0, 6), st.integers(1, 120))
def test_with_a_periodic_tick_the_lag_is_at_most_one_tick_per_level(
    policy: EscalationPolicy, start_level: int, tick_s: int
) -> None:
    hazard, top = make_hazard(start_level), len(policy.levels) - 1
    now = T0
    while not any(s.level == top for s in hazard.escalation.steps):
        run(hazard, policy, now)
        now += tick_s * S
    reached = next(s for s in hazard.escalation.steps if s.level == top)
    assert reached.ts_ns <= ladder_deadline(policy, start_level) + len(policy.levels) * tick_s * S


@given(policies, st.integers(0, 6), st.integers(0, 10 * 3600))
def test_after_downtime_one_call_returns_the_whole_missed_ladder(
    policy: EscalationPolicy, start_level: int, extra_s: int
) -> None:
    hazard, top = make_hazard(start_level), len(policy.levels) - 1
    now = ladder_deadline(policy, start_level) + extra_s * S
    steps = due_steps(hazard, policy, now)
    assert [s.level for s in steps] == list(range(min(start_level, top), top + 1))
    assert all(s.ts_ns == now and s.repeat == 0 for s in steps)


@given(policies, st.lists(st.integers(0, 1200), max_size=40))
def test_no_step_is_returned_again_once_recorded(
    policy: EscalationPolicy, gaps_s: list[int]
) -> None:
    hazard, now = make_hazard(), T0
    for gap in gaps_s:  # gap 0: the clock stood still
        now += gap * S
        run(hazard, policy, now)
        assert due_steps(hazard, policy, now) == []
    keys = [(s.round, s.level, s.repeat) for s in hazard.escalation.steps]
    assert len(keys) == len(set(keys))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["tick", "tick", "tick", "raise", "ack", "restart"]),
                  st.integers(0, 900)),
        max_size=30,
    )
)  # fmt: skip
def test_no_step_is_recorded_twice_across_raises_acks_and_restarts(
    ops: list[tuple[str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, ident = Path(tmp) / "ledger.sqlite", Identity("demo", "gw01")
        ledger, now = Ledger(path, ident), T0
        number = gas(ledger, 1, now).number
        for action, gap in ops:
            now += gap * S
            if action == "restart":
                ledger.close_db()
                ledger = Ledger(path, ident)
            elif action == "raise":
                gas(ledger, 2, now)
            elif action == "ack" and ledger.hazard(number).status is Status.REGISTERED:
                ledger.acknowledge(number, by="wang", ts_ns=now)
            tick(ledger, number, now)  # record_escalation refuses any duplicate
            assert due_steps(ledger.hazard(number), POLICY, now) == []
        steps = ledger.hazard(number).escalation.steps
        ledger.close_db()
    keys = [(s.round, s.level, s.repeat) for s in steps]
    assert len(keys) == len(set(keys))
