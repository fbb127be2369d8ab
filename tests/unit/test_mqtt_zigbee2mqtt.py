"""Zigbee2MQTT payloads, as the decoder reads them (domain.md section 5)."""

from __future__ import annotations

import math

import pytest

from drivers.mqtt.codec import Decoded, Reject, Result
from drivers.mqtt.zigbee2mqtt import decode
from gateway.model import Quality

HEIMAN = {"gas": ["alarm_2"]}


def z2m(topic: str, payload: bytes | str, aliases: dict[str, list[str]] | None = None) -> Result:
    raw = payload.encode() if isinstance(payload, str) else payload
    return decode(topic, raw, "zigbee2mqtt", HEIMAN if aliases is None else aliases)


def state(topic: str, payload: str) -> Decoded:
    result = z2m(topic, payload)
    assert isinstance(result, Decoded), result
    return result


@pytest.mark.parametrize(
    ("payload", "point", "value"),
    [
        ('{"battery_low":false,"gas":true,"linkquality":90,"tamper":false}', "gas", 1.0),
        ('{"battery_low":false,"gas":false,"linkquality":90,"tamper":false}', "gas", 0.0),
        ('{"smoke":true,"battery_low":false,"test":false}', "smoke", 1.0),
        ('{"gas":false,"gas_density":12.5,"state":"work"}', "gas_density", 12.5),
        ('{"co":35,"battery":90}', "co", 35.0),
        ('{"temperature":21.37,"humidity":40.1,"voltage":2995}', "temperature", 21.37),
        ('{"tamper":true}', "tamper", 1.0),
        ('{"battery_low":true}', "battery_low", 1.0),
    ],
    ids=["gas alarm", "gas clear", "smoke", "gas density", "co", "temperature", "tamper", "batt"],
)
def test_every_number_or_flag_in_the_state_is_a_point(
    payload: str, point: str, value: float
) -> None:
    result = state("zigbee2mqtt/kitchen/gas_1", payload)
    assert result.device == "zigbee2mqtt/kitchen/gas_1"  # friendly names may contain '/'
    assert result.values[point] == value
    assert result.quality == Quality.GOOD


def test_null_strings_and_objects_carry_no_reading() -> None:
    result = state(
        "zigbee2mqtt/s", '{"smoke":null,"sensitivity":"medium","update":{"state":"idle"}}'
    )
    assert dict(result.values) == {}


def test_a_repeated_payload_reads_the_same_every_time() -> None:
    payload = '{"gas":false,"gas_density":3}'
    assert state("zigbee2mqtt/g", payload) == state("zigbee2mqtt/g", payload)


@pytest.mark.parametrize(
    ("payload", "quality"),
    [
        ('{"smoke":true,"test":true}', Quality.TEST),
        ('{"gas":true,"test":true,"state":"preparation"}', Quality.TEST),  # test wins
        ('{"gas_density":0,"state":"preparation"}', Quality.UNCERTAIN),  # Aqara warming up
        ('{"smoke":false,"trouble":true}', Quality.UNCERTAIN),
        ('{"gas_density":1,"state":"work","test":false}', Quality.GOOD),
    ],
    ids=["test", "test while warming", "warm-up", "trouble", "normal"],
)
def test_the_device_state_sets_the_quality_of_the_whole_message(
    payload: str, quality: Quality
) -> None:
    assert state("zigbee2mqtt/d", payload).quality == quality


def test_heiman_alarm2_quirk_reads_as_gas_although_gas_says_false() -> None:
    result = state("zigbee2mqtt/heiman", '{"gas":false,"alarm_2":true,"tamper":false}')
    assert result.values["gas"] == 1.0


def test_without_the_alias_the_heiman_alarm_would_stay_invisible() -> None:
    result = z2m("zigbee2mqtt/heiman", '{"gas":false,"alarm_2":true}', aliases={})
    assert isinstance(result, Decoded)
    assert result.values["gas"] == 0.0


def test_non_finite_numbers_become_nan_for_the_driver_to_mark_bad() -> None:
    result = state("zigbee2mqtt/t", '{"temperature":NaN,"humidity":Infinity,"co":1e999}')
    assert all(math.isnan(v) for v in result.values.values())
    assert set(result.values) == {"temperature", "humidity", "co"}


@pytest.mark.parametrize(
    ("topic", "payload", "online"),
    [
        ("zigbee2mqtt/kitchen/gas_1/availability", '{"state":"offline"}', False),
        ("zigbee2mqtt/kitchen/gas_1/availability", '{"state":"online"}', True),
        ("zigbee2mqtt/kitchen/gas_1/availability", "offline", False),  # before 1.22
    ],
)
def test_availability_concerns_the_device_under_it(topic: str, payload: str, online: bool) -> None:
    result = state(topic, payload)
    assert (result.device, result.online, result.bridge) == (
        "zigbee2mqtt/kitchen/gas_1",
        online,
        False,
    )
    assert dict(result.values) == {}


@pytest.mark.parametrize("payload", ['{"state":"offline"}', "offline"])
def test_bridge_offline_concerns_every_device_behind_it(payload: str) -> None:
    result = state("zigbee2mqtt/bridge/state", payload)
    assert (result.device, result.online, result.bridge) == ("zigbee2mqtt", False, True)


@pytest.mark.parametrize(
    "topic",
    ["zigbee2mqtt/bridge/info", "zigbee2mqtt/bridge/devices", "zigbee2mqtt/bridge/logging",
     "zigbee2mqtt/lamp/set", "zigbee2mqtt/lamp/get", "zigbee2mqtt/lamp/set/brightness"],
)  # fmt: skip
def test_bridge_chatter_and_commands_carry_no_reading(topic: str) -> None:
    assert z2m(topic, '{"anything":1}') is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("zigbee2mqtt/d", "{not json", "malformed_json"),
        ("zigbee2mqtt/d", b"\xff\xfe", "malformed_json"),
        ("zigbee2mqtt/d", "[1, 2]", "wrong_type"),
        ("zigbee2mqtt/d", "42", "wrong_type"),
        ("zigbee2mqtt/d", "", "malformed_json"),
        ("zigbee2mqtt/d/availability", '{"state":"maybe"}', "wrong_type"),
        ("zigbee2mqtt/d/availability", "{", "malformed_json"),
        ("zigbee2mqtt/bridge/state", "restarting", "wrong_type"),
        ("other/d", "{}", "unknown_topic"),
        ("zigbee2mqtt/", "{}", "unknown_topic"),
    ],
)
def test_bad_input_is_a_counted_rejection(topic: str, payload: str | bytes, reason: str) -> None:
    result = z2m(topic, payload)
    assert isinstance(result, Reject)
    assert result.reason == reason
