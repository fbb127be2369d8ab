"""Alarm floods per zone, and the one record each flood leaves in the ledger.

A zone floods when more than `limit` new alarms are annunciated in it within `window_s` (the alarm
health limits, ISA-18.2's 10 in 10 minutes). Its notifications are already grouped by the notify
pipeline (one message per window and key instead of one per alarm); the flood's ledger records
say so for the audit: one `alarm_flood` when the zone starts flooding (from then on its
notifications are grouped, not sent one by one), one `alarm_flood_ended` with the totals once
the rate falls back to the limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

NS = 1_000_000_000


@dataclass(slots=True)
class Flood:
    """One flood episode of one zone."""

    zone: str
    started_ns: int
    alarms: int  # new alarms since the episode started (the ones that started it included)
    hazards: list[str] = field(default_factory=list)  # entries they fed, first seen first


@dataclass(slots=True)
class FloodWatch:
    limit: int  # more than this many new alarms in window_s is a flood
    window_s: float
    _recent: dict[str, deque[tuple[int, str | None]]] = field(default_factory=dict)
    floods: dict[str, Flood] = field(default_factory=dict)  # zone -> its open episode

    def observe(self, zone: str, ts_ns: int, hazard: str | None) -> Flood | None:
        """Count one new alarm in `zone`; the episode when this one starts a flood."""
        recent = self._recent.setdefault(zone, deque())
        recent.append((ts_ns, hazard))
        self._trim(recent, ts_ns)
        flood = self.floods.get(zone)
        if flood is not None:
            flood.alarms += 1
            _add(flood.hazards, hazard)
            return None
        if len(recent) <= self.limit:
            return None
        flood = Flood(zone, recent[0][0], len(recent))
        for _, number in recent:
            _add(flood.hazards, number)
        self.floods[zone] = flood
        return flood

    def ended(self, now_ns: int) -> list[Flood]:
        """Episodes whose zone is back within the limit, taken off the watch."""
        out = []
        for zone in list(self.floods):
            recent = self._recent.get(zone, deque())
            self._trim(recent, now_ns)
            if len(recent) <= self.limit:
                out.append(self.floods.pop(zone))
        for zone in [z for z, r in self._recent.items() if not r and z not in self.floods]:
            del self._recent[zone]
        return out

    def _trim(self, recent: deque[tuple[int, str | None]], now_ns: int) -> None:
        cutoff = now_ns - int(self.window_s * NS)
        while recent and recent[0][0] <= cutoff:
            recent.popleft()


def _add(hazards: list[str], number: str | None) -> None:
    if number is not None and number not in hazards:
        hazards.append(number)
