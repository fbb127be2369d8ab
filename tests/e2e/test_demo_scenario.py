"""The demo scenario end to end, on a fast-forwarding event loop (looptime): no real sleeping.

The whole daemon runs — sim driver, detection, alarm states, ledger, escalation, notifiers,
outbox — for the scenario's 20 minutes of loop time, and we check what a safety officer would
find afterwards.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from alerting.hazards import Hazard
from gateway.app import Gateway
from gateway.clock import LoopClock
from tests.e2e.demo_run import EPOCH_NS, Run, S, run_demo
from tests.schema_doc import field_type, load_schema, parse_line


@pytest.fixture(scope="module")
def unattended(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Nobody acknowledges anything: the escalation runs its whole course."""
    return run_demo(tmp_path_factory.mktemp("unattended"))


def seconds(h: Hazard, ts_ns: int) -> float:
    return (ts_ns - EPOCH_NS) / S


def by_kind(run: Run) -> dict[tuple[str, str | None], Hazard]:
    return {(h.kind.value, h.device if h.kind.value != "fire" else h.zone): h for h in run.hazards}


def test_the_ledger_holds_exactly_the_scenarios_hazards(unattended: Run) -> None:
    assert sorted(by_kind(unattended)) == [
        ("fault", "corridor-temp-1"),  # its value froze
        ("fault", "office-smoke-2"),  # it went silent
        ("fire", "store"),
        ("gas", "kitchen-gas-1"),
    ]
    numbers = [h.number for h in unattended.hazards]
    assert numbers == [f"YH-2026-demo-gw01-{n:04d}" for n in range(1, 5)]


def test_the_kitchen_leak_is_one_hazard_raised_from_level_1_to_level_2(unattended: Run) -> None:
    gas = by_kind(unattended)[("gas", "kitchen-gas-1")]
    assert gas.level == 2
    assert gas.occurrences == 2  # level 1, then level 2
    assert 335 <= seconds(gas, gas.found_at_ns) <= 350  # 25 %LEL at ~343 s
    assert gas.peak_value is not None
    assert 55 <= gas.peak_value <= 65
    assert gas.grade.value == "general"


def test_the_store_fire_is_one_hazard_confirmed_by_heat_and_smoke(unattended: Run) -> None:
    fire = by_kind(unattended)[("fire", "store")]
    assert fire.grade.value == "major"
    assert fire.occurrences == 2
    assert fire.evidence["devices"] == ["store-smoke-1", "store-temp-1"]
    # Rate of rise (10 °C/min against 8.3) is seen within a minute of the fire's start at 600 s,
    # before the smoke detector at 720 s.
    assert 600 < seconds(fire, fire.found_at_ns) < 660


def test_faults_are_found_for_the_silent_and_the_frozen_detector(unattended: Run) -> None:
    hazards = by_kind(unattended)
    silent, frozen = hazards[("fault", "office-smoke-2")], hazards[("fault", "corridor-temp-1")]
    assert 535 <= seconds(silent, silent.found_at_ns) <= 545  # last reading 415 s + 120 s
    assert 530 <= seconds(frozen, frozen.found_at_ns) <= 545  # frozen at 300 s + 240 s


def steps_of(h: Hazard) -> list[tuple[str, float]]:
    return [(s.name, seconds(h, s.ts_ns)) for s in h.escalation.steps]


def test_unacknowledged_hazards_climb_the_duty_chain_at_the_configured_delays(
    unattended: Run,
) -> None:
    hazards = by_kind(unattended)
    gas_hazard = hazards[("gas", "kitchen-gas-1")]
    gas = steps_of(gas_hazard)
    rounds = [s.round for s in gas_hazard.escalation.steps]
    # Level 1 starts with the duty officer; level 2 (~510 s) starts a new round one rung up.
    assert [name for name, _ in gas] == [
        "duty officer", "safety officer",
        "safety officer", "principal responsible person", "supervising office",
    ]  # fmt: skip
    assert rounds == [0, 0, 1, 1, 1]
    gaps = [round(b - a) for (_, a), (_, b) in itertools.pairwise(gas)]
    assert gaps[0] == 120
    assert gaps[2:] == [180, 300]
    assert 505 <= gas[2][1] <= 515
    fire = steps_of(hazards[("fire", "store")])
    assert [name for name, _ in fire] == [
        "safety officer", "principal responsible person", "supervising office",
    ]  # fire starts one rung up  # fmt: skip
    fault = steps_of(hazards[("fault", "office-smoke-2")])
    assert [name for name, _ in fault][:3] == [
        "duty officer", "safety officer", "principal responsible person",
    ]  # fmt: skip


def test_every_escalation_step_was_notified_and_the_level_rise_was_told(unattended: Run) -> None:
    steps = sum(len(h.escalation.steps) for h in unattended.hazards)
    escalations = [n for n in unattended.notes if n.step >= 0]
    assert len(escalations) == steps
    raised = [n for n in unattended.notes if n.step < 0]
    # The duty officer hears of level 2 at once; the safety officer through the new round.
    assert [(n.kind, n.recipients) for n in raised] == [("gas", ("wang.wei",))]


def test_the_outbox_holds_every_reading_the_scenario_produced(unattended: Run) -> None:
    assert unattended.produced == len(unattended.readings_in_outbox)
    # 13 sensors at 0, 5, ... 1200 s, less the silent detector's samples from 420 s on
    assert unattended.produced == 13 * 241 - (241 - 84)
    series_times = [
        ln.rsplit(" ", 1)[1] + ln.split(" ", 1)[0] for ln in unattended.readings_in_outbox
    ]
    assert len(set(series_times)) == len(series_times)  # no reading twice


def test_alarm_and_ledger_events_are_queued_for_influxdb(unattended: Run) -> None:
    kinds = {ln.split(",", 1)[0] for ln in unattended.events_in_outbox}
    assert kinds == {"alarm_event", "ledger_event"}
    registered = [ln for ln in unattended.events_in_outbox if ",type=registered" in ln]
    assert len(registered) == 4


def test_an_acknowledgement_stops_the_escalation_until_the_level_rises(tmp_path: Path) -> None:
    async def duty_officer(gateway: Gateway, clock: LoopClock) -> None:
        await clock.sleep(400)  # gas level 1 was raised at ~343 s and told to the duty officer
        await gateway.acknowledge("YH-2026-demo-gw01-0001", by="wang.wei", reason="on my way")

    run = run_demo(tmp_path, duty_officer)
    gas = by_kind(run)[("gas", "kitchen-gas-1")]
    names = [name for name, _ in steps_of(gas)]
    # Level 2 at ~510 s re-arms escalation from the level-2 start (safety officer) onwards.
    assert names[0] == "duty officer"
    assert names[1:] == ["safety officer", "principal responsible person", "supervising office"]
    assert seconds(gas, gas.escalation.steps[1].ts_ns) > 505


def test_everything_written_is_described_in_the_schema_document(unattended: Run) -> None:
    schema = load_schema()
    undescribed: set[str] = set()
    lines = unattended.telemetry_in_outbox + unattended.events_in_outbox
    assert {ln.split(",", 1)[0] for ln in lines} >= {"gateway_health", "alarm_event", "co"}
    for line in lines:
        point = parse_line(line)
        m = schema.get(point.measurement)
        if m is None:
            undescribed.add(point.measurement)
            continue
        undescribed |= {f"{point.measurement} tag {t}" for t in point.tags if t not in m.tags}
        undescribed |= {
            f"{point.measurement} field {f} ({field_type(v)})"
            for f, v in point.fields.items()
            if m.fields.get(f) != field_type(v)
        }
    assert undescribed == set()


def test_every_escalation_step_has_its_deliveries_recorded_in_the_ledger(unattended: Run) -> None:
    """Who was told what, when, on which channel: the audit trail of each notification."""
    for hazard in unattended.hazards:
        delivered = {(d.channel, d.step, d.round, d.repeat) for d in hazard.deliveries if d.ok}
        for step in hazard.escalation.steps:
            for channel in ("log", "recording"):
                assert (channel, step.level, step.round, step.repeat) in delivered, (
                    hazard.number, channel, step,
                )  # fmt: skip
