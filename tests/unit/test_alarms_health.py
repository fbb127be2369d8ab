"""Alarm system health (ISA-18.2 / EEMUA 191): rate, floods, chattering, stale alarms."""

from __future__ import annotations

from alerting.alarms import AlarmBook, AlarmEvent, AlarmKey, Transition
from alerting.health import AlarmHealth, HealthLimits

S = 1_000_000_000
E = AlarmEvent


def annunciate(book: AlarmBook, key: AlarmKey, t_s: float) -> list[Transition]:
    out = []
    for event in (E.ACTIVATE, E.CLEAR):
        tr = book.apply(key, event, int(t_s * S), latching=False)
        if tr is not None:
            out.append(tr)
        t_s += 1
    return out


def test_more_than_ten_new_alarms_in_ten_minutes_is_one_flood() -> None:
    book, health = AlarmBook(), AlarmHealth()
    for i in range(11):
        health.observe(annunciate(book, AlarmKey(f"d{i}", "stale"), i * 30))
    kpi = health.kpi(330 * S, book)
    assert (kpi.alarms_per_window, kpi.flood, kpi.floods) == (11, True, 1)
    assert health.kpi(340 * S, book).floods == 1  # the same episode
    calm = health.kpi(1000 * S, book)
    assert (calm.alarms_per_window, calm.flood) == (0, False)


def test_the_same_alarm_three_times_in_a_minute_is_chattering() -> None:
    book, health = AlarmBook(), AlarmHealth()
    key = AlarmKey("gas-1", "stale")
    for t in (0, 20, 40):
        health.observe(annunciate(book, key, t))
    assert health.kpi(45 * S, book).chattering == 1
    assert health.kpi(70 * S, book).chattering == 0  # the first one is over a minute old


def test_an_alarm_standing_more_than_a_day_is_stale() -> None:
    book, health = AlarmBook(), AlarmHealth(HealthLimits(stale_after_s=86_400))
    book.apply(AlarmKey("gas-1", "level1"), E.ACTIVATE, 0, latching=True)
    book.apply(AlarmKey("gas-1", "level1"), E.ACK, 10, latching=True)
    assert health.kpi(86_400 * S, book).stale == 0
    kpi = health.kpi(86_401 * S, book)
    assert (kpi.stale, kpi.annunciated, kpi.unacknowledged) == (1, 1, 0)


def test_the_counts_by_state_are_reported() -> None:
    book, health = AlarmBook(), AlarmHealth()
    book.apply(AlarmKey("a", "level1"), E.ACTIVATE, 0, latching=True)
    book.apply(AlarmKey("b", "level1"), E.ACTIVATE, 0, latching=True)
    book.apply(AlarmKey("b", "level1"), E.SHELVE, 0, latching=True)
    book.apply(AlarmKey("c", "stale"), E.SUPPRESS, 0, latching=False)
    fields = health.kpi(S, book).fields()
    assert (fields["annunciated"], fields["shelved"], fields["suppressed"]) == (1, 1, 1)
    assert set(fields) >= {"alarms_per_window", "flood", "chattering", "stale", "in_test"}
