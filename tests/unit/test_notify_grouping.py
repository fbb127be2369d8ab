"""Dedup and grouping rules: the first fire or level-2 gas goes at once, the rest are grouped."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerting.notify import DRILL_PREFIX, Notification, payload
from alerting.notify.grouping import Dedup, Grouper, group_key, merge

T0 = 1_700_000_000_000_000_000


def note(
    n: int = 1,
    *,
    zone: str = "kitchen",
    kind: str = "fire",
    level: int = 1,
    step: int = 0,
    recipients: tuple[str, ...] = ("wang.wei",),
    repeat: int = 0,
    drill: bool = False,
    ts_ns: int = T0,
) -> Notification:
    """A notification as the engine makes them, hazard number `n`."""
    return Notification(
        number=f"YH-2026-a-gw01-{n:04d}",
        title=f"{kind} {n}",
        kind=kind,
        level=level,
        step=step,
        step_name="duty officer",
        recipients=recipients,
        repeat=repeat,
        ts_ns=ts_ns,
        reason=f"{kind} level {level}",
        drill=drill,
        zone=zone,
        location=f"room {n}",
        device=f"dev-{n}",
    )


@pytest.mark.parametrize(
    ("kind", "level", "urgent"),
    [("fire", 1, True), ("gas", 2, True), ("gas", 1, False), ("heat", 2, False),
     ("fault", 1, False)],
)  # fmt: skip
def test_only_fire_and_level2_gas_are_urgent(kind: str, level: int, urgent: bool) -> None:
    assert note(kind=kind, level=level).urgent is urgent


def test_first_urgent_goes_at_once_and_the_rest_wait_for_the_window() -> None:
    g = Grouper(window_s=10, wait_s=5)
    assert g.add(note(1), now=0.0) == note(1)
    assert g.add(note(2), now=1.0) is None
    assert g.add(note(3), now=2.0) is None
    assert g.due(9.9) == []
    [grouped] = g.due(10.0)
    assert [m.number for m in grouped.members] == [note(2).number, note(3).number]
    assert g.next_due() == 20.0  # the window restarts after sending


def test_a_window_with_nothing_held_closes_so_the_next_one_is_first_again() -> None:
    g = Grouper(window_s=10, wait_s=5)
    g.add(note(1), now=0.0)
    assert g.due(10.0) == []
    assert g.next_due() is None
    assert g.add(note(2), now=11.0) == note(2)


def test_non_urgent_first_waits_wait_s_to_collect_its_siblings() -> None:
    g = Grouper(window_s=10, wait_s=5)
    assert g.add(note(1, kind="fault"), now=0.0) is None
    assert g.add(note(2, kind="fault"), now=3.0) is None
    [grouped] = g.due(5.0)
    assert len(grouped.members) == 2
    assert grouped.title == "2 detector faults in zone kitchen"


def test_wait_zero_sends_non_urgent_first_at_once() -> None:
    g = Grouper(window_s=10, wait_s=0)
    assert g.add(note(1, kind="fault"), now=0.0) == note(1, kind="fault")


@pytest.mark.parametrize(
    "other",
    [
        note(9, zone="store"),
        note(9, kind="gas", level=2),
        note(9, drill=True),
        note(9, step=1),
        note(9, recipients=("li.na",)),
    ],
    ids=["zone", "kind", "drill", "step", "recipients"],
)
def test_a_different_key_is_never_held_by_another_keys_window(other: Notification) -> None:
    g = Grouper(window_s=10, wait_s=5)
    g.add(note(1), now=0.0)
    assert group_key(other) != group_key(note(1))
    assert g.add(other, now=1.0) == other


def test_without_a_zone_a_notification_groups_only_with_its_own_hazard() -> None:
    assert group_key(note(1, zone="")) != group_key(note(2, zone=""))


def test_flush_sends_everything_held() -> None:
    g = Grouper(window_s=10, wait_s=5)
    g.add(note(1), now=0.0)
    g.add(note(2), now=1.0)
    g.add(note(3, kind="fault"), now=1.0)
    assert sorted(len(m.members) for m in g.flush()) == [1, 1]
    assert g.held == 0
    assert g.next_due() is None


def test_merge_keeps_one_entry_per_hazard_with_its_latest_notification() -> None:
    merged = merge([note(1), note(2), note(1, repeat=1)])
    assert [(m.number, m.repeat) for m in merged.members] == [
        (note(1).number, 1),
        (note(2).number, 0),
    ]
    assert merged.level == 1
    assert merged.kind == "fire"


def test_merge_of_one_is_the_notification_itself() -> None:
    assert merge([note(1)]) == note(1)


def test_merge_can_address_the_group_to_one_recipient() -> None:
    assert merge([note(1), note(2)], recipients=("li.na",)).recipients == ("li.na",)
    assert merge([note(1)], recipients=("li.na",)) == replace(note(1), recipients=("li.na",))


def test_grouped_text_lists_ten_hazards_and_counts_the_rest() -> None:
    grouped = merge([note(i) for i in range(1, 26)])
    assert grouped.text.startswith("25 fire alarms in zone kitchen: YH-2026-a-gw01-0001, ")
    assert "and 15 more -> duty officer [wang.wei]" in grouped.text
    assert payload(grouped)["count"] == 25
    assert len(payload(grouped)["hazards"]) == 25


def test_a_drill_says_so_in_text_and_payload_single_and_grouped() -> None:
    single = note(1, drill=True)
    grouped = merge([note(1, drill=True), note(2, drill=True)])
    for n in (single, grouped):
        assert n.text.startswith(DRILL_PREFIX)
        assert payload(n)["drill"] is True
    assert payload(note(1))["drill"] is False


def test_dedup_drops_a_repeat_submission_and_forgets_the_oldest() -> None:
    d = Dedup(size=100)
    assert not d.seen(note(1))
    assert d.seen(note(1))
    assert not d.seen(note(1, repeat=1))  # a reminder is a new notification
    assert not d.seen(note(1, step=1))
    for i in range(2, 200):
        d.seen(note(i))
    assert not d.seen(note(1))  # forgotten after 100 others
