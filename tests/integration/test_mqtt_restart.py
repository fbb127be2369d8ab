"""The session survives the broker: a restart mid-stream loses no QoS 1 message, a slow consumer
makes the driver push back onto the broker instead of hoarding, and a connection that stays up
but delivers nothing is rebuilt."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from drivers.base import Binding
from drivers.mqtt.driver import MqttDriver
from gateway.clock import SystemClock
from tests.integration.mqtt_support import (
    Collector,
    config,
    publish,
    publish_lines,
    uid,
    until,
)
from tests.integration.servers import MosquittoServer, start_mosquitto

SUB = [{"family": "json", "topic": "plant/#", "fields": {"seq": "seq"}}]
BINDING = [Binding(0, "det1", "co", point="seq", topic="plant/det1")]


def lines(start: int, stop: int) -> list[str]:
    return [json.dumps({"seq": i}) for i in range(start, stop)]


def test_a_broker_restart_mid_stream_loses_no_qos1_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before, after, max_pending = 5000, 1000, 100
    running = start_mosquitto(tmp_path)  # its own broker: this test stops it
    broker = running.server
    cfg = config(broker, SUB, max_pending_readings=max_pending, batch_max_readings=50)
    driver = MqttDriver(cfg, BINDING, clock=SystemClock())

    async def scenario() -> Collector:
        async with driver:
            collector = Collector(driver)
            task = collector.start(consuming=False)  # a stalled consumer: the driver must push back
            await until(lambda: driver.status.connected, "connected")
            await publish_lines(broker, "plant/det1", lines(0, before))
            await until(lambda: driver.paused, "socket paused by the backlog")
            held = driver.received
            assert held < before, "the broker, not our memory, holds the backlog"
            # Beyond the mark only what was in flight when the socket paused (about 100 here).
            assert driver.pending <= max_pending + 500
            running.stop()  # mid-stream: most of the burst is queued in the broker's session
            collector.enabled.set()  # reading again, the driver finds the connection gone
            await until(lambda: not driver.status.connected, "broker gone")
            restarted = start_mosquitto(tmp_path, port=broker.port)  # same port, same data
            try:
                await until(lambda: driver.status.connected, "reconnected to the restarted broker")
                await publish_lines(broker, "plant/det1", lines(before, before + after))
                want = set(range(before + after))
                await until(lambda: want <= {int(v) for _, v, _, _ in collector.rows}, "all")
            finally:
                task.cancel()
                restarted.stop()
            return collector

    with caplog.at_level(logging.INFO, logger="drivers.mqtt"):
        collector = asyncio.run(scenario())
    seqs = [int(v) for _, v, _, _ in collector.rows]
    assert set(seqs) == set(range(before + after))  # QoS 1: duplicates allowed, no loss
    assert driver.status.errors["lost"] >= 1
    assert any("(resumed session)" in r.getMessage() for r in caplog.records)


def test_a_connected_but_deaf_link_is_rebuilt_and_counted(
    mosquitto: MosquittoServer, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = uid("deaf")
    sub = [{"family": "json", "topic": f"{prefix}/#", "fields": {"seq": "seq"}}]
    cfg = config(mosquitto, sub, expected_cadence_s=0.3)
    driver = MqttDriver(cfg, [Binding(0, "d", "co", point="seq", topic=f"{prefix}/d")],
                        clock=SystemClock())  # fmt: skip

    async def scenario() -> Collector:
        async with driver:
            collector = Collector(driver)
            task = collector.start()
            await until(lambda: driver.status.errors["deaf"] >= 1, "a deaf link rebuilt")
            await until(lambda: driver.status.connected, "connected again")
            await publish(mosquitto, f"{prefix}/d", '{"seq": 7}')
            await until(lambda: bool(collector.rows), "a reading on the rebuilt link")
            task.cancel()
            return collector

    with caplog.at_level(logging.WARNING, logger="drivers.mqtt"):
        collector = asyncio.run(scenario())
    assert collector.rows[0][1] == 7.0
    assert any("connected but nothing delivered" in r.getMessage() for r in caplog.records)
