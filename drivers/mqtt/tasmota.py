"""Tasmota: `tele/<topic>/SENSOR` telemetry and `tele/<topic>/LWT` availability.

The device's topic is everything before `/SENSOR` (`tele/kitchen_node`). Points are
`<sensor>.<field>` exactly as Tasmota writes them (`DS18B20-1.Temperature`, `SHT3X-44.Humidity`,
`ANALOG.MQ2_0` in ppm), and top-level values by their key (`Switch1`: ON/OFF as 1/0).
With `"TempUnit": "F"` every temperature is converted to °C. The payload's `Time` is the
device's local time without a zone: readings are stamped on arrival instead.
"""

from __future__ import annotations

from drivers.mqtt.codec import (
    BAD_VALUE,
    GOOD,
    ON_OFF,
    UNKNOWN_TOPIC,
    WRONG_TYPE,
    Decoded,
    Reject,
    Result,
    availability,
    number,
    parse_json,
    text,
)

# Other telemetry Tasmota publishes under the same prefix: known, no readings.
IGNORED = frozenset({"STATE", "INFO1", "INFO2", "INFO3", "RESULT", "UPTIME", "MARGINS"})
TEMPERATURE_FIELDS = ("Temperature", "DewPoint", "HeatIndex")


def decode(topic: str, payload: bytes) -> Result:  # noqa: PLR0911 - a decoder reads best as one case per topic shape
    device, _, kind = topic.rpartition("/")
    if not device:
        return Reject(UNKNOWN_TOPIC, "no device level")
    if kind == "SENSOR":
        return _sensor(device, payload)
    if kind == "LWT":
        state = text(payload)
        if isinstance(state, Reject):
            return state
        if state in ("Online", "Offline"):
            return availability(device, state == "Online")
        return Reject(BAD_VALUE, "LWT is neither Online nor Offline")
    if kind in IGNORED:
        return None
    return Reject(UNKNOWN_TOPIC, f"unknown Tasmota telemetry {kind[:40]!r}")


def _sensor(device: str, payload: bytes) -> Result:
    data = parse_json(payload)
    if isinstance(data, Reject):
        return data
    if not isinstance(data, dict):
        return Reject(WRONG_TYPE, "SENSOR is not a JSON object")
    unit = data.get("TempUnit", "C")
    fahrenheit = unit == "F"
    values: dict[str, float] = {}
    for key, raw in data.items():
        if isinstance(raw, dict):
            for field, inner in raw.items():
                value = _scalar(inner)
                if value is not None:
                    if fahrenheit and field.endswith(TEMPERATURE_FIELDS):
                        value = (value - 32.0) * 5.0 / 9.0
                    values[f"{key}.{field}"] = value
        else:
            value = _scalar(raw)
            if value is not None:
                values[key] = value
    problems = () if unit in ("C", "F") else (BAD_VALUE,)
    return Decoded(device, values, GOOD, problems=problems)


def _scalar(raw: object) -> float | None:
    if isinstance(raw, str):
        return ON_OFF.get(raw)
    return number(raw)
