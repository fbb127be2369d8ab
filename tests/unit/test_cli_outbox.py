"""`hazgw outbox stats` and `hazgw outbox purge --older-than` on a real outbox file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.outbox_cmd import app, parse_duration
from gateway.outbox import Lane, Outbox

runner = CliRunner()
HOUR_NS = 3600 * 10**9


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """An outbox as a daemon leaves it: 48 hourly readings, one 3-day-old event, a 1 MiB bound."""
    now = time.time_ns()
    with Outbox(tmp_path / "outbox.sqlite", max_telemetry_bytes=2**20) as outbox:
        stamps = [now - h * HOUR_NS + HOUR_NS // 2 for h in range(48, 0, -1)]  # 47.5 h .. 0.5 h
        outbox.append(Lane.TELEMETRY, [f"t v={i}i {ts}" for i, ts in enumerate(stamps)], stamps)
        outbox.append(Lane.EVENTS, ["alarm v=1i 1"], [now - 72 * HOUR_NS])
    return tmp_path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 604_800),
        ("12h", 43_200),
        ("30m", 1_800),
        ("45s", 45),
        ("2w", 1_209_600),
        ("1.5h", 5_400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["7", "d", "-1d", "0h", "3y", "1 day"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_stats_as_json(state: Path) -> None:
    result = runner.invoke(app, ["stats", "--json", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["events"], doc["telemetry"], doc["max_telemetry_bytes"]) == (1, 48, 2**20)
    assert doc["dropped"] == {"overflow": 0, "expired": 0, "purged": 0}
    assert 72 * 3600 - 60 < doc["oldest_age_s"] < 72 * 3600 + 60  # the event is the oldest
    assert doc["file_bytes"] > 0


def test_stats_for_people(state: Path) -> None:
    result = runner.invoke(app, ["stats", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    for words in ("events waiting", "telemetry waiting", "1.0 MiB", "dropped: overflow"):
        assert words in result.output


def test_purge_asks_first_and_a_no_changes_nothing(state: Path) -> None:
    result = runner.invoke(app, ["purge", "--older-than", "1d", "--state-dir", str(state)], "n\n")
    assert result.exit_code == 1
    assert "drop 24 telemetry lines" in result.output  # 47.5 h .. 24.5 h old
    with Outbox(state / "outbox.sqlite", max_telemetry_bytes=None) as outbox:
        assert outbox.count(Lane.TELEMETRY) == 48


def test_purge_with_yes_drops_old_telemetry_counted_and_keeps_events(state: Path) -> None:
    args = ["purge", "--older-than", "1d", "--yes", "--state-dir", str(state)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "purged 24 telemetry lines" in result.output
    with Outbox(state / "outbox.sqlite", max_telemetry_bytes=None) as outbox:
        st = outbox.stats()
    assert (st.telemetry, st.events, st.dropped_purged) == (24, 1, 24)
    again = runner.invoke(app, args)
    assert "nothing to purge" in again.output


def test_confirmed_purge_by_answering_yes(state: Path) -> None:
    result = runner.invoke(app, ["purge", "--older-than", "47h", "--state-dir", str(state)], "y\n")
    assert result.exit_code == 0, result.output
    assert "purged 1 telemetry lines" in result.output


def test_a_missing_outbox_and_a_bad_duration_are_errors(tmp_path: Path, state: Path) -> None:
    missing = runner.invoke(app, ["stats", "--state-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1
    assert "no outbox at" in missing.output
    assert not (tmp_path / "nowhere").exists()  # a look never creates state
    bad = runner.invoke(app, ["purge", "--older-than", "soon", "--state-dir", str(state)])
    assert bad.exit_code == 1
    assert "not a duration" in bad.output


def test_the_state_dir_comes_from_the_config(state: Path, tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        f"site: {{id: s}}\ngateway: {{id: g}}\nstate_dir: {state}\n"
        "people: [{id: p, name: P}]\nzones: [{id: z, name: Z, owner: p}]\n"
        "escalation: {levels: [{name: duty, recipients: [p]}]}\n"
    )
    result = runner.invoke(app, ["stats", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["telemetry"] == 48
