"""Every payload family end to end: mosquitto_pub -> the real broker -> the real MqttDriver ->
reading batches, plus availability, bridge state and bad input on the same live session."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from drivers.base import Binding
from drivers.mqtt.driver import MqttDriver
from gateway.clock import SystemClock
from gateway.model import Quality
from tests.integration.mqtt_support import Collector, config, publish, uid, until
from tests.integration.servers import MosquittoServer

P = uid("t")  # every topic of this module starts with it: the session broker is shared
Z2M, TELE, ESP, HOMIE, SHELLY, JSON = (f"{P}z2m", f"{P}tele", f"{P}esp", f"{P}homie",
                                       f"{P}shellies", f"{P}plant")  # fmt: skip
SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"family": "zigbee2mqtt", "topic": f"{Z2M}/#", "base_topic": Z2M},
    {"family": "tasmota", "topic": f"{TELE}/#"},
    {"family": "esphome", "topic": f"{ESP}/#"},
    {"family": "homie", "topic": f"{HOMIE}/5/#"},
    {"family": "shelly", "topic": f"{SHELLY}/#"},
    {"family": "json", "topic": f"{JSON}/#", "fields": {"ch4": "$.data.ch4"}, "test_path": "test"},
]
BINDINGS = [
    Binding(0, "kitchen-gas", "combustible_gas", point="gas_density", topic=f"{Z2M}/kitchen/gas"),
    Binding(1, "kitchen-smoke", "smoke", point="smoke", topic=f"{Z2M}/kitchen/smoke"),
    Binding(2, "store-temp", "temperature", point="DS18B20-2.Temperature", topic=f"{TELE}/store"),
    Binding(3, "store-mq2", "co", point="ANALOG.MQ2_0", topic=f"{TELE}/store"),
    Binding(4, "hall-temp", "temperature", point="hall_temp", topic=f"{ESP}/hall-node"),
    Binding(5, "hall-smoke", "smoke", point="smoke", topic=f"{ESP}/hall-node"),
    Binding(6, "boiler-co", "co", point="sensor/co", topic=f"{HOMIE}/5/boiler"),
    Binding(7, "cellar-gas", "co", point="concentration", topic=f"{SHELLY}/gas-1"),
    Binding(8, "plant-ch4", "combustible_gas", point="ch4", topic=f"{JSON}/det1"),
]  # fmt: skip


def driver(broker: MosquittoServer, **options: Any) -> MqttDriver:
    return MqttDriver(config(broker, SUBSCRIPTIONS, **options), BINDINGS, clock=SystemClock())


def test_every_family_is_decoded_end_to_end(mosquitto: MosquittoServer) -> None:
    messages = [
        (f"{Z2M}/kitchen/gas", '{"gas":true,"gas_density":31.5,"state":"work"}'),
        (f"{Z2M}/kitchen/smoke", '{"smoke":true,"battery_low":false,"test":true}'),
        (f"{TELE}/store/SENSOR", '{"Time":"2026-01-05T12:00:00","DS18B20-1":{"Temperature":'
                                 '68.0},"DS18B20-2":{"Temperature":140.0},"ANALOG":{"MQ2_0":'
                                 '80.5},"TempUnit":"F"}'),
        (f"{ESP}/hall-node/sensor/hall_temp/state", "nan"),
        (f"{ESP}/hall-node/binary_sensor/smoke/state", "ON"),
        (f"{HOMIE}/5/boiler/sensor/co", "35"),
        (f"{SHELLY}/gas-1/sensor/operation", "warmup"),
        (f"{SHELLY}/gas-1/sensor/concentration", "250"),
        (f"{JSON}/det1", '{"data":{"ch4":7.5},"test":false}'),
    ]  # fmt: skip

    async def scenario() -> Collector:
        async with driver(mosquitto) as d:
            collector = Collector(d)
            task = collector.start()
            await until(lambda: d.status.connected, "connected")
            for topic, payload in messages:
                await publish(mosquitto, topic, payload)
            await until(lambda: len(collector.rows) >= 9, "nine readings")
            task.cancel()
            assert dict(d.status.errors) == {"not_finite": 1}
            return collector

    c = asyncio.run(scenario())
    assert c.of(0) == [(31.5, Quality.GOOD)]
    assert c.of(1) == [(1.0, Quality.TEST)]  # a person is testing: never a real hazard
    assert c.of(2) == [(60.0, Quality.GOOD)]  # 140 °F
    assert c.of(3) == [(80.5, Quality.GOOD)]
    ((value, quality),) = c.of(4)
    assert (math.isnan(value), quality) == (True, Quality.BAD)
    assert c.of(5) == [(1.0, Quality.GOOD)]
    assert c.of(6) == [(35.0, Quality.GOOD)]
    assert c.of(7) == [(250.0, Quality.UNCERTAIN)]  # still warming up
    assert c.of(8) == [(7.5, Quality.GOOD)]


def test_availability_and_bridge_state_reach_the_status(mosquitto: MosquittoServer) -> None:
    async def scenario() -> None:
        async with driver(mosquitto) as d:
            await until(lambda: d.status.connected, "connected")
            offline = [
                (f"{Z2M}/kitchen/gas/availability", '{"state":"offline"}'),
                (f"{TELE}/store/LWT", "Offline"),
                (f"{ESP}/hall-node/status", "offline"),
                (f"{HOMIE}/5/boiler/$state", "lost"),
                (f"{SHELLY}/gas-1/online", "false"),
            ]
            for topic, payload in offline:
                await publish(mosquitto, topic, payload)
            expected = {"kitchen-gas", "store-temp", "store-mq2", "hall-temp", "hall-smoke",
                        "boiler-co", "cellar-gas"}  # fmt: skip
            await until(lambda: d.status.failing == expected, "devices offline")
            await publish(mosquitto, f"{TELE}/store/LWT", "Online")
            await until(lambda: "store-temp" not in d.status.failing, "store back online")
            await publish(mosquitto, f"{Z2M}/bridge/state", '{"state":"offline"}')
            await until(lambda: not d.status.connected, "bridge offline: connection fault")
            assert d.status.errors["bridge_offline"] == 1
            await publish(mosquitto, f"{Z2M}/bridge/state", '{"state":"online"}')
            await until(lambda: d.status.connected, "bridge back")

    asyncio.run(scenario())


def test_retained_availability_is_known_on_connect(mosquitto: MosquittoServer) -> None:
    topic = f"{Z2M}/kitchen/smoke/availability"

    async def scenario() -> None:
        await publish(mosquitto, topic, '{"state":"offline"}', retain=True)
        try:
            async with driver(mosquitto) as d:
                await until(lambda: d.status.failing == {"kitchen-smoke"}, "retained offline")
        finally:
            await publish(mosquitto, topic, "", retain=True)  # clear the retained message

    asyncio.run(scenario())


def test_garbage_on_the_wire_is_counted_and_the_session_carries_on(
    mosquitto: MosquittoServer,
) -> None:
    garbage = [
        (f"{Z2M}/kitchen/gas", b"{not json"),
        (f"{Z2M}/kitchen/gas", b'["wrong","type"]'),
        (f"{Z2M}/unknown/device", b'{"smoke":true}'),
        (f"{TELE}/store/SENSOR", b"\xff\xfe\xfd"),
        (f"{ESP}/hall-node/sensor/hall_temp/state", b"warm"),
        (f"{JSON}/det1", b'{"data":{"ch4":null}}'),
        (f"{JSON}/det1", b'{"data":{"ch4":' + b"9" * 70_000 + b"}}"),
    ]

    async def scenario() -> tuple[MqttDriver, Collector]:
        async with driver(mosquitto) as d:
            collector = Collector(d)
            task = collector.start()
            await until(lambda: d.status.connected, "connected")
            for topic, payload in garbage:
                await publish(mosquitto, topic, payload)
            await publish(mosquitto, f"{JSON}/det1", '{"data":{"ch4":2.5}}')
            await until(lambda: bool(collector.rows), "the good message after the garbage")
            task.cancel()
            assert d.status.connected
            return d, collector

    d, c = asyncio.run(scenario())
    assert c.of(8) == [(2.5, Quality.GOOD)]
    assert dict(d.status.errors) == {
        "malformed_json": 2, "wrong_type": 1, "unknown_device": 1, "bad_value": 1,
        "null_value": 1, "oversized": 1,
    }  # fmt: skip
