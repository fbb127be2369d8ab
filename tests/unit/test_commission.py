"""Commissioning through the real chain on a real ledger: test readings -> detection in the
test state -> a drill notification on each channel -> acknowledgement -> evidence. Channels here
are the log channel and a recording notifier (the daemon's own local channel type)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from alerting.alarms import AlarmState
from alerting.ledger import Grade, Kind, Ledger
from alerting.notify.log import RecordingNotifier
from alerting.presets import PRESETS
from gateway.clock import SystemClock
from gateway.commission import (
    CommissionError,
    DeviceResult,
    Session,
    normal_value,
    notification_is_commissioning,
    trigger_value,
)
from gateway.config import HazgwConfig, parse_config
from gateway.model import Identity, SensorClass

BASE = """\
site: {id: t}
gateway: {id: gw01}
people: [{id: p1, name: P One}, {id: p2, name: P Two}]
zones: [{id: z1, name: Zone One, owner: p1}]
drivers: [{type: sim, id: bus1}]
devices:
  - {id: gas-1, driver: bus1, zone: z1, class: combustible_gas, location: by the boiler}
  - {id: smoke-1, driver: bus1, zone: z1, class: smoke}
  - {id: temp-1, driver: bus1, zone: z1, class: temperature, enabled: false}
detection: {tick_s: 0.02}
escalation:
  levels: [{name: duty, recipients: [p1]}, {name: safety, recipients: [p2], delay_s: 60}]
notify:
  channels: [{type: log}, {type: log, name: faults-only, kinds: [fault]}]
"""


# A real alarm in another zone than the detector under test (z2).
TWO_ZONES = BASE.replace(
    "zones: [{id: z1, name: Zone One, owner: p1}]",
    "zones: [{id: z1, name: Zone One, owner: p1}, {id: z2, name: Zone Two, owner: p2}]",
)


def config_in(tmp_path: Path, text: str = BASE) -> HazgwConfig:
    cfg = parse_config(text, "test.yaml")
    return cfg.model_copy(update={"state_dir": tmp_path / "state"})


def run(cfg: HazgwConfig, ids: list[str], **kw: object) -> list[DeviceResult]:
    session = Session(cfg, SystemClock(), by="p2", timeout_s=5, **kw)  # type: ignore[arg-type]
    return asyncio.run(session.run(ids))


def ledger_of(cfg: HazgwConfig) -> Ledger:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    return Ledger(cfg.state_dir / "ledger.sqlite", Identity(cfg.site.id, cfg.gateway.id))


@pytest.mark.parametrize("cls", list(SensorClass))
def test_the_test_value_passes_the_highest_set_point_inside_the_range(cls: SensorClass) -> None:
    p = PRESETS[cls]
    v = trigger_value(cls, p)
    highs = [x for x in (p.level1, p.level2, p.high_high) if not math.isnan(x)]
    if highs:
        assert max(highs) < v <= p.range_max
    else:
        assert p.range_min <= v < min(x for x in (p.low, p.low_low) if not math.isnan(x))
    n = normal_value(p)
    assert p.range_min <= n < min(highs or [math.inf])
    assert all(n > x for x in (p.low, p.low_low) if not math.isnan(x))


def test_a_device_passes_with_test_alarms_drill_ack_and_evidence(tmp_path: Path) -> None:
    cfg = config_in(tmp_path)
    recorder = RecordingNotifier()
    [r] = run(cfg, ["gas-1"], extra=[recorder])
    assert r.passed, r.problems
    assert r.detected == ["level1", "level2"]
    assert [(c.channel, c.ok, c.skipped) for c in r.channels] == [
        ("log", True, False), ("faults-only", True, True), ("recording", True, False),
    ]  # fmt: skip
    [note] = recorder.sent
    assert note.drill
    assert notification_is_commissioning(note)
    # gas level 2 starts one rung up the ladder (the site's default start levels)
    assert (note.kind, note.level, note.recipients) == ("gas", 2, ("p2",))
    with ledger_of(cfg) as ledger:
        [drill] = ledger.hazards()  # the drill only: the test raised no hazard
        assert (drill.number, drill.drill, drill.kind) == (r.number, True, Kind.GAS)
        assert drill.status.value == "closed"
        assert drill.disposition is not None
        assert drill.drill_acks.keys() == {"p2"}
        assert "PASS" in drill.notes[0].text
        assert "log delivered" in drill.notes[0].text
        assert {d.channel for d in drill.deliveries if d.ok} == {"log", "recording"}
        trail = [e for e in ledger.events() if e.type == "alarm_transition"]
        assert all(e.number is None for e in trail)
        states = [(e.payload["condition"], e.payload["to"]) for e in trail]
        assert ("level2", AlarmState.TEST_ACTIVE.value) in states
        assert states[-1][1] == AlarmState.NORMAL.value  # the test ended


def test_every_device_commissions_in_one_run(tmp_path: Path) -> None:
    cfg = config_in(tmp_path)
    results = run(cfg, ["gas-1", "smoke-1"])
    assert [(r.device, r.passed) for r in results] == [("gas-1", True), ("smoke-1", True)]
    assert results[1].detected == ["level1"]


def test_a_device_out_of_service_fails_and_says_so(tmp_path: Path) -> None:
    [r] = run(config_in(tmp_path), ["temp-1"])
    assert not r.passed
    assert r.problems == ["out of service (enabled: false): enable it first"]
    assert r.number is None


def test_unknown_devices_and_channels_are_refused_before_anything_is_recorded(
    tmp_path: Path,
) -> None:
    cfg = config_in(tmp_path)
    with pytest.raises(CommissionError, match="no device nope"):
        run(cfg, ["nope"])
    with pytest.raises(CommissionError, match=r"no channel sms in notify.channels \(have: "):
        run(cfg, ["gas-1"], channels=["sms"])
    assert not (cfg.state_dir / "ledger.sqlite").exists()


def test_only_the_named_channel_is_tried(tmp_path: Path) -> None:
    [r] = run(config_in(tmp_path), ["gas-1"], channels=["faults-only"])
    assert [(c.channel, c.skipped) for c in r.channels] == [("faults-only", True)]


def test_commissioning_never_escalates_a_real_entry_of_the_daemon(tmp_path: Path) -> None:
    cfg = config_in(tmp_path.joinpath("two-zones"), TWO_ZONES)
    with ledger_of(cfg) as ledger:
        real, _ = ledger.raise_alarm_hazard(
            dedup_key="dev:gas-1:gas", kind=Kind.GAS, title="real gas", grade=Grade.GENERAL,
            level=1, device="gas-1", zone="z2", location="x", value=30.0, condition="level1",
            actor="gateway:gw01/rule", ts_ns=SystemClock().wall_ns() - 10**12, start_level=0,
        )  # fmt: skip
        before = len(ledger.events(real.number))
    run(cfg, ["smoke-1"])
    with ledger_of(cfg) as ledger:
        assert len(ledger.events(real.number)) == before


def test_a_zone_with_an_unacknowledged_alarm_is_not_commissioned(tmp_path: Path) -> None:
    """The commissioning silences the zone at its end: never while a real alarm holds it."""
    cfg = config_in(tmp_path)
    with ledger_of(cfg) as ledger:
        real, _ = ledger.raise_alarm_hazard(
            dedup_key="dev:gas-1:gas", kind=Kind.GAS, title="real gas", grade=Grade.GENERAL,
            level=1, device="gas-1", zone="z1", location="x", value=30.0, condition="level1",
            actor="gateway:gw01/rule", ts_ns=SystemClock().wall_ns(), start_level=0,
        )  # fmt: skip
    [r] = run(cfg, ["smoke-1"])
    assert r.problems == [
        f"zone z1 has an unacknowledged alarm {real.number}: commission after it is acknowledged"
    ]
    with ledger_of(cfg) as ledger:
        assert [h.number for h in ledger.hazards()] == [real.number]  # no drill was started
