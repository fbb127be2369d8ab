"""Golden alarm cases: each folder under tests/cases/alarms/ is fed through the real Engine with a
real Ledger (in tmp_path) on a fake clock, one step per `detection.tick_s`, and the alarm
transitions it produces must equal `expected.jsonl` line by line.

A case folder holds:
  config.yaml            a full small gateway config (the sim driver only names the bus)
  readings.csv           t_s,device,value[,quality]   quality: good, uncertain, bad, test
  expected.jsonl         {"t_s", "device", "condition", "from", "to"} per transition, in order
  statuses.csv           optional: t_s,driver,connected,failing (failing: device ids, ' '-separated)
  actions.csv            optional: t_s,action,device,condition,by,reason,duration_s
                         action: ack, close, shelve, unshelve, remove, restore
  expected_hazards.jsonl optional: the ledger's entries (dedup_key, kind, level[, occurrences]);
                         an empty file means "no hazard at all"
A reading at t_s is delivered to the first step at or after t_s; a status or an action at t_s
applies from the step at t_s.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alerting.alarms import AlarmKey
from alerting.ledger import Ledger
from drivers.base import DriverStatus
from gateway.config import parse_config
from gateway.engine import Engine
from gateway.model import Identity, Quality, ReadingBatch
from gateway.registry import Registry

CASES = Path(__file__).resolve().parents[1] / "cases" / "alarms"
EPOCH_NS = 1_795_000_000 * 1_000_000_000  # 2026-11-18, fixed so numbers repeat
S = 1_000_000_000
QUALITY = {q.name.lower(): int(q) for q in Quality}


@dataclass
class Case:
    folder: Path
    readings: list[tuple[float, str, float, int]]
    expected: list[dict[str, Any]]
    statuses: list[tuple[float, str, bool, frozenset[str]]] = field(default_factory=list)
    actions: list[dict[str, str]] = field(default_factory=list)
    hazards: list[dict[str, Any]] | None = None

    def end_s(self) -> float:
        times = [r[0] for r in self.readings] + [e["t_s"] for e in self.expected]
        times += [s[0] for s in self.statuses] + [float(a["t_s"]) for a in self.actions]
        return max(times, default=0.0)


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [row for row in csv.DictReader(f) if any(v.strip() for v in row.values() if v)]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def load(folder: Path) -> Case:
    readings = [
        (float(r["t_s"]), r["device"], float(r["value"]), QUALITY[r.get("quality") or "good"])
        for r in _rows(folder / "readings.csv")
    ]
    statuses = [
        (float(r["t_s"]), r["driver"], r["connected"] == "true", frozenset(r["failing"].split()))
        for r in _rows(folder / "statuses.csv")
    ]
    hazards_file = folder / "expected_hazards.jsonl"
    return Case(
        folder,
        sorted(readings, key=lambda r: r[0]),
        _jsonl(folder / "expected.jsonl"),
        statuses,
        _rows(folder / "actions.csv"),
        _jsonl(hazards_file) if hazards_file.exists() else None,
    )


class Runner:
    """Plays one case through the engine, collecting transitions as expected.jsonl spells them."""

    def __init__(self, case: Case, state: Path) -> None:
        text = (case.folder / "config.yaml").read_text()
        cfg = parse_config(text, str(case.folder / "config.yaml"))
        self.cfg = cfg.model_copy(update={"state_dir": state})
        self.case = case
        self.registry = Registry.from_config(self.cfg)
        ident = Identity(self.cfg.site.id, self.cfg.gateway.id)
        self.ledger = Ledger(state / "ledger.sqlite", ident, prefix=self.cfg.ledger.prefix)
        self.engine = Engine(self.cfg, self.registry, self.ledger, start_ns=EPOCH_NS)
        self.seen: list[dict[str, Any]] = []
        self.status: dict[str, DriverStatus] = {}

    def run(self) -> list[dict[str, Any]]:
        tick = self.cfg.detection.tick_s
        readings, actions = list(self.case.readings), list(self.case.actions)
        statuses = list(self.case.statuses)
        steps = math.ceil(self.case.end_s() / tick) + 2
        for k in range(steps + 1):
            now = round(k * tick, 6)
            while statuses and statuses[0][0] <= now:
                _, driver, connected, failing = statuses.pop(0)
                self.status[driver] = DriverStatus(connected=connected, failing=set(failing))
            while actions and float(actions[0]["t_s"]) <= now:
                self._act(actions.pop(0))
            due = [r for r in readings if r[0] <= now]
            readings = readings[len(due) :]
            result = self.engine.step([self._batch(due)], _ns(now), dict(self.status))
            self._collect(now, [tr for tr, _ in result.transitions])
        return self.seen

    def _batch(self, rows: list[tuple[float, str, float, int]]) -> ReadingBatch:
        index = self.registry.by_device
        return ReadingBatch.of(
            [index[d].index for _, d, _, _ in rows],
            [v for _, _, v, _ in rows],
            [_ns(t) for t, _, _, _ in rows],
            [q for _, _, _, q in rows],
        )

    def _collect(self, t_s: float, transitions: list[Any]) -> None:
        for tr in transitions:
            self.seen.append(
                {"t_s": t_s, "device": tr.key.device, "condition": tr.key.condition,
                 "from": tr.before.value, "to": tr.after.value}
            )  # fmt: skip

    def _act(self, a: dict[str, str]) -> None:
        now, e = _ns(float(a["t_s"])), self.engine
        device, cond, by = a["device"], a["condition"], a["by"]
        if a["action"] in ("ack", "close"):
            alarm = e.alarms.get(AlarmKey(device, cond))
            assert alarm is not None, f"no alarm for {a}"
            assert alarm.hazard is not None, f"no hazard for {a}"
            if a["action"] == "ack":
                result = e.acknowledge(alarm.hazard, by=by, now_ns=now, reason=a["reason"])
                self._collect(float(a["t_s"]), [tr for tr, _ in result.transitions])
            else:  # from another process, as the CLI does: the engine sees it at its next step
                with Ledger.open_existing(self.ledger.path) as cli:
                    cli.close(alarm.hazard, by=by, ts_ns=now, reason=a["reason"])
            return
        result = {
            "shelve": lambda: e.shelve(
                device, cond, by=by, reason=a["reason"], duration_s=float(a["duration_s"]),
                now_ns=now,
            ),
            "unshelve": lambda: e.unshelve(device, cond, by=by, now_ns=now),
            "remove": lambda: e.remove_from_service(
                device, by=by, owner=by, reason=a["reason"], now_ns=now
            ),
            "restore": lambda: e.return_to_service(device, by=by, now_ns=now),
        }[a["action"]]()  # fmt: skip
        self._collect(float(a["t_s"]), [tr for tr, _ in result.transitions])


def _ns(t_s: float) -> int:
    return EPOCH_NS + round(t_s * S)


def _case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "config.yaml").exists())


@pytest.mark.parametrize("name", _case_names())
def test_golden_alarm_case(name: str, tmp_path: Path) -> None:
    case = load(CASES / name)
    runner = Runner(case, tmp_path)
    try:
        seen = runner.run()
        assert seen == case.expected, "\n".join(json.dumps(s) for s in seen)
        if case.hazards is not None:
            assert _hazards(runner.ledger, case.hazards) == case.hazards
        assert runner.ledger.verify().ok
    finally:
        runner.ledger.close_db()


def _hazards(ledger: Ledger, expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ledger's entries, with the fields the expectation names (in issue order)."""
    keys = {k for e in expected for k in e}
    out = []
    for h in ledger.hazards():
        full = {"dedup_key": h.dedup_key, "kind": h.kind.value, "level": h.level,
                "occurrences": h.occurrences, "grade": h.grade.value}  # fmt: skip
        out.append({k: v for k, v in full.items() if k in keys})
    return out


def test_every_case_folder_is_complete() -> None:
    names = _case_names()
    assert len(names) >= 30
    for name in names:
        folder = CASES / name
        assert (folder / "readings.csv").exists() or (folder / "statuses.csv").exists(), name
        assert (folder / "expected.jsonl").exists(), name
