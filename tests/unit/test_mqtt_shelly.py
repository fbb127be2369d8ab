"""Shelly Gas and Smoke detectors, as the decoder reads them (domain.md section 5)."""

from __future__ import annotations

import math

import pytest

from drivers.mqtt.codec import Decoded, Reject
from drivers.mqtt.shelly import decode
from gateway.model import Quality


def reading(topic: str, payload: bytes) -> Decoded:
    result = decode(topic, payload)
    assert isinstance(result, Decoded), result
    return result


@pytest.mark.parametrize(("state", "value"), [(b"none", 0.0), (b"mild", 1.0), (b"heavy", 2.0)])
def test_gas_alarm_state_reads_zero_one_two(state: bytes, value: float) -> None:
    result = reading("shellies/shellygas-1/sensor/gas", state)
    assert (result.device, dict(result.values)) == ("shellies/shellygas-1", {"gas": value})
    assert result.mode == ("self_test", Quality.GOOD)  # an alarm state ends a self test


def test_gas_unknown_is_a_nan_the_driver_keeps_as_bad() -> None:
    assert math.isnan(reading("shellies/g/sensor/gas", b"unknown").values["gas"])


def test_gas_test_puts_the_device_in_test_without_a_reading() -> None:
    result = reading("shellies/g/sensor/gas", b"test")
    assert (dict(result.values), result.mode) == ({}, ("self_test", Quality.TEST))


def test_concentration_is_ppm() -> None:
    assert reading("shellies/g/sensor/concentration", b"250").values == {"concentration": 250.0}


@pytest.mark.parametrize(
    ("state", "quality"),
    [(b"warmup", Quality.UNCERTAIN), (b"normal", Quality.GOOD), (b"fault", Quality.BAD)],
)
def test_operation_sets_a_sticky_mode(state: bytes, quality: Quality) -> None:
    assert reading("shellies/g/sensor/operation", state).mode == ("operation", quality)


@pytest.mark.parametrize(
    ("state", "quality"), [(b"running", Quality.TEST), (b"completed", Quality.GOOD)]
)
def test_self_test_sets_a_sticky_mode(state: bytes, quality: Quality) -> None:
    assert reading("shellies/g/sensor/self_test", state).mode == ("self_test", quality)


def test_gen1_smoke_reads_true_as_one() -> None:
    assert reading("shellies/shellysmoke-1/sensor/smoke", b"true").values == {"smoke": 1.0}


@pytest.mark.parametrize(("payload", "online"), [(b"true", True), (b"false", False)])
def test_online_is_the_availability(payload: bytes, online: bool) -> None:
    result = reading("shellies/g/online", payload)
    assert (result.device, result.online) == ("shellies/g", online)


def test_gen2_plus_smoke_status_reads_alarm_as_smoke() -> None:
    result = reading("shellyplussmoke-a8032ab1/status/smoke:0", b'{"id":0,"alarm":true}')
    assert (result.device, dict(result.values)) == ("shellyplussmoke-a8032ab1", {"smoke": 1.0})


@pytest.mark.parametrize(
    "topic",
    ["shellies/announce", "shellies/plug-1/relay/0", "shellies/g/info", "shellies/g/sensor/valve"],
)
def test_other_shelly_traffic_carries_no_reading(topic: str) -> None:
    assert decode(topic, b"closed") is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("shellies/g/sensor/gas", b"deadly", "bad_value"),
        ("shellies/g/sensor/operation", b"sleeping", "bad_value"),
        ("shellies/g/sensor/self_test", b"maybe", "bad_value"),
        ("shellies/g/sensor/concentration", b"lots", "bad_value"),
        ("shellies/g/sensor/concentration", b"\xfe", "bad_value"),
        ("shellies/g/online", b"yes", "bad_value"),
        ("plus/status/smoke:0", b"{", "malformed_json"),
        ("plus/status/smoke:0", b'{"alarm":"yes"}', "wrong_type"),
        ("plus/status/smoke:0", b"[]", "wrong_type"),
        ("shellies", b"1", "unknown_topic"),
    ],
)
def test_bad_input_is_a_counted_rejection(topic: str, payload: bytes, reason: str) -> None:
    result = decode(topic, payload)
    assert isinstance(result, Reject)
    assert result.reason == reason
