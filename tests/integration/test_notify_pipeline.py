"""The whole pipeline, built from configuration, against real far ends.

- With the WAN "down" (a webhook that accepts and never answers), the local annunciation, the
  Mosquitto zone topic and the relay module on a pty, still fires, and without waiting for it.
- An unreachable webhook (closed port) is retried with backoff, every attempt recorded as failed
  and retryable, and delivered once the receiver comes up on that port.
The ledger side is an in-memory list of the `DeliveryAttempt`s the ledger would get (the ledger's
own table is tested with the ledger); the daemon passes `ledger_recorder(ledger, run_db)`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from alerting.notify.build import build_channels
from alerting.notify.config import NotifyConfig
from alerting.notify.pipeline import NotifyPipeline
from alerting.records import DeliveryAttempt
from gateway.clock import SystemClock
from tests.conftest import PtyPair
from tests.integration.servers import MosquittoServer, free_port
from tests.integration.test_notify_channels import (
    SECRET,
    WAIT_S,
    Receiver,
    RelayModule,
    run,
    until,
)
from tests.unit.test_notify_grouping import note

FAST_RETRY = {"initial_s": 0.05, "max_s": 0.2, "multiplier": 2, "jitter": 0.5}


@dataclass
class Records:
    rows: list[DeliveryAttempt] = field(default_factory=list)

    async def __call__(self, attempt: DeliveryAttempt) -> None:
        self.rows.append(attempt)

    def of(self, channel: str) -> list[DeliveryAttempt]:
        return [r for r in self.rows if r.channel == channel]


def build(channels: list[dict[str, Any]], records: Records) -> NotifyPipeline:
    cfg = NotifyConfig.model_validate({"channels": channels, "grouping": {"window_s": 10}})
    people = [type("P", (), {"id": "wang.wei", "name": "Wang Wei", "phone": "+86 138"})()]
    clock = SystemClock()
    built = build_channels(cfg.channels, people=people, clock=clock, site="plant-a", gateway="gw01")
    return NotifyPipeline(built, record=records, clock=clock, actor="gateway:gw01/notify",
                          grouping=cfg.grouping)  # fmt: skip


def test_local_annunciation_fires_while_the_webhook_hangs(
    mosquitto: MosquittoServer, pty_pair: PtyPair
) -> None:
    prefix = "p1/plant-a/gw01"
    wan = Receiver().start()
    wan.hang.set()  # accepts the connection, never answers: a dead WAN link
    module = RelayModule(pty_pair)
    records = Records()
    pipeline = build(
        [
            {"type": "webhook", "url": wan.url(), "secret": SECRET, "timeout_s": 30},
            {"type": "mqtt", "host": mosquitto.host, "port": mosquitto.port,
             "topic_prefix": "p1/{site}/{gateway}"},
            {"type": "serial_relay", "port": pty_pair.slave_path, "timeout_s": 1},
        ],
        records,
    )  # fmt: skip

    async def main() -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as siren:
            await siren.subscribe(f"{prefix}/annunciation/#", qos=1)
            task = asyncio.create_task(pipeline.run())
            pipeline.submit(note(1, kind="fire"))
            async with asyncio.timeout(WAIT_S):
                msg = await anext(aiter(siren.messages))
            assert isinstance(msg.payload, bytes)
            assert json.loads(msg.payload)["active"] is True
            await until(lambda: len(module.requests) == 1, "the relay module was switched on")
            await until(wan.arrived.is_set, "the webhook request reached the receiver")
            local_done = lambda: len(records.of("mqtt")) == len(records.of("serial_relay")) == 1  # noqa: E731
            await until(local_done, "both local deliveries recorded")
            # Both local channels are done while the webhook's first attempt is still hanging.
            assert [r.ok for r in records.of("mqtt")] == [True]
            assert [r.ok for r in records.of("serial_relay")] == [True]
            assert records.of("webhook") == []
            wan.release.set()
            assert await pipeline.drain(timeout_s=WAIT_S) == 0
            await task
        assert [r.ok for r in records.of("webhook")] == [True]
        assert wan.received[0].signed

    try:
        run(main())
    finally:
        wan.stop()
        module.stop()


def test_an_unreachable_webhook_is_retried_and_recorded_until_the_receiver_is_up() -> None:
    port = free_port()
    records = Records()
    pipeline = build(
        [{"type": "webhook", "url": f"http://127.0.0.1:{port}/hook", "secret": SECRET,
          "timeout_s": 2, "retry": FAST_RETRY}],
        records,
    )  # fmt: skip
    receiver = Receiver(port=port)

    async def main() -> None:
        task = asyncio.create_task(pipeline.run())
        pipeline.submit(note(1, kind="gas", level=2))
        await until(lambda: len(records.rows) >= 3, "three failed attempts")
        receiver.start()
        await until(lambda: any(r.ok for r in records.rows), "delivery after the receiver")
        assert await pipeline.drain(timeout_s=WAIT_S) == 0
        await task

    try:
        run(main())
    finally:
        receiver.stop()
    *failed, done = records.rows
    assert [r.attempt for r in records.rows] == list(range(1, len(records.rows) + 1))
    assert all(not r.ok and r.retryable for r in failed)
    assert all("webhook http://127.0.0.1" in r.detail for r in failed)
    assert (done.ok, done.number, done.channel) == (True, note(1).number, "webhook")
    assert {r.actor for r in records.rows} == {"gateway:gw01/notify"}
    assert len(receiver.received) == 1
    assert receiver.received[0].signed


def test_apprise_through_the_pipeline_records_each_person() -> None:
    receiver = Receiver().start()
    records = Records()
    pipeline = build(
        [{"type": "apprise", "name": "sms",
          "urls": [f"json://127.0.0.1:{receiver.port}/sms/{{id}}"], "retry": FAST_RETRY}],
        records,
    )  # fmt: skip

    async def main() -> None:
        task = asyncio.create_task(pipeline.run())
        pipeline.submit(note(1, kind="fire", recipients=("wang.wei", "li.na")))
        assert await pipeline.drain(timeout_s=WAIT_S) == 0
        await task

    try:
        run(main())
    finally:
        receiver.stop()
    assert sorted(r.path for r in receiver.received) == ["/sms/li.na", "/sms/wang.wei"]
    assert sorted((r.recipients, r.ok) for r in records.rows) == [
        (("li.na",), True), (("wang.wei",), True),
    ]  # fmt: skip
