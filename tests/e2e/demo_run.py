"""Run the demo scenario through the whole daemon on a fast-forwarding event loop (looptime).

Shared by the end-to-end tests and the integration tests that send the scenario to real servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import looptime

from alerting.hazards import Hazard
from alerting.ledger import Ledger
from alerting.notify import Notification
from alerting.notify.log import RecordingNotifier
from drivers.sim.scenario import DURATION_S
from gateway.app import Gateway
from gateway.clock import LoopClock
from gateway.config import HazgwConfig
from gateway.demo import demo_config
from gateway.model import Identity
from gateway.outbox import Lane, Outbox
from tests.schema_doc import is_reading

EPOCH_NS = 1_795_000_000 * 1_000_000_000  # 2026-11-18, fixed so numbers and times repeat
S = 1_000_000_000


@dataclass
class Run:
    hazards: list[Hazard]
    notes: list[Notification]
    produced: int
    readings_in_outbox: list[str]
    events_in_outbox: list[str]
    telemetry_in_outbox: list[str]  # readings and gateway health


Script = Callable[[Gateway, LoopClock], Coroutine[Any, Any, None]]


def run_demo(
    state: Path,
    script: Script | None = None,
    adjust: Callable[[HazgwConfig], HazgwConfig] | None = None,
) -> Run:
    """The 20-minute scenario (and `script`, run beside it) on loop time; what it left behind."""
    cfg = demo_config(state) if adjust is None else adjust(demo_config(state))
    clock = LoopClock(speed=1.0, epoch_ns=EPOCH_NS)
    recorder = RecordingNotifier()
    gateway = Gateway(cfg, clock=clock, notifiers=[recorder])

    async def main() -> None:
        task = asyncio.create_task(gateway.run())
        if script is not None:
            await script(gateway, clock)
        # Stop between two samples (every 5 s), so the last one is in without a race.
        await clock.sleep(DURATION_S + 2.5 - clock.monotonic())
        gateway.stop()
        await task

    loop = looptime.patch_event_loop(asyncio.SelectorEventLoop(), start=0)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    ledger = Ledger(state / "ledger.sqlite", Identity("demo", "gw01"))
    outbox = Outbox(state / "outbox.sqlite")
    try:
        telemetry = outbox.lines(Lane.TELEMETRY)
        readings = [ln for ln in telemetry if is_reading(ln)]
        return Run(
            ledger.hazards(),
            recorder.sent,
            sum(d.produced for d in gateway._drivers.values()),
            readings,
            outbox.lines(Lane.EVENTS),
            telemetry,
        )
    finally:
        ledger.close_db()
        outbox.close()
