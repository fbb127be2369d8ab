"""`hazgw ledger` along the closed loop through typer's CliRunner: every action with --by,
confirmations, labels in either language, anonymous reports, drills, reports, refusals that say
what to do next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner, Result

from alerting.ledger import Ledger
from alerting.vocabulary import Grade, Kind
from gateway.cli import app
from gateway.model import Identity
from tests.unit.test_ledger_fixtures import DAY, T0, S

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "YH-2026-plant-a-gw01-0001"
runner = CliRunner()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """The example config (people wang.wei, li.na, zhang.jun; kitchen owned by wang.wei) with
    its state in tmp_path, and a ledger holding one gas alarm in the kitchen."""
    text = (ROOT / "config" / "example.yaml").read_text(encoding="utf-8")
    path = tmp_path / "site.yaml"
    path.write_text(text.replace("state_dir: /var/lib/hazard-gateway", f"state_dir: {tmp_path}"))
    with Ledger(tmp_path / "ledger.sqlite", Identity("plant-a", "gw01")) as ledger:
        ledger.raise_alarm_hazard(
            dedup_key="dev:kitchen-gas-1:gas", kind=Kind.GAS, title="Gas leak in the kitchen",
            grade=Grade.GENERAL, level=1, device="kitchen-gas-1", zone="kitchen",
            location="Kitchen", value=30.0, condition="level1",
            actor="gateway:gw01/rule:level1", ts_ns=T0, start_level=0, responsible="wang.wei",
        )  # fmt: skip
    return path


def hazgw(cfg: Path, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, ["ledger", *args, "--config", str(cfg)], input=stdin)


def show(cfg: Path, number: str = NUMBER) -> dict[str, object]:
    result = hazgw(cfg, "show", number, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.output)
    return doc


def said(result: Result) -> str:
    """The output with the terminal's line wrapping undone."""
    return " ".join(result.output.split())


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def test_the_whole_loop_from_the_command_line(cfg: Path) -> None:
    ok(hazgw(cfg, "ack", NUMBER, "--by", "wang.wei", "--reason", "valve closed"))
    planned = ok(
        hazgw(
            cfg, "plan", NUMBER, "--by", "wang.wei", "--measures", "replace the hose",
            "--funds", "CNY 300", "--deadline", "2099-01-31", "--contingency", "keep vented",
        )
    )  # fmt: skip
    assert "all five in place (planned)" in planned.output  # the zone owner is responsible
    ok(hazgw(cfg, "note", NUMBER, "hose ordered", "--by", "wang.wei"))
    ok(hazgw(cfg, "rectify", NUMBER, "--by", "wang.wei"))
    ok(hazgw(cfg, "request-review", NUMBER, "--by", "wang.wei", "--done", "hose replaced"))
    own = hazgw(cfg, "verify", NUMBER, "--by", "wang.wei", "--opinion", "fine", "--yes")
    assert own.exit_code == 1
    assert "different person than the responsible person (wang.wei)" in said(own)
    assert "possible now: assign, grade, list-supervision, note, verify, reject" in said(own)
    ok(hazgw(cfg, "verify", NUMBER, "--by", "li.na", "--opinion", "no smell", "--yes"))
    ok(hazgw(cfg, "close", NUMBER, "--by", "li.na", "--reason", "rectified", "--yes"))
    doc = show(cfg)
    assert (doc["status"], doc["disposition"], doc["verified_by"]) == (
        "closed",
        "rectified",
        "li.na",
    )
    # "by 31 January": the end of that day in the site's zone (this ledger's is UTC)
    assert doc["five_in_place"]["deadline"] == "2099-02-01T00:00:00.000000Z"  # type: ignore[index]
    types = [e["type"] for e in doc["history"]]  # type: ignore[attr-defined]
    assert types[1:] == [
        "acknowledged", "planned", "note", "rectifying", "review_requested", "reviewed", "closed",
    ]  # fmt: skip
    assert ok(runner.invoke(app, ["ledger", "verify", "--config", str(cfg)]))


def test_destructive_actions_ask_first_and_a_no_records_nothing(cfg: Path) -> None:
    ok(hazgw(cfg, "ack", NUMBER, "--by", "wang.wei"))
    declined = hazgw(cfg, "close", NUMBER, "--by", "li.na", "--reason", "fixed", stdin="n\n")
    assert declined.exit_code == 1
    assert "This is recorded for good" in said(declined)
    assert show(cfg)["status"] == "acknowledged"
    ok(hazgw(cfg, "close", NUMBER, "--by", "li.na", "--reason", "fixed", stdin="y\n"))
    assert show(cfg)["disposition"] == "fixed_on_the_spot"


def test_grades_and_stages_are_accepted_in_chinese_or_english(cfg: Path) -> None:
    ok(hazgw(cfg, "grade", NUMBER, "重大", "--basis", "判定标准 第3条", "--by", "li.na", "--yes"))
    assert show(cfg)["grade"] == "major"
    listed = hazgw(cfg, "list", "--grade", "Major", "--status", "已登记", "--json")
    assert [h["number"] for h in json.loads(ok(listed).output)] == [NUMBER]
    assert json.loads(ok(hazgw(cfg, "list", "--status", "整改中", "--json")).output) == []
    bad = hazgw(cfg, "list", "--grade", "critical")
    assert bad.exit_code == 1
    assert "一般" in bad.output  # the refusal lists what is accepted


def test_a_major_hazard_is_listed_for_supervision(cfg: Path) -> None:
    ok(hazgw(cfg, "grade", NUMBER, "major", "--basis", "GB/T 50493", "--by", "li.na", "--yes"))
    ok(
        hazgw(
            cfg, "list-supervision", NUMBER, "--level", "municipal", "--document", "AJ-2026-9",
            "--office", "City emergency bureau", "--listed", "2026-03-02", "--by", "li.na",
        )
    )  # fmt: skip
    supervision = show(cfg)["supervision"]
    assert supervision == {
        "level": "municipal", "document": "AJ-2026-9", "office": "City emergency bureau",
        "listed_at": "2026-03-02T00:00:00.000000Z", "recorded_by": "li.na",
    }  # fmt: skip


def test_refusals_say_what_is_possible_and_where_to_look(cfg: Path) -> None:
    result = hazgw(cfg, "rectify", NUMBER, "--by", "wang.wei")
    assert result.exit_code == 1
    assert "is registered (已登记); it cannot become rectifying" in said(result)
    assert f"hazgw ledger show {NUMBER}" in said(result)
    unknown = hazgw(cfg, "ack", NUMBER, "--by", "nobody")
    assert unknown.exit_code == 1
    assert "'nobody' is not in the config's people" in said(unknown)
    assert "li.na" in said(unknown)


def test_an_anonymous_report_names_nobody_and_the_zone_owner_is_responsible(cfg: Path) -> None:
    args = ["register", "--title", "Cylinders in the corridor", "--kind", "可燃/有毒气体",
            "--source", "举报", "--location", "Corridor", "--zone", "store"]  # fmt: skip
    ok(hazgw(cfg, *args, "--anonymous"))
    doc = show(cfg, "YH-2026-plant-a-gw01-0002")
    assert (doc["found_by"], doc["source"], doc["responsible"]) == ("anonymous", "report", "li.na")
    assert {e["actor"] for e in doc["history"]} == {"anonymous"}  # type: ignore[attr-defined]
    both = hazgw(cfg, *args, "--anonymous", "--by", "wang.wei")
    assert both.exit_code == 1
    assert "not both" in said(both)
    neither = hazgw(cfg, *args)
    assert neither.exit_code == 1


def test_a_drill_from_the_command_line(cfg: Path) -> None:
    started = ok(
        hazgw(cfg, "drill", "start", "--title", "Kitchen gas", "--kind", "gas", "--level", "2",
              "--by", "li.na", "--yes")
    )  # fmt: skip
    number = "DRILL-2026-plant-a-gw01-0001"
    assert number in started.output
    for person in ("wang.wei", "zhang.jun"):
        ok(hazgw(cfg, "ack", number, "--by", person))
    report = json.loads(ok(hazgw(cfg, "drill", "report", number, "--json")).output)
    assert report["drill"] is True
    assert [p["person"] for p in report["people"]] == ["wang.wei", "zhang.jun"]
    assert all(p["seconds_to_ack"] >= 0 for p in report["people"])
    assert show(cfg, number)["escalation"]["start_level"] == 1  # type: ignore[index]
    ok(hazgw(cfg, "drill", "end", number, "--by", "li.na", "--yes"))
    assert show(cfg, number)["disposition"] == "drill_ended"


def test_reports_in_every_format(cfg: Path, tmp_path: Path) -> None:
    period = ["report", "--period", "year", "--at", "2026-12-01"]
    doc = json.loads(ok(hazgw(cfg, *period, "--format", "json")).output)
    assert (doc["label"], doc["summary"]["found"]) == ("2026", 1)
    assert doc["by_zone"][0]["en"] == "Kitchen"  # zone names come from the config
    csv_text = ok(hazgw(cfg, *period, "--format", "csv")).output
    assert "summary,found,hazards found,发现隐患,count,1" in csv_text
    ok(hazgw(cfg, *period, "--format", "xlsx", "--out", str(tmp_path / "y.xlsx")))
    assert load_workbook(tmp_path / "y.xlsx")["Summary 汇总"]["C2"].value == 1
    needs_file = hazgw(cfg, *period, "--format", "xlsx")
    assert needs_file.exit_code == 1
    assert "--out" in needs_file.output
    assert "hazards found" in ok(hazgw(cfg, *period)).output


def test_overdue_lists_late_rectifications(cfg: Path, tmp_path: Path) -> None:
    with Ledger.open_existing(tmp_path / "ledger.sqlite") as ledger:
        ledger.acknowledge(NUMBER, by="wang.wei", ts_ns=T0 + S)
        ledger.plan(NUMBER, by="wang.wei", ts_ns=T0 + 2 * S, deadline_ns=T0 + DAY)
    late = json.loads(ok(hazgw(cfg, "overdue", "--json")).output)
    assert [h["number"] for h in late] == [NUMBER]
    assert NUMBER in ok(hazgw(cfg, "overdue")).output


def test_verifying_an_entry_needs_a_person_and_an_opinion(cfg: Path) -> None:
    result = hazgw(cfg, "verify", NUMBER)
    assert result.exit_code == 1
    assert "--by PERSON and --opinion" in said(result)
