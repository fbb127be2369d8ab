"""ESPHome in MQTT mode, as the decoder reads it (domain.md section 5)."""

from __future__ import annotations

import math

import pytest

from drivers.mqtt.codec import Decoded, Reject, Result
from drivers.mqtt.esphome import decode
from gateway.model import Quality


def esphome(topic: str, payload: bytes) -> Result:
    return decode(topic, payload, test_point="test")


def reading(topic: str, payload: bytes) -> Decoded:
    result = esphome(topic, payload)
    assert isinstance(result, Decoded), result
    return result


@pytest.mark.parametrize(
    ("payload", "value"),
    [(b"21.5", 21.5), (b"-3", -3.0), (b" 1e3 ", 1000.0), (b"0.000", 0.0)],
)
def test_sensor_state_is_a_plain_number_under_the_node_prefix(payload: bytes, value: float) -> None:
    result = reading("esphome/kitchen-node/sensor/mq2_ppm/state", payload)
    assert (result.device, dict(result.values)) == ("esphome/kitchen-node", {"mq2_ppm": value})


@pytest.mark.parametrize("payload", [b"nan", b"NaN", b"-nan", b"inf"])
def test_nan_is_a_value_the_driver_keeps_as_bad(payload: bytes) -> None:
    assert math.isnan(reading("node/sensor/t/state", payload).values["t"])


@pytest.mark.parametrize(("payload", "value"), [(b"ON", 1.0), (b"OFF", 0.0)])
def test_binary_sensors_read_on_as_one(payload: bytes, value: float) -> None:
    assert reading("node/binary_sensor/smoke/state", payload).values == {"smoke": value}


@pytest.mark.parametrize(("payload", "mode"), [(b"ON", Quality.TEST), (b"OFF", Quality.GOOD)])
def test_a_test_binary_sensor_puts_the_node_in_test(payload: bytes, mode: Quality) -> None:
    assert reading("node/binary_sensor/test/state", payload).mode == ("test", mode)


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False)])
def test_status_is_the_node_availability(payload: bytes, online: bool) -> None:
    result = reading("esphome/kitchen-node/status", payload)
    assert (result.device, result.online) == ("esphome/kitchen-node", online)


@pytest.mark.parametrize(
    "topic",
    ["node/switch/fan/state", "node/light/lamp/command", "node/debug", "node/text_sensor/ip/state"],
)
def test_other_entities_carry_no_reading(topic: str) -> None:
    assert esphome(topic, b"whatever") is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("node/sensor/t/state", b"twenty", "bad_value"),
        ("node/sensor/t/state", b"1_000", "bad_value"),
        ("node/sensor/t/state", b"", "bad_value"),
        ("node/binary_sensor/s/state", b"on", "bad_value"),
        ("node/binary_sensor/s/state", b"\xff", "bad_value"),
        ("node/status", b"rebooting", "bad_value"),
        ("node/sensor/t", b"1", "unknown_topic"),
        ("node", b"1", "unknown_topic"),
    ],
)
def test_bad_input_is_a_counted_rejection(topic: str, payload: bytes, reason: str) -> None:
    result = esphome(topic, payload)
    assert isinstance(result, Reject)
    assert result.reason == reason
