"""The engine's safety path on a fake clock: timing, test readings, people's overlays, the bus
fault's ledger entry, the health figures and start-up refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from alerting.alarms import AlarmKey, AlarmState
from alerting.ledger import Ledger
from drivers.base import DriverStatus
from gateway.config import parse_config
from gateway.engine import Engine
from gateway.errors import ConfigError
from gateway.model import Identity, Quality, ReadingBatch
from gateway.registry import Registry

EPOCH = 1_795_000_000 * 1_000_000_000
S = 1_000_000_000

BASE = """\
site: {id: t}
gateway: {id: gw01}
people: [{id: p1, name: P One}, {id: p2, name: P Two}]
zones: [{id: z1, name: Zone One, owner: p1}, {id: z2, name: Zone Two, owner: p2}]
drivers: [{type: sim, id: bus1}]
devices:
  - {id: gas-1, driver: bus1, zone: z1, class: combustible_gas, location: by the boiler}
  - {id: temp-1, driver: bus1, zone: z1, class: temperature}
escalation:
  levels: [{name: duty, recipients: [p1]}, {name: safety, recipients: [p2], delay_s: 60}]
"""


@contextmanager
def engine_for(state: Path, text: str = BASE) -> Iterator[Engine]:
    cfg = parse_config(text, "test.yaml").model_copy(update={"state_dir": state})
    ledger = Ledger(state / "ledger.sqlite", Identity(cfg.site.id, cfg.gateway.id))
    try:
        yield Engine(cfg, Registry.from_config(cfg), ledger, start_ns=EPOCH)
    finally:
        ledger.close_db()


def at(t_s: float) -> int:
    return EPOCH + round(t_s * S)


def reading(engine: Engine, device: str, value: float, t_s: float, q: int = 0) -> ReadingBatch:
    return ReadingBatch.of([engine.registry.by_device[device].index], [value], [at(t_s)], [q])


@pytest.mark.parametrize("offset_s", [0.0, 0.001, 0.4, 0.999])
def test_a_reading_crossing_level_2_is_an_alarm_event_within_one_tick(
    tmp_path: Path, offset_s: float
) -> None:
    """Ticks every second; the reading lands anywhere inside a tick; the level-2 event comes
    from the first step after it."""
    with engine_for(tmp_path) as e:
        e.step([reading(e, "gas-1", 0.0, 0)], at(0))
        crossing = 10 + offset_s
        pending = [reading(e, "gas-1", 55.0, crossing)]
        for k in range(1, 15):
            now = at(k)
            due = [b for b in pending if int(b.ts_ns[0]) <= now]
            pending = [b for b in pending if b not in due]
            result = e.step(due, now)
            events = [tr for tr, _ in result.transitions if tr.key.condition == "level2"]
            if events:
                assert events[0].after is AlarmState.UNACKED
                assert 0 <= (events[0].ts_ns - at(crossing)) / S <= 1.0
                return
        pytest.fail("no level-2 alarm")


def test_test_readings_never_make_a_hazard_and_are_marked_in_the_ledger(tmp_path: Path) -> None:
    with engine_for(tmp_path) as e:
        e.step([reading(e, "gas-1", 60.0, 1, Quality.TEST)], at(1))
        e.step([reading(e, "gas-1", 0.0, 2)], at(2))
        assert e.ledger.hazards() == []
        trail = [ev for ev in e.ledger.events() if ev.type == "alarm_transition"]
        assert {ev.payload["to"] for ev in trail} >= {"test", "test_active"}
        assert all(ev.number is None for ev in trail)
        assert any(ev.actor == "gateway:gw01/test:level2" for ev in trail)


def test_a_shelf_is_capped_and_always_expires(tmp_path: Path) -> None:
    with engine_for(tmp_path) as e:
        e.step([reading(e, "gas-1", 30.0, 1)], at(1))
        with pytest.raises(ValueError, match="at most"):
            e.shelve("gas-1", "level1", by="p1", reason="noisy", duration_s=9e9, now_ns=at(2))
        e.shelve("gas-1", "level1", by="p1", reason="noisy", duration_s=60, now_ns=at(2))
        key = AlarmKey("gas-1", "level1")
        assert e.alarms.get(key).state is AlarmState.SHELVED  # type: ignore[union-attr]
        e.step([reading(e, "gas-1", 30.0, 61)], at(61))
        assert e.alarms.get(key).state is AlarmState.SHELVED  # type: ignore[union-attr]
        result = e.step([reading(e, "gas-1", 30.0, 62)], at(62))
        [(tr, _)] = result.transitions
        assert (tr.before, tr.after) == (AlarmState.SHELVED, AlarmState.UNACKED)
        shelf_events = [ev for ev in e.ledger.events() if ev.type == "alarm_transition"]
        assert [ev.actor for ev in shelf_events][-2:] == ["p1", "gateway:gw01/shelf-expired"]


def test_out_of_service_is_recorded_with_its_owner_and_hides_the_alarms(tmp_path: Path) -> None:
    with engine_for(tmp_path) as e:
        e.step([], at(0))
        e.remove_from_service("gas-1", by="p1", owner="p2", reason="head swap", now_ns=at(1))
        e.step([reading(e, "gas-1", 60.0, 2)], at(2))
        assert e.ledger.hazards() == []
        assert e.alarms.out_of_service["gas-1"].owner == "p2"
        result = e.return_to_service("gas-1", by="p1", now_ns=at(3))
        assert {tr.key.condition for tr, _ in result.transitions} == {
            "service", "level1", "level2",
        }  # fmt: skip
        assert [h.level for h in e.ledger.hazards()] == [2]


def test_a_dead_bus_is_one_fault_entry_naming_the_bus(tmp_path: Path) -> None:
    text = BASE.replace("detection:", "x:") + "detection: {bus_fault_after_s: 10}\n"
    with engine_for(tmp_path, text) as e:
        down = {"bus1": DriverStatus(connected=False)}
        e.step([], at(0), down)
        assert e.ledger.hazards() == []  # a reconnect is not a fault yet
        e.step([], at(10), down)
        [hazard] = e.ledger.hazards()
        assert (hazard.dedup_key, hazard.kind.value, hazard.device) == (
            "bus:bus1:fault",
            "fault",
            None,
        )
        assert "2 devices" in hazard.title


def test_a_driver_that_says_nothing_is_not_a_dead_bus(tmp_path: Path) -> None:
    with engine_for(tmp_path) as e:
        for t in range(0, 100, 10):
            e.step([reading(e, "gas-1", 0.0, t), reading(e, "temp-1", 20.0 + t / 100, t)], at(t))
        assert e.ledger.hazards() == []


def test_every_step_returns_the_alarm_system_health(tmp_path: Path) -> None:
    with engine_for(tmp_path) as e:
        result = e.step([reading(e, "gas-1", 60.0, 1)], at(1))
        assert result.kpi is not None
        assert (result.kpi.alarms_per_window, result.kpi.annunciated) == (2, 2)
        assert result.kpi.unacknowledged == 2


def test_set_points_that_cannot_work_are_refused_at_start(tmp_path: Path) -> None:
    text = BASE + "detection:\n  zones:\n    z1:\n      combustible_gas: {level1: 60}\n"
    refusal = "level2 \\(50\\) is below level1 \\(60\\)"
    with pytest.raises(ConfigError, match=refusal) as refused:  # the loader refuses it
        parse_config(text, "test.yaml")
    assert [i.key for i in refused.value.issues] == ["devices[0].thresholds"]
    with pytest.raises(ConfigError, match=refusal), engine_for(tmp_path, text):
        pass


def test_an_on_delay_beyond_the_class_budget_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("class: temperature}", "class: temperature, thresholds: {on_delay_s: 30}}")
    with pytest.raises(ConfigError, match="budget"), engine_for(tmp_path, text):
        pass


def test_notifications_say_where_the_hazard_is(tmp_path: Path) -> None:
    with engine_for(tmp_path) as e:
        result = e.step([reading(e, "gas-1", 30.0, 1)], at(1))
        [note] = result.notifications
        assert (note.zone, note.device, note.location) == (
            "z1",
            "gas-1",
            "Zone One / by the boiler",
        )
        assert "GB/T 50493" in e.ledger.hazards()[0].basis


def test_a_reload_keeps_the_alarms_of_devices_that_stay(tmp_path: Path) -> None:
    with engine_for(tmp_path) as e:
        e.step([reading(e, "gas-1", 30.0, 1)], at(1))
        more = "  - {id: gas-2, driver: bus1, zone: z2, class: combustible_gas}\nescalation:"
        cfg = parse_config(BASE.replace("escalation:", more), "t.yaml")
        e.reload(Registry.from_config(cfg), at(2))
        result = e.step([reading(e, "gas-1", 30.0, 3)], at(3))
        assert [tr for tr, _ in result.transitions] == []  # nothing new, nothing lost
        assert e.alarms.get(AlarmKey("gas-1", "level1")).state is AlarmState.UNACKED  # type: ignore[union-attr]


def test_overrides_for_an_unknown_zone_are_refused(tmp_path: Path) -> None:
    text = BASE + "detection:\n  zones:\n    nowhere:\n      co: {level1: 30}\n"
    refused = pytest.raises(ConfigError, match="'nowhere' is not in zones")
    with refused as info, engine_for(tmp_path, text):
        pass
    assert info.value.issues[0].key == "detection.zones.nowhere"
