"""Helpers shared by the MQTT integration tests (this module holds no tests).

Messages are published with the real `mosquitto_pub` at QoS 1; the driver under test is the real
MqttDriver on a real broker; `Collector` keeps every reading its batches yield.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drivers.mqtt.config import MqttDriverConfig
from drivers.mqtt.driver import MqttDriver
from gateway.model import ReadingBatch
from tests.integration.servers import MosquittoServer

WAIT_S = 15.0  # a deadline for conditions, never a measured duration


def uid(prefix: str) -> str:
    """Topic prefixes and client ids no other test on the session broker uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def config(
    broker: MosquittoServer, subscriptions: list[dict[str, Any]], **options: Any
) -> MqttDriverConfig:
    settings = {
        "type": "mqtt", "id": "mq", "host": broker.host, "port": broker.port,
        "client_id": uid("gw-"), "subscriptions": subscriptions, "reconnect_min_s": 0.2,
        "reconnect_max_s": 2.0,
    }  # fmt: skip
    return MqttDriverConfig.model_validate(settings | options)


async def publish(
    broker: MosquittoServer,
    topic: str,
    payload: str | bytes,
    *,
    retain: bool = False,
    options: Sequence[str] = (),
) -> None:
    """One QoS 1 message through mosquitto_pub (the payload read from stdin, bytes as given;
    an empty one is sent with -n, which is how a retained message is cleared). `options` go
    to mosquitto_pub as they are (TLS files, credentials)."""
    argv = [*pub_argv(broker, topic), "-s" if payload else "-n", *(["-r"] if retain else [])]
    await _run([*argv, *options], payload)


async def publish_lines(broker: MosquittoServer, topic: str, lines: list[str]) -> None:
    """Many QoS 1 messages to one topic, one per line, from one mosquitto_pub."""
    await _run([*pub_argv(broker, topic), "-l"], "".join(f"{line}\n" for line in lines))


def pub_argv(broker: MosquittoServer, topic: str) -> list[str]:
    return ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-t", topic]


async def _run(argv: list[str], stdin: str | bytes) -> None:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(data), WAIT_S)
    assert process.returncode == 0, f"{argv[0]}: {err.decode()}"


async def until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Wait for a condition the system under test must reach; fail naming it if it does not."""
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():  # noqa: ASYNC110 - the conditions are plain attributes
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not reached within {timeout_s:g} s: {what}") from None


@dataclass
class Collector:
    """Every reading the driver yields, as (sensor, value, ts_ns, quality) rows."""

    driver: MqttDriver
    rows: list[tuple[int, float, int, int]] = field(default_factory=list)
    enabled: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, *, consuming: bool = True) -> asyncio.Task[None]:
        if consuming:
            self.enabled.set()
        return asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.driver.batches():
            self.add(batch)
            await self.enabled.wait()  # a test can stop consuming to make the driver push back

    def add(self, batch: ReadingBatch) -> None:
        self.rows += zip(batch.sensor.tolist(), batch.value.tolist(), batch.ts_ns.tolist(),
                         batch.quality.tolist(), strict=True)  # fmt: skip

    def of(self, sensor: int) -> list[tuple[float, int]]:
        return [(v, q) for s, v, _, q in self.rows if s == sensor]
