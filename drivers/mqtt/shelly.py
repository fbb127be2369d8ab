"""Shelly Gas and Smoke detectors.

Gen1 (`shellies/<id>/...`, the device's topic is `shellies/<id>`):
- `sensor/gas`: none/mild/heavy as 0/1/2 (bind with level1 1, level2 2); `test` puts the
  device in TEST until the next alarm state; `unknown` is a BAD reading;
- `sensor/concentration`: ppm; other `sensor/<name>` numbers or true/false (Shelly Smoke's
  `sensor/smoke`, `sensor/temperature`, `sensor/battery`) by name;
- `sensor/operation`: warmup (readings UNCERTAIN), normal, fault (readings BAD);
- `sensor/self_test`: running/pending puts the device in TEST, completed/not_completed ends it;
- `online`: true/false availability.
Gen2 Plus Smoke (`<prefix>/status/smoke:0` JSON with `alarm`): point `smoke`; `<prefix>/online`.
Everything else Shelly devices publish (relays, inputs, announce, info) carries no reading.
"""

from __future__ import annotations

from drivers.mqtt.codec import (
    BAD,
    BAD_VALUE,
    GOOD,
    NAN,
    TEST,
    TRUE_FALSE,
    UNCERTAIN,
    UNKNOWN_TOPIC,
    WRONG_TYPE,
    Decoded,
    Reject,
    Result,
    availability,
    number,
    parse_json,
    text,
    text_number,
)

GAS = {"none": 0.0, "mild": 1.0, "heavy": 2.0, "unknown": NAN}
OPERATION = {"warmup": UNCERTAIN, "normal": GOOD, "fault": BAD}
SELF_TEST = {"running": TEST, "pending": TEST, "completed": GOOD, "not_completed": GOOD}


def decode(topic: str, payload: bytes) -> Result:  # noqa: PLR0911 - a decoder reads best as one case per topic shape
    levels = topic.split("/")
    if len(levels) < 2 or not levels[0]:
        return Reject(UNKNOWN_TOPIC, "no device level")
    if len(levels) >= 3 and levels[-2] == "sensor":
        value = text(payload)
        if isinstance(value, Reject):
            return value
        return _sensor("/".join(levels[:-2]), levels[-1], value)
    if levels[-1] == "online":
        value = text(payload)
        if value in ("true", "false"):
            return availability("/".join(levels[:-1]), value == "true")
        return value if isinstance(value, Reject) else Reject(BAD_VALUE, "online: not a bool")
    if len(levels) >= 3 and levels[-2] == "status" and levels[-1].startswith("smoke:"):
        return _plus_smoke("/".join(levels[:-2]), payload)
    return None


def _sensor(device: str, name: str, value: str) -> Result:  # noqa: PLR0911 - a decoder reads best as one case per topic shape
    if name == "gas":
        if value == "test":
            return Decoded(device, {}, mode=("self_test", TEST))
        if value not in GAS:
            return Reject(BAD_VALUE, f"gas state {value[:20]!r}")
        return Decoded(device, {"gas": GAS[value]}, mode=("self_test", GOOD))
    if name == "operation":
        if value not in OPERATION:
            return Reject(BAD_VALUE, f"operation {value[:20]!r}")
        return Decoded(device, {}, mode=("operation", OPERATION[value]))
    if name == "self_test":
        if value not in SELF_TEST:
            return Reject(BAD_VALUE, f"self_test {value[:20]!r}")
        return Decoded(device, {}, mode=("self_test", SELF_TEST[value]))
    reading = TRUE_FALSE.get(value)
    if reading is None:
        reading = text_number(value)
    if reading is None:
        return None if name == "valve" else Reject(BAD_VALUE, f"{name[:20]}: {value[:20]!r}")
    return Decoded(device, {name: reading})


def _plus_smoke(device: str, payload: bytes) -> Result:
    data = parse_json(payload)
    if isinstance(data, Reject):
        return data
    alarm = number(data.get("alarm")) if isinstance(data, dict) else None
    if alarm is None:
        return Reject(WRONG_TYPE, "smoke status without a boolean alarm")
    return Decoded(device, {"smoke": alarm})
