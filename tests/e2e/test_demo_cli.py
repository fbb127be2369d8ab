"""`hazgw demo --state-dir DIR --duration 30` as a newcomer runs it: the whole scenario at its
default speed inside those 30 seconds, then a ledger that `hazgw ledger list --json` shows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path


def hazgw(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,  # the bound: the demo finishes in under a minute
        check=False,
    )


def test_the_demo_plays_the_whole_scenario_and_leaves_a_ledger(tmp_path: Path) -> None:
    state = tmp_path / "demo-state"
    demo = hazgw("demo", "--state-dir", str(state), "--duration", "30", timeout_s=60)
    assert demo.returncode == 0, demo.stderr
    assert re.search(
        r"Demo finished after 20\.\d scenario minutes: 4 hazards in the ledger", demo.stdout
    )
    assert f"hazgw ledger list --state-dir {state.resolve()}" in demo.stdout
    listed = hazgw("ledger", "list", "--state-dir", str(state), "--json", timeout_s=30)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    where = [(e["kind"], e["zone"] if e["kind"] == "fire" else e["device"]) for e in entries]
    assert sorted(where) == [
        ("fault", "corridor-temp-1"),
        ("fault", "office-smoke-2"),
        ("fire", "store"),
        ("gas", "kitchen-gas-1"),
    ]
    gas = next(e for e in entries if e["kind"] == "gas")
    assert gas["level"] == 2
    assert [s["name"] for s in gas["escalation"]["steps"]][:2] == [
        "duty officer",
        "safety officer",
    ]
