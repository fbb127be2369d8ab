"""SIGTERM while drivers are blocked on a full queue: every reading a driver produced reaches
the outbox (the batch a driver was holding is spilled to the last step, not dropped)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import looptime
import pytest

from alerting.notify.log import RecordingNotifier
from gateway import app as app_module
from gateway.app import Gateway
from gateway.clock import LoopClock
from gateway.config import parse_config
from gateway.outbox import Lane, Outbox
from tests.schema_doc import is_reading

CONFIG = """\
site: {id: s1}
gateway: {id: gw1}
state_dir: STATE
people: [{id: p1, name: Person}]
zones: [{id: z1, name: Zone, owner: p1}]
drivers: [{type: sim, id: sim, period_s: 0.01}]
detection: {tick_s: 1}
escalation: {levels: [{name: duty, recipients: [p1]}]}
devices:
  - {id: gas-1, driver: sim, zone: z1, class: combustible_gas, channel: kitchen_gas}
  - {id: temp-1, driver: sim, zone: z1, class: temperature, channel: office_temp}
"""


def test_a_stop_with_a_full_queue_stores_every_reading_produced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "QUEUE_BATCHES", 2)  # 100 batches a second, 2 places
    cfg = parse_config(CONFIG.replace("STATE", str(tmp_path)), "stop.yaml")
    clock = LoopClock(speed=1.0, epoch_ns=1_795_000_000 * 1_000_000_000)
    gateway = Gateway(cfg, clock=clock, notifiers=[RecordingNotifier()])

    async def main() -> None:
        task = asyncio.create_task(gateway.run())
        await clock.sleep(10.005)
        gateway.stop()
        await task

    loop = looptime.patch_event_loop(asyncio.SelectorEventLoop(), start=0)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert gateway.counters.queue_full_waits > 0  # the drivers really were held up
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        stored = [ln for ln in outbox.lines(Lane.TELEMETRY) if is_reading(ln)]
    produced = sum(d.produced for d in gateway._drivers.values())
    assert len(stored) == produced == gateway.counters.readings
