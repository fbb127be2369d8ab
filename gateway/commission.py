"""Commissioning: a test alarm fired end to end through the site's real chain, and its evidence.

It runs in this process against the real configuration, not through the daemon: a detector is
commissioned when it is installed, often before the daemon runs, and the chain is the daemon's
own parts (Registry, Engine, the site's ledger in state_dir, the notify pipeline built from the
config's channels). Steps, per device:

  test readings (Quality.TEST, above the highest set point) -> Engine -> the device's alarms go
  to `test_active`, recorded in the ledger with no hazard -> a drill entry titled
  "Commissioning test of ..." -> a notification marked as a drill on every configured channel
  (each attempt recorded) -> acknowledged by the technician -> the test ends (a normal reading)
  -> a ledger note with the evidence (who, when, device, detection, each channel's outcome), and
  the drill is ended with PASS or FAIL.

The engine here escalates only its own commissioning drills: the daemon owns every other entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from alerting.alarms import AlarmState
from alerting.ledger import Hazard, Kind, Ledger, LedgerEvent
from alerting.notify import Notification, Notifier
from alerting.notify.build import build_pipeline
from alerting.notify.config import GroupingConfig
from alerting.notify.pipeline import NotifyPipeline
from alerting.presets import Preset
from alerting.records import DeliveryAttempt
from alerting.rules import FAULTS, Condition, meaning
from alerting.vocabulary import iso_utc
from gateway.clock import Clock
from gateway.config import DeviceConfig, HazgwConfig
from gateway.engine import Engine, StepResult
from gateway.model import Identity, Quality, ReadingBatch, SensorClass
from gateway.registry import Registry, Sensor

TITLE = "Commissioning test of "
EXTRA_STEPS = 3  # ticks past the on-delay before a missing test alarm counts as a failure
POLL_S = 0.05
# Commissioning proves channels, not grouping: every notification goes out at once.
NO_GROUPING = GroupingConfig(window_s=0.001, wait_s=0.0)


class CommissionError(Exception):
    """The request cannot run (unknown device or channel); nothing was recorded."""


@dataclass(frozen=True)
class ChannelOutcome:
    channel: str
    ok: bool
    detail: str
    attempts: int = 0
    skipped: bool = False  # the channel does not carry this kind of alarm (its `kinds`)

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "ok": self.ok, "detail": self.detail,
                "attempts": self.attempts, "skipped": self.skipped}  # fmt: skip


@dataclass
class DeviceResult:
    device: str
    by: str
    ts_ns: int
    number: str | None = None  # the commissioning drill's ledger number
    test_value: float | None = None
    detected: list[str] = field(default_factory=list)  # conditions seen in test_active
    channels: list[ChannelOutcome] = field(default_factory=list)
    acknowledged: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device, "passed": self.passed, "by": self.by, "at": iso_utc(self.ts_ns),
            "number": self.number, "test_value": self.test_value, "detected": self.detected,
            "acknowledged": self.acknowledged, "problems": self.problems,
            "channels": [c.to_json() for c in self.channels],
        }  # fmt: skip

    def evidence(self) -> str:
        """The ledger note: one line a person or an auditor reads."""
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.problems)
        seen = ", ".join(self.detected) or "nothing"
        chans = "; ".join(f"{c.channel} {c.detail}" for c in self.channels) or "none"
        return (
            f"commissioning of {self.device} by {self.by} at {iso_utc(self.ts_ns)}: {verdict}. "
            f"Test value {self.test_value:g} -> test_active: {seen} (no hazard raised). "
            f"Channels: {chans}. Acknowledged: {'yes' if self.acknowledged else 'no'}."
        )


def is_commissioning(h: Hazard) -> bool:
    return h.drill and h.title.startswith(TITLE)


class CommissionEngine(Engine):
    """The daemon's engine, escalating only commissioning drills (never a real entry twice)."""

    def _restore(
        self, now_ns: int, hazards: Sequence[Hazard], events: Sequence[LedgerEvent]
    ) -> None:
        return  # the daemon's standing alarms stay the daemon's: this engine only tests

    def _undelivered(self, now_ns: int, hazards: Sequence[Hazard]) -> list[Notification]:
        return []  # the daemon's calls are the daemon's

    def _escalate(self, now_ns: int, out: StepResult, mono_ns: int | None = None) -> None:
        self._escalating = {n for n in self._escalating if is_commissioning(self.ledger.hazard(n))}
        super()._escalate(now_ns, out, mono_ns)

    def _escalate_deadlines(self, now_ns: int, out: StepResult) -> None:
        return  # overdue rectifications are the daemon's


# --- test values ---------------------------------------------------------------------------


def _used(*values: float) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def trigger_value(cls: SensorClass, p: Preset) -> float:
    """A value past the highest set point (a low-side-only class: below the lowest)."""
    if cls is SensorClass.SMOKE:
        return 1.0  # the detector's own alarm flag
    highs = _used(p.level1, p.level2, p.high_high) or [b for b, _m in p.co_dose]
    if highs:
        top = max(highs)
        return min(p.range_max, top + max(p.deadband, abs(top) * 0.1, 0.1))
    low = min(_used(p.low, p.low_low))
    return max(p.range_min, low - max(p.deadband, abs(low) * 0.1, 0.1))


def normal_value(p: Preset) -> float:
    """A value with no alarm: between the low and high set points, else the range's floor."""
    highs, lows = _used(p.level1, p.level2, p.high_high), _used(p.low, p.low_low)
    if lows and highs:
        return (max(lows) + min(highs)) / 2
    if lows:
        return max(lows) + max(p.deadband, 1.0)
    return max(p.range_min, 0.0) if math.isfinite(p.range_min) else 0.0


# --- the session -----------------------------------------------------------------------------


class _Deliveries:
    """The pipeline's `record`: each attempt goes to the ledger and is kept for the verdict."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.seen: dict[tuple[str, str], list[tuple[bool, bool, str]]] = {}

    async def __call__(self, attempt: DeliveryAttempt) -> None:
        self.ledger.record_delivery(attempt)
        tries = self.seen.setdefault((attempt.number, attempt.channel), [])
        tries.append((attempt.ok, attempt.retryable, attempt.detail))

    def settled(self, number: str, channel: str) -> bool:
        tries = self.seen.get((number, channel), [])
        return any(ok for ok, _r, _d in tries) or any(not r for _o, r, _d in tries)

    def outcome(self, number: str, channel: str, timeout_s: float) -> ChannelOutcome:
        tries = self.seen.get((number, channel), [])
        if any(ok for ok, _r, _d in tries):
            return ChannelOutcome(channel, True, f"delivered (attempt {len(tries)})", len(tries))
        if not tries:
            return ChannelOutcome(channel, False, f"no attempt finished within {timeout_s:g} s")
        last = tries[-1][2]
        why = "refused" if not tries[-1][1] else f"still failing after {timeout_s:g} s"
        return ChannelOutcome(channel, False, f"FAILED ({why}): {last}", len(tries))


@dataclass
class Session:
    """One commissioning run over some devices, on the real ledger and channels."""

    cfg: HazgwConfig
    clock: Clock
    by: str
    channels: Sequence[str] = ()  # only these channels (names); empty: every configured one
    timeout_s: float = 30.0
    extra: Sequence[Notifier] = ()  # more notifiers (tests, a terminal view), like the daemon's

    def devices(self, ids: Sequence[str]) -> list[DeviceConfig]:
        known = {d.id: d for d in self.cfg.devices}
        missing = [i for i in ids if i not in known]
        if missing:
            raise CommissionError(f"no device {', '.join(missing)} in the config")
        return [known[i] for i in ids]

    def _notify_cfg(self) -> Any:
        chans = self.cfg.notify.channels
        if self.channels:
            names = {c.channel_name for c in chans}
            unknown = [n for n in self.channels if n not in names]
            if unknown:
                raise CommissionError(
                    f"no channel {', '.join(unknown)} in notify.channels (have: "
                    f"{', '.join(sorted(names))})"
                )
            chans = [c for c in chans if c.channel_name in self.channels]
        return self.cfg.notify.model_copy(update={"channels": chans, "grouping": NO_GROUPING})

    def _ledger(self) -> Ledger:
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        return Ledger(
            self.cfg.state_dir / "ledger.sqlite", Identity(self.cfg.site.id, self.cfg.gateway.id),
            prefix=self.cfg.ledger.prefix, tz=ZoneInfo(self.cfg.site.timezone),
        )  # fmt: skip

    async def run(self, ids: Sequence[str]) -> list[DeviceResult]:
        """Commission `ids` together (one detection run, one drill each); results in order."""
        devices = self.devices(ids)
        notify_cfg = self._notify_cfg()
        ledger = self._ledger()
        try:
            return await self._run(devices, notify_cfg, ledger)
        finally:
            ledger.close_db()

    async def _run(
        self, devices: list[DeviceConfig], notify_cfg: Any, ledger: Ledger
    ) -> list[DeviceResult]:
        now = self.clock.wall_ns()
        results = {d.id: DeviceResult(d.id, self.by, now) for d in devices}
        busy = _unacknowledged_by_zone(ledger)
        for d in devices:
            if not d.enabled:
                results[d.id].problems.append("out of service (enabled: false): enable it first")
            elif d.zone in busy:  # our silence at the end would turn its siren off
                results[d.id].problems.append(
                    f"zone {d.zone} has an unacknowledged alarm {busy[d.zone]}: commission "
                    "after it is acknowledged"
                )
        live = [d for d in devices if not results[d.id].problems]
        if live:
            cfg = self.cfg.model_copy(update={"devices": live})
            engine = CommissionEngine(cfg, Registry.from_config(cfg), ledger, start_ns=now)
            await self._detect(engine, results)
            deliveries = _Deliveries(ledger)
            pipeline = build_pipeline(
                notify_cfg, people=self.cfg.people, record=deliveries, clock=self.clock,
                site=self.cfg.site.id, gateway=self.cfg.gateway.id, extra=self.extra,
            )  # fmt: skip
            await self._notify(engine, pipeline, deliveries, results)
            await self._end_test(engine)
        for r in results.values():
            _record_evidence(ledger, r, self.clock.wall_ns())
        return [results[d.id] for d in devices]

    async def _detect(self, engine: Engine, results: dict[str, DeviceResult]) -> None:
        """Test readings every tick until each device's alarms show `test_active`."""
        sensors = engine.registry.sensors
        for s in sensors:
            results[s.device].test_value = trigger_value(s.sensor_class, engine.presets[s.index])
        tick = self.cfg.detection.tick_s
        budget = max(p.on_delay_s for p in engine.presets)
        for _ in range(math.ceil(budget / tick) + EXTRA_STEPS):
            now = self.clock.wall_ns()
            values = [results[s.device].test_value or 0.0 for s in sensors]
            out = engine.step([_batch(sensors, values, now, Quality.TEST)], now)
            _note_detections(out, engine, results)
            if all(results[s.device].detected for s in sensors):
                return
            await self.clock.sleep(tick)
        for s in sensors:
            if not results[s.device].detected:
                results[s.device].problems.append(
                    f"detection: no test alarm within {budget + EXTRA_STEPS * tick:g} s of "
                    f"test readings at {results[s.device].test_value:g}"
                )

    async def _notify(
        self, engine: Engine, pipeline: NotifyPipeline, deliveries: _Deliveries,
        results: dict[str, DeviceResult],
    ) -> None:  # fmt: skip
        task = asyncio.create_task(pipeline.run(), name="commission-notify")
        try:
            drills = self._start_drills(engine, pipeline, results)
            await self._wait(pipeline, deliveries, drills)
            for sensor, number in drills:
                r = results[sensor.device]
                r.channels = _outcomes(pipeline, deliveries, number, sensor, self.timeout_s)
                r.problems += [f"channel {c.channel}: {c.detail}" for c in r.channels if not c.ok]
                self._acknowledge(engine, r, number)
                pipeline.silence(sensor.zone)
            await pipeline.drain(timeout_s=min(self.timeout_s, 5.0))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start_drills(
        self, engine: Engine, pipeline: NotifyPipeline, results: dict[str, DeviceResult]
    ) -> list[tuple[Sensor, str]]:
        drills: list[tuple[Sensor, str]] = []
        for s in engine.registry.sensors:
            r = results[s.device]
            m = meaning(s.sensor_class, _top(r.detected))
            out = engine.start_drill(
                title=f"{TITLE}{s.device}" + (f" ({s.place})" if s.place else ""),
                kind=Kind(m.kind), level=m.level, by=self.by, now_ns=self.clock.wall_ns(),
                zone=s.zone,
            )  # fmt: skip
            r.number = next(e.number for e in out.ledger_events if e.type == "drill_started")
            drills.append((s, str(r.number)))
            for note in out.notifications:
                pipeline.submit(note)
            if not out.notifications:
                r.problems.append("escalation: the drill notified nobody (no level due)")
        return drills

    async def _wait(
        self, pipeline: NotifyPipeline, deliveries: _Deliveries, drills: list[tuple[Sensor, str]]
    ) -> None:
        """Until every channel delivered, was refused, or the timeout passed."""
        deadline = self.clock.monotonic() + self.timeout_s
        wanted = [
            (number, w.name)
            for s, number in drills
            for w in pipeline.workers
            if _kind_of(s) in w.policy.kinds
        ]
        while self.clock.monotonic() < deadline:
            if all(deliveries.settled(n, c) for n, c in wanted):
                return
            await self.clock.sleep(POLL_S)

    def _acknowledge(self, engine: Engine, r: DeviceResult, number: str) -> None:
        engine.acknowledge(number, by=self.by, now_ns=self.clock.wall_ns(), reason="commissioning")
        r.acknowledged = True

    async def _end_test(self, engine: Engine) -> None:
        """A normal reading ends the test: the alarms leave `test` as the ledger shows."""
        sensors = engine.registry.sensors
        values = [normal_value(p) for p in engine.presets]
        for _ in range(2):
            now = self.clock.wall_ns()
            engine.step([_batch(sensors, values, now, Quality.GOOD)], now)
            await self.clock.sleep(self.cfg.detection.tick_s)


def _unacknowledged_by_zone(ledger: Ledger) -> dict[str, str]:
    """Zones whose siren the daemon holds on: an open real entry nobody acknowledged."""
    return {
        h.zone: h.number
        for h in ledger.open_hazards()
        if h.zone and not h.drill and h.acknowledged_at_ns is None
    }


def _batch(sensors: list[Sensor], values: list[float], now: int, q: Quality) -> ReadingBatch:
    n = len(sensors)
    return ReadingBatch.of([s.index for s in sensors], values, [now] * n, [int(q)] * n)


def _note_detections(out: StepResult, engine: Engine, results: dict[str, DeviceResult]) -> None:
    for tr, number in out.transitions:
        r = results.get(tr.key.device)
        if r is None:
            continue
        if number is not None:  # a test must never touch a hazard
            r.problems.append(f"a real entry {number} was touched by the test ({tr.key})")
        cond = Condition(tr.key.condition)
        if tr.after is AlarmState.TEST_ACTIVE and cond not in FAULTS and cond not in r.detected:
            r.detected.append(cond.value)


_ORDER = [Condition.HIGH_HIGH, Condition.LEVEL2, Condition.LOW_LOW, Condition.CO_DOSE]


def _top(detected: list[str]) -> Condition:
    """The most severe condition the test raised (its drill has that kind and level)."""
    for c in _ORDER:
        if c.value in detected:
            return c
    return Condition(detected[0]) if detected else Condition.LEVEL1


def _kind_of(s: Sensor) -> str:
    return meaning(s.sensor_class, Condition.LEVEL1).kind


def _outcomes(
    pipeline: NotifyPipeline, deliveries: _Deliveries, number: str, s: Sensor, timeout_s: float
) -> list[ChannelOutcome]:
    out: list[ChannelOutcome] = []
    for w in pipeline.workers:
        if _kind_of(s) not in w.policy.kinds:
            detail = f"skipped: carries only {', '.join(sorted(w.policy.kinds))}"
            out.append(ChannelOutcome(w.name, True, detail, skipped=True))
        else:
            out.append(deliveries.outcome(number, w.name, timeout_s))
    return out


def _record_evidence(ledger: Ledger, r: DeviceResult, now: int) -> None:
    if r.number is None:
        return
    ledger.note(r.number, text=r.evidence(), by=r.by, ts_ns=now)
    verdict = "PASS" if r.passed else "FAIL"
    ledger.end_drill(r.number, by=r.by, ts_ns=now, reason=f"commissioning {verdict}")


def notification_is_commissioning(n: Notification) -> bool:
    """What a receiver checks: a drill whose title says it is a commissioning test."""
    return n.drill and n.title.startswith(TITLE)
