"""Escalation through a duty chain: who is notified next about an unacknowledged hazard, and when.

Pure functions over the ledger projection. No timer lives anywhere but in the ledger: the next step
is scheduled from the steps already recorded there, so a restarted daemon that replays the ledger
resumes at the right step, and a recorded step is never due again.

A ladder runs in rounds. Round 0 starts when the hazard is registered; a level rise (gas level 2
after level 1) starts a new round at the raised start level, due at once, so the people already told
about level 1 hear that it got worse. Acknowledgement or closure stops the ladder.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from alerting.hazards import EscalationStep, Hazard, Status
from gateway.clock import NS_PER_S


@dataclass(frozen=True)
class EscalationLevel:
    name: str
    recipients: tuple[str, ...]
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


def due_steps(hazard: Hazard, policy: EscalationPolicy, now_ns: int) -> list[EscalationStep]:
    """The steps due at `now_ns`, in order, each stamped `now_ns`.

    After downtime every level missed is returned (nobody is skipped); missed repeats of the last
    level collapse into one, and no repeat follows a level notified in the same batch.
    """
    steps: list[EscalationStep] = []
    for level, repeat, due_ns in _upcoming(hazard, policy):
        if due_ns > now_ns or (repeat and steps):
            break
        spec = policy.levels[level]
        steps.append(
            EscalationStep(
                level, spec.name, spec.recipients, now_ns, repeat, hazard.escalation.round
            )
        )
        if repeat:
            break
    return steps


def next_due_ns(hazard: Hazard, policy: EscalationPolicy) -> int | None:
    """When the next step falls due (possibly already past), or None if the ladder is done."""
    return next((due_ns for _, _, due_ns in _upcoming(hazard, policy)), None)


def _upcoming(hazard: Hazard, policy: EscalationPolicy) -> Iterator[tuple[int, int, int]]:
    """(level, repeat, due_ns) of the steps still to come in this round; endless when repeating.

    Each is scheduled from the one before it, starting from the last recorded step.
    """
    if hazard.status is not Status.REGISTERED:  # acknowledged or beyond: the ladder stops
        return
    esc = hazard.escalation
    top = len(policy.levels) - 1
    done = [s for s in esc.steps if s.round == esc.round]
    if done:
        # the policy may have shrunk since that step was recorded: continue from the top
        level, repeat, at = min(done[-1].level, top), done[-1].repeat, done[-1].ts_ns
    else:
        # a start level beyond the policy means "the top": never skip notifying anyone
        level, repeat, at = min(max(esc.start_level, 0), top), 0, esc.started_ns
        yield level, repeat, at
    while True:
        if level < top:
            level, repeat = level + 1, 0
            at += _ns(policy.levels[level].delay_s)
        elif policy.repeat_s is not None:
            repeat += 1
            at += _ns(policy.repeat_s)
        else:
            return
        yield level, repeat, at


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)
