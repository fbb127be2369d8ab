"""`hazgw device` through typer's CliRunner, on a real config file and a real ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerting.ledger import Ledger
from gateway.cli.device_cmd import app
from gateway.model import Identity
from tests.unit.test_provision import write_config

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def test_add_then_list_shows_the_new_device(config: Path) -> None:
    code, output = run("add", "kitchen-co-1", "--driver", "sim", "--zone", "kitchen",
                       "--class", "co", "--channel", "kitchen_co", "--level1", "30",
                       "-c", str(config))  # fmt: skip
    assert code == 0, output
    assert "added kitchen-co-1" in output
    assert "systemctl reload hazard-gateway" in output  # no daemon pid file: the hint
    code, output = run("list", "--json", "-c", str(config))
    rows = {r["id"]: r for r in json.loads(output)}
    assert (rows["kitchen-co-1"]["zone"], rows["kitchen-co-1"]["class"]) == ("kitchen", "co")
    assert rows["store-temp-2"]["where"] == "address 1"
    assert all(r["enabled"] for r in rows.values())


def test_add_of_an_unknown_zone_is_refused_with_exit_2_and_no_change(config: Path) -> None:
    before = config.read_bytes()
    code, output = run("add", "x-1", "--driver", "sim", "--zone", "attic", "--class", "co",
                       "-c", str(config))  # fmt: skip
    assert code == 2
    assert "'attic' is not in zones" in output
    assert str(config) in output  # the issue names the real file, not the temp file
    assert config.read_bytes() == before


def test_edit_sets_dotted_keys_and_keeps_comments(config: Path) -> None:
    code, output = run("edit", "kitchen-gas-1", "--set", "thresholds.level1=30",
                       "--set", "location=above the range", "-c", str(config))  # fmt: skip
    assert code == 0, output
    text = config.read_text()
    assert "      level1: 30            # ppm below the preset" in text
    assert "  - id: kitchen-gas-1       # above the range" in text
    code, output = run("show", "kitchen-gas-1", "--json", "-c", str(config))
    shown = json.loads(output)
    assert shown["set_points"]["level1"] == 30
    assert shown["location"] == "above the range"


def test_an_invalid_edit_is_refused_and_the_file_is_byte_for_byte_unchanged(config: Path) -> None:
    before = config.read_bytes()
    code, output = run("edit", "kitchen-gas-1", "--set", "thresholds.level1=45",
                       "-c", str(config))  # fmt: skip
    assert code == 2
    assert "level2 (40.0) is below level1 (45.0)" in output or "below" in output
    assert "unchanged" in output
    assert config.read_bytes() == before


def test_edit_refuses_malformed_assignments_and_unknown_devices(config: Path) -> None:
    assert run("edit", "kitchen-gas-1", "--set", "level1", "-c", str(config))[0] == 1
    code, output = run("edit", "nope", "--set", "zone=store", "-c", str(config))
    assert code == 1
    assert "no device 'nope'" in output


def test_show_gives_the_effective_set_points_with_the_zone_preset(config: Path) -> None:
    code, output = run("show", "store-temp-1", "--json", "-c", str(config))
    assert code == 0, output
    shown = json.loads(output)
    assert shown["preset"] == "heat_a1"  # from detection.zones.store.temperature
    assert shown["set_points"]["level1_when_rising"] == 46.0
    assert shown["set_points"]["level2"] is None  # off
    code, output = run("show", "kitchen-gas-1", "-c", str(config))
    assert "overridden" in output


def test_remove_asks_first_and_a_no_changes_nothing(config: Path) -> None:
    before = config.read_bytes()
    code, output = run("remove", "store-temp-1", "-c", str(config), stdin="n\n")
    assert code == 1
    assert "nothing changed" in output
    assert config.read_bytes() == before
    code, output = run("remove", "store-temp-1", "-c", str(config), stdin="y\n")
    assert code == 0, output
    assert "store-temp-1" not in config.read_text()


def test_disable_and_enable_are_written_and_audited_in_the_ledger(config: Path) -> None:
    state = config.parent / "state"
    state.mkdir()
    Ledger(state / "ledger.sqlite", Identity("plant", "gw01")).close_db()
    code, output = run("disable", "store-temp-1", "--reason", "head replaced",
                       "--owner", "li.na", "--yes", "-c", str(config))  # fmt: skip
    assert code == 0, output
    assert "enabled: false" in config.read_text()
    assert "out of service since" in config.read_text()
    code, output = run("list", "--json", "-c", str(config))
    assert not next(r for r in json.loads(output) if r["id"] == "store-temp-1")["enabled"]
    ledger = Ledger.open_existing(state / "ledger.sqlite")
    (entry,) = ledger.open_hazards()
    assert (entry.title, entry.description) == ("detector store-temp-1 out of service",
                                                "head replaced")  # fmt: skip
    ledger.close_db()

    code, output = run("enable", "store-temp-1", "-c", str(config))
    assert code == 0, output
    assert "out of service" not in config.read_text()
    ledger = Ledger.open_existing(state / "ledger.sqlite")
    texts = [e.payload.get("text") for e in ledger.events(entry.number)]
    assert "store-temp-1 back in service" in texts
    ledger.close_db()


def test_disable_needs_a_known_owner(config: Path) -> None:
    code, output = run("disable", "store-temp-1", "--reason", "x", "--owner", "ghost", "--yes",
                       "-c", str(config))  # fmt: skip
    assert code == 1
    assert "not in people" in output


def test_read_a_sim_device_gives_the_scenario_value(config: Path) -> None:
    code, output = run("read", "store-temp-1", "--json", "-c", str(config))
    assert code == 0, output
    reading = json.loads(output)
    assert reading["quality"] == "good"
    assert 0 < reading["value"] < 60  # the facility's store room at scenario start


def test_a_missing_config_says_what_to_pass(tmp_path: Path) -> None:
    code, output = run("list", "-c", str(tmp_path / "none.yaml"))
    assert code == 1
    assert "--config" in output
