"""The wall clock steps (NTP, a GPS fix, an operator's `date -s`) while an escalation runs.

The engine is stepped directly, once per second of real (monotonic) time, with the wall time a
clock would report: it jumps while monotonic time does not. Escalation timers are computed from
the wall timestamps stored in the ledger (alerting/escalation.py), so these tests fix what is
correct:
- a forward jump releases at most the steps it skipped, each exactly once, and nothing after;
- a backward jump never repeats a step already sent;
- a backward jump does not hold the next step back by the size of the jump (the people waiting
  for it are waiting in real time): the engine is given the monotonic clock too.
The demo config's gas level 1 ladder: duty officer at 0 s, safety officer 120 s later, principal
responsible person 180 s after that, supervising office after that, then repeats.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from alerting.ledger import Ledger
from alerting.notify import Notification
from gateway.demo import demo_config
from gateway.engine import Engine
from gateway.model import Identity, ReadingBatch
from gateway.registry import Registry

S = 1_000_000_000
T0 = 1_795_000_000 * S
HOUR = 3600
LADDER = ["duty officer", "safety officer", "principal responsible person", "supervising office"]


class Site:
    """Engine and ledger on the demo config; `tell` steps it over seconds of monotonic time
    with wall time = T0 + seconds + the clock's current offset."""

    def __init__(self, state: Path) -> None:
        cfg = demo_config(state)
        self.registry = Registry.from_config(cfg)
        self.ledger = Ledger(state / "ledger.sqlite", Identity(cfg.site.id, cfg.gateway.id))
        self.engine = Engine(cfg, self.registry, self.ledger, start_ns=T0)
        self.offset_s = 0
        self.gas = 30.0  # %LEL at the kitchen gas head
        self.told: list[tuple[int, str]] = []  # (monotonic second, level name)

    def batch(self, ts: int) -> ReadingBatch:
        """The kitchen gas head at `gas` (over level 1), every other sensor normal and alive."""
        normal = {"smoke": 0.0, "combustible_gas": 0.5, "co": 2.0, "temperature": 21.0}
        values = [
            self.gas
            if s.device == "kitchen-gas-1"
            else normal[s.sensor_class.value] + (ts // S % 3) / 10
            for s in self.registry.sensors
        ]
        return ReadingBatch.of(list(range(len(values))), values, [ts] * len(values))

    def run(self, seconds: range) -> list[str]:
        return [n.step_name for n in self.run_notes(seconds)]

    def run_notes(self, seconds: range) -> list[Notification]:
        notes = []
        for t in seconds:
            ts = T0 + (t + self.offset_s) * S
            result = self.engine.step([self.batch(ts)], ts, mono_ns=t * S)
            notes += result.notifications
            self.told += [(t, n.step_name) for n in result.notifications]
        return notes

    def steps(self) -> list[tuple[int, int]]:
        (hazard,) = self.ledger.hazards()
        return [(s.level, s.repeat) for s in hazard.escalation.steps]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_a_forward_jump_releases_the_skipped_steps_once_each(site: Site) -> None:
    assert site.run(range(10)) == LADDER[:1]
    site.offset_s = HOUR  # the clock steps an hour ahead, 10 s into the alarm
    released = site.run(range(10, 11))
    assert released == LADDER[1:]  # the three skipped levels, in order, at once
    assert site.run(range(11, 300)) == []  # and nothing more until a repeat is due
    assert len(site.steps()) == len(set(site.steps())) == 4
    assert site.ledger.verify().ok


def test_a_backward_jump_never_repeats_a_step(site: Site) -> None:
    assert site.run(range(130)) == LADDER[:2]
    site.offset_s = -HOUR
    later = site.run(range(130, 130 + 2 * HOUR))  # two real hours with the clock an hour behind
    sent = Counter(site.steps())
    assert all(n == 1 for n in sent.values()), sent  # no (level, repeat) twice
    assert later[:2] == LADDER[2:]  # the ladder goes on where it was, in order
    assert site.ledger.verify().ok


def test_a_backward_jump_does_not_hold_the_next_step_back(site: Site) -> None:
    site.run(range(130))  # duty officer at 0 s, safety officer at 120 s
    site.offset_s = -HOUR
    site.run(range(130, 130 + 400))
    when = {name: t for t, name in reversed(site.told)}
    assert LADDER[2] in when, "not sent within 400 s of real time (due after 300 s)"
    assert when[LADDER[2]] == 120 + 180  # due 180 s of real time after the safety officer
