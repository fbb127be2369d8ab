"""Invariants of the alarm path, as hypothesis properties:
- a reading above level 2 for longer than the on-delay always yields a level-2 alarm;
- an alarm never returns to normal while its condition holds;
- shelving always expires.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.alarms import AlarmBook, AlarmEvent, AlarmKey, AlarmState
from gateway.model import ReadingBatch
from tests.unit.test_alarms_engine import BASE, at, engine_for, reading

E, S = AlarmEvent, AlarmState
KEY = AlarmKey("gas-1", "level2")
QUICK = settings(max_examples=40, deadline=None)


@QUICK
@given(
    on_delay=st.floats(0, 10),  # the gas budget is 10 s
    value=st.floats(50, 100),  # at or above level 2 (50 %LEL), within range
    start=st.floats(0.5, 30),
    gaps=st.lists(st.floats(0.05, 3.0), min_size=5, max_size=40),  # uneven ticks and readings
)
def test_above_level_2_for_longer_than_the_on_delay_is_a_level_2_alarm(
    on_delay: float, value: float, start: float, gaps: list[float]
) -> None:
    text = BASE.replace(
        "class: combustible_gas,",
        f"class: combustible_gas, thresholds: {{on_delay_s: {on_delay}}},",
    )
    with tempfile.TemporaryDirectory() as tmp, engine_for(Path(tmp), text) as e:
        e.step([reading(e, "gas-1", 0.0, 0)], at(0))
        t = start
        for gap in gaps:
            e.step([reading(e, "gas-1", value, t)], at(t))
            alarm = e.alarms.get(KEY)
            held = t - start
            if held > on_delay + 1e-6:  # longer than the on-delay (timestamps are whole ns)
                assert alarm is not None
                assert alarm.state in (S.UNACKED, S.ACKED), (held, on_delay)
            t += gap


PEOPLE = [E.ACK, E.RESET, E.SHELVE, E.UNSHELVE, E.SUPPRESS, E.UNSUPPRESS, E.REMOVE, E.RESTORE]
PEOPLE += [E.TEST_START, E.TEST_END]


@settings(max_examples=300, deadline=None)
@given(
    latching=st.booleans(),
    events=st.lists(st.sampled_from([E.ACTIVATE, E.CLEAR, *PEOPLE]), max_size=40),
)
def test_an_alarm_never_returns_to_normal_while_its_condition_holds(
    latching: bool, events: list[AlarmEvent]
) -> None:
    book = AlarmBook()
    present = False
    for i, event in enumerate(events):
        book.apply(KEY, event, i, latching=latching)
        present = {E.ACTIVATE: True, E.CLEAR: False}.get(event, present)
        alarm = book.get(KEY)
        if present:
            assert alarm is not None
            assert alarm.state is not S.NORMAL
            if not alarm.overlays:  # nothing hides it: it is annunciated
                assert alarm.state in (S.UNACKED, S.ACKED)


@QUICK
@given(
    duration=st.floats(1, 8 * 3600),  # up to detection.shelve_max_s (8 h by default)
    gaps=st.lists(st.floats(1, 4000), min_size=1, max_size=30),
)
def test_shelving_always_expires(duration: float, gaps: list[float]) -> None:
    key = AlarmKey("gas-1", "level1")
    with tempfile.TemporaryDirectory() as tmp, engine_for(Path(tmp)) as e:
        e.step([reading(e, "gas-1", 30.0, 0)], at(0))
        e.shelve("gas-1", "level1", by="p1", reason="noisy head", duration_s=duration, now_ns=at(1))
        t = 1.0
        for gap in [*gaps, duration]:  # the schedule always reaches the shelf's end
            t += gap
            e.step([ReadingBatch.of([0], [30.0], [at(t)])], at(t))
            alarm = e.alarms.get(key)
            assert alarm is not None
            expired = at(t) >= at(1) + int(duration * 1e9)
            assert (alarm.state is S.SHELVED) is not expired
            if expired:
                assert alarm.shelf is None
                assert alarm.state is S.UNACKED  # still present: annunciated anew
                return
