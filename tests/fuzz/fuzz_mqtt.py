"""MQTT messages from the wire: the PUBLISH slicer, then every payload family's decoder.

Input: byte 0 holds the PUBLISH's QoS (bit 0) and the protocol (bit 1: MQTT 5), the rest is the
packet's variable part (topic length, topic, packet id, MQTT 5 properties, payload), handled as
`Link._publish` does. The decoder is the one the driver's router picks for the topic (one
subscription per family: Zigbee2MQTT, Tasmota, ESPHome, Homie, Shelly, generic JSON), called
directly so that a raise shows its trace; then the driver's own `deliver`, whose catch-all
would have counted the raise as decoder_error.
Contract: nothing raises; a decoder returns one of its three legal answers with a known reason
and sane values; the driver counts only known reasons, yields at most one reading per binding
for a message, and its memory stays bounded whatever topics arrive (one driver serves all the
inputs of a run, as one driver serves a broker's messages for months).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import atheris

with atheris.instrument_imports(include=["drivers", "gateway"]):
    from drivers.base import Binding
    from drivers.mqtt import codec
    from drivers.mqtt.client import _topic, split_publish
    from drivers.mqtt.codec import DECODER_ERROR, Decoded, Reject, Result
    from drivers.mqtt.config import MqttDriverConfig
    from drivers.mqtt.driver import MqttDriver
    from drivers.mqtt.router import Router
    from gateway.clock import SystemClock
    from gateway.model import Quality

from tests.fuzz.harness import fuzz

CONFIG = MqttDriverConfig.model_validate({
    "type": "mqtt", "id": "fuzz", "client_id": "fuzz", "subscriptions": [
        {"family": "zigbee2mqtt"},
        {"family": "tasmota"},
        {"family": "esphome", "topic": "esphome/#"},
        {"family": "homie"},
        {"family": "shelly"},
        {"family": "json", "topic": "plant/#", "fields": {"gas": "$.data.ch4", "t": "r[0].v"},
         "test_path": "test", "time_path": "ts", "time_unit": "ms"},
    ],
})  # fmt: skip
BINDINGS = [
    Binding(0, "z-gas", "combustible_gas", point="gas", topic="zigbee2mqtt/kitchen/gas"),
    Binding(1, "z-smoke", "smoke", point="smoke", topic="zigbee2mqtt/hall"),
    Binding(2, "t-mq2", "combustible_gas", point="ANALOG.MQ2_0", topic="tele/kitchen_node"),
    Binding(3, "e-gas", "combustible_gas", point="gas", topic="esphome/kitchen-node"),
    Binding(4, "h-gas", "co", point="sensor/concentration", topic="homie/5/kitchen-gas"),
    Binding(5, "s-gas", "combustible_gas", point="gas", topic="shellies/shellygas-1"),
    Binding(6, "s-smoke", "smoke", point="smoke", topic="shellies/plus-smoke"),
    Binding(7, "j-ch4", "combustible_gas", point="gas", topic="plant/line1/ch4"),
]  # fmt: skip
REASONS = {v for k, v in vars(codec).items() if k.isupper() and isinstance(v, str)}
ROUTER = Router(CONFIG.subscriptions)
DRIVER = MqttDriver(CONFIG, BINDINGS, clock=SystemClock())

MESSAGES: list[tuple[str, Any]] = [
    ("zigbee2mqtt/kitchen/gas", {"gas": True, "alarm_2": False, "battery": 97, "test": False}),
    ("zigbee2mqtt/kitchen/gas/availability", {"state": "offline"}),
    ("zigbee2mqtt/kitchen/gas/availability", "online"),
    ("zigbee2mqtt/bridge/state", {"state": "offline"}),
    ("zigbee2mqtt/hall", {"smoke": False, "state": "preparation", "trouble": True, "x": None}),
    ("tele/kitchen_node/SENSOR", {"Time": "2024-01-01T00:00:00", "ANALOG": {"MQ2_0": 12.5},
                                  "DS18B20-1": {"Temperature": 70.1}, "TempUnit": "F",
                                  "Switch1": "ON"}),
    ("tele/kitchen_node/LWT", "Offline"),
    ("esphome/kitchen-node/sensor/gas/state", "12.5"),
    ("esphome/kitchen-node/sensor/gas/state", "nan"),
    ("esphome/kitchen-node/binary_sensor/test/state", "ON"),
    ("esphome/kitchen-node/status", "online"),
    ("homie/5/kitchen-gas/sensor/concentration", "42.0"),
    ("homie/5/kitchen-gas/sensor/test", "true"),
    ("homie/5/kitchen-gas/$state", "lost"),
    ("shellies/shellygas-1/sensor/gas", "mild"),
    ("shellies/shellygas-1/sensor/concentration", "120"),
    ("shellies/shellygas-1/sensor/operation", "warmup"),
    ("shellies/shellygas-1/sensor/self_test", "running"),
    ("shellies/shellygas-1/online", "false"),
    ("shellies/plus-smoke/status/smoke:0", {"id": 0, "alarm": True, "mute": False}),
    ("plant/line1/ch4", {"data": {"ch4": 1.5}, "r": [{"v": 2.5}], "test": False,
                         "ts": 1_800_000_000_000}),
]  # fmt: skip


def packet(topic: str, payload: bytes, qos: int, v5: bool) -> bytes:
    """The flags byte and a PUBLISH's variable part, as a broker sends it."""
    raw = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    raw += b"\x00\x07" if qos else b""
    raw += b"\x00" if v5 else b""
    return bytes([qos | v5 << 1]) + raw + payload


def seeds() -> list[bytes]:
    out = []
    for i, (topic, body) in enumerate(MESSAGES):
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        out.append(packet(topic, payload, qos=i % 2, v5=i % 3 == 0))
    return out


def one_input(data: bytes) -> None:
    if not data:
        return
    qos, v5 = data[0] & 1, bool(data[0] & 2)
    parts = split_publish(data[1:], qos, v5)
    if parts is None:
        return  # the link counts malformed_packet
    raw_topic, mid, payload = parts
    assert raw_topic, parts
    assert len(mid) == 2 * qos, parts
    assert data.endswith(payload), parts
    topic = _topic(raw_topic)
    if isinstance(topic, str) and (decoder := ROUTER.decoder_for(topic)) is not None:
        check(decoder(topic, payload))
    failed = DRIVER.status.errors[DECODER_ERROR]
    DRIVER.deliver(topic, payload)
    assert DRIVER.status.errors[DECODER_ERROR] == failed
    assert len(DRIVER.take()) <= len(BINDINGS)
    assert set(DRIVER.status.errors) <= REASONS | {"bridge_offline"}, DRIVER.status.errors


def check(result: Result) -> None:
    assert result is None or isinstance(result, Decoded | Reject), result
    if isinstance(result, Reject):
        assert result.reason in REASONS, result
    elif isinstance(result, Decoded):
        assert isinstance(result.device, str), result
        assert all(isinstance(k, str) for k in result.values), result
        assert all(isinstance(v, float) and (math.isfinite(v) or math.isnan(v))
                   for v in result.values.values()), result  # fmt: skip
        assert result.quality in set(Quality), result
        assert result.mode is None or result.mode[1] in set(Quality), result
        assert result.ts_ns is None or isinstance(result.ts_ns, int), result
        assert set(result.problems) <= REASONS, result


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)  # the driver logs every new bad topic: noise here
    fuzz(one_input, seeds())
