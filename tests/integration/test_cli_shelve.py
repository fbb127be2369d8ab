"""`hazgw device shelve / unshelve` against a running engine on the same ledger: the shelf is a
ledger record the engine reads within a step (as it reads acknowledgements from the CLI)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gateway.cli.device_cmd import app
from gateway.demo import DEMO_CONFIG
from tests.soak.test_clock_jumps import Site

runner = CliRunner()
DEMO = Path(__file__).resolve().parents[2] / "gateway" / "data" / DEMO_CONFIG


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def site_and_config(tmp_path: Path) -> tuple[Site, Path]:
    """The demo's config file (its state_dir is ./state beside it) and its engine, running."""
    config = tmp_path / "config.yaml"
    config.write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "state").mkdir()
    site = Site(tmp_path / "state")
    site.gas = 0.5
    site.run(range(5))
    return site, config


def test_a_shelf_from_the_cli_holds_the_alarm_back_until_it_is_taken_off(tmp_path: Path) -> None:
    site, config = site_and_config(tmp_path)
    code, output = run("shelve", "kitchen-gas-1", "level1", "--by", "li.na",
                       "--reason", "calibration gas on the head", "--minutes", "30",
                       "-c", str(config))  # fmt: skip
    assert code == 0, output
    site.gas = 30.0
    assert site.run(range(5, 60)) == []  # held back
    (record,) = [e for e in site.ledger.events() if e.type == "alarm_shelf"]
    assert (record.actor, record.payload["reason"]) == ("li.na", "calibration gas on the head")
    code, output = run("unshelve", "kitchen-gas-1", "level1", "--by", "li.na", "-c", str(config))
    assert code == 0, output
    assert site.run(range(60, 70)) == ["duty officer"]  # annunciated anew


def test_a_shelf_needs_a_known_person_a_known_alarm_and_a_bounded_time(tmp_path: Path) -> None:
    _site, config = site_and_config(tmp_path)
    base = ["shelve", "kitchen-gas-1", "level1", "--reason", "r", "-c", str(config)]
    assert run(*base, "--by", "nobody")[0] == 1
    assert run(*base, "--by", "li.na", "--minutes", "100000")[0] == 1  # beyond shelve_max_s
    code, output = run("shelve", "kitchen-gas-1", "smell", "--by", "li.na", "--reason", "r",
                       "-c", str(config))  # fmt: skip
    assert code == 1
    assert "level1" in output  # says which alarms there are
