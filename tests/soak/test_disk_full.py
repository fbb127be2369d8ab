"""The outbox's disk fills up while the daemon runs; the ledger lives on another filesystem.

The daemon runs as a real process in a private mount namespace where a 256 KiB tmpfs holds the
outbox (state/outbox.sqlite is a symlink into it; SQLite follows it and keeps its journal there)
and a ballast file takes most of the room. 40 simulated thermometers at 10 Hz fill the rest in
seconds. One of them stands over level 1 from the start and escalation repeats every second, so
alarm work goes on the whole time. What must hold: once the outbox is full the daemon says so,
keeps notifying and keeps writing the ledger (a reminder recorded after the failure), counts the
readings it could not store, and once the ballast is removed stores again and says how many
readings were lost. Needs root (CAP_SYS_ADMIN) for the mount, as in CI; skipped otherwise.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerting.ledger import Ledger
from gateway.model import Identity
from tests.integration.test_outage import _private_tmpfs_works, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
mount -t tmpfs -o size=256k tmpfs "$1" || exit 97
head -c 150000 /dev/zero > "$1/ballast"
"$2" -m gateway run --config "$3" &
gw=$!
while [ ! -e "$4" ]; do sleep 0.05; done
rm "$1/ballast"
wait $gw
"""
NS_PER_S = 1_000_000_000


def config_text(state: Path) -> str:
    devices = [
        f"  - {{id: t{i:02d}, driver: sim, zone: kitchen, class: temperature, "
        f"channel: kitchen_temp{', thresholds: {level1: 20, level2: 1000}' if i == 0 else ''}}}"
        for i in range(40)
    ]
    return "\n".join([
        "site: {id: test}",
        "gateway: {id: gw01}",
        f"state_dir: {state}",
        "people: [{id: p1, name: Person}]",
        "zones: [{id: kitchen, name: Kitchen, owner: p1}]",
        "drivers: [{type: sim, id: sim, period_s: 0.1}]",
        "detection: {tick_s: 0.1}",
        "escalation: {levels: [{name: duty, recipients: [p1]}], repeat_s: 1}",
        "notify: {grouping: {wait_s: 0, window_s: 0.2}, channels: [{type: log}]}",
        "devices:",
        *devices,
    ]) + "\n"  # fmt: skip


def test_a_full_outbox_disk_loses_counted_telemetry_and_no_alarm(tmp_path: Path) -> None:
    reason = _private_tmpfs_works()
    if reason is not None:
        pytest.skip(reason)
    disk, state, log = tmp_path / "disk", tmp_path / "state", tmp_path / "gateway.log"
    disk.mkdir()
    state.mkdir()
    (state / "outbox.sqlite").symlink_to(disk / "outbox.sqlite")
    config, room = tmp_path / "site.yaml", tmp_path / "make-room"
    config.write_text(config_text(state))
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT, "sh",
            str(disk), sys.executable, str(config), str(room)]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def output() -> str:
        return log.read_text(errors="replace")

    try:
        wait_for("a full outbox", lambda: "telemetry is being lost" in output(), output)
        full_at = time.time_ns()
        failed = output().index("telemetry is being lost")

        def reminders_after_failure() -> bool:
            return len(re.findall(r"\(reminder \d+\)", output()[failed:])) >= 2

        wait_for("reminders after the failure", reminders_after_failure, output)
        room.touch()  # the ballast goes
        wait_for("an outbox writable again", lambda: "outbox writable again" in output(), output)
        pid = int((state / "hazgw.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        assert proc.wait(30) == 0, output()
    finally:
        proc.kill()
    text = output()
    lost = re.search(r"outbox writable again; (\d+) readings were lost", text)
    assert lost is not None, text
    assert int(lost.group(1)) > 0
    assert "stopped cleanly" in text
    with Ledger(state / "ledger.sqlite", Identity("test", "gw01")) as ledger:
        assert ledger.verify().ok
        (hazard,) = ledger.hazards()
        late = [s for s in hazard.escalation.steps if s.ts_ns > full_at]
        assert len(late) >= 2  # escalation recorded in the ledger while the outbox was full
        repeats = [s.repeat for s in hazard.escalation.steps]
        assert repeats == sorted(set(repeats))  # none repeated
