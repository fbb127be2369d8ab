"""`hazgw demo`: the whole gateway on the embedded demo facility, faster than real time, with a
live terminal view of sensors, alarms, ledger entries and escalation steps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from alerting.alarms import UNACKNOWLEDGED
from alerting.notify import Notification
from alerting.notify.log import RecordingNotifier
from drivers.sim.scenario import DURATION_S
from gateway.app import Gateway
from gateway.clock import NS_PER_S, LoopClock
from gateway.config import HazgwConfig, parse_config
from gateway.engine import Engine, StepResult
from gateway.model import UNITS

DEMO_CONFIG = "demo.yaml"


def demo_config(state_dir: Path) -> HazgwConfig:
    text = resources.files("gateway").joinpath("data", DEMO_CONFIG).read_text(encoding="utf-8")
    cfg = parse_config(text, f"<embedded {DEMO_CONFIG}>")
    return cfg.model_copy(update={"state_dir": state_dir.resolve()})


@dataclass
class SensorRow:
    zone: str
    device: str
    unit: str
    value: float | None
    colour: str  # green normal, yellow fault, red alarm, grey no data (GB 15322.1 colours)
    note: str


@dataclass
class HazardRow:
    number: str
    title: str
    grade: str
    status: str
    level: int
    occurrences: int
    escalated_to: str


@dataclass
class Snapshot:
    """What the view shows; built on the engine's thread after each step."""

    scenario_s: float = 0.0
    sensors: list[SensorRow] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    hazards: list[HazardRow] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)  # numbers new in the last step


def _sensor_rows(engine: Engine) -> list[SensorRow]:
    c, rows = engine.conditions, list[SensorRow]()
    if c is None:
        return rows
    for s in engine.registry.sensors:
        i = s.index
        value = float(c.value[i]) if c.value[i] == c.value[i] else None
        if c.level[i] or c.rate_of_rise[i]:
            colour, note = "red", ("level 2" if c.level[i] == 2 else "alarm")
        elif c.stale[i] or c.stuck[i]:
            colour, note = "yellow", ("silent" if c.stale[i] else "frozen")
        else:
            colour, note = ("green", "normal") if value is not None else ("grey50", "no data")
        rows.append(SensorRow(s.zone, s.device, UNITS[s.sensor_class], value, colour, note))
    return rows


def snapshot(engine: Engine, result: StepResult, start_ns: int, now_ns: int) -> Snapshot:
    alarms = [
        f"{a.key}  {a.state.value}" + ("  (needs ack)" if a.state in UNACKNOWLEDGED else "")
        for a in engine.alarms.annunciated()
    ]
    hazards = [
        HazardRow(
            h.number, h.title, h.grade.value, h.status.value, h.level, h.occurrences,
            h.escalation.steps[-1].name if h.escalation.steps else "-",
        )
        for h in engine.ledger.hazards()
    ]  # fmt: skip
    new = [e.number for e in result.ledger_events if e.type == "registered" and e.number]
    return Snapshot((now_ns - start_ns) / NS_PER_S, _sensor_rows(engine), alarms, hazards, new)


def _note_line(n: Notification, start_ns: int) -> Text:
    m, s = divmod(int((n.ts_ns - start_ns) / NS_PER_S), 60)
    again = f" (reminder {n.repeat})" if n.repeat else ""
    line = Text(f"  {m:02d}:{s:02d} {n.number} -> {n.step_name} [{', '.join(n.recipients)}]")
    line.append(f"{again}  {n.reason}: {n.title}", style="dim")
    line.no_wrap, line.overflow = True, "ellipsis"
    return line


def render(snap: Snapshot, notes: list[Notification], speed: float, start_ns: int) -> Group:
    m, s = divmod(int(snap.scenario_s), 60)
    head = Text(f"hazard-gateway demo  scenario {m:02d}:{s:02d}  (x{speed:g})", style="bold")
    sensors = Table(title="Sensors", expand=True)
    for col in ("zone", "device", "value", "state"):
        sensors.add_column(col)
    for r in snap.sensors:
        value = "-" if r.value is None else f"{r.value:.1f} {r.unit}"
        sensors.add_row(r.zone, r.device, value, Text(r.note, style=f"bold {r.colour}"))
    ledger = Table(title="Hazard ledger", expand=True)
    for col in ("number", "title", "grade", "status", "lvl", "n", "escalated to"):
        ledger.add_column(col)
    for h in snap.hazards:
        ledger.add_row(h.number, h.title, h.grade, h.status, str(h.level), str(h.occurrences),
                       h.escalated_to)  # fmt: skip
    alarms = Text("Active alarms: " + ("none" if not snap.alarms else ""), style="bold")
    for a in snap.alarms:
        alarms.append("\n  " + a, style="red")
    esc = [Text("Escalation and notifications (latest 8):", style="bold")]
    esc += [_note_line(n, start_ns) for n in notes[-8:]]
    return Group(head, sensors, alarms, ledger, *esc)


class DemoRunner:
    def __init__(
        self, state_dir: Path, *, speed: float, duration_s: float | None, ack_after_s: float | None
    ) -> None:
        self.cfg = demo_config(state_dir)
        self.speed, self.duration_s, self.ack_after_s = speed, duration_s, ack_after_s
        self.recorder = RecordingNotifier()
        self.clock = LoopClock(speed)
        self.snap = Snapshot()
        self.gateway = Gateway(
            self.cfg, clock=self.clock, notifiers=[self.recorder],
            on_step=self._on_step,
        )  # fmt: skip
        self._acks: dict[str, float] = {}  # hazard -> scenario second to acknowledge at
        self._start_ns = self.clock.epoch_ns

    def _on_step(self, result: StepResult, engine: Engine, now_ns: int) -> None:
        self.snap = snapshot(engine, result, self._start_ns, now_ns)
        if self.ack_after_s is not None:
            for number in self.snap.registered:
                self._acks.setdefault(number, self.snap.scenario_s + self.ack_after_s)

    async def run(self, console: Console | None) -> None:
        task = asyncio.create_task(self.gateway.run(), name="gateway")
        deadline = time.monotonic() + (self.duration_s or DURATION_S / self.speed + 5)
        with Live(console=console, auto_refresh=False) if console else _NoLive() as live:
            while not task.done():
                await asyncio.sleep(0.2)
                await self._due_acks()
                view = render(self.snap, self.recorder.sent, self.speed, self._start_ns)
                live.update(view, refresh=True)
                if self.clock.monotonic() >= DURATION_S or time.monotonic() >= deadline:
                    self.gateway.stop()
        await task

    async def _due_acks(self) -> None:
        now = self.clock.monotonic()
        for number, at in list(self._acks.items()):
            if now >= at:
                del self._acks[number]
                await self.gateway.acknowledge(number, by="wang.wei", reason="demo duty officer")


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_args: object, **_kwargs: object) -> None:
        return None


def configure_demo_logging(state_dir: Path) -> Path:
    """The live view owns the terminal; the log goes to a file beside the state."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "demo.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return path
