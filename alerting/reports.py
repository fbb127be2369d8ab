"""Bulletins and statistics from the ledger (周报/月报, 季度/年度统计): hazards found, closed and
overdue, by grade, zone, source and kind; time to acknowledge and to rectify (median, p90);
detectors in fault; drills listed apart and never counted as hazards.

A report describes the ledger as it stood at the end of its period: the events up to that moment
are replayed into a fresh projection, so a report filed late (the quarter's by the 15th of the next
month) shows what was true then, not what happened since. Periods are the site's calendar
(weeks from Monday, in the site's time zone). report_render.py turns a Report into files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from alerting.hazards import Projection, apply
from alerting.records import Hazard, LedgerEvent
from alerting.vocabulary import NOT_A_HAZARD, Grade, Kind, LabelledEnum, Source, Status
from gateway.clock import NS_PER_S


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True)
class Window:
    period: Period
    label: str  # 2026-W10, 2026-03, 2026-Q1, 2026
    start: date  # first day, local
    end: date  # the day after the last, local
    start_ns: int
    end_ns: int


def window(period: Period, at: date, tz: tzinfo) -> Window:
    """The period of the site's calendar that contains the day `at`."""
    if period is Period.WEEK:
        start = at - timedelta(days=at.weekday())
        end, (iso_year, week, _) = start + timedelta(days=7), at.isocalendar()
        label = f"{iso_year}-W{week:02d}"
    elif period is Period.MONTH:
        start, end = at.replace(day=1), _add_months(at.replace(day=1), 1)
        label = f"{at.year}-{at.month:02d}"
    elif period is Period.QUARTER:
        start = date(at.year, 3 * ((at.month - 1) // 3) + 1, 1)
        end, label = _add_months(start, 3), f"{at.year}-Q{(at.month - 1) // 3 + 1}"
    else:
        start, end, label = date(at.year, 1, 1), date(at.year + 1, 1, 1), str(at.year)
    return Window(period, label, start, end, _midnight_ns(start, tz), _midnight_ns(end, tz))


def last_complete(period: Period, today: date, tz: tzinfo) -> Window:
    """The latest period that has ended by `today`: what a safety office files."""
    return window(period, window(period, today, tz).start - timedelta(days=1), tz)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight_ns(day: date, tz: tzinfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()) * NS_PER_S


@dataclass(frozen=True)
class Count:
    """One row of a breakdown: `key` is the stored value (or zone id), with its labels."""

    key: str
    en: str
    zh: str
    found: int
    closed: int
    overdue: int
    open: int


@dataclass(frozen=True)
class Durations:
    count: int
    median_s: float | None
    p90_s: float | None  # nearest rank


@dataclass(frozen=True)
class FaultRow:
    number: str
    title: str
    device: str | None
    zone: str | None
    since_ns: int
    status: Status


@dataclass(frozen=True)
class DrillRow:
    number: str
    title: str
    started_ns: int
    notified: int
    acknowledged: int


@dataclass(frozen=True)
class Report:
    site: str
    gateway: str
    window: Window
    last_seq: int  # the last ledger event the report counted
    found: int
    major_found: int
    closed: int
    false_alarms: int  # closed as false alarm or duplicate: not hazards after all
    overdue: int
    open_at_end: int
    by_grade: tuple[Count, ...]
    by_zone: tuple[Count, ...]
    by_source: tuple[Count, ...]
    by_kind: tuple[Count, ...]
    time_to_ack: Durations
    time_to_rectify: Durations
    faults: tuple[FaultRow, ...]  # detectors in fault (kind fault, open at the period's end)
    out_of_service: tuple[tuple[str, str], ...]  # (device, reason) given by the caller
    drills: tuple[DrillRow, ...]  # listed apart, never counted above


def state_at(events: Iterable[LedgerEvent], end_ns: int) -> Projection:
    """The projection replayed from the events written before `end_ns` (a prefix of the file)."""
    state = Projection()
    for event in events:
        if event.ts_ns >= end_ns:
            break
        apply(state, event)
    return state


def build_report(
    events: Sequence[LedgerEvent],
    win: Window,
    *,
    site: str,
    gateway: str,
    zone_names: Mapping[str, str] | None = None,
    out_of_service: Sequence[tuple[str, str]] = (),
) -> Report:
    state = state_at(events, win.end_ns)
    entries = [h for h in state.hazards.values() if not h.drill]
    inside = _Inside(win, entries)
    zones = zone_names or {}
    return Report(
        site=site,
        gateway=gateway,
        window=win,
        last_seq=state.last_seq,
        found=len(inside.found),
        major_found=sum(h.grade is Grade.MAJOR for h in inside.found),
        closed=len(inside.closed),
        false_alarms=sum(h.disposition in NOT_A_HAZARD for h in inside.closed),
        overdue=len(inside.overdue),
        open_at_end=len(inside.open),
        by_grade=_by_enum(inside, Grade, lambda h: h.grade),
        by_zone=_breakdown(inside, lambda h: h.zone or "-", lambda k: (zones.get(k, k), k)),
        by_source=_by_enum(inside, Source, lambda h: h.source),
        by_kind=_by_enum(inside, Kind, lambda h: h.kind),
        time_to_ack=_durations(_since_found(entries, win, lambda h: h.first_acknowledged_at_ns)),
        time_to_rectify=_durations(_since_found(entries, win, lambda h: h.rectified_at_ns)),
        faults=tuple(
            FaultRow(h.number, h.title, h.device, h.zone, h.found_at_ns, h.status)
            for h in inside.open
            if h.kind is Kind.FAULT
        ),
        out_of_service=tuple(out_of_service),
        drills=_drills(state, win),
    )


def win_has(win: Window, ts_ns: int) -> bool:
    return win.start_ns <= ts_ns < win.end_ns


def _since_found(
    entries: list[Hazard], win: Window, when: Callable[[Hazard], int | None]
) -> list[int]:
    """For entries whose moment `when` falls in the window: how long after being found."""
    spans = []
    for h in entries:
        moment = when(h)
        if moment is not None and win_has(win, moment):
            spans.append(moment - h.found_at_ns)
    return spans


class _Inside:
    """The entries each count looks at, as of the period's end."""

    def __init__(self, win: Window, entries: list[Hazard]) -> None:
        self.found = [h for h in entries if win_has(win, h.found_at_ns)]
        self.closed = [
            h for h in entries if h.closed_at_ns is not None and win_has(win, h.closed_at_ns)
        ]
        self.overdue = [h for h in entries if h.overdue_at(win.end_ns - 1)]
        self.open = [h for h in entries if h.status is not Status.CLOSED]


def _breakdown(
    inside: _Inside, key: Callable[[Hazard], str], labels: Callable[[str], tuple[str, str]]
) -> tuple[Count, ...]:
    keys = sorted({key(h) for h in [*inside.found, *inside.closed, *inside.open]})
    return tuple(_count(inside, k, key, labels(k)) for k in keys)


def _by_enum(
    inside: _Inside, enum: type[LabelledEnum], key: Callable[[Hazard], LabelledEnum]
) -> tuple[Count, ...]:
    """Every member of the enum gets a row, zeros included (drills are not hazards: left out)."""
    members = [m for m in enum if m is not Source.DRILL]
    return tuple(
        _count(inside, m.value, lambda h: key(h).value, (m.label.en, m.label.zh)) for m in members
    )


def _count(inside: _Inside, k: str, key: Callable[[Hazard], str], labels: tuple[str, str]) -> Count:
    def n(hazards: list[Hazard]) -> int:
        return sum(key(h) == k for h in hazards)

    found, closed = n(inside.found), n(inside.closed)
    return Count(k, labels[0], labels[1], found, closed, n(inside.overdue), n(inside.open))


def _durations(spans_ns: Iterable[int]) -> Durations:
    seconds = sorted(max(s, 0) / NS_PER_S for s in spans_ns)
    if not seconds:
        return Durations(0, None, None)
    p90 = seconds[math.ceil(0.9 * len(seconds)) - 1]
    return Durations(len(seconds), statistics.median(seconds), p90)


def _drills(state: Projection, win: Window) -> tuple[DrillRow, ...]:
    rows = []
    for h in state.hazards.values():
        if h.drill and win_has(win, h.escalation.started_ns):
            notified = {p for s in h.escalation.steps for p in s.recipients}
            rows.append(
                DrillRow(
                    h.number, h.title, h.escalation.started_ns, len(notified), len(h.drill_acks)
                )
            )
    return tuple(rows)
