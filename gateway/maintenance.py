"""Detector test and calibration due dates, and overdue ones as ledger entries.

Per device (config fields, all optional):
  last_tested: 2026-05-01        # the last function test (commissioning writes it)
  test_every_days: 90            # default: the class's, below
  last_calibrated: 2026-01-10
  calibrate_every_days: 365      # default: the class's; a class with none is never calibrated

A device without a `last_*` date has "no record": listed, never a ledger entry (a site that does
not keep these dates is not flooded). An overdue task becomes one ledger entry (kind fault,
source self_inspection) per device and task while that entry is open; `inspection` carries
"maintenance:<device>:<task>" so the next day's check finds it instead of adding another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from alerting.ledger import Hazard, Kind, Ledger
from alerting.vocabulary import Grade, Source
from gateway import provision
from gateway.config import DeviceConfig, HazgwConfig
from gateway.model import SensorClass

SOON_DAYS = 14  # "due soon": the next two weeks
MARK = "maintenance"
_GAS = (SensorClass.COMBUSTIBLE_GAS, SensorClass.CO, SensorClass.H2S, SensorClass.NH3,
        SensorClass.CL2, SensorClass.H2, SensorClass.OXYGEN)  # fmt: skip
# Function (bump) test: gas heads quarterly (unconfirmed: makers ask monthly to quarterly); smoke
# and heat detectors yearly (GB 25201-2010: every detector function-tested once a year).
TEST_EVERY_DAYS: dict[SensorClass, int] = dict.fromkeys(_GAS, 90) | {
    SensorClass.SMOKE: 365, SensorClass.TEMPERATURE: 365,
}  # fmt: skip
# Calibration: gas detectors yearly (JJG 693-2011: verification period at most one year);
# smoke and heat detectors are not field-calibrated (replaced at end of life instead).
CALIBRATE_EVERY_DAYS: dict[SensorClass, int] = dict.fromkeys(_GAS, 365)


class Device(Protocol):
    """What a due date needs of a device (gateway.config.DeviceConfig); the four maintenance
    fields are read when present."""

    @property
    def id(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def sensor_class(self) -> SensorClass: ...


class Task(StrEnum):
    TEST = "test"
    CALIBRATION = "calibration"


class DueState(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    NO_RECORD = "no_record"


@dataclass(frozen=True)
class Due:
    device: str
    zone: str
    location: str
    task: Task
    last: date | None
    every_days: int
    due_on: date | None
    state: DueState
    days_left: int | None  # negative: days overdue

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device, "zone": self.zone, "task": self.task.value,
            "last": _iso(self.last), "every_days": self.every_days, "due_on": _iso(self.due_on),
            "state": self.state.value, "days_left": self.days_left,
        }  # fmt: skip


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _field(dev: Device, name: str) -> Any:
    return getattr(dev, name, None)  # None until the config has the maintenance fields


def interval(dev: Device, task: Task) -> int | None:
    """Days between two of `task` for this device; None: never for its class."""
    own = _field(dev, "test_every_days" if task is Task.TEST else "calibrate_every_days")
    if own is not None:
        return int(own)
    table = TEST_EVERY_DAYS if task is Task.TEST else CALIBRATE_EVERY_DAYS
    return table.get(dev.sensor_class)


def _last(dev: Device, task: Task) -> date | None:
    value = _field(dev, "last_tested" if task is Task.TEST else "last_calibrated")
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def due_of(dev: Device, task: Task, today: date, soon_days: int = SOON_DAYS) -> Due | None:
    every = interval(dev, task)
    if every is None:
        return None
    last = _last(dev, task)
    if last is None:
        return Due(dev.id, dev.zone, dev.location, task, None, every, None, DueState.NO_RECORD,
                   None)  # fmt: skip
    due_on = last + timedelta(days=every)
    left = (due_on - today).days
    state = (
        DueState.OVERDUE if left < 0 else DueState.DUE_SOON if left <= soon_days else DueState.OK
    )
    return Due(dev.id, dev.zone, dev.location, task, last, every, due_on, state, left)


def schedule(devices: Iterable[Device], today: date, soon_days: int = SOON_DAYS) -> list[Due]:
    """Every task of every device in service, most urgent first."""
    out = [
        d
        for dev in devices
        if dev.enabled
        for task in Task
        if (d := due_of(dev, task, today, soon_days)) is not None
    ]
    order = {DueState.OVERDUE: 0, DueState.DUE_SOON: 1, DueState.NO_RECORD: 2, DueState.OK: 3}
    return sorted(out, key=lambda d: (order[d.state], d.days_left or 0, d.device, d.task.value))


def site_today(cfg: HazgwConfig, now_ns: int) -> date:
    return datetime.fromtimestamp(now_ns / 1e9, ZoneInfo(cfg.site.timezone)).date()


def mark(device: str, task: Task) -> str:
    return f"{MARK}:{device}:{task.value}"


def check_site(ledger: Ledger, cfg: HazgwConfig, now_ns: int, *, actor: str) -> list[Hazard]:
    """The daily check: each overdue test or calibration of the site registered once while its
    entry is open. Returns the new entries; calling it more often only finds the old ones."""
    rows = schedule(cfg.devices, site_today(cfg, now_ns))
    return record_overdue(ledger, rows, now_ns, actor=actor, owners=cfg_owners(cfg))


def cfg_owners(cfg: HazgwConfig) -> dict[str, str]:
    return {z.id: z.owner for z in cfg.zones}


def record_overdue(
    ledger: Ledger, rows: Iterable[Due], now_ns: int, *, actor: str,
    owners: Mapping[str, str] | None = None,
) -> list[Hazard]:  # fmt: skip
    """One entry (kind fault, source self_inspection) per overdue row not already open."""
    open_marks = {h.inspection for h in ledger.open_hazards() if h.inspection.startswith(MARK)}
    made: list[Hazard] = []
    for d in rows:
        if d.state is not DueState.OVERDUE or mark(d.device, d.task) in open_marks:
            continue
        open_marks.add(mark(d.device, d.task))
        what = "function test" if d.task is Task.TEST else "calibration"
        made.append(
            ledger.register_finding(
                title=f"Detector {what} overdue: {d.device}", kind=Kind.FAULT,
                grade=Grade.GENERAL, source=Source.SELF_INSPECTION,
                location=d.location or d.zone, zone=d.zone, found_by=actor, ts_ns=now_ns,
                description=f"last {what} {_iso(d.last)}, every {d.every_days} days: due "
                f"{_iso(d.due_on)}, {-(d.days_left or 0)} day(s) overdue",
                responsible=(owners or {}).get(d.zone), category=MARK,
                inspection=mark(d.device, d.task),
            )
        )  # fmt: skip
    return made


def can_record(field: str = "last_tested") -> bool:
    """Whether the config knows the maintenance fields (the loader refuses unknown keys)."""
    return field in DeviceConfig.model_fields


def record_done(
    path: Path, device_ids: Sequence[str], task: Task, day: date
) -> provision.Written | None:
    """Write `last_tested` / `last_calibrated` into the config file, keeping its comments;
    None when this config version has no such field (nothing is written)."""
    key = "last_tested" if task is Task.TEST else "last_calibrated"
    if not can_record(key) or not device_ids:
        return None

    def edit(root: Any) -> None:
        for device_id in device_ids:
            provision.set_dotted(provision.find_device(root, device_id), key, day)

    return provision.apply(path, edit)
