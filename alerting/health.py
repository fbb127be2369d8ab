"""Alarm system health (ISA-18.2 / EEMUA 191), computed continuously from the transitions.

- alarms per 10 minutes: new annunciations in the trailing window; about 1 per operator is
  acceptable, 2 the manageable maximum;
- flood: more than 10 new alarms in 10 minutes (counted as episodes: a flood starts and ends);
- chattering: the same alarm annunciated 3 or more times within 60 s;
- stale: an alarm whose condition has stood for more than 24 h.
The limits are settings with these defaults.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from alerting.alarms import (
    ANNUNCIATED,
    TESTING,
    UNACKNOWLEDGED,
    Alarm,
    AlarmKey,
    AlarmState,
    Transition,
)

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class HealthLimits:
    window_s: float = 600.0
    flood_count: int = 10  # more than this many in window_s is a flood
    chatter_count: int = 3
    chatter_window_s: float = 60.0
    stale_after_s: float = 86_400.0


@dataclass(frozen=True, slots=True)
class AlarmKpi:
    """One sample of the alarm system's health (the `alarm_kpi` measurement's fields)."""

    alarms_per_window: int  # new annunciations within window_s (10 minutes by default)
    flood: bool
    floods: int  # flood episodes since start
    chattering: int  # alarms annunciated chatter_count+ times within chatter_window_s
    stale: int  # annunciated alarms whose condition has stood longer than stale_after_s
    annunciated: int
    unacknowledged: int
    shelved: int
    suppressed: int
    out_of_service: int  # alarms held out of service (devices: see the ledger)
    in_test: int

    def fields(self) -> dict[str, int | bool]:
        return asdict(self)


class AlarmHealth:
    def __init__(self, limits: HealthLimits | None = None) -> None:
        self.limits = limits or HealthLimits()
        self._annunciations: deque[int] = deque()
        self._per_alarm: dict[AlarmKey, deque[int]] = {}
        self._flooding = False
        self.floods = 0

    def observe(self, transitions: Iterable[Transition]) -> None:
        for tr in transitions:
            if tr.after is AlarmState.UNACKED and tr.before is not AlarmState.UNACKED:
                self._annunciations.append(tr.ts_ns)
                self._per_alarm.setdefault(tr.key, deque()).append(tr.ts_ns)

    def kpi(self, now_ns: int, alarms: Iterable[Alarm]) -> AlarmKpi:
        lim = self.limits
        _trim(self._annunciations, now_ns - int(lim.window_s * NS))
        recent = len(self._annunciations)
        flood = recent > lim.flood_count
        if flood and not self._flooding:
            self.floods += 1
        self._flooding = flood
        chattering = 0
        for key, times in list(self._per_alarm.items()):
            _trim(times, now_ns - int(lim.chatter_window_s * NS))
            if not times:
                del self._per_alarm[key]
            elif len(times) >= lim.chatter_count:
                chattering += 1
        states = [(a.state, a.active_since_ns) for a in alarms]
        stale_before = now_ns - int(lim.stale_after_s * NS)

        def count(wanted: frozenset[AlarmState] | set[AlarmState]) -> int:
            return sum(s in wanted for s, _ in states)

        return AlarmKpi(
            alarms_per_window=recent,
            flood=flood,
            floods=self.floods,
            chattering=chattering,
            stale=sum(s in ANNUNCIATED and t is not None and t < stale_before for s, t in states),
            annunciated=count(ANNUNCIATED),
            unacknowledged=count(UNACKNOWLEDGED),
            shelved=count({AlarmState.SHELVED}),
            suppressed=count({AlarmState.SUPPRESSED}),
            out_of_service=count({AlarmState.OUT_OF_SERVICE}),
            in_test=count(TESTING),
        )


def _trim(times: deque[int], before_ns: int) -> None:
    while times and times[0] < before_ns:
        times.popleft()
