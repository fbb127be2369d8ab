"""Emergency drills (应急演练) as evidence: who was notified through the real chain, when each
person acknowledged, and how long each took.

A person's time to acknowledge counts from the first drill notification that named them; someone
who acknowledged without being notified (they heard it on the radio) counts from the drill's start.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from alerting.records import Hazard
from alerting.vocabulary import Json, iso_utc, opt_iso
from gateway.clock import NS_PER_S
from gateway.errors import LedgerError


@dataclass(frozen=True)
class DrillPerson:
    person: str
    levels: tuple[str, ...]  # the duty levels that named them
    notified_at_ns: int | None
    acknowledged_at_ns: int | None
    seconds_to_ack: float | None
    deliveries_ok: int
    deliveries_failed: int

    def to_json(self) -> Json:
        return {
            "person": self.person, "levels": list(self.levels),
            "notified_at": opt_iso(self.notified_at_ns),
            "acknowledged_at": opt_iso(self.acknowledged_at_ns),
            "seconds_to_ack": self.seconds_to_ack, "deliveries_ok": self.deliveries_ok,
            "deliveries_failed": self.deliveries_failed,
        }  # fmt: skip


@dataclass(frozen=True)
class DrillReport:
    number: str
    title: str
    kind: str
    started_at_ns: int
    ended_at_ns: int | None
    people: tuple[DrillPerson, ...]

    @property
    def acknowledged(self) -> int:
        return sum(p.acknowledged_at_ns is not None for p in self.people)

    @property
    def median_s(self) -> float | None:
        times = [p.seconds_to_ack for p in self.people if p.seconds_to_ack is not None]
        return statistics.median(times) if times else None

    def to_json(self) -> Json:
        return {
            "number": self.number, "title": self.title, "kind": self.kind, "drill": True,
            "started_at": iso_utc(self.started_at_ns), "ended_at": opt_iso(self.ended_at_ns),
            "notified": sum(p.notified_at_ns is not None for p in self.people),
            "acknowledged": self.acknowledged, "median_seconds_to_ack": self.median_s,
            "people": [p.to_json() for p in self.people],
        }  # fmt: skip


def drill_report(hazard: Hazard) -> DrillReport:
    """Per person: notified when (and by which levels), acknowledged when, seconds between."""
    if not hazard.drill:
        raise LedgerError(f"{hazard.number} is not a drill")
    started = hazard.escalation.started_ns
    notified: dict[str, int] = {}
    levels: dict[str, list[str]] = {}
    for step in hazard.escalation.steps:
        for person in step.recipients:
            notified.setdefault(person, step.ts_ns)
            levels.setdefault(person, [])
            if step.name not in levels[person]:
                levels[person].append(step.name)
    everyone = list(dict.fromkeys([*notified, *hazard.drill_acks]))
    people = tuple(
        _person(hazard, p, notified.get(p), levels.get(p, []), started) for p in everyone
    )
    return DrillReport(
        hazard.number, hazard.title, hazard.kind.value, started, hazard.closed_at_ns, people
    )


def _person(
    hazard: Hazard, person: str, notified_ns: int | None, levels: list[str], started_ns: int
) -> DrillPerson:
    acked = hazard.drill_acks.get(person)
    since = notified_ns if notified_ns is not None else started_ns
    seconds = None if acked is None else max(acked - since, 0) / NS_PER_S
    mine = [d for d in hazard.deliveries if person in d.recipients]
    return DrillPerson(
        person=person,
        levels=tuple(levels),
        notified_at_ns=notified_ns,
        acknowledged_at_ns=acked,
        seconds_to_ack=seconds,
        deliveries_ok=sum(d.ok for d in mine),
        deliveries_failed=sum(not d.ok for d in mine),
    )
