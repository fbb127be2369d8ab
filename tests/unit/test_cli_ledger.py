"""`hazgw config check` and `hazgw ledger ...` through the CLI runner: output and exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerting.ledger import Grade, Kind, Ledger
from gateway.cli import app
from gateway.model import Identity

ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000
T0 = 1_795_000_000 * S
runner = CliRunner()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory whose ledger holds one gas hazard escalated once, and one finding."""
    with Ledger(tmp_path / "ledger.sqlite", Identity("plant-a", "gw01")) as ledger:
        hazard, _ = ledger.raise_alarm_hazard(
            dedup_key="dev:gas-1:gas", kind=Kind.GAS, title="Gas leak at Boiler room (gas-1)",
            grade=Grade.GENERAL, level=1, device="gas-1", zone="boiler", location="Boiler room",
            value=27.5, condition="level1", actor="gateway:gw01/rule:level1", ts_ns=T0,
            start_level=0,
        )  # fmt: skip
        assert hazard.number == "YH-2026-plant-a-gw01-0001"
    return tmp_path


def test_config_check_accepts_the_example_and_says_what_it_found() -> None:
    result = runner.invoke(app, ["config", "check", str(ROOT / "config" / "example.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    assert "site plant-a, gateway gw01" in result.output


def test_config_check_refuses_a_bad_file_naming_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "config" / "example.yaml").read_text().replace("tick_s: 1 ", "tick_s: -1 ")
    bad.write_text(text)
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert "detection.tick_s: Input should be greater than 0" in result.output
    assert f"{bad}:" in result.output


def test_ledger_list_json_carries_the_fields_of_an_entry(state: Path) -> None:
    result = runner.invoke(app, ["ledger", "list", "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    assert {k: entry[k] for k in ("number", "kind", "grade", "status", "source", "device")} == {
        "number": "YH-2026-plant-a-gw01-0001",
        "kind": "gas",
        "grade": "general",
        "status": "registered",
        "source": "monitoring_alarm",
        "device": "gas-1",
    }
    assert entry["found_at"] == "2026-11-18T11:06:40.000000Z"
    assert entry["location"] == "Boiler room"
    assert entry["title"] == "Gas leak at Boiler room (gas-1)"


def test_ledger_list_as_a_table_names_the_entry(state: Path) -> None:
    result = runner.invoke(app, ["ledger", "list", "--state-dir", str(state)])
    assert result.exit_code == 0
    assert "YH-2026-plant-a-gw01-0001" in result.output


def test_ledger_show_json_includes_the_history(state: Path) -> None:
    args = ["ledger", "show", "YH-2026-plant-a-gw01-0001", "--state-dir", str(state), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [e["type"] for e in doc["history"]] == ["registered"]
    assert doc["history"][0]["actor"] == "gateway:gw01/rule:level1"


def test_ledger_show_of_an_unknown_number_fails_and_says_how_to_list(state: Path) -> None:
    result = runner.invoke(app, ["ledger", "show", "YH-0", "--state-dir", str(state)])
    assert result.exit_code == 1
    assert "unknown hazard" in result.output
    assert "hazgw ledger list" in result.output


def test_ack_records_the_person_and_a_second_ack_is_refused(state: Path) -> None:
    args = ["ledger", "ack", "YH-2026-plant-a-gw01-0001", "--by", "wang.wei", "--state-dir"]
    first = runner.invoke(app, [*args, str(state), "--reason", "ventilating"])
    assert first.exit_code == 0, first.output
    with Ledger.open_existing(state / "ledger.sqlite") as ledger:
        hazard = ledger.hazard("YH-2026-plant-a-gw01-0001")
    assert (hazard.status.value, hazard.acknowledged_by) == ("acknowledged", "wang.wei")
    second = runner.invoke(app, [*args, str(state)])
    assert second.exit_code == 1


def test_verify_passes_on_an_intact_ledger_and_names_a_tampered_event(state: Path) -> None:
    ok = runner.invoke(app, ["ledger", "verify", "--state-dir", str(state)])
    assert ok.exit_code == 0
    assert "chain intact" in ok.output
    db = sqlite3.connect(state / "ledger.sqlite")
    db.execute("DROP TRIGGER IF EXISTS events_no_update")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("UPDATE events SET reason = reason || 'x' WHERE seq = 1")
    db.commit()
    db.close()
    broken = runner.invoke(app, ["ledger", "verify", "--state-dir", str(state)])
    assert broken.exit_code == 4
    assert "broken at event 1" in broken.output


def test_a_state_dir_without_a_ledger_is_named_with_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ledger", "list", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no ledger at" in result.output
    assert "hazgw demo" in result.output
