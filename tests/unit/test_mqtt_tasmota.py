"""Tasmota telemetry and LWT, as the decoder reads them (domain.md section 5)."""

from __future__ import annotations

import math

import pytest

from drivers.mqtt.codec import Decoded, Reject
from drivers.mqtt.tasmota import decode

SENSOR = """{"Time":"2026-01-05T12:00:00","DS18B20-1":{"Id":"0316A27902FF","Temperature":23.5},
"DS18B20-2":{"Id":"0316A2790300","Temperature":24.0},"SHT3X-44":{"Temperature":22.1,
"Humidity":45.2,"DewPoint":9.7},"ANALOG":{"MQ2_0":123.4},"Switch1":"ON","TempUnit":"C"}"""


def sensor(payload: str, topic: str = "tele/kitchen_node/SENSOR") -> Decoded:
    result = decode(topic, payload.encode())
    assert isinstance(result, Decoded), result
    return result


def test_points_are_sensor_dot_field_with_suffixed_keys_kept_apart() -> None:
    result = sensor(SENSOR)
    assert result.device == "tele/kitchen_node"
    assert result.values["DS18B20-1.Temperature"] == 23.5
    assert result.values["DS18B20-2.Temperature"] == 24.0
    assert result.values["SHT3X-44.Humidity"] == 45.2


def test_mq_gas_sensors_on_the_adc_read_ppm_under_analog() -> None:
    assert sensor(SENSOR).values["ANALOG.MQ2_0"] == 123.4


def test_top_level_switches_read_on_as_one() -> None:
    assert sensor(SENSOR).values["Switch1"] == 1.0


def test_strings_such_as_ids_and_time_carry_no_reading() -> None:
    values = sensor(SENSOR).values
    assert "Time" not in values
    assert "DS18B20-1.Id" not in values


@pytest.mark.parametrize(
    ("field", "fahrenheit", "celsius"),
    [("DS18B20-1.Temperature", 212.0, 100.0), ("SHT3X-44.DewPoint", 32.0, 0.0)],
)
def test_fahrenheit_temperatures_are_converted_to_celsius(
    field: str, fahrenheit: float, celsius: float
) -> None:
    sensor_key, name = field.split(".")
    payload = f'{{"{sensor_key}":{{"{name}":{fahrenheit},"Humidity":50}},"TempUnit":"F"}}'
    result = sensor(payload)
    assert result.values[field] == pytest.approx(celsius)
    assert result.values[f"{sensor_key}.Humidity"] == 50.0  # only temperatures convert


def test_an_unknown_temperature_unit_is_counted_but_the_message_used() -> None:
    result = sensor('{"DS18B20":{"Temperature":20},"TempUnit":"K"}')
    assert result.values["DS18B20.Temperature"] == 20.0
    assert result.problems == ("bad_value",)


def test_nan_values_are_kept_as_nan() -> None:
    assert math.isnan(sensor('{"DS18B20":{"Temperature":NaN}}').values["DS18B20.Temperature"])


@pytest.mark.parametrize(("payload", "online"), [("Online", True), ("Offline", False)])
def test_lwt_is_the_device_availability(payload: str, online: bool) -> None:
    result = decode("tele/kitchen_node/LWT", payload.encode())
    assert isinstance(result, Decoded)
    assert (result.device, result.online) == ("tele/kitchen_node", online)


@pytest.mark.parametrize("kind", ["STATE", "INFO1", "RESULT"])
def test_other_telemetry_carries_no_reading(kind: str) -> None:
    assert decode(f"tele/node/{kind}", b'{"Uptime":"1T00:00:00"}') is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("tele/node/SENSOR", b"{", "malformed_json"),
        ("tele/node/SENSOR", b'"text"', "wrong_type"),
        ("tele/node/LWT", b"Gone", "bad_value"),
        ("tele/node/LWT", b"\xc3\x28", "bad_value"),
        ("tele/node/WHAT", b"{}", "unknown_topic"),
        ("SENSOR", b"{}", "unknown_topic"),
    ],
)
def test_bad_input_is_a_counted_rejection(topic: str, payload: bytes, reason: str) -> None:
    result = decode(topic, payload)
    assert isinstance(result, Reject)
    assert result.reason == reason
