"""Bulletins and statistics from the ledger: counts by grade, zone, source and kind as they stood
at the period's end, time to acknowledge and to rectify, detectors in fault, drills apart."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from rich.console import Console

from alerting.ledger import Ledger
from alerting.report_render import to_csv, to_json, to_table, write_xlsx
from alerting.reports import Period, Report, build_report, last_complete, window
from alerting.vocabulary import Disposition, Grade, Kind, Source
from tests.unit.test_ledger_fixtures import GW1, OWNER, VERIFIER, fill_plan, fill_remediation

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = 60 * 10**9


def lt(text: str) -> int:
    """Site wall time (Shanghai) as unix ns."""
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()) * 10**9


@pytest.mark.parametrize(
    ("period", "day", "label", "first", "after"),
    [
        (Period.WEEK, date(2026, 3, 1), "2026-W09", date(2026, 2, 23), date(2026, 3, 2)),
        (Period.WEEK, date(2027, 1, 1), "2026-W53", date(2026, 12, 28), date(2027, 1, 4)),
        (Period.MONTH, date(2026, 12, 31), "2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        (Period.QUARTER, date(2026, 5, 15), "2026-Q2", date(2026, 4, 1), date(2026, 7, 1)),
        (Period.YEAR, date(2026, 7, 4), "2026", date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_periods_follow_the_site_calendar(
    period: Period, day: date, label: str, first: date, after: date
) -> None:
    win = window(period, day, SHANGHAI)
    assert (win.label, win.start, win.end) == (label, first, after)
    assert win.start_ns == lt(f"{first} 00:00")  # midnight in Shanghai, not in UTC


def test_the_default_is_the_last_complete_period() -> None:
    assert last_complete(Period.QUARTER, date(2026, 4, 10), SHANGHAI).label == "2026-Q1"
    assert last_complete(Period.YEAR, date(2027, 1, 20), SHANGHAI).label == "2026"
    assert last_complete(Period.WEEK, date(2026, 3, 4), SHANGHAI).label == "2026-W09"


@pytest.fixture
def events(tmp_path: Path) -> Iterator[Ledger]:
    """A month of a site (March 2026), with entries before and after it."""
    with Ledger(tmp_path / "ledger.sqlite", GW1, tz=SHANGHAI) as ledger:
        fill_month(ledger)
        yield ledger


def fill_month(ledger: Ledger) -> None:
    # a: a gas alarm in February, found to be a false alarm in March
    a, _ = ledger.raise_alarm_hazard(
        dedup_key="dev:gas-1:gas", kind=Kind.GAS, title="Gas", grade=Grade.GENERAL, level=1,
        device="gas-1", zone="kitchen", location="Kitchen", value=30.0, condition="level1",
        actor="gw", ts_ns=lt("2026-02-27 09:00"), start_level=0,
    )  # fmt: skip
    ledger.acknowledge(a.number, by=OWNER, ts_ns=lt("2026-02-27 09:05"))
    ledger.close(a.number, by=VERIFIER, ts_ns=lt("2026-03-03 10:00"), reason="calibration gas",
                 disposition=Disposition.FALSE_ALARM)  # fmt: skip
    # b: a major finding, acknowledged in 10 min, verified 3 days later, closed
    b = ledger.register_finding(
        title="Exit blocked", kind=Kind.FIRE, grade=Grade.MAJOR, source=Source.SELF_INSPECTION,
        location="Store", zone="store", found_by="zhang", ts_ns=lt("2026-03-02 10:00"),
    ).number  # fmt: skip
    ledger.acknowledge(b, by=OWNER, ts_ns=lt("2026-03-02 10:10"))
    fill_plan(ledger, b, lt("2026-03-02 11:00"), deadline_ns=lt("2026-03-10 00:00"))
    fill_remediation(ledger, b, lt("2026-03-02 11:00"))
    ledger.rectify(b, by=OWNER, ts_ns=lt("2026-03-02 12:00"))
    ledger.request_review(b, by=OWNER, ts_ns=lt("2026-03-05 09:00"), reason="cleared")
    ledger.verify_rectification(b, by=VERIFIER, ts_ns=lt("2026-03-05 10:00"), opinion="ok")
    ledger.close(b, by=VERIFIER, ts_ns=lt("2026-03-06 10:00"), reason="done")
    # c: a gas alarm acknowledged in 2 min, planned for 20 March, still rectifying: overdue
    c, _ = ledger.raise_alarm_hazard(
        dedup_key="dev:gas-2:gas", kind=Kind.GAS, title="Gas", grade=Grade.GENERAL, level=1,
        device="gas-2", zone="kitchen", location="Kitchen", value=30.0, condition="level1",
        actor="gw", ts_ns=lt("2026-03-03 08:00"), start_level=0,
    )  # fmt: skip
    ledger.acknowledge(c.number, by=OWNER, ts_ns=lt("2026-03-03 08:02"))
    fill_plan(ledger, c.number, lt("2026-03-03 09:00"), deadline_ns=lt("2026-03-20 00:00"))
    ledger.rectify(c.number, by=OWNER, ts_ns=lt("2026-03-03 10:00"))
    # d: a detector gone silent, nobody acknowledged
    ledger.raise_alarm_hazard(
        dedup_key="dev:temp-9:fault", kind=Kind.FAULT, title="Detector silent",
        grade=Grade.GENERAL, level=1, device="temp-9", zone="office", location="Office",
        value=None, condition="stale", actor="gw", ts_ns=lt("2026-03-04 03:00"), start_level=0,
    )  # fmt: skip
    # e: an anonymous report, acknowledged in an hour, fixed on the spot two hours later
    e = ledger.register_finding(
        title="Smoking in the store", kind=Kind.FIRE, grade=Grade.GENERAL, source=Source.REPORT,
        location="Store", zone="store", found_by="anonymous", ts_ns=lt("2026-03-05 14:00"),
    ).number  # fmt: skip
    ledger.acknowledge(e, by=OWNER, ts_ns=lt("2026-03-05 15:00"))
    ledger.close(e, by=OWNER, ts_ns=lt("2026-03-05 16:00"), reason="talked to the team")
    # f: a drill, and g: a finding in April
    drill = ledger.start_drill(
        title="Fire drill", kind=Kind.FIRE, by="li", ts_ns=lt("2026-03-06 09:00")
    )
    ledger.acknowledge(drill.number, by="wang", ts_ns=lt("2026-03-06 09:01"))
    ledger.register_finding(
        title="Cable", kind=Kind.FAULT, grade=Grade.GENERAL, source=Source.UPPER_INSPECTION,
        location="Office", zone="office", found_by="inspector", ts_ns=lt("2026-04-02 10:00"),
    )  # fmt: skip


def march(ledger: Ledger) -> Report:
    win = window(Period.MONTH, date(2026, 3, 15), SHANGHAI)
    return build_report(
        ledger.events(), win, site="demo", gateway="gw01", zone_names={"store": "Store room"},
        out_of_service=[("smoke-7", "painting works")],
    )  # fmt: skip


def rows(counts: tuple[object, ...]) -> dict[str, tuple[int, int, int, int]]:
    return {c.key: (c.found, c.closed, c.overdue, c.open) for c in counts}  # type: ignore[attr-defined]


def test_the_months_counts(events: Ledger) -> None:
    r = march(events)
    summary = (r.found, r.major_found, r.closed, r.false_alarms, r.overdue, r.open_at_end)
    assert summary == (4, 1, 3, 1, 1, 2)
    assert rows(r.by_grade) == {"general": (3, 2, 1, 2), "major": (1, 1, 0, 0)}
    assert rows(r.by_source) == {
        "monitoring_alarm": (2, 1, 1, 2),
        "self_inspection": (1, 1, 0, 0),
        "upper_inspection": (0, 0, 0, 0),
        "report": (1, 1, 0, 0),
    }  # fmt: skip  (drills are no source of hazards: no row)
    assert rows(r.by_zone) == {
        "kitchen": (1, 1, 1, 1), "office": (1, 0, 0, 1), "store": (2, 2, 0, 0),
    }  # fmt: skip
    assert {c.key: c.en for c in r.by_zone}["store"] == "Store room"
    assert rows(r.by_kind)["fault"] == (1, 0, 0, 1)


def test_times_to_acknowledge_and_to_rectify(events: Ledger) -> None:
    r = march(events)
    # acknowledged in March: 10 min, 2 min, 60 min (the February alarm does not count)
    assert (r.time_to_ack.count, r.time_to_ack.median_s, r.time_to_ack.p90_s) == (3, 600, 3600)
    # rectified in March: verified after 3 days, fixed on the spot after 2 h; false alarms: no
    three_days = (lt("2026-03-05 10:00") - lt("2026-03-02 10:00")) / 10**9
    assert r.time_to_rectify.count == 2
    assert r.time_to_rectify.median_s == (three_days + 7200) / 2
    assert r.time_to_rectify.p90_s == three_days


def test_faults_out_of_service_and_drills_are_listed_apart(events: Ledger) -> None:
    r = march(events)
    assert [(f.device, f.zone) for f in r.faults] == [("temp-9", "office")]
    assert r.out_of_service == (("smoke-7", "painting works"),)
    (drill,) = r.drills
    assert (drill.number, drill.acknowledged) == ("DRILL-2026-demo-gw01-0001", 1)


def test_a_report_shows_the_period_as_it_stood_at_its_end(events: Ledger) -> None:
    feb = build_report(
        events.events(), window(Period.MONTH, date(2026, 2, 1), SHANGHAI), site="demo",
        gateway="gw01",
    )  # fmt: skip
    assert (feb.found, feb.closed, feb.open_at_end, feb.false_alarms) == (1, 0, 1, 0)
    assert feb.last_seq < events.events()[-1].seq
    q1 = build_report(
        events.events(), window(Period.QUARTER, date(2026, 2, 1), SHANGHAI), site="demo",
        gateway="gw01",
    )  # fmt: skip
    assert (q1.found, q1.closed) == (5, 3)  # April's finding is not in the first quarter


def test_json_csv_table_and_xlsx_carry_the_same_figures(events: Ledger, tmp_path: Path) -> None:
    r = march(events)
    doc = to_json(r)
    assert json.loads(json.dumps(doc, ensure_ascii=False)) == doc
    assert (doc["label"], doc["from"], doc["to"]) == ("2026-03", "2026-03-01", "2026-03-31")
    assert doc["summary"] == {
        "found": 4, "major_found": 1, "closed": 3, "false_alarms": 1, "overdue": 1,
        "open_at_end": 2,
    }  # fmt: skip
    table = list(csv.reader(io.StringIO(to_csv(r))))
    assert table[0] == ["section", "key", "en", "zh", "metric", "value"]
    assert ["by_grade", "major", "major", "重大", "found", "1"] in table
    assert ["time_to_ack", "", "time to acknowledge", "确认用时", "median_s", "600.0"] in table
    console = Console(record=True, width=140)
    console.print(to_table(r))
    text = console.export_text()
    assert "hazards found 发现隐患" in text
    assert "temp-9" in text
    write_xlsx(r, tmp_path / "march.xlsx", SHANGHAI)
    book = load_workbook(tmp_path / "march.xlsx")
    assert book.sheetnames[0] == "Summary 汇总"
    assert [c.value for c in book["Summary 汇总"][2]] == ["hazards found", "发现隐患", 4]
    grades = {row[0].value: row[3].value for row in book["by grade 按等级"].iter_rows(min_row=2)}
    assert grades == {"general": 3, "major": 1}
    assert book["Faults 故障"]["B2"].value == "temp-9"
