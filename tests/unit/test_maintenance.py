"""Detector test and calibration due dates, and overdue ones as ledger entries (once each)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from alerting.ledger import Ledger
from alerting.vocabulary import Kind, Source
from gateway.maintenance import (
    DueState,
    Task,
    check_site,
    due_of,
    record_overdue,
    schedule,
)
from gateway.model import Identity, SensorClass
from tests.unit.test_commission import config_in

TODAY = date(2026, 11, 22)
NOW_NS = 1_795_000_000 * 1_000_000_000


@dataclass(frozen=True)
class Dev:
    """A device as the config will hold it (gateway.config.DeviceConfig plus the four fields)."""

    id: str
    sensor_class: SensorClass
    zone: str = "z1"
    location: str = "by the door"
    enabled: bool = True
    last_tested: date | None = None
    test_every_days: int | None = None
    last_calibrated: date | None = None
    calibrate_every_days: int | None = None


def test_a_test_is_due_its_interval_after_the_last_one() -> None:
    dev = Dev("gas-1", SensorClass.COMBUSTIBLE_GAS, last_tested=date(2026, 9, 1))
    d = due_of(dev, Task.TEST, TODAY)
    assert d is not None
    assert (d.due_on, d.state, d.days_left) == (date(2026, 11, 30), DueState.DUE_SOON, 8)


def test_past_the_due_date_is_overdue_and_counts_the_days() -> None:
    dev = Dev("gas-1", SensorClass.COMBUSTIBLE_GAS, last_tested=date(2026, 1, 1),
              test_every_days=30)  # fmt: skip
    d = due_of(dev, Task.TEST, TODAY)
    assert d is not None
    assert (d.state, d.due_on, d.days_left) == (DueState.OVERDUE, date(2026, 1, 31), -295)


def test_well_before_the_due_date_is_ok() -> None:
    dev = Dev("s-1", SensorClass.SMOKE, last_tested=date(2026, 11, 1))
    d = due_of(dev, Task.TEST, TODAY)
    assert d is not None
    assert (d.every_days, d.state) == (365, DueState.OK)


def test_smoke_and_heat_detectors_have_no_calibration_gas_heads_do() -> None:
    assert due_of(Dev("s", SensorClass.SMOKE), Task.CALIBRATION, TODAY) is None
    assert due_of(Dev("t", SensorClass.TEMPERATURE), Task.CALIBRATION, TODAY) is None
    d = due_of(Dev("co", SensorClass.CO), Task.CALIBRATION, TODAY)
    assert d is not None
    assert (d.every_days, d.state) == (365, DueState.NO_RECORD)


def test_an_own_interval_wins_over_the_class_default() -> None:
    dev = Dev("s", SensorClass.SMOKE, calibrate_every_days=30, last_calibrated=date(2026, 11, 1))
    d = due_of(dev, Task.CALIBRATION, TODAY)
    assert d is not None
    assert d.due_on == date(2026, 12, 1)


def test_the_schedule_lists_overdue_first_and_skips_devices_out_of_service() -> None:
    devs = [
        Dev("ok", SensorClass.SMOKE, last_tested=date(2026, 11, 1)),
        Dev("late", SensorClass.SMOKE, last_tested=date(2024, 1, 1)),
        Dev("off", SensorClass.SMOKE, enabled=False, last_tested=date(2020, 1, 1)),
    ]
    rows = schedule(devs, TODAY)
    assert [(r.device, r.state) for r in rows] == [
        ("late", DueState.OVERDUE), ("ok", DueState.OK),
    ]  # fmt: skip


def test_overdue_tasks_become_one_fault_entry_each_while_open(tmp_path: Path) -> None:
    devs = [
        Dev("gas-1", SensorClass.COMBUSTIBLE_GAS, last_tested=date(2026, 1, 1),
            last_calibrated=date(2025, 1, 1)),
        Dev("s-1", SensorClass.SMOKE, last_tested=date(2026, 11, 1)),
        Dev("s-2", SensorClass.SMOKE),  # no record: listed, never an entry
    ]  # fmt: skip
    with Ledger(tmp_path / "ledger.sqlite", Identity("t", "gw01")) as ledger:
        rows = schedule(devs, TODAY)
        made = record_overdue(ledger, rows, NOW_NS, actor="gateway:gw01/maintenance",
                              owners={"z1": "p1"})  # fmt: skip
        assert sorted(h.inspection for h in made) == [
            "maintenance:gas-1:calibration", "maintenance:gas-1:test",
        ]  # fmt: skip
        h = made[0]
        assert (h.kind, h.source, h.zone, h.responsible) == (
            Kind.FAULT, Source.SELF_INSPECTION, "z1", "p1",
        )  # fmt: skip
        assert "overdue" in h.title
        assert record_overdue(ledger, rows, NOW_NS + 86_400 * 10**9, actor="x") == []
        assert len(ledger.hazards()) == 2


def test_a_closed_entry_lets_the_next_check_register_it_again(tmp_path: Path) -> None:
    devs = [Dev("s-1", SensorClass.SMOKE, last_tested=date(2024, 1, 1))]
    with Ledger(tmp_path / "ledger.sqlite", Identity("t", "gw01")) as ledger:
        [first] = record_overdue(ledger, schedule(devs, TODAY), NOW_NS, actor="p1")
        ledger.acknowledge(first.number, by="p1", ts_ns=NOW_NS + 1)
        ledger.close(first.number, by="p1", ts_ns=NOW_NS + 1, reason="tested on the spot")
        [again] = record_overdue(ledger, schedule(devs, TODAY), NOW_NS + 2, actor="p1")
        assert again.number != first.number


def test_the_daily_check_on_a_config_without_dates_registers_nothing(tmp_path: Path) -> None:
    cfg = config_in(tmp_path)
    with Ledger(tmp_path / "ledger.sqlite", Identity(cfg.site.id, cfg.gateway.id)) as ledger:
        assert check_site(ledger, cfg, NOW_NS, actor="gateway:gw01/maintenance") == []


@pytest.mark.parametrize("cls", list(SensorClass))
def test_every_class_has_a_test_interval(cls: SensorClass) -> None:
    d = due_of(Dev("x", cls), Task.TEST, TODAY)
    assert d is not None
    assert d.every_days > 0
