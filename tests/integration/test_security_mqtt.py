"""MQTT identities seen from the gateway: on the shipped broker config (TLS with certificate
verification, password file, deploy/mosquitto/acl), the gateway's real MQTT driver, logged in as
`hazgw` over verified TLS, ingests a device's readings only from that device's own identity.

A forged reading (a device publishing on another device's topic), an anonymous one and one with a
wrong password are refused by the broker and never reach the gateway; the honest reading sent
after them does. A device cannot write a person's command topic either (so it cannot acknowledge
an alarm); the gateway side of commands is proved in test_commands_mqtt.py.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.base import Binding
from drivers.mqtt.config import MqttDriverConfig
from drivers.mqtt.driver import MqttDriver
from gateway.clock import SystemClock
from tests.integration.mqtt_support import Collector, until
from tests.integration.servers import HOST
from tests.integration.test_commands_mqtt import USERS, _broker

BINDINGS = [
    Binding(0, "kitchen-plug", "combustible_gas", point="gas", topic="sensors/kitchen-plug"),
    Binding(1, "store-plug", "combustible_gas", point="gas", topic="sensors/store-plug"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    d = tmp_path_factory.mktemp("security-mqtt")
    port, broker = _broker(d)
    yield port, d / "ca.crt"
    broker.stop()


def publish(site: tuple[int, Path], topic: str, message: str, *auth: str) -> bool:
    """Accepted by the broker? QoS 1 over MQTT 5: a refused publish gets reason code 135."""
    port, ca = site
    argv = ["mosquitto_pub", "-h", HOST, "-p", str(port), "--cafile", str(ca), "-V", "mqttv5",
            "-q", "1", "-t", topic, "-m", message, *auth]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    return done.returncode == 0 and "not authori" not in done.stderr.lower()


def as_user(user: str, password: str | None = None) -> tuple[str, ...]:
    return ("-u", user, "-P", password or USERS[user])


def test_the_gateway_ingests_a_device_only_from_its_own_identity(site: tuple[int, Path]) -> None:
    port, ca = site
    cfg = MqttDriverConfig.model_validate({
        "type": "mqtt", "id": "mq", "host": HOST, "port": port, "client_id": "hazgw-sec",
        "username": "hazgw", "password": USERS["hazgw"], "tls": {"ca_file": str(ca)},
        "subscriptions": [{"family": "json", "topic": "sensors/#", "fields": {"gas": "$.g"}}],
    })  # fmt: skip
    driver = MqttDriver(cfg, BINDINGS, clock=SystemClock())
    accepted: dict[str, bool] = {}

    async def scenario() -> Collector:
        async with driver:
            collector = Collector(driver)
            task = collector.start()
            await until(lambda: driver.status.connected, "the gateway connected over TLS")
            run = asyncio.to_thread
            accepted["forged"] = await run(
                publish, site, "sensors/store-plug", '{"g": 99}', *as_user("kitchen-plug")
            )
            accepted["anonymous"] = await run(publish, site, "sensors/store-plug", '{"g": 98}')
            accepted["wrong password"] = await run(
                publish, site, "sensors/kitchen-plug", '{"g": 97}', *as_user("kitchen-plug", "x")
            )
            accepted["own"] = await run(
                publish, site, "sensors/kitchen-plug", '{"g": 12.5}', *as_user("kitchen-plug")
            )
            await until(lambda: bool(collector.rows), "the honest reading ingested")
            task.cancel()
            return collector

    collector = asyncio.run(scenario())
    assert accepted == {"forged": False, "anonymous": False, "wrong password": False, "own": True}
    assert [(s, v) for s, v, _, _ in collector.rows] == [(0, 12.5)]  # nothing forged got in


def test_a_device_cannot_write_a_persons_command_topic(site: tuple[int, Path]) -> None:
    ack = '{"action": "ack", "number": "YH-2026-demo-gw01-0001", "id": "c1"}'
    topic = "hazgw/demo/gw01/command/wang.wei"
    assert not publish(site, topic, ack, *as_user("kitchen-plug"))
    assert not publish(site, topic, ack)  # nor can an anonymous client
    assert publish(site, topic, ack, *as_user("wang.wei"))  # the person can


def test_a_client_trusting_another_ca_gets_no_session(
    site: tuple[int, Path], tmp_path: Path
) -> None:
    """Certificate verification is real: a CA other than the broker's refuses the session."""
    other = tmp_path / "other-ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(tmp_path / "k"), "-out", str(other), "-days", "1",
         "-subj", "/CN=someone else"], check=True, capture_output=True,
    )  # fmt: skip
    assert not publish(
        (site[0], other), "sensors/kitchen-plug", '{"g": 1}', *as_user("kitchen-plug")
    )
