"""Provisioning edits the config file in place: comments and untouched lines stay exactly as
written, the whole result is checked with the daemon's own loader, and a refused edit leaves the
file byte-for-byte unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ruamel.yaml.comments import CommentedMap

from gateway import provision
from gateway.errors import ConfigError
from gateway.provision import ProvisionError

CONFIG = """\
# Plant A: a test config with comments everywhere.
site: {id: plant, name: Plant A}   # the site
gateway: {id: gw01}
state_dir: ./state        # relative to this file

people:
  - {id: wang.wei, name: Wang Wei}
  - {id: li.na, name: Li Na}

zones:
  - {id: kitchen, name: Kitchen, owner: wang.wei}
  - {id: store, name: Store room, owner: li.na}

drivers:
  - {type: sim, id: sim, period_s: 5}
  - type: modbus_rtu        # the RS-485 bus
    id: rs485-1
    port: {port}
    request_timeout_s: 0.2

devices:
  - id: kitchen-gas-1       # above the range
    driver: sim
    zone: kitchen
    class: combustible_gas
    channel: kitchen_gas
    thresholds:
      level1: 20            # ppm below the preset
      level2: 40
  - {id: store-temp-1, driver: sim, zone: store, class: temperature, channel: store_temp}
  - id: store-temp-2        # an XY-MD02 module
    driver: rs485-1
    zone: store
    class: temperature
    address: 1
    profile: xy-md02
    point: temperature

detection:
  zones:
    store:
      temperature: {preset: heat_a1}   # the A1 rule

escalation:
  levels:
    - {name: duty officer, recipients: [wang.wei], delay_s: 0}

notify:
  channels: [{type: log}]
"""


def write_config(directory: Path, port: str = "/dev/ttyUSB-test") -> Path:
    path = directory / "config.yaml"
    path.write_text(CONFIG.replace("{port}", port), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def test_an_unchanged_round_trip_writes_the_same_bytes(config: Path) -> None:
    before = config.read_bytes()
    written = provision.apply(config, lambda root: None)
    assert not written.changed
    assert config.read_bytes() == before


def test_add_appends_one_entry_and_keeps_every_other_line(config: Path) -> None:
    before = config.read_text().splitlines()
    fields = {"id": "kitchen-co-1", "driver": "sim", "zone": "kitchen", "class": "co",
              "channel": "kitchen_co", "address": None, "profile": ""}  # fmt: skip
    written = provision.apply(config, lambda root: provision.add_device(root, fields))
    after = config.read_text().splitlines()
    at = after.index("  - id: kitchen-co-1")
    new = after[at : at + 5]
    assert new == [
        "  - id: kitchen-co-1", "    driver: sim", "    zone: kitchen", "    class: co",
        "    channel: kitchen_co",
    ]  # fmt: skip
    assert after[:at] + after[at + 5 :] == before
    assert [d.id for d in written.cfg.devices][-1] == "kitchen-co-1"


def test_edit_changes_only_the_edited_line(config: Path) -> None:
    before = config.read_text().splitlines()

    def change(root: CommentedMap) -> None:
        provision.set_dotted(provision.find_device(root, "kitchen-gas-1"), "thresholds.level1", 25)

    provision.apply(config, change)
    after = config.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("      level1: 20            # ppm below the preset",
                        "      level1: 25            # ppm below the preset")]  # fmt: skip


def test_edit_of_a_flow_style_entry_keeps_it_on_one_line(config: Path) -> None:
    def change(root: CommentedMap) -> None:
        provision.set_dotted(provision.find_device(root, "store-temp-1"), "location", "shelf 3")

    provision.apply(config, change)
    assert "  - {id: store-temp-1, driver: sim, zone: store, class: temperature, channel: " \
        "store_temp, location: shelf 3}" in config.read_text().splitlines()  # fmt: skip


def test_remove_takes_out_the_entry_and_nothing_else(config: Path) -> None:
    before = config.read_text().splitlines()
    provision.apply(config, lambda root: provision.remove_device(root, "store-temp-2"))
    after = config.read_text().splitlines()
    at = before.index("  - id: store-temp-2        # an XY-MD02 module")
    assert before[:at] + before[at + 7 :] == after


def test_remove_in_the_middle_keeps_the_comments_of_the_others(config: Path) -> None:
    before = config.read_text().splitlines()
    provision.apply(config, lambda root: provision.remove_device(root, "kitchen-gas-1"))
    at = before.index("  - id: kitchen-gas-1       # above the range")
    assert before[:at] + before[at + 8 :] == config.read_text().splitlines()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("thresholds.level1", 50),  # above level2 (40)
        ("zone", "attic"),  # no such zone
        ("class", "radiation"),  # no such sensor class
        ("colour", "red"),  # unknown key
    ],
)
def test_an_edit_the_daemon_would_refuse_leaves_the_file_byte_for_byte(
    config: Path, key: str, value: object
) -> None:
    before = config.read_bytes()

    def change(root: CommentedMap) -> None:
        provision.set_dotted(provision.find_device(root, "kitchen-gas-1"), key, value)

    with pytest.raises(ConfigError) as caught:
        provision.apply(config, change)
    assert config.read_bytes() == before
    assert list(config.parent.glob(".config.yaml.*")) == []  # no temp file left behind
    issues = provision.issues_for(config, caught.value)
    assert all(i.file == str(config) for i in issues)


def test_a_driver_problem_is_refused_too(config: Path) -> None:
    """check_drivers runs as well: a profile that does not exist stops the write."""
    before = config.read_bytes()

    def change(root: CommentedMap) -> None:
        provision.set_dotted(provision.find_device(root, "store-temp-2"), "profile", "no-such")

    with pytest.raises(ConfigError):
        provision.apply(config, change)
    assert config.read_bytes() == before


def test_naming_a_missing_device_or_a_duplicate_is_refused(config: Path) -> None:
    root = provision.load_root(config)
    with pytest.raises(ProvisionError, match="no device 'nope'"):
        provision.find_device(root, "nope")
    with pytest.raises(ProvisionError, match="already exists"):
        provision.add_device(root, {"id": "store-temp-1"})


def test_disable_writes_enabled_false_with_why_and_enable_removes_it(config: Path) -> None:
    def off(root: CommentedMap) -> None:
        entry = provision.find_device(root, "store-temp-1")
        provision.set_enabled(entry, False, "out of service since today: dusty (owner li.na)")

    written = provision.apply(config, off)
    assert not next(d for d in written.cfg.devices if d.id == "store-temp-1").enabled
    assert "out of service since today: dusty (owner li.na)" in config.read_text()

    def on(root: CommentedMap) -> None:
        provision.set_enabled(provision.find_device(root, "store-temp-1"), True)

    written = provision.apply(config, on)
    assert next(d for d in written.cfg.devices if d.id == "store-temp-1").enabled
    assert "out of service" not in config.read_text()


def test_values_from_the_command_line_are_read_as_yaml() -> None:
    assert provision.parse_value("30") == 30
    assert provision.parse_value("2.5") == 2.5
    assert provision.parse_value("null") is None
    assert provision.parse_value("false") is False
    assert provision.parse_value("above the range") == "above the range"


def test_reload_without_a_pid_file_says_how_to_reload(tmp_path: Path) -> None:
    r = provision.reload_daemon(tmp_path)
    assert r.pid is None
    assert "systemctl reload hazard-gateway" in r.message


def test_a_stale_pid_is_never_signalled(tmp_path: Path) -> None:
    (tmp_path / "hazgw.pid").write_text(f"{os.getpid()}\n")  # pytest itself: not a hazgw
    r = provision.reload_daemon(tmp_path)
    assert r.pid is None
    assert "not a running hazgw" in r.message


def test_reload_sends_sighup_to_the_pid_in_the_pid_file(tmp_path: Path) -> None:
    # A real process and a real signal; the program stands in for the daemon (named like it).
    marker = tmp_path / "hup"
    script = tmp_path / "hazgw-standin.py"
    script.write_text(
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGHUP, lambda *a: pathlib.Path({str(marker)!r}).touch())\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        pid_file = tmp_path / "run" / "gw.pid"
        pid_file.parent.mkdir()
        pid_file.write_text(f"{proc.pid}\n")
        r = provision.reload_daemon(tmp_path, pid_file)
        assert r.pid == proc.pid
        deadline = time.monotonic() + 10  # guard against a hang only
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"site: {id: s1}\ngateway: {id: g\xff}\n", "UTF-8"),
        (b"site: {id: s1}\nsince: 2024-02-30\n", "day is out of range"),
    ],
)
def test_a_file_the_loader_cannot_read_is_a_config_error_at_its_line(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        provision.load_root(path)
    (issue,) = info.value.issues
    assert issue.line == 2
    assert words in issue.message
