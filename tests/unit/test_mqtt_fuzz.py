"""Garbage in, a counted rejection out: no decoder, and not the PUBLISH slicer, ever raises.

Each decoder is fed random bytes, random JSON and random topics shaped like its family's, and
everything it returns must be one of the three legal answers, with sane contents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import Binding
from drivers.mqtt import codec
from drivers.mqtt.client import split_publish
from drivers.mqtt.codec import Decoded, Reject, Result
from drivers.mqtt.config import JsonSubscription, MqttDriverConfig
from drivers.mqtt.driver import MqttDriver
from drivers.mqtt.router import make_decoder
from gateway.clock import SystemClock
from gateway.model import Quality

REASONS = {
    getattr(codec, name)
    for name in dir(codec)
    if name.isupper() and isinstance(getattr(codec, name), str)
}
SUBS: dict[str, dict[str, Any]] = {
    "zigbee2mqtt": {"family": "zigbee2mqtt"},
    "tasmota": {"family": "tasmota"},
    "esphome": {"family": "esphome", "topic": "esphome/#"},
    "homie": {"family": "homie"},
    "shelly": {"family": "shelly"},
    "json": {"family": "json", "topic": "plant/#", "fields": {"a": "$.a", "b": "x.y[1]"},
             "test_path": "t", "time_path": "ts", "time_unit": "ms"},
}  # fmt: skip
CONFIG = MqttDriverConfig.model_validate(
    {"type": "mqtt", "id": "fz", "client_id": "fz", "subscriptions": list(SUBS.values())}
)
DECODERS: dict[str, Callable[[str, bytes], Result]] = {
    name: make_decoder(sub) for name, sub in zip(SUBS, CONFIG.subscriptions, strict=True)
}
LEVELS = [
    *("zigbee2mqtt", "tele", "esphome", "homie", "5", "shellies", "plant", "bridge", "state"),
    *("availability", "SENSOR", "LWT", "sensor", "binary_sensor", "status", "$state", "online"),
    *("gas", "operation", "self_test", "smoke:0", "", "+", "#", "$SYS", "x"),
]
WORDS = [
    *("online", "offline", "Online", "ON", "OFF", "nan", "inf", "true", "false", "ready"),
    *("lost", "none", "mild", "heavy", "test", "warmup", "fault", "running", "1e999", "-0"),
]
KEYS = [
    *("a", "x", "y", "t", "ts", "gas", "test", "state", "alarm", "TempUnit", "DS18B20-1"),
    *("Temperature", "alarm_2", "trouble"),
]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=6)
    ),
    max_leaves=12,
)
topics = st.lists(st.sampled_from(LEVELS) | st.text(max_size=6), min_size=0, max_size=7).map(
    "/".join
) | st.text(max_size=40)
payloads = (
    st.binary(max_size=200)
    | st.sampled_from(WORDS).map(str.encode)
    | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())
)


def check(result: Result) -> None:
    assert result is None or isinstance(result, Decoded | Reject)
    if isinstance(result, Reject):
        assert result.reason in REASONS, result
    elif isinstance(result, Decoded):
        assert isinstance(result.device, str)
        assert all(isinstance(k, str) for k in result.values)
        assert all(isinstance(v, float) and (math.isfinite(v) or math.isnan(v))
                   for v in result.values.values())  # fmt: skip
        assert result.quality in set(Quality)
        assert result.mode is None or result.mode[1] in set(Quality)
        assert result.ts_ns is None or isinstance(result.ts_ns, int)
        assert set(result.problems) <= REASONS


@settings(max_examples=300, deadline=None)
@given(family=st.sampled_from(sorted(DECODERS)), topic=topics, payload=payloads)
def test_no_decoder_raises_on_garbage(family: str, topic: str, payload: bytes) -> None:
    check(DECODERS[family](topic, payload))


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=12), min_size=1))
def test_json_paths_either_compile_or_are_refused_at_config_time(fields: dict[str, str]) -> None:
    try:
        sub = JsonSubscription.model_validate({"family": "json", "topic": "a/#", "fields": fields})
    except ValueError:
        return  # refused with a message, at start-up
    check(make_decoder(sub)("a/b", b'{"a": {"b": [1, 2.5, true]}}'))


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=80), qos=st.integers(0, 1), v5=st.booleans())
def test_the_publish_slicer_returns_parts_of_the_packet_or_none(
    raw: bytes, qos: int, v5: bool
) -> None:
    parts = split_publish(raw, qos, v5)
    if parts is not None:
        topic, mid, payload = parts
        assert topic
        assert len(mid) == 2 * qos
        assert raw.startswith(len(topic).to_bytes(2, "big") + topic + mid)
        assert raw.endswith(payload)


@settings(max_examples=200, deadline=None)
@given(topic=topics | st.binary(max_size=20), payload=payloads)
def test_the_driver_counts_whatever_it_cannot_use(topic: str | bytes, payload: bytes) -> None:
    driver = MqttDriver(CONFIG, [Binding(0, "d", "smoke", point="a", topic="plant/x")],
                        clock=SystemClock())  # fmt: skip
    driver.deliver(topic, payload)
    batch = driver.take()
    assert len(batch) <= 1
    assert set(driver.status.errors) <= REASONS | {"bridge_offline"}
