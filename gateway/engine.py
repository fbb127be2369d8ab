"""The safety path in one synchronous step: readings -> detection -> alarm states -> hazard ledger
-> escalation -> notifications to send.

The daemon runs `step` on its single database worker thread, so the engine's state is only ever
touched by one thread and every ledger write happens in order. Nothing here waits on telemetry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from alerting.alarms import AlarmBook, AlarmEvent, AlarmKey, AlarmState, Transition
from alerting.detect import Conditions, Detector
from alerting.escalation import EscalationLevel, EscalationPolicy, due_steps
from alerting.ledger import Grade, Hazard, Kind, Ledger, LedgerEvent
from alerting.notify import Notification
from alerting.rules import CONDITIONS, Condition, dedup_key, meaning, title
from drivers.base import DriverStatus
from gateway.config import HazgwConfig
from gateway.errors import LedgerError
from gateway.model import BoolArray, Identity, ReadingBatch
from gateway.registry import Registry, Sensor

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StepResult:
    transitions: list[tuple[Transition, str | None]] = field(default_factory=list)  # + hazard
    notifications: list[Notification] = field(default_factory=list)
    ledger_events: list[LedgerEvent] = field(default_factory=list)


def policy_from(cfg: HazgwConfig) -> EscalationPolicy:
    esc = cfg.escalation
    levels = tuple(EscalationLevel(lv.name, tuple(lv.recipients), lv.delay_s) for lv in esc.levels)
    return EscalationPolicy(levels, esc.repeat_s)


class Engine:
    def __init__(
        self, cfg: HazgwConfig, registry: Registry, ledger: Ledger, *, start_ns: int
    ) -> None:
        self.cfg = cfg
        self.ident = Identity(cfg.site.id, cfg.gateway.id)
        self.ledger = ledger
        self.policy = policy_from(cfg)
        top = len(self.policy.levels) - 1
        self._start_level: dict[str, int] = {
            k: min(v, top) for k, v in cfg.escalation.start_level.items()
        }
        self.alarms = AlarmBook()
        self.registry = registry
        self.detector = self._new_detector(registry, start_ns)
        self.active = np.zeros((len(registry), len(CONDITIONS)), dtype=bool)
        self.conditions: Conditions | None = None
        self._peaks: dict[AlarmKey, float] = {}
        self._last_seq = max((e.seq for e in ledger.events()), default=0)
        self._escalating = {
            h.number for h in ledger.hazards() if _needs_escalation(h)
        }  # a restart resumes escalation from the ledger

    def _new_detector(self, registry: Registry, start_ns: int) -> Detector:
        d = self.cfg.detection
        return Detector(
            registry.presets(), start_ns=start_ns, ring=d.ring_size, window_s=d.rate_window_s
        )

    # --- the step -------------------------------------------------------------------------

    def step(
        self,
        batches: Sequence[ReadingBatch],
        now_ns: int,
        statuses: Mapping[str, DriverStatus] | None = None,
    ) -> StepResult:
        """One tick. `statuses` maps driver id to what the driver knows of its bus (used for
        comm-loss faults and suppressing the children of a failed bus)."""
        out = StepResult()
        self._apply_people(self.ledger.refresh(), now_ns, out)
        for batch in batches:
            self.detector.ingest(batch)
        self.conditions = self.detector.evaluate(now_ns)
        now_active = _active_matrix(self.conditions)
        for row, col in zip(*np.nonzero(now_active != self.active), strict=True):
            sensor, cond = self.registry.sensors[row], CONDITIONS[col]
            self._on_change(sensor, cond, bool(now_active[row, col]), now_ns, out)
        self.active = now_active
        self._track_peaks()
        self._escalate(now_ns, out)
        out.ledger_events += self._new_ledger_events()
        return out

    def _on_change(
        self, sensor: Sensor, cond: Condition, active: bool, now_ns: int, out: StepResult
    ) -> None:
        m = meaning(sensor.sensor_class, cond)
        key = AlarmKey(sensor.device, cond.value)
        value = _finite(self.conditions.value[sensor.index]) if self.conditions else None
        event = AlarmEvent.ACTIVATE if active else AlarmEvent.CLEAR
        tr = self.alarms.apply(key, event, now_ns, latching=m.latching, value=value)
        peak = self._peaks.pop(key, None) if not active else None
        if active and value is not None:
            self._peaks[key] = value
        if tr is None:
            return
        alarm = self.alarms.get(key)
        assert alarm is not None
        if tr.after is AlarmState.UNACKED and tr.event is AlarmEvent.ACTIVATE:
            alarm.hazard = self._raise_hazard(sensor, cond, value, now_ns, out)
        actor = f"gateway:{self.ident.gateway}/rule:{cond.value}"
        self._record(tr, alarm.hazard, actor, out, peak=peak)

    def _track_peaks(self) -> None:
        """The worst value of each present condition, reported to the ledger when it clears."""
        if not self._peaks or self.conditions is None:
            return
        for key in self._peaks:
            sensor = self.registry.by_device.get(key.device)
            if sensor is not None:
                v = _finite(self.conditions.value[sensor.index])
                if v is not None and v > self._peaks[key]:
                    self._peaks[key] = v

    def _raise_hazard(
        self, sensor: Sensor, cond: Condition, value: float | None, now_ns: int, out: StepResult
    ) -> str:
        m = meaning(sensor.sensor_class, cond)
        grade = Grade.MAJOR if m.kind in self.cfg.ledger.major_kinds else Grade.GENERAL
        start = self._start_level.get(m.start_key, 0)
        before = self.ledger.open_hazard(dedup_key(m.kind, sensor.device, sensor.zone))
        hazard, created = self.ledger.raise_alarm_hazard(
            dedup_key=dedup_key(m.kind, sensor.device, sensor.zone),
            kind=Kind(m.kind),
            title=title(m.kind, m, sensor.device, sensor.place),
            grade=grade,
            level=m.level,
            device=sensor.device,
            zone=sensor.zone,
            location=sensor.place,
            value=value,
            condition=cond.value,
            actor=f"gateway:{self.ident.gateway}/rule:{cond.value}",
            ts_ns=now_ns,
            start_level=start,
        )
        if _needs_escalation(hazard):
            self._escalating.add(hazard.number)
        if not created and before is not None and hazard.level > before.level:
            self._tell_level_raised(hazard, m.label, now_ns, out)
        return hazard.number

    def _tell_level_raised(self, hazard: Hazard, label: str, now_ns: int, out: StepResult) -> None:
        """Everyone already told about this hazard hears at once that it got worse; those at the
        raised start level hear it from the new escalation round in this same step."""
        start = self.policy.levels[min(hazard.escalation.start_level, len(self.policy.levels) - 1)]
        everyone = {r for s in hazard.escalation.steps for r in s.recipients}
        told = sorted(everyone - set(start.recipients))
        if told:
            out.notifications.append(
                Notification(
                    hazard.number, hazard.title, hazard.kind.value, hazard.level, -1,
                    "everyone notified so far", tuple(told), 0, now_ns, f"raised to {label}",
                )
            )  # fmt: skip

    def _escalate(self, now_ns: int, out: StepResult) -> None:
        for number in sorted(self._escalating):
            hazard = self.ledger.hazard(number)
            if not _needs_escalation(hazard):
                self._escalating.discard(number)
                continue
            for step in due_steps(hazard, self.policy, now_ns):
                try:
                    self.ledger.record_escalation(
                        number, step, actor=f"gateway:{self.ident.gateway}"
                    )
                except LedgerError as exc:
                    # Acknowledged or closed from the CLI meanwhile: the refusal is the answer.
                    log.info("escalation of %s not recorded: %s", number, exc)
                    break
                reason = _alarm_reason(hazard)
                out.notifications.append(
                    Notification(
                        number, hazard.title, hazard.kind.value, hazard.level, step.level,
                        step.name, step.recipients, step.repeat, now_ns, reason,
                    )
                )  # fmt: skip

    # --- people ---------------------------------------------------------------------------

    def acknowledge(self, number: str, *, by: str, now_ns: int, reason: str = "") -> StepResult:
        """A person acknowledges a hazard: its alarms are acknowledged, escalation stops."""
        out = StepResult()
        ack = self.ledger.acknowledge(number, by=by, ts_ns=now_ns, reason=reason)
        self._apply_people([*self.ledger.refresh(), ack], now_ns, out)
        out.ledger_events += self._new_ledger_events()
        return out

    def _apply_people(self, events: Sequence[LedgerEvent], now_ns: int, out: StepResult) -> None:
        """Act on ledger events written by people (here or from the CLI in another process)."""
        for e in events:
            if e.number is None or e.type not in ("acknowledged", "closed"):
                continue
            alarm_event = AlarmEvent.ACK if e.type == "acknowledged" else AlarmEvent.RESET
            for alarm in self.alarms.for_hazard(e.number):
                tr = self.alarms.apply(alarm.key, alarm_event, now_ns, latching=alarm.latching)
                if tr is not None:
                    self._record(tr, e.number, e.actor, out)
            self._escalating.discard(e.number)

    # --- bookkeeping ----------------------------------------------------------------------

    def _record(
        self,
        tr: Transition,
        number: str | None,
        actor: str,
        out: StepResult,
        *,
        peak: float | None = None,
    ) -> None:
        out.transitions.append((tr, number))
        self.ledger.record_alarm_transition(
            number=number,
            alarm_key=str(tr.key),
            device=tr.key.device,
            condition=tr.key.condition,
            from_state=tr.before.value,
            to_state=tr.after.value,
            value=tr.value,
            actor=actor,
            ts_ns=tr.ts_ns,
            peak=peak,
        )

    def _new_ledger_events(self) -> list[LedgerEvent]:
        events = self.ledger.events_since(self._last_seq)
        if events:
            self._last_seq = events[-1].seq
        return events

    def reload(self, registry: Registry, now_ns: int) -> None:
        """Swap in a new device list; sensors that stay keep their history and alarm rows."""
        detector = self._new_detector(registry, now_ns)
        mapping = registry.mapping_from(self.registry)
        detector.carry_over(self.detector, mapping)
        active = np.zeros((len(registry), len(CONDITIONS)), dtype=bool)
        for new, old in mapping.items():
            active[new] = self.active[old]
        self.registry, self.detector, self.active = registry, detector, active


def _active_matrix(c: Conditions) -> BoolArray:
    return np.column_stack([c.level >= 1, c.level >= 2, c.rate_of_rise, c.stale, c.stuck])


def _needs_escalation(h: Hazard) -> bool:
    return h.acknowledged_at_ns is None and h.status.value not in ("closed", "verified")


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _alarm_reason(h: Hazard) -> str:
    return f"{h.kind.value} alarm, level {h.level}, {h.occurrences} occurrence(s), unacknowledged"
