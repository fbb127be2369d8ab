"""The alarm state machine: ISA-18.2 states, latching fire and gas alarms."""

from __future__ import annotations

import pytest

from alerting.alarms import AlarmBook, AlarmEvent, AlarmKey, AlarmState, next_state

S, E = AlarmState, AlarmEvent


@pytest.mark.parametrize(
    ("events", "latching", "final"),
    [
        ([E.ACTIVATE], False, S.UNACKED),
        ([E.ACTIVATE, E.ACK], False, S.ACKED),
        ([E.ACTIVATE, E.ACK, E.CLEAR], False, S.NORMAL),
        ([E.ACTIVATE, E.CLEAR], False, S.RTN_UNACKED),
        ([E.ACTIVATE, E.CLEAR, E.ACK], False, S.NORMAL),
        ([E.ACTIVATE, E.CLEAR, E.ACTIVATE], False, S.UNACKED),
        ([E.ACTIVATE, E.CLEAR], True, S.LATCHED_UNACKED),
        ([E.ACTIVATE, E.CLEAR, E.ACK], True, S.LATCHED),
        ([E.ACTIVATE, E.ACK, E.CLEAR], True, S.LATCHED),
        ([E.ACTIVATE, E.ACK, E.CLEAR, E.RESET], True, S.NORMAL),
        ([E.ACTIVATE, E.ACK, E.RESET], True, S.ACKED),  # no reset while the hazard is present
        ([E.ACTIVATE, E.CLEAR, E.RESET], True, S.LATCHED_UNACKED),  # ack before reset
        ([E.ACTIVATE, E.ACK, E.CLEAR, E.ACTIVATE], True, S.UNACKED),  # it came back
        ([E.CLEAR, E.ACK, E.RESET], False, S.NORMAL),  # nothing to do in normal
    ],
)
def test_state_after_a_sequence_of_events(
    events: list[AlarmEvent], latching: bool, final: AlarmState
) -> None:
    state = S.NORMAL
    for event in events:
        state = next_state(state, event, latching=latching)
    assert state is final


def test_the_book_reports_transitions_and_ignores_non_events() -> None:
    book = AlarmBook()
    key = AlarmKey("gas-1", "level1")
    first = book.apply(key, E.ACTIVATE, 10, latching=True, value=30.0)
    assert first is not None
    assert (first.before, first.after, first.value) == (S.NORMAL, S.UNACKED, 30.0)
    assert book.apply(key, E.ACTIVATE, 11, latching=True) is None  # already active
    assert book.apply(AlarmKey("gas-2", "level1"), E.CLEAR, 12, latching=True) is None
    assert [a.key for a in book.annunciated()] == [key]


def test_alarms_feeding_one_hazard_are_found_together() -> None:
    book = AlarmBook()
    for device in ("temp-1", "smoke-1"):
        book.apply(AlarmKey(device, "level1"), E.ACTIVATE, 1, latching=True)
        alarm = book.get(AlarmKey(device, "level1"))
        assert alarm is not None
        alarm.hazard = "YH-1"
    assert {a.key.device for a in book.for_hazard("YH-1")} == {"temp-1", "smoke-1"}
