"""Alarm floods per zone (alerting/flood.py): more than `limit` new alarms within `window_s`."""

from __future__ import annotations

from alerting.flood import FloodWatch

S = 1_000_000_000


def watch() -> FloodWatch:
    return FloodWatch(limit=3, window_s=60.0)


def test_the_alarm_over_the_limit_starts_the_flood_with_everything_in_the_window() -> None:
    w = watch()
    assert [w.observe("store", i * S, f"H{i}") for i in range(3)] == [None, None, None]
    flood = w.observe("store", 3 * S, "H3")
    assert flood is not None
    assert (flood.zone, flood.started_ns, flood.alarms) == ("store", 0, 4)
    assert flood.hazards == ["H0", "H1", "H2", "H3"]


def test_a_flood_starts_once_and_counts_what_follows() -> None:
    w = watch()
    started = [w.observe("store", i * S, f"H{i % 5}") for i in range(50)]
    assert sum(f is not None for f in started) == 1
    assert w.floods["store"].alarms == 50
    assert w.floods["store"].hazards == ["H0", "H1", "H2", "H3", "H4"]  # each entry once


def test_alarms_spread_wider_than_the_window_are_no_flood() -> None:
    w = watch()
    assert all(w.observe("store", i * 30 * S, None) is None for i in range(20))


def test_zones_flood_on_their_own() -> None:
    w = watch()
    for i in range(4):
        w.observe("store", i * S, None)
    assert w.observe("kitchen", 5 * S, None) is None
    assert set(w.floods) == {"store"}


def test_the_flood_ends_when_the_window_holds_no_more_than_the_limit() -> None:
    w = watch()
    for i in range(10):
        w.observe("store", i * S, None)
    assert w.ended(30 * S) == []  # all ten still within the last minute
    assert w.ended(65 * S) == []  # those of 6, 7, 8 and 9 s left: still over the limit
    (over,) = w.ended(66 * S)  # 7, 8 and 9 s: back within it
    assert (over.zone, over.alarms) == ("store", 10)
    assert w.floods == {}
    assert w.observe("store", 67 * S, None) is None  # a new episode needs a new crossing
