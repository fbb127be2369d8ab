"""A restart while an alarm stands: the alarm's state comes back from the ledger.

Found by the fault-injection soak (test_faults.py, the gateway SIGKILLed and restarted): the
restarted engine started every alarm at `normal`, so a gas head still over level 1 was recorded
again on its open entry, as an `occurrence` and a `normal -> unacknowledged` transition that never
happened. The ledger is the evidence of what happened, so it must not say that. The restarted
detector starts blind (on-delays and stale timers start over), so a restored alarm is held present
until the detector has had time to see it again; only then does a clear count.
"""

from __future__ import annotations

from pathlib import Path

from alerting.alarms import AlarmKey, AlarmState
from tests.soak.test_clock_jumps import T0, Site
from tests.unit.test_restart_resumes_escalation import delivered

S = 1_000_000_000
GAS = AlarmKey("kitchen-gas-1", "level1")


def transitions(site: Site) -> list[tuple[str, str]]:
    return [
        (str(e.payload["from"]), str(e.payload["to"]))
        for e in site.ledger.events()
        if e.type == "alarm_transition" and "kitchen-gas-1" in str(e.payload)
    ]


def restarted(before: Site, tmp_path: Path) -> Site:
    before.ledger.close_db()
    return Site(tmp_path)


def test_a_restart_does_not_record_a_standing_alarm_again(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.run(range(10))  # the kitchen gas head over level 1 from the start
    assert transitions(before) == [("normal", "unacknowledged")]
    after = restarted(before, tmp_path)  # the head still over level 1
    after.run(range(20, 30))
    assert transitions(after) == [("normal", "unacknowledged")]
    (hazard,) = after.ledger.hazards()
    assert hazard.occurrences == 1


def test_the_restored_alarm_is_shown_and_linked_to_its_entry(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.run(range(10))
    (hazard,) = before.ledger.hazards()
    after = restarted(before, tmp_path)
    alarm = after.engine.alarms.get(GAS)
    assert alarm is not None
    assert (alarm.state, alarm.hazard, alarm.active) == (AlarmState.UNACKED, hazard.number, True)


def test_an_acknowledgement_after_a_restart_reaches_the_restored_alarm(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.run(range(10))
    (hazard,) = before.ledger.hazards()
    after = restarted(before, tmp_path)
    after.engine.acknowledge(hazard.number, by="wang.lei", now_ns=T0 + 20 * S)
    assert transitions(after)[-1] == ("unacknowledged", "acknowledged")


def test_an_acknowledged_alarm_stays_acknowledged_across_a_restart(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.run(range(10))
    (hazard,) = before.ledger.hazards()
    before.engine.acknowledge(hazard.number, by="wang.lei", now_ns=T0 + 10 * S)
    after = restarted(before, tmp_path)
    after.run(range(20, 60))
    assert transitions(after) == [("normal", "unacknowledged"), ("unacknowledged", "acknowledged")]
    assert after.told == []  # nobody is called again


def test_a_condition_gone_during_the_downtime_clears_once_the_detector_has_looked(
    tmp_path: Path,
) -> None:
    before = Site(tmp_path)
    before.run(range(10))
    after = restarted(before, tmp_path)
    after.gas = 0.5  # the leak was stopped while the gateway was down
    after.run(range(20, 200))
    # gas alarms latch: cleared but unacknowledged, recorded once
    assert transitions(after) == [
        ("normal", "unacknowledged"),
        ("unacknowledged", "latched_unacknowledged"),
    ]


def test_a_restart_keeps_escalating_a_restored_alarm(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.run(range(10))  # duty officer told at 0 s
    delivered(before.ledger)
    after = restarted(before, tmp_path)
    after.run(range(10, 130))
    assert [name for _, name in after.told] == ["safety officer"]  # due 120 s after the first


def test_a_step_recorded_but_never_handed_to_a_channel_is_sent_again_after_a_restart(
    tmp_path: Path,
) -> None:
    before = Site(tmp_path)
    before.run(range(10))  # duty officer's step recorded; killed before any channel took it
    after = restarted(before, tmp_path)
    (again,) = after.run_notes(range(10, 11))
    assert (again.step_name, again.repeat) == ("duty officer", 0)
    assert "sent again after a restart" in again.reason
    assert after.run(range(11, 100)) == []  # once


def test_a_step_a_channel_tried_is_not_sent_again_after_a_restart(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.run(range(10))
    delivered(before.ledger)
    after = restarted(before, tmp_path)
    assert after.run(range(10, 100)) == []


def test_a_detector_out_of_service_stays_out_across_a_restart_with_who_and_why(
    tmp_path: Path,
) -> None:
    before = Site(tmp_path)
    before.gas = 0.5
    before.run(range(5))
    before.engine.remove_from_service(
        "kitchen-gas-1", by="li.na", owner="zhao.lei", reason="sensor head replaced",
        now_ns=T0 + 5 * S,
    )  # fmt: skip
    after = restarted(before, tmp_path)
    service = after.engine.alarms.out_of_service["kitchen-gas-1"]
    assert (service.by, service.owner, service.reason) == (
        "li.na",
        "zhao.lei",
        "sensor head replaced",
    )
    after.gas = 30.0  # the head reads over level 1 while nobody trusts it
    assert after.run(range(10, 60)) == []  # a coverage gap, not an alarm
    assert after.ledger.hazards() == []
    (record,) = [e for e in after.ledger.events() if e.type == "device_service"]
    assert (record.actor, record.payload["owner"]) == ("li.na", "zhao.lei")


def test_a_shelf_survives_a_restart_until_it_expires(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.gas = 0.5
    before.run(range(5))
    before.engine.shelve(
        "kitchen-gas-1", "level1", by="li.na", reason="calibration gas on the head",
        duration_s=60, now_ns=T0 + 5 * S,
    )  # fmt: skip
    after = restarted(before, tmp_path)
    after.gas = 30.0
    assert after.run(range(10, 60)) == []  # shelved: held back
    assert after.run(range(60, 75)) == ["duty officer"]  # expired at 65 s: annunciated anew


def test_returning_to_service_and_unshelving_are_remembered_too(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.gas = 0.5
    before.run(range(5))
    engine, now = before.engine, T0 + 5 * S
    engine.remove_from_service(
        "kitchen-gas-1", by="li.na", owner="zhao.lei", reason="x", now_ns=now
    )
    engine.return_to_service("kitchen-gas-1", by="li.na", now_ns=now)
    engine.shelve("kitchen-gas-1", "level1", by="li.na", reason="y", duration_s=600, now_ns=now)
    engine.unshelve("kitchen-gas-1", "level1", by="li.na", now_ns=now)
    after = restarted(before, tmp_path)
    assert after.engine.alarms.out_of_service == {}
    after.gas = 30.0
    assert after.run(range(10, 20)) == ["duty officer"]
