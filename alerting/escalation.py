"""Escalation through a duty chain: who is notified next, and when.

Pure functions over the ledger projection. No timer lives anywhere but in the ledger: the next step
is scheduled from the steps already recorded there, so a restarted daemon that replays the ledger
resumes at the right step, and a recorded step is never due again.

Two ladders use the same rules:
- the alarm ladder (`due_steps`) runs until someone acknowledges. Round 0 starts when the hazard
  is registered; a level rise (gas level 2 after level 1) starts a new round at the raised start
  level, due at once, so the people already told about level 1 hear that it got worse. A drill's
  ladder is not stopped by acknowledgements (each person's time is measured) and never repeats.
- the deadline ladder (`deadline_due_steps`) starts when a rectification deadline passes and runs
  until the entry is verified; each step marks the entry as supervised (督办). A new deadline
  starts a new round.

Recipients are person ids or roles: roster roles (duty_officer, leader_on_duty) resolved by the
`resolve` callable at notification time, and `responsible` (the entry's responsible person).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from alerting.records import EscalationState, EscalationStep, Hazard
from alerting.roster import RESPONSIBLE
from gateway.clock import NS_PER_S

Resolve = Callable[[str, int], tuple[str, ...]]  # (recipient, at_ns) -> person ids


@dataclass(frozen=True)
class EscalationLevel:
    name: str
    recipients: tuple[str, ...]  # person ids or roles
    delay_s: float  # wait after the previous level was notified (level 0's delay is ignored)


@dataclass(frozen=True)
class EscalationPolicy:
    levels: tuple[EscalationLevel, ...]
    repeat_s: float | None = None  # after the last level, notify it again this often until acked

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("an escalation policy needs at least one level")
        for level in self.levels:
            if not math.isfinite(level.delay_s) or level.delay_s < 0:
                raise ValueError(f"level {level.name!r}: delay_s must be >= 0, got {level.delay_s}")
        if self.repeat_s is not None and not (math.isfinite(self.repeat_s) and self.repeat_s > 0):
            raise ValueError(f"repeat_s must be > 0 or None, got {self.repeat_s}")


@dataclass(frozen=True)
class PolicyRule:
    """A policy for some kinds and grades (an empty set matches any), with its start levels."""

    policy: EscalationPolicy
    kinds: frozenset[str] = frozenset()
    grades: frozenset[str] = frozenset()
    start_level: Mapping[str, int] = field(default_factory=dict)  # by start key (gas_level2)

    def matches(self, kind: str, grade: str) -> bool:
        return (not self.kinds or kind in self.kinds) and (not self.grades or grade in self.grades)


@dataclass(frozen=True)
class PolicyBook:
    """Every escalation policy of a site: the first rule matching kind and grade wins."""

    default: EscalationPolicy
    start_level: Mapping[str, int] = field(default_factory=dict)
    rules: tuple[PolicyRule, ...] = ()
    deadline: EscalationPolicy | None = None  # overdue rectifications; None: not escalated

    def rule_for(self, kind: str, grade: str) -> PolicyRule:
        for rule in self.rules:
            if rule.matches(kind, grade):
                return rule
        return PolicyRule(self.default, start_level=self.start_level)

    def policy_for(self, hazard: Hazard) -> EscalationPolicy:
        return self.rule_for(hazard.kind.value, hazard.grade.value).policy

    def start_level_for(self, kind: str, grade: str, start_key: str) -> int:
        """Where the alarm ladder starts, clamped to the chain (level-2 gas and fire start
        higher); a rule without its own start levels uses the book's."""
        rule = self.rule_for(kind, grade)
        levels = rule.start_level or self.start_level
        return min(max(levels.get(start_key, 0), 0), len(rule.policy.levels) - 1)


def due_steps(
    hazard: Hazard, policy: EscalationPolicy, now_ns: int, *, resolve: Resolve | None = None
) -> list[EscalationStep]:
    """The alarm-ladder steps due at `now_ns`, in order, each stamped `now_ns`.

    After downtime every level missed is returned (nobody is skipped); missed repeats of the last
    level collapse into one, and no repeat follows a level notified in the same batch.
    """
    if not hazard.escalating:  # acknowledged, or beyond: the ladder stops; a drill runs on
        return []
    repeat_s = None if hazard.drill else policy.repeat_s
    return _due(hazard, hazard.escalation, policy, repeat_s, now_ns, resolve=resolve)


def next_due_ns(hazard: Hazard, policy: EscalationPolicy) -> int | None:
    """When the next alarm-ladder step falls due (possibly already past), or None if done."""
    if not hazard.escalating:
        return None
    repeat_s = None if hazard.drill else policy.repeat_s
    return next((at for _, _, at in _upcoming(hazard.escalation, policy, repeat_s)), None)


def deadline_due_steps(
    hazard: Hazard, policy: EscalationPolicy, now_ns: int, *, resolve: Resolve | None = None
) -> list[EscalationStep]:
    """The deadline-ladder steps due at `now_ns`: level 0 when the deadline passes, each next
    level after its delay, while the rectification is not verified. Record each with
    `Ledger.record_overdue`, which marks the entry as supervised (督办)."""
    ladder = hazard.deadline_escalation
    if ladder is None or not hazard.overdue_at(now_ns):
        return []
    return _due(hazard, ladder, policy, policy.repeat_s, now_ns, resolve=resolve)


def deadline_next_due_ns(hazard: Hazard, policy: EscalationPolicy) -> int | None:
    ladder = hazard.deadline_escalation
    if ladder is None or hazard.deadline_ns is None or not hazard.overdue_at(hazard.deadline_ns):
        return None
    return next((at for _, _, at in _upcoming(ladder, policy, policy.repeat_s)), None)


def overdue(hazards: list[Hazard], now_ns: int) -> list[Hazard]:
    """Entries whose rectification deadline has passed and that are not verified (no drills)."""
    return [h for h in hazards if h.overdue_at(now_ns)]


def recipients(
    hazard: Hazard, level: EscalationLevel, now_ns: int, resolve: Resolve | None = None
) -> tuple[str, ...]:
    """A level's recipients as people: roles through the roster, `responsible` from the entry."""
    people: list[str] = []
    for r in level.recipients:
        if r == RESPONSIBLE and hazard.responsible:
            people.append(hazard.responsible)
        else:
            people.extend(resolve(r, now_ns) if resolve is not None else (r,))
    return tuple(dict.fromkeys(people))


def _due(
    hazard: Hazard,
    ladder: EscalationState,
    policy: EscalationPolicy,
    repeat_s: float | None,
    now_ns: int,
    *,
    resolve: Resolve | None,
) -> list[EscalationStep]:
    steps: list[EscalationStep] = []
    for level, repeat, due_ns in _upcoming(ladder, policy, repeat_s):
        if due_ns > now_ns or (repeat and steps):
            break
        spec = policy.levels[level]
        who = recipients(hazard, spec, now_ns, resolve)
        steps.append(EscalationStep(level, spec.name, who, now_ns, repeat, ladder.round))
        if repeat:
            break
    return steps


def _upcoming(
    ladder: EscalationState, policy: EscalationPolicy, repeat_s: float | None
) -> Iterator[tuple[int, int, int]]:
    """(level, repeat, due_ns) of the steps still to come in this round; endless when repeating.

    Each is scheduled from the one before it, starting from the last recorded step.
    """
    top = len(policy.levels) - 1
    done = [s for s in ladder.steps if s.round == ladder.round]
    if done:
        # the policy may have shrunk since that step was recorded: continue from the top
        level, repeat, at = min(done[-1].level, top), done[-1].repeat, done[-1].ts_ns
    else:
        # a start level beyond the policy means "the top": never skip notifying anyone
        level, repeat, at = min(max(ladder.start_level, 0), top), 0, ladder.started_ns
        yield level, repeat, at
    while True:
        if level < top:
            level, repeat = level + 1, 0
            at += _ns(policy.levels[level].delay_s)
        elif repeat_s is not None:
            repeat += 1
            at += _ns(repeat_s)
        else:
            return
        yield level, repeat, at


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


class RealTime:
    """Escalation delays in real time when the wall clock steps back.

    Timers come from the wall timestamps in the ledger, so a clock stepped back an hour (NTP, a
    GPS fix, `date -s`) would hold the next level back an hour while people wait in real time.
    For a ladder whose last mark (its round's start or latest step) was made by this process, the
    time since that mark is the larger of the wall and the monotonic time elapsed: a forward step
    still releases what it skipped (early rather than late), a backward one holds nothing back.
    After a restart only the wall clock is known (the monotonic clock of another process, or of
    another boot, cannot be compared).
    """

    def __init__(self) -> None:
        self._marks: dict[str, tuple[int, int]] = {}  # hazard -> (wall ns of its mark, mono ns)

    def now_for(self, number: str, last_ns: int, wall_ns: int, mono_ns: int | None) -> int:
        """The time to schedule `number`'s ladder against; `last_ns` is its last mark in the
        ledger (`last_mark_ns`)."""
        if mono_ns is None:
            return wall_ns
        mark = self._marks.get(number)
        if mark is None or mark[0] != last_ns:
            if last_ns == wall_ns:  # the round starts in this step: its mark is now
                self._marks[number] = (wall_ns, mono_ns)
            return wall_ns
        return max(wall_ns, last_ns + mono_ns - mark[1])

    def mark(self, number: str, wall_ns: int, mono_ns: int | None) -> None:
        """A step of `number` was recorded at `wall_ns`."""
        if mono_ns is not None:
            self._marks[number] = (wall_ns, mono_ns)

    def forget(self, number: str) -> None:
        self._marks.pop(number, None)


def last_mark_ns(ladder: EscalationState) -> int:
    """When the ladder's current round last moved: its latest step, else its start."""
    done = [s.ts_ns for s in ladder.steps if s.round == ladder.round]
    return done[-1] if done else ladder.started_ns
