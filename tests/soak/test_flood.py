"""A 200-alarm flood in one zone while an unrelated gas alarm escalates in another.

The engine and the notify pipeline run as the daemon couples them (each step's notifications
submitted to the pipeline) on a fast-forwarding event loop (looptime) with a LoopClock: every
time below is loop time, nothing is measured on the real clock. 200 gas heads in the store go
over level 1 one after another over 10 s; the kitchen's gas head goes over level 1 at 2 s.
What must hold: every flood hazard reaches the channel, in a few grouped messages rather than
200, and the ledger holds one suppression record (`alarm_flood`) for the store; the kitchen
alarm's two steps are delivered within their budget (the step's delay plus the
grouping wait of a non-urgent first message plus one tick), the flood notwithstanding.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import looptime

from alerting.ledger import Ledger
from alerting.notify import Notification
from alerting.notify.delivery import Channel, ChannelPolicy
from alerting.notify.pipeline import NotifyPipeline
from alerting.records import DeliveryAttempt
from gateway.clock import LoopClock
from gateway.config import parse_config
from gateway.engine import Engine
from gateway.model import Identity, ReadingBatch
from gateway.registry import Registry

S = 1_000_000_000
T0 = 1_795_000_000 * S
FLOOD, TICK_S, WAIT_S, WINDOW_S, SECOND_DELAY_S = 200, 0.5, 5.0, 10.0, 30.0
KITCHEN_AT_S = 2.0


def config_yaml(state: Path) -> str:
    heads = [
        f"  - {{id: s{i:03d}, driver: sim, zone: store, class: combustible_gas, "
        "channel: kitchen_gas}"
        for i in range(FLOOD)
    ]
    return "\n".join([
        "site: {id: t}",
        "gateway: {id: gw01}",
        f"state_dir: {state}",
        "people: [{id: p1, name: Duty}, {id: p2, name: Second}]",
        "zones: [{id: store, name: Store, owner: p1}, {id: kitchen, name: Kitchen, owner: p1}]",
        "drivers: [{type: sim, id: sim}]",
        f"escalation: {{levels: [{{name: duty, recipients: [p1]}}, "
        f"{{name: second, recipients: [p2], delay_s: {SECOND_DELAY_S}}}], "
        "start_level: {gas_level1: 0}}",
        f"notify: {{grouping: {{wait_s: {WAIT_S}, window_s: {WINDOW_S}}}}}",
        "devices:",
        "  - {id: k-gas, driver: sim, zone: kitchen, class: combustible_gas, channel: kitchen_gas}",
        *heads,
    ]) + "\n"  # fmt: skip


class Probe:
    """The channel: what was delivered, at which loop time."""

    name = "probe"

    def __init__(self, clock: LoopClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, Notification]] = []

    async def send(self, notification: Notification) -> None:
        self.sent.append((self.clock.monotonic(), notification))


async def no_record(attempt: DeliveryAttempt) -> None:
    """Deliveries are not written to the ledger here: the escalation steps are what we read."""


def values(registry: Registry, t: float) -> ReadingBatch:
    """Store head i over level 1 from i * 0.05 s; the kitchen head from KITCHEN_AT_S."""
    out = []
    for s in registry.sensors:
        if s.device == "k-gas":
            out.append(30.0 if t >= KITCHEN_AT_S else 0.5)
        else:
            out.append(30.0 if t >= int(s.device[1:]) * 0.05 else 0.5)
    ts = T0 + int(t * S)
    return ReadingBatch.of(list(range(len(out))), out, [ts] * len(out))


async def scenario(state: Path, clock: LoopClock) -> tuple[Probe, Ledger]:
    cfg = parse_config(config_yaml(state), "flood.yaml")
    registry = Registry.from_config(cfg)
    ledger = Ledger(state / "ledger.sqlite", Identity("t", "gw01"))
    engine = Engine(cfg, registry, ledger, start_ns=T0)
    probe = Probe(clock)
    pipeline = NotifyPipeline(
        [Channel(probe, ChannelPolicy(local=True))], record=no_record, clock=clock,
        actor="gateway:gw01/notify", grouping=cfg.notify.grouping,
    )  # fmt: skip
    task = asyncio.create_task(pipeline.run())
    while clock.monotonic() < 60:
        t = clock.monotonic()
        result = engine.step([values(registry, t)], clock.wall_ns())
        for note in result.notifications:
            pipeline.submit(note)
        await clock.sleep(TICK_S)
    await pipeline.drain(timeout_s=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return probe, ledger


def test_a_flood_is_grouped_and_does_not_delay_another_zones_escalation(tmp_path: Path) -> None:
    loop = looptime.patch_event_loop(asyncio.SelectorEventLoop(), start=0)
    try:
        probe, ledger = loop.run_until_complete(scenario(tmp_path, LoopClock(epoch_ns=T0)))
    finally:
        loop.close()
    store = [(at, n) for at, n in probe.sent if n.zone == "store"]
    first_step = {m.number for _, n in store for m in n.members if n.step == 0}
    flood = [h for h in ledger.hazards() if h.zone == "store"]
    assert len(flood) == FLOOD
    assert first_step == {h.number for h in flood}  # every flood hazard told, none lost
    assert len([n for _, n in store if n.step == 0]) <= 60 / WINDOW_S + 1  # grouped, not 200
    (record,) = [e for e in ledger.events() if e.type == "alarm_flood"]  # one, for the store
    assert record.payload["zone"] == "store"
    assert record.payload["alarms"] == 11  # the 11th new alarm within 10 minutes started it
    hazards = record.payload["hazards"]
    assert isinstance(hazards, list)
    assert set(hazards) <= {h.number for h in flood}

    (kitchen,) = [h for h in ledger.hazards() if h.zone == "kitchen"]
    due = [(s.ts_ns - T0) / S for s in kitchen.escalation.steps]
    assert [s.level for s in kitchen.escalation.steps] == [0, 1]
    assert due[0] <= KITCHEN_AT_S + TICK_S  # the engine raised and escalated it at once
    assert due[1] - due[0] <= SECOND_DELAY_S + TICK_S
    told = {n.step: at for at, n in probe.sent if n.zone == "kitchen"}
    assert sorted(told) == [0, 1]
    for step, at in told.items():
        assert at - due[step] <= WAIT_S + TICK_S, (step, at, due[step])  # within its budget
    ledger.close_db()
