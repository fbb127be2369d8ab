"""Tamper evidence and power cuts.

- One changed byte anywhere in one stored event makes `hazgw ledger verify` fail and name it.
- A writer killed with SIGKILL in the middle of a burst loses no append that had returned, and
  leaves a chain that verifies (SQLite WAL with synchronous=FULL; the kill is real, the power cut
  it stands for cannot be staged here).
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerting.ledger import Ledger
from gateway.cli import app
from tests.unit.test_ledger_fixtures import GW1, OWNER, T0, S, finding, gas_alarm

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def small_ledger(path: Path) -> list[str]:
    """Three events with text we can find in the file: the reason of each is unique."""
    with Ledger(path, GW1) as ledger:
        number = gas_alarm(ledger)
        ledger.acknowledge(number, by=OWNER, ts_ns=T0 + S, reason="MARKER-TWO on my way")
        ledger.note(number, text="MARKER-THREE valve closed", by=OWNER, ts_ns=T0 + 2 * S)
    raw = sqlite3.connect(path)  # fold the WAL into the main file, then nothing holds it open
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    return ["gateway:gw01/rule:level1", "MARKER-TWO", '"text":"MARKER-THREE']


def flip(path: Path, needle: str, replacement: bytes) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle.encode())
    assert at >= 0, f"{needle} not found in the file"
    assert data.find(needle.encode(), at + 1) < 0, f"{needle} occurs twice"
    data[at + len(needle) - 1] = replacement[0]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("seq", "replacement"),
    [(1, b"2"), (2, b"X"), (3, b"\xff")],  # in an actor, a reason, a payload: 0xff breaks UTF-8
    ids=["actor", "reason", "payload-not-utf8"],
)
def test_one_changed_byte_is_named_by_hazgw_ledger_verify(
    tmp_path: Path, seq: int, replacement: bytes
) -> None:
    path = tmp_path / "ledger.sqlite"
    needles = small_ledger(path)
    assert runner.invoke(app, ["ledger", "verify", "--state-dir", str(tmp_path)]).exit_code == 0
    flip(path, needles[seq - 1], replacement)
    result = runner.invoke(app, ["ledger", "verify", "--state-dir", str(tmp_path)])
    assert result.exit_code == 4, result.output
    assert f"ledger chain broken at event {seq}:" in result.output
    as_json = runner.invoke(app, ["ledger", "verify", "--json", "--state-dir", str(tmp_path)])
    assert '"first_broken_seq": ' + str(seq) in as_json.output


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from alerting.ledger import Ledger
    from alerting.records import DeliveryAttempt
    from alerting.vocabulary import Grade, Kind
    from gateway.model import Identity

    ledger = Ledger(Path(sys.argv[1]), Identity("demo", "gw01"))
    t, number = 1_772_352_000 * 10**9, ""
    for i in range(100_000):
        t += 10**9
        if i % 3 == 0:
            hazard, _ = ledger.raise_alarm_hazard(
                dedup_key=f"dev:gas-{i}:gas", kind=Kind.GAS, title="leak", grade=Grade.GENERAL,
                level=1, device=f"gas-{i}", zone="z", location="l", value=30.0,
                condition="level1", actor="gateway:gw01/rule:level1", ts_ns=t, start_level=0,
            )
            number, seq = hazard.number, hazard.events[-1]
        elif i % 3 == 1:
            seq = ledger.acknowledge(number, by="wang", ts_ns=t).seq
        else:
            seq = ledger.record_delivery(DeliveryAttempt(
                number, channel="log", recipients=("wang",), step=0, round=0, repeat=0,
                attempt=1, ok=True, retryable=False, detail="", actor="gw", ts_ns=t,
            )).seq
        print(seq, flush=True)  # the append returned: it must survive
    """
)


def test_a_killed_writer_loses_no_returned_append_and_leaves_a_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path, GW1).close_db()  # created and claimed before the burst
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env, cwd=ROOT
    )
    assert child.stdout is not None
    acknowledged: list[int] = []
    try:
        while len(acknowledged) < 150:  # well into the burst, then pull the plug
            ready, _, _ = select.select([child.stdout], [], [], 30)
            assert ready, "the child stopped writing"
            line = child.stdout.readline()
            assert line, "the child exited early"
            acknowledged.append(int(line))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with Ledger(path, GW1) as survivor:
        stored = {e.seq for e in survivor.events()}
        assert set(acknowledged) <= stored
        assert max(stored) >= acknowledged[-1]
        assert survivor.verify().ok
        number = finding(survivor, ts_ns=T0 + 10**6 * S)  # and it takes new appends
        assert survivor.hazard(number).events[0] == max(stored) + 1
