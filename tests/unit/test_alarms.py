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


# --- overlays: shelved, suppressed, out of service, test -----------------------------------

KEY = AlarmKey("gas-1", "level1")


@pytest.mark.parametrize(
    ("events", "final"),
    [
        ([E.ACTIVATE, E.SHELVE], S.SHELVED),
        ([E.ACTIVATE, E.SHELVE, E.UNSHELVE], S.UNACKED),  # still present: annunciated anew
        ([E.ACTIVATE, E.SHELVE, E.CLEAR, E.UNSHELVE], S.NORMAL),  # cleared meanwhile
        ([E.ACTIVATE, E.ACK, E.SUPPRESS, E.UNSUPPRESS], S.UNACKED),
        ([E.ACTIVATE, E.SHELVE, E.REMOVE], S.OUT_OF_SERVICE),  # the higher overlay shows
        ([E.ACTIVATE, E.SHELVE, E.REMOVE, E.RESTORE], S.SHELVED),  # the shelf is still on
        ([E.ACTIVATE, E.SHELVE, E.ACK, E.UNSHELVE], S.UNACKED),  # no ack under an overlay
        ([E.ACTIVATE, E.TEST_START], S.TEST_ACTIVE),
        ([E.ACTIVATE, E.TEST_START, E.CLEAR], S.TEST),
        ([E.ACTIVATE, E.TEST_START, E.CLEAR, E.TEST_END], S.NORMAL),
        ([E.ACTIVATE, E.ACK, E.CLEAR, E.REMOVE, E.RESTORE], S.NORMAL),  # latch cleared by OOS
        ([E.SUPPRESS, E.UNSUPPRESS], S.NORMAL),
        ([E.UNSHELVE], S.NORMAL),  # nothing to leave
    ],
)
def test_overlays_hide_an_alarm_and_resume_from_the_condition(
    events: list[AlarmEvent], final: AlarmState
) -> None:
    book = AlarmBook()
    for i, event in enumerate(events):
        book.apply(KEY, event, i, latching=True)
    alarm = book.get(KEY)
    assert (alarm.state if alarm else S.NORMAL) is final


def test_sync_reports_one_transition_per_moment() -> None:
    book = AlarmBook()
    test = frozenset({S.TEST})
    [tr] = book.sync(KEY, active=True, overlays=test, ts_ns=5, latching=True)
    assert (tr.before, tr.after, tr.is_test) == (S.NORMAL, S.TEST_ACTIVE, True)
    [tr] = book.sync(KEY, active=False, overlays=frozenset(), ts_ns=9, latching=True)
    assert (tr.before, tr.after, tr.event) == (S.TEST_ACTIVE, S.NORMAL, E.TEST_END)


def test_sync_creates_an_alarm_only_when_its_condition_appears() -> None:
    book = AlarmBook()
    supp = frozenset({S.SUPPRESSED})
    assert book.sync(KEY, active=False, overlays=supp, ts_ns=1, latching=False) == []
    assert book.get(KEY) is None
    [tr] = book.sync(KEY, active=True, overlays=supp, ts_ns=2, latching=False)
    assert (tr.before, tr.after) == (S.NORMAL, S.SUPPRESSED)
    assert book.annunciated() == []


def test_a_shelf_needs_a_reason_and_an_end() -> None:
    book = AlarmBook()
    with pytest.raises(ValueError, match="reason"):
        book.shelve(KEY, latching=True, by="p", reason=" ", now_ns=0, until_ns=10)
    with pytest.raises(ValueError, match="end"):
        book.shelve(KEY, latching=True, by="p", reason="noisy", now_ns=10, until_ns=10)
    book.shelve(KEY, latching=True, by="p", reason="noisy", now_ns=0, until_ns=10)
    assert [a.key for a in book.expired_shelves(9)] == []
    assert [a.key for a in book.expired_shelves(10)] == [KEY]


def test_out_of_service_needs_a_reason_and_an_owner() -> None:
    book = AlarmBook()
    with pytest.raises(ValueError, match="owner"):
        book.remove_from_service("gas-1", by="p", owner="", reason="swap", now_ns=0)
    book.remove_from_service("gas-1", by="p", owner="li.na", reason="swap", now_ns=0)
    assert book.out_of_service["gas-1"].owner == "li.na"
