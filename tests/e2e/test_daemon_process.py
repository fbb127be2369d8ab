"""`hazgw run` as a real process, talking to a real sd_notify socket: ready, watchdog, reload on
SIGHUP, a clean stop on SIGTERM that loses no reading, and a refused config."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerting.ledger import Grade, Kind, Ledger
from alerting.vocabulary import Source
from gateway.model import Identity
from gateway.outbox import Lane, Outbox
from tests.schema_doc import is_reading

DEVICES = {
    "kitchen-gas-1": ("kitchen", "combustible_gas", "kitchen_gas"),
    "kitchen-temp-1": ("kitchen", "temperature", "kitchen_temp"),
    "office-co-1": ("office", "co", "office_co"),
}


def config_text(state: Path, devices: list[str]) -> str:
    lines = [
        "site: {id: test}",
        "gateway: {id: gw01}",
        f"state_dir: {state}",
        "people: [{id: p1, name: Person}]",
        "zones: [{id: kitchen, name: Kitchen, owner: p1}, {id: office, name: Office, owner: p1}]",
        "drivers: [{type: sim, id: sim, period_s: 0.1}]",
        "detection: {tick_s: 0.1}",
        "escalation: {levels: [{name: duty, recipients: [p1]}]}",
        "devices:",
    ]
    for d in devices:
        zone, cls, channel = DEVICES[d]
        fields = f"id: {d}, driver: sim, zone: {zone}, class: {cls}, channel: {channel}"
        lines.append(f"  - {{{fields}}}")
    return "\n".join(lines) + "\n"


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket that collects what the daemon says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.seen: list[str] = []

    def wait_for(self, message: str, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.seen.append(data)
            if message in data.split("\n"):
                return
        raise AssertionError(f"no {message!r} within {timeout_s} s; got {self.seen}")


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    n = NotifySocket(tmp_path / "notify.sock")
    yield n
    n.sock.close()


def start(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
        env=os.environ | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_briefly(config: Path, notify: NotifySocket) -> str:
    """Start the daemon, let it tick, stop it cleanly; its output."""
    proc = start(config, {"NOTIFY_SOCKET": str(notify.path)})
    try:
        notify.wait_for("READY=1")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    return output


def test_ready_watchdog_reload_and_a_clean_stop_that_loses_no_reading(
    tmp_path: Path, notify: NotifySocket
) -> None:
    config, state = tmp_path / "site.yaml", tmp_path / "state"
    config.write_text(config_text(state, list(DEVICES)))
    proc = start(config, {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000"})
    try:
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        config.write_text(config_text(state, ["kitchen-gas-1", "office-co-1"]))
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        time.sleep(0.5)  # readings from the reloaded drivers
        proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    assert "reloaded: 2 sensors" in output
    stored = re.search(r"stopped cleanly: (\d+) readings stored", output)
    assert stored, output
    with Outbox(state / "outbox.sqlite") as outbox:
        readings = [ln for ln in outbox.lines(Lane.TELEMETRY) if is_reading(ln)]
    assert len(readings) == int(stored.group(1)) > 0
    after_reload = readings[-2:]  # the last tick only had the two remaining devices
    assert all("kitchen-temp-1" not in ln for ln in after_reload)


def test_an_invalid_config_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    text = config_text(tmp_path / "state", list(DEVICES))
    config.write_text(text.replace("class: co,", "class: CO2,"))
    proc = start(config, {})
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"{config}:12: devices[2].class: Input should be" in output
    assert not (tmp_path / "state").exists()  # nothing was started


def test_a_corrupt_outbox_is_moved_aside_and_the_gateway_runs_on(
    tmp_path: Path, notify: NotifySocket
) -> None:
    """A power cut left garbage where the outbox was: the daemon starts anyway, keeps the
    damaged file as evidence beside a fresh outbox, and says so in one clear log line."""
    config, state = tmp_path / "site.yaml", tmp_path / "state"
    config.write_text(config_text(state, ["kitchen-gas-1"]))
    state.mkdir()
    (state / "outbox.sqlite").write_bytes(b"\x00garbage after a power cut\xff" * 400)
    output = run_briefly(config, notify)
    moved = list(state.glob("outbox.sqlite.corrupt-*"))
    assert len(moved) == 1
    assert moved[0].read_bytes().startswith(b"\x00garbage after a power cut")
    assert "outbox.sqlite.corrupt-" in output
    with Outbox(state / "outbox.sqlite") as outbox:
        assert any(is_reading(ln) for ln in outbox.lines(Lane.TELEMETRY))


def test_the_daemon_serves_its_api_on_localhost_when_enabled(
    tmp_path: Path, notify: NotifySocket
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "site.yaml"
    text = config_text(tmp_path / "state", ["kitchen-gas-1"])
    config.write_text(text + f"api: {{enabled: true, port: {port}}}\n")
    proc = start(config, {"NOTIFY_SOCKET": str(notify.path)})
    try:
        notify.wait_for("READY=1")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:  # the server task may come up a moment after READY
            try:
                assert httpx.get(f"{url}/health", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert httpx.get(f"{url}/ledger", timeout=2).status_code == 401  # no token, no ledger
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, output


def test_ledger_events_written_while_the_daemon_was_down_reach_the_outbox_once(
    tmp_path: Path, notify: NotifySocket
) -> None:
    """People keep using the ledger (the CLI) while the daemon is down; their events go to
    InfluxDB through the outbox at the next start, like everything the daemon writes."""
    config, state = tmp_path / "site.yaml", tmp_path / "state"
    config.write_text(config_text(state, ["office-co-1"]))
    run_briefly(config, notify)
    with Ledger(state / "ledger.sqlite", Identity("test", "gw01")) as ledger:
        ledger.register_finding(
            title="fire door wedged open", kind=Kind.FIRE, grade=Grade.GENERAL,
            source=Source.SELF_INSPECTION, location="office", zone="office", found_by="p1",
            ts_ns=time.time_ns(),
        )  # fmt: skip
    output = run_briefly(config, notify)
    run_briefly(config, notify)  # and only once
    assert "1 ledger event(s) had not reached the outbox" in output
    with Outbox(state / "outbox.sqlite") as outbox:
        events = outbox.lines(Lane.EVENTS)
    assert len([e for e in events if "fire door wedged open" in e]) == 1
