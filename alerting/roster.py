"""The duty roster (值班表): who holds a role (the duty officer, the leader on duty, ...) at a given
moment, from weekly shifts in the site's time zone plus dated overrides (holidays, swaps).

24-hour duty means every role an escalation policy names is covered around the clock: `gaps(role)`
lists the hours of the week nobody holds it, so a config check can refuse the roster. A role that
still resolves to nobody falls back to the roster's `fallback` people, never to silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo

DUTY_OFFICER = "duty_officer"  # 值班员
LEADER_ON_DUTY = "leader_on_duty"  # 带班领导
RESPONSIBLE = "responsible"  # the hazard's responsible person (resolved by escalation, per entry)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_S = 86_400
_WEEK_S = 7 * _DAY_S


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True)
class Shift:
    """`person` holds `role` on `days` (0 = Monday) from `start` to `end`, local time.

    An end at or before the start runs past midnight into the next day; start == end is a
    24-hour shift. A shift belongs to the day it starts on.
    """

    role: str
    person: str
    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"shift of {self.person}: days must be 0..6 (Monday = 0)")

    @property
    def length_s(self) -> int:
        span = (_seconds(self.end) - _seconds(self.start)) % _DAY_S
        return span or _DAY_S

    def spans(self) -> Iterable[tuple[int, int]]:
        """[from, to) in seconds since Monday 00:00; a span may run past the week's end."""
        for day in sorted(self.days):
            begin = day * _DAY_S + _seconds(self.start)
            yield begin, begin + self.length_s

    def covers(self, week_s: int) -> bool:
        return any(a <= week_s < b or a <= week_s + _WEEK_S < b for a, b in self.spans())


@dataclass(frozen=True)
class Override:
    """A dated exception: `person` holds `role` from `start` to `end` (aware datetimes)."""

    role: str
    person: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("override times need a time zone")
        if self.end <= self.start:
            raise ValueError(f"override for {self.person}: end is not after start")


@dataclass(frozen=True)
class Roster:
    shifts: tuple[Shift, ...]
    tz: tzinfo = UTC
    overrides: tuple[Override, ...] = ()
    fallback: tuple[str, ...] = ()  # told when a role resolves to nobody (a roster gap)
    _by_role: Mapping[str, tuple[Shift, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_role: dict[str, list[Shift]] = {}
        for shift in self.shifts:
            by_role.setdefault(shift.role, []).append(shift)
        object.__setattr__(self, "_by_role", {r: tuple(s) for r, s in by_role.items()})

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self._by_role) | {o.role for o in self.overrides}

    def on_duty(self, role: str, at_ns: int) -> tuple[str, ...]:
        """Who holds `role` at `at_ns`: a dated override wins over the weekly shifts."""
        moment = datetime.fromtimestamp(at_ns // 1_000_000_000, UTC)
        dated = [o.person for o in self.overrides if o.role == role and o.start <= moment < o.end]
        if dated:
            return tuple(dict.fromkeys(dated))
        local = moment.astimezone(self.tz)
        week_s = local.weekday() * _DAY_S + _seconds(local.time())
        people = [s.person for s in self._by_role.get(role, ()) if s.covers(week_s)]
        return tuple(dict.fromkeys(people))

    def duty_officer(self, at_ns: int) -> tuple[str, ...]:
        return self.on_duty(DUTY_OFFICER, at_ns)

    def leader_on_duty(self, at_ns: int) -> tuple[str, ...]:
        return self.on_duty(LEADER_ON_DUTY, at_ns)

    def resolve(self, recipient: str, at_ns: int) -> tuple[str, ...]:
        """A role to the people holding it (or the fallback); anything else is a person id."""
        if recipient not in self.roles:
            return (recipient,)
        return self.on_duty(recipient, at_ns) or self.fallback or (recipient,)

    def resolve_all(self, recipients: Sequence[str], at_ns: int) -> tuple[str, ...]:
        resolved = (person for r in recipients for person in self.resolve(r, at_ns))
        return tuple(dict.fromkeys(resolved))

    def gaps(self, role: str) -> list[str]:
        """The hours of a week nobody holds `role` (weekly shifts only), e.g. "tue 02:00-08:00"."""
        spans = sorted(
            piece
            for s in self._by_role.get(role, ())
            for a, b in s.spans()
            for piece in ((a, min(b, _WEEK_S)), (0, b - _WEEK_S))
            if piece[1] > piece[0]
        )
        holes, reached = [], 0
        for a, b in spans:
            if a > reached:
                holes.append((reached, a))
            reached = max(reached, b)
        if reached < _WEEK_S:
            holes.append((reached, _WEEK_S))
        return [_describe(a, b) for a, b in holes]


def _describe(a: int, b: int) -> str:
    def at(s: int) -> str:
        return f"{DAYS[(s // _DAY_S) % 7]} {s % _DAY_S // 3600:02d}:{s % 3600 // 60:02d}"

    return "the whole week" if b - a >= _WEEK_S else f"{at(a)} to {at(b)}"


def parse_days(names: Iterable[str]) -> frozenset[int]:
    """["mon", "tue"] or ["weekdays"], ["weekend"], ["daily"] to weekday numbers."""
    groups = {"daily": range(7), "weekdays": range(5), "weekend": range(5, 7)}
    days: set[int] = set()
    for name in names:
        key = name.strip().lower()
        if key in groups:
            days.update(groups[key])
        elif key in DAYS or key in _FULL_DAYS:
            days.add(DAYS.index(key[:3]))
        else:
            raise ValueError(f"unknown day {name!r}: use mon..sun, weekdays, weekend or daily")
    return frozenset(days)


def parse_time(text: str) -> time:
    """ "08:00" -> 08:00; "24:00" is midnight at the end of the day (the same as 00:00)."""
    if text.strip() == "24:00":
        return time(0, 0)
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"bad time of day {text!r}: use HH:MM") from exc
