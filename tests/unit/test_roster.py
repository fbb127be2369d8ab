"""The duty roster: who is the duty officer and the leader on duty at a given moment, in the
site's time zone, with shifts across midnight, dated overrides and a check for 24-hour cover."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from alerting.roster import (
    DUTY_OFFICER,
    LEADER_ON_DUTY,
    Override,
    Roster,
    Shift,
    parse_days,
    parse_time,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS, WEEKEND, DAILY = parse_days(["weekdays"]), parse_days(["weekend"]), parse_days(["daily"])
SHIFTS = (
    Shift(DUTY_OFFICER, "wang", WEEKDAYS, time(8), time(20)),  # day shift, Monday to Friday
    Shift(DUTY_OFFICER, "zhao", WEEKEND, time(8), time(20)),  # day shift at the weekend
    Shift(DUTY_OFFICER, "li", DAILY, time(20), time(8)),  # night shift, runs past midnight
    Shift(LEADER_ON_DUTY, "chen", parse_days(["mon", "wed", "fri", "sun"]), time(8), time(8)),
    Shift(LEADER_ON_DUTY, "sun", parse_days(["tue", "thu", "sat"]), time(8), time(8)),  # 24 h
)
ROSTER = Roster(SHIFTS, tz=SHANGHAI, fallback=("safety.office",))


def at(text: str, tz: ZoneInfo = SHANGHAI) -> int:
    """Local wall time at the site, as unix ns."""
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()) * 1_000_000_000


@pytest.mark.parametrize(
    ("moment", "officer", "leader"),
    [
        ("2026-03-02 07:59", "li", "chen"),  # Monday before 08:00: Sunday's night and leader
        ("2026-03-02 08:00", "wang", "chen"),  # Monday's day shift and leader take over
        ("2026-03-02 19:59:59", "wang", "chen"),
        ("2026-03-02 20:00", "li", "chen"),
        ("2026-03-03 03:00", "li", "chen"),  # Monday's night shift, Tuesday small hours
        ("2026-03-03 08:00", "wang", "sun"),
        ("2026-03-07 12:00", "zhao", "sun"),  # Saturday
        ("2026-03-08 23:30", "li", "chen"),  # Sunday night
        ("2026-03-09 07:00", "li", "chen"),  # ... into Monday: the week wraps
    ],
)
def test_who_is_on_duty_follows_the_local_clock(moment: str, officer: str, leader: str) -> None:
    assert ROSTER.duty_officer(at(moment)) == (officer,)
    assert ROSTER.leader_on_duty(at(moment)) == (leader,)


def test_a_full_roster_has_no_gaps_and_a_missing_shift_is_named() -> None:
    assert ROSTER.gaps(DUTY_OFFICER) == []
    assert ROSTER.gaps(LEADER_ON_DUTY) == []
    no_weekend_days = Roster(tuple(s for s in SHIFTS if s.person != "zhao"), tz=SHANGHAI)
    assert no_weekend_days.gaps(DUTY_OFFICER) == [
        "sat 08:00 to sat 20:00",
        "sun 08:00 to sun 20:00",
    ]
    assert Roster((), tz=SHANGHAI).gaps(DUTY_OFFICER) == ["the whole week"]


def test_a_dated_override_wins_over_the_weekly_shift() -> None:
    holiday = Override(
        LEADER_ON_DUTY, "zhang", datetime(2026, 5, 1, 8, tzinfo=SHANGHAI),
        datetime(2026, 5, 2, 8, tzinfo=SHANGHAI),
    )  # fmt: skip
    roster = Roster(SHIFTS, tz=SHANGHAI, overrides=(holiday,))
    assert roster.leader_on_duty(at("2026-05-01 12:00")) == ("zhang",)
    assert roster.leader_on_duty(at("2026-05-02 08:00")) == ("sun",)  # Saturday again
    assert roster.duty_officer(at("2026-05-01 12:00")) == ("wang",)  # other roles unchanged


def test_resolving_roles_people_and_gaps() -> None:
    day = at("2026-03-02 10:00")
    assert ROSTER.resolve(DUTY_OFFICER, day) == ("wang",)
    assert ROSTER.resolve("li.na", day) == ("li.na",)  # not a role: a person id
    gappy = Roster((SHIFTS[0],), tz=SHANGHAI, fallback=("safety.office",))
    assert gappy.resolve(DUTY_OFFICER, at("2026-03-07 12:00")) == ("safety.office",)
    assert Roster((SHIFTS[0],)).resolve(DUTY_OFFICER, at("2026-03-07 12:00")) == (DUTY_OFFICER,)
    both = ROSTER.resolve_all([DUTY_OFFICER, LEADER_ON_DUTY, "wang"], day)
    assert both == ("wang", "chen")  # each person once


def test_overlapping_shifts_give_everyone_on_duty() -> None:
    extra = Shift(DUTY_OFFICER, "trainee", WEEKDAYS, time(9), time(17))
    roster = Roster((*SHIFTS, extra), tz=SHANGHAI)
    assert roster.duty_officer(at("2026-03-02 10:00")) == ("wang", "trainee")


def test_daylight_saving_time_keeps_shifts_on_the_wall_clock() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # clocks go forward on 29 March 2026
    roster = Roster((Shift(DUTY_OFFICER, "anna", DAILY, time(8), time(20)),), tz=berlin)
    for day in ("2026-03-28", "2026-03-30"):  # UTC+1, then UTC+2
        assert roster.duty_officer(at(f"{day} 08:00", berlin)) == ("anna",)
        assert roster.duty_officer(at(f"{day} 07:59", berlin)) == ()


def test_days_and_times_parse_as_people_write_them() -> None:
    assert parse_days(["Mon", "friday", "weekend"]) == frozenset({0, 4, 5, 6})
    assert parse_time("24:00") == time(0) == parse_time("00:00")
    assert parse_time("07:30") == time(7, 30)
    with pytest.raises(ValueError, match="unknown day"):
        parse_days(["month"])
    with pytest.raises(ValueError, match="HH:MM"):
        parse_time("7 pm")
    with pytest.raises(ValueError, match="days must be"):
        Shift(DUTY_OFFICER, "x", frozenset({7}), time(8), time(9))
    with pytest.raises(ValueError, match="time zone"):
        Override(DUTY_OFFICER, "x", datetime(2026, 1, 1), datetime(2026, 1, 2))
