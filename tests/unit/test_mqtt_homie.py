"""Homie 5 devices, as the decoder reads them (domain.md section 5)."""

from __future__ import annotations

import pytest

from drivers.mqtt.codec import Decoded, Reject, Result
from drivers.mqtt.homie import decode
from gateway.model import Quality


def homie(topic: str, payload: bytes) -> Result:
    return decode(topic, payload, test_point="test")


def reading(topic: str, payload: bytes) -> Decoded:
    result = homie(topic, payload)
    assert isinstance(result, Decoded), result
    return result


@pytest.mark.parametrize(
    ("payload", "value"), [(b"12.5", 12.5), (b"-4", -4.0), (b"true", 1.0), (b"false", 0.0)]
)
def test_numbers_and_booleans_are_node_slash_property_points(payload: bytes, value: float) -> None:
    result = reading("homie/5/kitchen-gas/sensor/concentration", payload)
    assert result.device == "homie/5/kitchen-gas"
    assert dict(result.values) == {"sensor/concentration": value}


def test_the_domain_is_whatever_comes_before_the_version() -> None:
    assert reading("site-a/5/dev/n/p", b"1").device == "site-a/5/dev"


@pytest.mark.parametrize(
    ("payload", "online"), [(b"ready", True), (b"lost", False), (b"disconnected", False)]
)
def test_state_ready_is_online_lost_and_disconnected_offline(payload: bytes, online: bool) -> None:
    result = reading("homie/5/dev/$state", payload)
    assert (result.device, result.online) == ("homie/5/dev", online)


@pytest.mark.parametrize("payload", [b"init", b"sleeping"])
def test_init_and_sleeping_change_nothing(payload: bytes) -> None:
    assert homie("homie/5/dev/$state", payload) is None


def test_a_test_property_puts_the_device_in_test() -> None:
    assert reading("homie/5/dev/alarm/test", b"true").mode == ("test", Quality.TEST)
    assert reading("homie/5/dev/alarm/test", b"false").mode == ("test", Quality.GOOD)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("homie/5/dev/$description", b'{"name":"x"}'),
        ("homie/5/dev/sensor/concentration/set", b"3"),
        ("homie/5/dev/sensor/concentration/$target", b"3"),
        ("homie/5/dev/sensor/name", b"kitchen"),  # a string property
        ("homie/5/dev/sensor/name", b""),
    ],
)
def test_attributes_commands_and_string_properties_carry_no_reading(
    topic: str, payload: bytes
) -> None:
    assert homie(topic, payload) is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("homie/5/dev/$state", b"exploded", "bad_value"),
        ("homie/5/dev/n/p", b"\xff\xff", "bad_value"),
        ("homie/4/dev/n/p", b"1", "unknown_topic"),
        ("homie/5/$broadcast/x", b"1", "unknown_topic"),
        ("homie/5", b"1", "unknown_topic"),
    ],
)
def test_bad_input_is_a_counted_rejection(topic: str, payload: bytes, reason: str) -> None:
    result = homie(topic, payload)
    assert isinstance(result, Reject)
    assert result.reason == reason
