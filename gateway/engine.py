"""The safety path in one synchronous step: readings -> detection -> alarm states -> hazard ledger
-> escalation -> notifications to send, and the alarm system's health.

The daemon runs `step` on its single database worker thread, so the engine's state is only ever
touched by one thread and every ledger write happens in order. Nothing here waits on telemetry.

Per tick: people's ledger events, expired shelves, the bus tree, detection over all sensors at
once; then only the alarm cells whose condition or overlay changed are walked in Python. Bus and
zone alarms (a dead bus, a fire confirmed by smoke and heat) sit above the devices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from alerting.alarms import AlarmBook, AlarmEvent, AlarmKey, AlarmState, Transition
from alerting.detect import Conditions, Detector
from alerting.escalation import (
    EscalationPolicy,
    RealTime,
    deadline_due_steps,
    due_steps,
    last_mark_ns,
    next_due_ns,
)
from alerting.flood import Flood, FloodWatch
from alerting.health import AlarmHealth, AlarmKpi, HealthLimits
from alerting.ledger import Grade, Hazard, Kind, Ledger, LedgerEvent
from alerting.notify import Notification
from alerting.roster import RESPONSIBLE
from alerting.rules import (
    CONDITIONS,
    FAULTS,
    LINK,
    LOW_SIDE,
    AlarmMeaning,
    Condition,
    bus_dedup_key,
    bus_title,
    dedup_key,
    meaning,
    title,
)
from alerting.standing import parse_key, people_overlays, standing_alarms
from alerting.topology import Link, LinkState, Topology
from alerting.vocabulary import EventType, iso_utc
from drivers.base import DriverStatus
from gateway.backlog import LedgerBacklog, PendingTransition
from gateway.config import HazgwConfig, roster_from
from gateway.engine_setup import effective_presets, policy_book_from, preset_issues
from gateway.errors import ConfigError, ConfigIssue, LedgerError, LedgerStorageError
from gateway.model import Identity, ReadingBatch, SensorClass
from gateway.registry import Registry, Sensor

log = logging.getLogger(__name__)
NS = 1_000_000_000
HOLD_MARGIN_S = 5.0  # a few ticks beyond what the detector needs to see a condition again
MAX_HOLD_S = 3600.0  # a restored alarm not seen again within an hour is let go
COLUMN = {c: i for i, c in enumerate(CONDITIONS)}
TESTABLE = np.array([c not in LINK for c in CONDITIONS])  # a test does not touch the link
S = AlarmState


@dataclass(slots=True)
class StepResult:
    transitions: list[tuple[Transition, str | None]] = field(default_factory=list)  # + hazard
    notifications: list[Notification] = field(default_factory=list)
    ledger_events: list[LedgerEvent] = field(default_factory=list)
    kpi: AlarmKpi | None = None  # the alarm system's health after this step


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a raised alarm writes into its ledger entry."""

    dedup: str
    title: str
    device: str | None
    zone: str | None
    place: str
    value: float | None = None
    start: int | None = None  # escalation start level; None = by the alarm's kind
    basis: str = ""  # where the set point comes from (the preset's basis)


class Engine:
    def __init__(
        self, cfg: HazgwConfig, registry: Registry, ledger: Ledger, *, start_ns: int
    ) -> None:
        self.cfg, self.ledger = cfg, ledger
        self.ident = Identity(cfg.site.id, cfg.gateway.id)
        self.book = policy_book_from(cfg)
        self.policy = self.book.default
        self.roster = roster_from(cfg)  # roles in escalation levels resolve when a step is due
        self._owner = {z.id: z.owner for z in cfg.zones}  # the default responsible person
        self.alarms = AlarmBook()
        self.health = AlarmHealth(HealthLimits(**cfg.detection.health.model_dump()))
        limits = self.health.limits
        self.floods = FloodWatch(limits.flood_count, limits.window_s)
        self.conditions: Conditions | None = None
        self._peaks: dict[AlarmKey, float] = {}
        self._bus_down: dict[str, bool] = {}
        issues = [i.removeprefix("@").split(": ", 1) for i in preset_issues(cfg)]
        if issues:  # fail closed: set points that cannot protect anybody stop the start
            raise ConfigError([ConfigIssue("config", key, None, text) for key, text in issues])
        self._install(registry, start_ns, origin_ns=start_ns)
        # A restart resumes from the ledger: read once here, for everything below.
        hazards, events = ledger.hazards(), ledger.events()
        self._last_seq = events[-1].seq if events else 0
        self._escalating = {h.number for h in hazards if h.escalating}
        self._real_time = RealTime()
        self._due: dict[str, tuple[int | None, int]] = {}  # hazard -> (next due, last mark)
        self._held: dict[AlarmKey, int] = {}  # restored alarm -> until when it is held active
        self.backlog = LedgerBacklog()  # what a ledger that cannot be written has not taken
        self._restore(start_ns, hazards, events)
        self._resend = self._undelivered(start_ns, hazards)

    def _install(self, registry: Registry, now_ns: int, *, origin_ns: int) -> None:
        presets, problems = effective_presets(self.cfg, registry)
        for p in problems:  # only a reload gets here with problems: too late to refuse
            log.error("reloaded set points: %s; the class's on-delay budget applies", p)
        presets = [p.within_budget() for p in presets]
        d, s = self.cfg.detection, registry.sensors
        self.registry, self.presets = registry, presets
        self.detector = Detector(
            presets, start_ns=now_ns, ring=d.ring_size, window_s=d.rate_window_s,
            origin_ns=origin_ns,
        )  # fmt: skip
        self.topology = Topology(
            [x.driver for x in s], [x.device for x in s], [x.zone for x in s],
            fault_after_s=d.bus_fault_after_s,
        )  # fmt: skip
        shape = (len(s), len(CONDITIONS))
        self.active, self.suppressed = np.zeros(shape, bool), np.zeros(shape, bool)
        self.test_cols, self.testing = np.zeros(shape, bool), np.zeros(len(s), bool)
        self.bus_down_now = np.zeros(len(s), bool)
        self._is_smoke = np.array([x.sensor_class is SensorClass.SMOKE for x in s], bool)
        self._is_temp = np.array([x.sensor_class is SensorClass.TEMPERATURE for x in s], bool)
        self._confirmed = np.zeros(len(self.topology.zone_ids), bool)

    def _restore(
        self, now_ns: int, hazards: Sequence[Hazard], events: Sequence[LedgerEvent]
    ) -> None:
        """Put back the alarms standing in the ledger. The detector starts blind (on-delays,
        stale timers, rate windows start over), so a restored alarm whose condition held is kept
        present until the detector has had time to see it again (`_hold_s`): only then does a
        clear count, and a condition that still holds is never recorded a second time."""
        for st in standing_alarms(hazards):
            key, found = st.key, self._restored_cell(st.key)
            if found is None:
                log.info("standing alarm %s not restored: no such alarm on this gateway", key)
                continue
            latching, hold_s, mark = found
            alarm = self.alarms.restore(
                key, st.state, latching=latching, hazard=st.hazard, since_ns=now_ns
            )
            if alarm.active:
                mark()
                self._held[key] = now_ns + int(hold_s * NS)
        self._restore_people_overlays(now_ns, events)

    def _restore_people_overlays(self, now_ns: int, events: Sequence[LedgerEvent]) -> None:
        """Detectors out of service stay out, shelves stay on until they expire: people's
        records in the ledger say so (a restart must not quietly undo a person's decision)."""
        services, shelves = people_overlays(events, now_ns)
        for device, service in services.items():
            if device in self.registry.by_device:
                self.alarms.out_of_service[device] = service
                key = AlarmKey(device, Condition.SERVICE.value)
                self.alarms.ensure(key, latching=False)
                oos = frozenset({S.OUT_OF_SERVICE})
                self.alarms.sync(key, active=False, overlays=oos, ts_ns=now_ns, latching=False)
        for key, shelf in shelves.items():
            sensor, cond = self.registry.by_device.get(key.device), _condition(key.condition)
            if sensor is not None and cond is not None:
                latching = meaning(sensor.sensor_class, cond).latching
                self.alarms.ensure(key, latching=latching).shelf = shelf

    def _undelivered(self, now_ns: int, hazards: Sequence[Hazard]) -> list[Notification]:
        """The latest step of each escalating ladder that no channel ever tried to deliver: the
        previous run recorded it and stopped (killed, power cut) before handing it over. Sent
        again in the first step, so nobody's call is lost across a restart."""
        out = []
        for h in hazards:
            steps = [s for s in h.escalation.steps if s.round == h.escalation.round]
            if not h.escalating or not steps:
                continue
            last = steps[-1]
            tried = {(d.step, d.round, d.repeat) for d in h.deliveries}
            if (last.level, last.round, last.repeat) in tried:
                continue
            why = f"{_alarm_reason(h)}; sent again after a restart (no delivery was recorded)"
            out.append(
                _notification(
                    h, last.level, last.name, last.recipients, last.repeat, now_ns, why, last.round
                )
            )
        return out

    def _restored_cell(self, key: AlarmKey) -> tuple[bool, float, Callable[[], None]] | None:
        """(latching, hold, how to mark it present) for a restored alarm; None if unknown."""
        cond = _condition(key.condition)
        kind, _, name = key.device.partition(":")
        latching = meaning(SensorClass.SMOKE, cond).latching if cond else False
        fault_s = self.cfg.detection.bus_fault_after_s
        if cond is Condition.BUS_DOWN and kind == "bus" and name in self.topology.buses:
            return latching, fault_s + HOLD_MARGIN_S, lambda: self._bus_down.update({name: True})
        zones = self.topology.zone_ids
        if cond is Condition.CORROBORATED and kind == "zone" and name in zones:
            z = zones.index(name)
            return latching, self._zone_hold_s(name), lambda: self._confirmed.__setitem__(z, True)
        sensor = self.registry.by_device.get(key.device)
        if sensor is None or cond not in COLUMN:
            return None
        assert cond is not None
        latching = meaning(sensor.sensor_class, cond).latching
        cell = (sensor.index, COLUMN[cond])
        return latching, self._hold_s(sensor, cond), lambda: self.active.__setitem__(cell, True)

    def _hold_s(self, sensor: Sensor, cond: Condition) -> float:
        """How long the detector needs to see a condition again after a restart: a reading
        (within the stale time) plus the condition's own time."""
        p, d = self.presets[sensor.index], self.cfg.detection
        own = {
            Condition.RATE_OF_RISE: d.rate_window_s, Condition.STUCK: p.stuck_after_s,
            Condition.WARM_UP: p.warmup_max_s, Condition.COMM_LOSS: d.bus_fault_after_s,
            Condition.CO_DOSE: max((m * 60 for _, m in p.co_dose), default=0.0),
        }.get(cond, p.on_delay_s)  # fmt: skip
        hold = p.stale_after_s + own + HOLD_MARGIN_S
        return min(hold, MAX_HOLD_S) if np.isfinite(hold) else MAX_HOLD_S

    def _zone_hold_s(self, zone: str) -> float:
        heads = [s for s in self.registry.sensors if s.zone == zone]
        return max((self._hold_s(s, Condition.LEVEL1) for s in heads), default=HOLD_MARGIN_S)

    def _holding(self, key: AlarmKey, present: bool, now_ns: int) -> bool:
        """True while a restored alarm is held present though its condition is not (yet) seen;
        the hold ends when the condition is seen or its time is up."""
        until = self._held.get(key)
        if until is None:
            return False
        if present or now_ns >= until:
            del self._held[key]
            return False
        return True

    # --- the step -------------------------------------------------------------------------

    def step(
        self,
        batches: Sequence[ReadingBatch],
        now_ns: int,
        statuses: Mapping[str, DriverStatus] | None = None,
        mono_ns: int | None = None,
    ) -> StepResult:
        """One tick. `statuses` maps driver id to what the driver knows of its bus (comm-loss
        faults, and suppressing the children of a failed bus); `mono_ns`, the monotonic clock,
        keeps escalation delays in real time when the wall clock steps back."""
        out = StepResult()
        out.notifications += self._resend
        self._resend = []
        if self.backlog.failing:
            self._catch_up(now_ns, out)
        self._apply_people(self.ledger.refresh(), now_ns, out)
        self._expire_shelves(now_ns, out)
        links = self.topology.update(_links(statuses or {}), now_ns)
        if len(links.recovered):
            self.detector.restart_silence(links.recovered, now_ns)
        for batch in batches:
            self.detector.ingest(batch)
        c = self.conditions = self.detector.evaluate(now_ns)
        self._sync_buses(links, now_ns, out)
        self._sync_sensors(c, links, now_ns, out)
        self._corroborate(c, now_ns, out)
        self._track_peaks()
        self._watch_floods(now_ns, out)
        self._escalate(now_ns, out, mono_ns)
        self._escalate_deadlines(now_ns, out)
        out.ledger_events += self._new_ledger_events()
        self.health.observe(tr for tr, _ in out.transitions)
        out.kpi = self.health.kpi(now_ns, self.alarms)
        return out

    def _sync_sensors(self, c: Conditions, links: LinkState, now_ns: int, out: StepResult) -> None:
        """Walk only the cells whose condition, suppression or test state changed."""
        active = np.column_stack([c.active, links.comm_loss])
        for key in list(self._held):
            sensor = self.registry.by_device.get(key.device)
            cond = _condition(key.condition)
            if sensor is not None and cond in COLUMN:
                cell = (sensor.index, COLUMN[cond])
                active[cell] |= self._holding(key, bool(active[cell]), now_ns)
        suppressed = np.zeros_like(active)
        suppressed[:, COLUMN[Condition.STALE]] = links.suppressed | links.comm_loss
        suppressed[:, COLUMN[Condition.COMM_LOSS]] = links.suppressed
        test_cols = c.testing[:, None] & TESTABLE[None, :]
        changed = (active != self.active) | (suppressed != self.suppressed)
        changed |= test_cols != self.test_cols
        tests = np.flatnonzero(c.testing != self.testing).tolist()
        self.active, self.suppressed, self.test_cols = active, suppressed, test_cols
        self.testing, self.bus_down_now = c.testing, links.suppressed
        for row in tests:  # a test's start and end, before its results
            actor = f"gateway:{self.ident.gateway}/test"
            self._sync(self.registry.sensors[row], Condition.SERVICE, now_ns, out, actor)
        for row, col in zip(*np.nonzero(changed), strict=True):
            self._sync(self.registry.sensors[row], CONDITIONS[col], now_ns, out)

    def _overlays(self, sensor: Sensor, cond: Condition) -> frozenset[AlarmState]:
        """The overlays one sensor alarm is under now."""
        i, ov = sensor.index, set[AlarmState]()
        if sensor.device in self.alarms.out_of_service:
            ov.add(S.OUT_OF_SERVICE)
        if cond is Condition.SERVICE:
            testing = bool(self.testing[i])
        else:
            testing = bool(self.test_cols[i, COLUMN[cond]])
            if self.suppressed[i, COLUMN[cond]]:
                ov.add(S.SUPPRESSED)
        if testing:
            ov.add(S.TEST)
        alarm = self.alarms.get(AlarmKey(sensor.device, cond.value))
        if alarm is not None and alarm.shelf is not None:
            ov.add(S.SHELVED)
        return frozenset(ov)

    def _sync(
        self, sensor: Sensor, cond: Condition, now_ns: int, out: StepResult, actor: str = ""
    ) -> None:
        """Bring one sensor alarm to its condition and overlays, and act on what changed."""
        key, m = AlarmKey(sensor.device, cond.value), meaning(sensor.sensor_class, cond)
        if cond is Condition.SERVICE:  # the detector as a whole: shown once touched
            self.alarms.ensure(key, latching=False)
        active = cond is not Condition.SERVICE and bool(self.active[sensor.index, COLUMN[cond]])
        value, was = self._value(sensor), self.alarms.get(key)
        peak = None if active else self._peaks.pop(key, None)
        if active and (was is None or not was.active) and value is not None:
            self._peaks[key] = value
        for tr in self.alarms.sync(
            key, active=active, overlays=self._overlays(sensor, cond), ts_ns=now_ns,
            latching=m.latching, value=value,
        ):  # fmt: skip
            alarm = self.alarms.ensure(key, latching=m.latching)
            if tr.after is S.UNACKED:
                basis = "" if cond in FAULTS else self.presets[sensor.index].basis
                entry = _Entry(
                    dedup_key(m.kind, sensor.device, sensor.zone),
                    title(m.kind, m, sensor.device, sensor.place), sensor.device, sensor.zone,
                    sensor.place, value, basis=basis,
                )  # fmt: skip
                alarm.hazard = self._raise_or_tell(key, m, cond, entry, now_ns=now_ns, out=out)
            number = None if tr.is_test else alarm.hazard  # a test never touches a hazard
            who = actor or self._actor(tr, sensor, cond)
            self._record(tr, number, who, out, peak if tr.event is AlarmEvent.CLEAR else None)

    def _actor(self, tr: Transition, sensor: Sensor, cond: Condition) -> str:
        gw = f"gateway:{self.ident.gateway}"
        if tr.is_test:
            return f"{gw}/test:{cond.value}"
        if tr.event not in (AlarmEvent.SUPPRESS, AlarmEvent.UNSUPPRESS):
            return f"{gw}/rule:{cond.value}"
        if self.bus_down_now[sensor.index]:
            return f"{gw}/topology:bus:{sensor.driver}"
        return f"{gw}/topology:device:{sensor.device}/comm_loss"

    def _value(self, sensor: Sensor) -> float | None:
        c = self.conditions
        return None if c is None else _finite(c.value[sensor.index])

    def _sync_buses(self, links: LinkState, now_ns: int, out: StepResult) -> None:
        """One fault per dead bus, however many devices hang on it."""
        for bus, seen in links.down.items():
            down = seen or self._holding(AlarmKey(f"bus:{bus}", "bus_down"), seen, now_ns)
            if self._bus_down.get(bus, False) != down:
                self._bus_down[bus] = down
                n = self.topology.bus_size(bus)
                entry = _Entry(bus_dedup_key(bus), bus_title(bus, n), None, None, f"bus {bus}")
                key, actor = AlarmKey(f"bus:{bus}", "bus_down"), f"topology:bus:{bus}"
                self._sync_parent(
                    key, Condition.BUS_DOWN, entry, active=down, actor=actor, now_ns=now_ns,
                    out=out,
                )  # fmt: skip

    def _corroborate(self, c: Conditions, now_ns: int, out: StepResult) -> None:
        """Smoke with a temperature rise in one zone confirms the fire: the zone's fire hazard
        rises to level 2, and a hazard whose level rises starts a new escalation round at the
        raised start level (here `start_level_bump` rungs above fire's)."""
        rule = self.cfg.detection.corroboration
        if not rule.enabled:
            return
        smoke = self._is_smoke & ~c.testing & c.column(Condition.LEVEL1)
        with np.errstate(invalid="ignore"):
            rise = c.slope_per_min >= rule.rise_per_min
        heat = c.column(Condition.RATE_OF_RISE) | c.column(Condition.LEVEL1) | rise
        both = self.topology.zones_with(smoke)
        both &= self.topology.zones_with(self._is_temp & ~c.testing & heat)
        for z, zone in enumerate(self.topology.zone_ids):
            both[z] |= self._holding(AlarmKey(f"zone:{zone}", "corroborated"), both[z], now_ns)
        m = meaning(SensorClass.SMOKE, Condition.CORROBORATED)
        start = min(self._start(m) + rule.start_level_bump, len(self.policy.levels) - 1)
        for z in np.flatnonzero(both != self._confirmed).tolist():
            zone = self.topology.zone_ids[z]
            heads = [s for s in self.registry.sensors if s.zone == zone]
            head = next((s for s in heads if smoke[s.index]), heads[0])
            entry = _Entry(
                dedup_key("fire", head.device, zone), title("fire", m, "", head.place),
                head.device, zone, head.place, start=start,
            )  # fmt: skip
            key = AlarmKey(f"zone:{zone}", Condition.CORROBORATED.value)
            cond, actor = Condition.CORROBORATED, "rule:corroborated"
            self._sync_parent(
                key, cond, entry, active=bool(both[z]), actor=actor, now_ns=now_ns, out=out
            )
        self._confirmed = both

    def _sync_parent(
        self, key: AlarmKey, cond: Condition, entry: _Entry, *, active: bool, actor: str,
        now_ns: int, out: StepResult,
    ) -> None:  # fmt: skip
        """An alarm above the devices (a bus, a zone): no overlays, raised as `entry`."""
        m = meaning(SensorClass.SMOKE, cond)  # bus and zone alarms mean the same for any class
        for tr in self.alarms.sync(
            key, active=active, overlays=frozenset(), ts_ns=now_ns, latching=m.latching
        ):
            alarm = self.alarms.ensure(key, latching=m.latching)
            if tr.after is S.UNACKED:
                alarm.hazard = self._raise_or_tell(key, m, cond, entry, now_ns=now_ns, out=out)
            self._record(tr, alarm.hazard, f"gateway:{self.ident.gateway}/{actor}", out)

    def _track_peaks(self) -> None:
        """The worst value of each present condition, reported to the ledger when it clears."""
        for key, peak in list(self._peaks.items()):
            sensor = self.registry.by_device.get(key.device)
            v = None if sensor is None else self._value(sensor)
            if v is not None and (v < peak if key.condition in LOW_SIDE else v > peak):
                self._peaks[key] = v

    def _watch_floods(self, now_ns: int, out: StepResult) -> None:
        """New alarms counted per zone; a zone's flood leaves one record when it starts and
        one when it is over."""
        for tr, number in out.transitions:
            zone = self._zone_of(tr.key)
            if tr.after is not S.UNACKED or tr.is_test or zone is None:
                continue
            flood = self.floods.observe(zone, tr.ts_ns, number)
            if flood is not None:
                log.warning("alarm flood in zone %s: its notifications are grouped", zone)
                self._record_flood(flood, now_ns, ended=False)
        for flood in self.floods.ended(now_ns):
            self._record_flood(flood, now_ns, ended=True)

    def _record_flood(self, flood: Flood, now_ns: int, *, ended: bool) -> None:
        w = self.floods
        actor = f"gateway:{self.ident.gateway}/alarm-health"
        try:
            self.ledger.record_flood(
                flood, limit=w.limit, window_s=w.window_s, actor=actor, ts_ns=now_ns, ended=ended
            )
        except LedgerStorageError as exc:  # the alarms themselves wait in the backlog
            self.backlog.failed(exc)
            log.error("alarm flood record for zone %s lost: %s", flood.zone, exc)

    def _zone_of(self, key: AlarmKey) -> str | None:
        if key.device.startswith("zone:"):
            return key.device.removeprefix("zone:")
        sensor = self.registry.by_device.get(key.device)
        return None if sensor is None else sensor.zone

    # --- the ledger side ------------------------------------------------------------------

    def _grade(self, m: AlarmMeaning) -> Grade:
        return Grade.MAJOR if m.kind in self.cfg.ledger.major_kinds else Grade.GENERAL

    def _start(self, m: AlarmMeaning) -> int:
        return self.book.start_level_for(m.kind, self._grade(m).value, m.start_key)

    def _raise(
        self, m: AlarmMeaning, cond: Condition, e: _Entry, now_ns: int, out: StepResult
    ) -> str:
        grade = self._grade(m)
        before = self.ledger.open_hazard(e.dedup)
        hazard, created = self.ledger.raise_alarm_hazard(
            dedup_key=e.dedup, kind=Kind(m.kind), title=e.title, grade=grade, level=m.level,
            device=e.device, zone=e.zone, location=e.place, value=e.value, condition=cond.value,
            actor=f"gateway:{self.ident.gateway}/rule:{cond.value}", ts_ns=now_ns,
            start_level=self._start(m) if e.start is None else e.start, basis=e.basis,
            responsible=self._owner.get(e.zone) if e.zone else None,
        )  # fmt: skip
        self._due.pop(hazard.number, None)  # a raised level starts a new round, due now
        if hazard.escalating:
            self._escalating.add(hazard.number)
        if not created and before is not None and hazard.level > before.level:
            self._tell_level_raised(hazard, m.label, now_ns, out)
        return hazard.number

    def _tell_level_raised(self, hazard: Hazard, label: str, now_ns: int, out: StepResult) -> None:
        """Everyone already told about this hazard hears at once that it got worse; those at the
        raised start level hear it from the new escalation round in this same step."""
        policy = self.book.policy_for(hazard)
        start = policy.levels[min(hazard.escalation.start_level, len(policy.levels) - 1)]
        everyone = {r for s in hazard.escalation.steps for r in s.recipients}
        told = tuple(sorted(everyone - set(start.recipients)))
        if told:
            why, round_ = f"raised to {label}", hazard.escalation.round
            out.notifications.append(
                _notification(hazard, -1, "everyone notified so far", told, 0, now_ns, why, round_)
            )

    def _escalate(self, now_ns: int, out: StepResult, mono_ns: int | None = None) -> None:
        """Record and notify every step due. A ladder's next due time is kept between ticks (the
        ledger is read only when something is due or the entry changed), so a tick costs the
        same with one escalating entry or hundreds."""
        for number in sorted(self._escalating):
            cached = self._due.get(number)
            if cached is not None:
                due, last = cached
                at = self._real_time.now_for(number, last, now_ns, mono_ns)
                if due is None or at < due:
                    continue
            hazard = self.ledger.hazard(number)
            if not hazard.escalating:
                self._stop_escalating(number)
                continue
            hazard.escalation.steps.extend(self.backlog.steps.get(number, ()))  # told, unrecorded
            policy = self.book.policy_for(hazard)
            last = last_mark_ns(hazard.escalation)
            at = self._real_time.now_for(number, last, now_ns, mono_ns)
            self._send_due(hazard, policy, at, now_ns, mono_ns, out)
            self._due[number] = (next_due_ns(hazard, policy), last_mark_ns(hazard.escalation))

    def _send_due(  # noqa: PLR0917 - one ladder's step: its entry, policy and clocks
        self, hazard: Hazard, policy: EscalationPolicy, at: int, now_ns: int,
        mono_ns: int | None, out: StepResult,
    ) -> None:  # fmt: skip
        """Record and notify the steps of one ladder due at `at`; each step sent is added to
        `hazard` (a snapshot) so its next due time can be read from it. A step the ledger cannot
        take is notified all the same and waits in the backlog."""
        number, early = hazard.number, self.backlog.steps.get(hazard.number)
        for due in due_steps(hazard, policy, at, resolve=self.roster.resolve):
            step = replace(due, ts_ns=now_ns)  # the ledger keeps the wall clock's time
            try:
                if early:  # in order: nothing overtakes a step that waits
                    raise LedgerStorageError("steps before this one wait for the ledger")
                self.ledger.record_escalation(number, step, actor=f"gateway:{self.ident.gateway}")
                self.backlog.caught_up()
            except LedgerStorageError as exc:
                self.backlog.failed(exc)
                early = self.backlog.steps.setdefault(number, [])
                early.append(step)
            except LedgerError as exc:
                # Acknowledged or closed from the CLI meanwhile: the refusal is the answer.
                log.info("escalation of %s not recorded: %s", number, exc)
                break
            hazard.escalation.steps.append(step)
            self._real_time.mark(number, now_ns, mono_ns)
            out.notifications.append(
                _notification(
                    hazard, step.level, step.name, step.recipients, step.repeat, now_ns,
                    _alarm_reason(hazard), step.round,
                )
            )  # fmt: skip

    def _stop_escalating(self, number: str) -> None:
        self._escalating.discard(number)
        self._due.pop(number, None)
        self._real_time.forget(number)

    def _escalate_deadlines(self, now_ns: int, out: StepResult) -> None:
        """Overdue rectifications go up their own ladder, once per level; each step marks the
        entry as supervised (督办). Timers come from the ledger, so a restart resumes them."""
        policy = self.book.deadline
        if policy is None:
            return
        for hazard in self.ledger.overdue(now_ns):
            for step in deadline_due_steps(hazard, policy, now_ns, resolve=self.roster.resolve):
                try:
                    self.ledger.record_overdue(
                        hazard.number, step, actor=f"gateway:{self.ident.gateway}"
                    )
                except LedgerStorageError as exc:  # retried next tick: deadlines are days
                    self.backlog.failed(exc)
                    break
                except LedgerError as exc:  # verified from the CLI meanwhile
                    log.info("deadline escalation of %s not recorded: %s", hazard.number, exc)
                    break
                since = iso_utc(hazard.deadline_ns or now_ns)[:16]
                why = f"rectification overdue since {since}Z, {hazard.status.value} (督办)"
                out.notifications.append(
                    _notification(
                        hazard, step.level, step.name, step.recipients, step.repeat, now_ns, why,
                        step.round,
                    )
                )  # fmt: skip

    def start_drill(
        self, *, title: str, kind: Kind, level: int, by: str, now_ns: int, zone: str | None = None
    ) -> StepResult:
        """A drill through the real chain: it starts where an alarm of `kind` and `level` would,
        every notification is marked as a drill, and each acknowledgement is timed."""
        key = f"gas_level{level}" if kind is Kind.GAS else kind.value
        start = self.book.start_level_for(kind.value, Grade.GENERAL.value, key)
        drill = self.ledger.start_drill(
            title=title, kind=kind, by=by, ts_ns=now_ns, level=level, zone=zone, start_level=start
        )
        self._escalating.add(drill.number)
        out = StepResult()
        self._escalate(now_ns, out)
        return self._finish(out)

    # --- people ---------------------------------------------------------------------------

    def acknowledge(self, number: str, *, by: str, now_ns: int, reason: str = "") -> StepResult:
        """A person acknowledges a hazard: its alarms are acknowledged, escalation stops."""
        out = StepResult()
        ack = self.ledger.acknowledge(number, by=by, ts_ns=now_ns, reason=reason)
        self._apply_people([*self.ledger.refresh(), ack], now_ns, out)
        return self._finish(out)

    def _apply_people(self, events: Sequence[LedgerEvent], now_ns: int, out: StepResult) -> None:
        """Act on ledger events written by people (here or from the CLI in another process)."""
        for e in events:
            if e.type in (EventType.DEVICE_SERVICE, EventType.ALARM_SHELF):
                self._apply_overlay_record(e, now_ns, out)  # from the CLI or another process
                continue
            if e.number is None:
                continue
            self._due.pop(e.number, None)  # its ladder may have moved: read it again
            if e.type in ("registered", "drill_started"):  # findings, reports, drills (CLI)
                if self.ledger.hazard(e.number).escalating:
                    self._escalating.add(e.number)
                continue
            if e.type not in ("acknowledged", "closed"):  # a drill's acks keep it escalating
                continue
            alarm_event = AlarmEvent.ACK if e.type == "acknowledged" else AlarmEvent.RESET
            for alarm in self.alarms.for_hazard(e.number):
                tr = self.alarms.apply(alarm.key, alarm_event, now_ns, latching=alarm.latching)
                if tr is not None:
                    self._record(tr, e.number, e.actor, out)
            if not self.ledger.hazard(e.number).escalating:
                self._stop_escalating(e.number)

    def shelve(
        self, device: str, condition: str, *, by: str, reason: str, duration_s: float,
        now_ns: int,
    ) -> StepResult:  # fmt: skip
        """Shelve one alarm for at most `detection.shelve_max_s`: it always expires."""
        limit = self.cfg.detection.shelve_max_s
        if not 0 < duration_s <= limit:
            raise ValueError(f"shelve for more than 0 and at most {limit:g} s, not {duration_s:g}")
        if not reason.strip():
            raise ValueError("shelving needs a reason")
        sensor, cond = self._sensor(device), Condition(condition)
        latching = meaning(sensor.sensor_class, cond).latching
        until = now_ns + int(duration_s * NS)
        key = AlarmKey(device, cond.value)
        self.ledger.record_shelf(
            str(key), by=by, ts_ns=now_ns, until_ns=until, reason=reason.strip()
        )  # recorded first: a shelf the ledger does not hold would not survive a restart
        self.alarms.shelve(
            key, latching=latching, by=by, reason=reason, now_ns=now_ns, until_ns=until
        )
        return self._resync(sensor, [cond], now_ns, by)

    def unshelve(self, device: str, condition: str, *, by: str, now_ns: int) -> StepResult:
        sensor, key = self._sensor(device), AlarmKey(device, Condition(condition).value)
        self.ledger.record_shelf(str(key), by=by, ts_ns=now_ns)
        alarm = self.alarms.get(key)
        if alarm is not None:
            alarm.shelf = None
        return self._resync(sensor, [Condition(condition)], now_ns, by)

    def _expire_shelves(self, now_ns: int, out: StepResult) -> None:
        for alarm in self.alarms.expired_shelves(now_ns):
            alarm.shelf = None
            sensor = self.registry.by_device.get(alarm.key.device)
            if sensor is not None:
                actor = f"gateway:{self.ident.gateway}/shelf-expired"
                self._sync(sensor, Condition(alarm.key.condition), now_ns, out, actor)

    def remove_from_service(
        self, device: str, *, by: str, owner: str, reason: str, now_ns: int
    ) -> StepResult:
        """Take a detector out of service: no alarms from it, shown as a coverage gap."""
        sensor = self._sensor(device)
        if not reason.strip() or not owner.strip():
            raise ValueError("out of service needs a reason and an owner")
        self.ledger.record_service(
            device, in_service=False, by=by, ts_ns=now_ns, owner=owner.strip(),
            reason=reason.strip(),
        )  # fmt: skip
        self.alarms.remove_from_service(device, by=by, owner=owner, reason=reason, now_ns=now_ns)
        return self._resync(sensor, None, now_ns, by)

    def return_to_service(self, device: str, *, by: str, now_ns: int) -> StepResult:
        sensor = self._sensor(device)
        self.ledger.record_service(device, in_service=True, by=by, ts_ns=now_ns)
        self.alarms.out_of_service.pop(device, None)
        return self._resync(sensor, None, now_ns, by)

    def _apply_overlay_record(self, e: LedgerEvent, now_ns: int, out: StepResult) -> None:
        """A person's shelf or out-of-service record written by another process (`hazgw device
        shelve`): the same as if it had been made here."""
        services, shelves = people_overlays([e], now_ns)
        p = e.payload
        if e.type == EventType.DEVICE_SERVICE:
            device = str(p.get("device", ""))
            sensor = self.registry.by_device.get(device)
            if sensor is None:
                return
            self.alarms.out_of_service.pop(device, None)
            if device in services:
                self.alarms.out_of_service[device] = services[device]
            self._resync_into(sensor, None, now_ns, e.actor, out)
            return
        key = parse_key(str(p.get("alarm_key", "")))
        sensor = None if key is None else self.registry.by_device.get(key.device)
        cond = None if key is None else _condition(key.condition)
        if key is None or sensor is None or cond is None:
            return
        latching = meaning(sensor.sensor_class, cond).latching
        self.alarms.ensure(key, latching=latching).shelf = shelves.get(key)
        self._resync_into(sensor, [cond], now_ns, e.actor, out)

    def _resync(
        self, sensor: Sensor, conds: list[Condition] | None, now_ns: int, actor: str
    ) -> StepResult:
        """After a person's change: these conditions, or the whole detector (None)."""
        out = StepResult()
        self._resync_into(sensor, conds, now_ns, actor, out)
        return self._finish(out)

    def _resync_into(
        self, sensor: Sensor, conds: list[Condition] | None, now_ns: int, actor: str,
        out: StepResult,
    ) -> None:  # fmt: skip
        if conds is None:
            touched = {a.key.condition for a in self.alarms.of_device(sensor.device)}
            conds = [Condition.SERVICE, *(Condition(c) for c in touched - {"service"})]
        for cond in conds:
            self._sync(sensor, cond, now_ns, out, actor)

    def _sensor(self, device: str) -> Sensor:
        sensor = self.registry.by_device.get(device)
        if sensor is None:
            raise ValueError(f"no device {device!r} in service on this gateway")
        return sensor

    # --- bookkeeping ----------------------------------------------------------------------

    def _record(
        self, tr: Transition, number: str | None, actor: str, out: StepResult,
        peak: float | None = None,
    ) -> None:  # fmt: skip
        out.transitions.append((tr, number))
        waits = number is None and not tr.is_test and tr.key in self.backlog.unraised
        pending = PendingTransition(tr, number, actor, peak, waits)
        if self.backlog.transitions:  # in order: nothing overtakes what waits
            self.backlog.transitions.append(pending)
            return
        try:
            self._write_transition(pending)
        except LedgerStorageError as exc:
            self.backlog.failed(exc)
            self.backlog.transitions.append(pending)
            return
        self.backlog.caught_up()  # a write went through: if it was failing, it is not now

    def _write_transition(self, p: PendingTransition) -> None:
        tr = p.tr
        self.ledger.record_alarm_transition(
            number=p.number, alarm_key=str(tr.key), device=tr.key.device,
            condition=tr.key.condition, from_state=tr.before.value, to_state=tr.after.value,
            value=tr.value, actor=p.actor, ts_ns=tr.ts_ns, peak=p.peak,
        )  # fmt: skip

    # --- a ledger that cannot be written --------------------------------------------------

    def _raise_or_tell(
        self, key: AlarmKey, m: AlarmMeaning, cond: Condition, e: _Entry, *, now_ns: int,
        out: StepResult,
    ) -> str | None:  # fmt: skip
        """Raise the alarm's entry; if the ledger cannot take it, tell the start level now
        under a provisional id and raise the entry once the ledger can be written."""
        try:
            return self._raise(m, cond, e, now_ns, out)
        except LedgerStorageError as exc:
            self.backlog.failed(exc)
        self.backlog.unraised[key] = (m, cond, e)
        policy = self.book.rule_for(m.kind, self._grade(m).value).policy
        start = min(self._start(m) if e.start is None else e.start, len(policy.levels) - 1)
        level = policy.levels[start]
        owner = self._owner.get(e.zone or "")
        named = [owner if r == RESPONSIBLE and owner else r for r in level.recipients]
        who = self.roster.resolve_all(named, now_ns)
        reason = f"{m.kind} alarm, level {m.level}: NOT IN THE LEDGER YET (it cannot be written)"
        out.notifications.append(
            Notification(
                f"unrecorded:{key}", e.title, m.kind, m.level, start, level.name, who, 0, now_ns,
                reason, zone=e.zone or "", location=e.place, device=e.device or "",
            )
        )  # fmt: skip
        return None

    def _catch_up(self, now_ns: int, out: StepResult) -> None:
        """Write what waits, oldest first; stop at the first failure (the disk is still full)."""
        b = self.backlog
        if not len(b):
            return  # only unqueued writes failed (a deadline step, a flood record): wait for one
        try:
            for key, (m, cond, e) in list(b.unraised.items()):
                alarm = self.alarms.get(key)
                if alarm is None or (not alarm.active and alarm.state is S.NORMAL):
                    b.unraised.pop(key)  # gone and reset before it could be recorded
                    continue
                alarm.hazard = self._raise(m, cond, e, now_ns, out)
                b.entry_raised(key, alarm.hazard)
                b.late += 1
            while b.transitions:
                self._write_transition(b.transitions[0])
                b.transitions.pop(0)
                b.late += 1
            for number in list(b.steps):
                self._record_early_steps(number)
        except LedgerStorageError:
            return
        b.caught_up()

    def _record_early_steps(self, number: str) -> None:
        steps = self.backlog.steps[number]
        while steps:
            try:
                self.ledger.record_escalation(
                    number, steps[0], actor=f"gateway:{self.ident.gateway}"
                )
            except LedgerStorageError:
                raise
            except LedgerError as exc:  # acknowledged meanwhile: the step was still sent
                log.warning("escalation step of %s notified but not recorded: %s", number, exc)
            steps.pop(0)
            self.backlog.late += 1
        del self.backlog.steps[number]
        self._due.pop(number, None)

    def _finish(self, out: StepResult) -> StepResult:
        out.ledger_events += self._new_ledger_events()
        return out

    def _new_ledger_events(self) -> list[LedgerEvent]:
        events = self.ledger.events_since(self._last_seq)
        if events:
            self._last_seq = events[-1].seq
        return events

    def reload(self, registry: Registry, now_ns: int) -> None:
        """Swap in a new device list; sensors that stay keep their history and alarm rows."""
        mapping = registry.mapping_from(self.registry)
        old = {n: getattr(self, n) for n in ("detector", "active", "suppressed", "test_cols")}
        testing = self.testing
        self._install(registry, now_ns, origin_ns=self.detector.origin_ns)
        self.detector.carry_over(old["detector"], mapping)
        for new, was in mapping.items():
            for name in ("active", "suppressed", "test_cols"):
                getattr(self, name)[new] = old[name][was]
            self.testing[new] = testing[was]


def _condition(name: str) -> Condition | None:
    try:
        return Condition(name)
    except ValueError:
        return None


def _links(statuses: Mapping[str, DriverStatus]) -> dict[str, Link]:
    return {k: Link(s.connected, frozenset(s.failing)) for k, s in statuses.items()}


def _notification(  # noqa: PLR0917 - one notification's fields, in Notification's order
    h: Hazard, step: int, name: str, recipients: tuple[str, ...], repeat: int, now_ns: int,
    reason: str, round_: int,
) -> Notification:  # fmt: skip
    return Notification(
        h.number, h.title, h.kind.value, h.level, step, name, recipients, repeat, now_ns, reason,
        round=round_, zone=h.zone or "", location=h.location, device=h.device or "",
        drill=h.drill,
    )  # fmt: skip


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _alarm_reason(h: Hazard) -> str:
    if h.drill:
        return f"{h.kind.value} drill, level {h.level}: acknowledge as you would a real alarm"
    return f"{h.kind.value} alarm, level {h.level}, {h.occurrences} occurrence(s), unacknowledged"
