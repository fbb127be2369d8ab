"""ESPHome in MQTT mode: plain-text states under the node's topic prefix.

- `<prefix>/sensor/<name>/state`: a number; `nan` (no valid reading) becomes a BAD reading;
- `<prefix>/binary_sensor/<name>/state`: `ON`/`OFF` as 1/0;
- `<prefix>/status`: `online`/`offline` (the node's availability).
The device's topic is the prefix (`esphome/kitchen-node`), its points the entity names.
A binary sensor named like `test_point` puts all the node's readings in TEST while ON.
"""

from __future__ import annotations

from drivers.mqtt.codec import (
    BAD_VALUE,
    GOOD,
    ON_OFF,
    TEST,
    UNKNOWN_TOPIC,
    Decoded,
    Reject,
    Result,
    availability,
    text,
    text_number,
)

READING_COMPONENTS = frozenset({"sensor", "binary_sensor"})
# Other entities and the node's own chatter: known, no readings.
QUIET_LAST_LEVELS = frozenset({"state", "command", "debug", "config"})


def decode(topic: str, payload: bytes, test_point: str) -> Result:  # noqa: PLR0911 - a decoder reads best as one case per topic shape
    levels = topic.split("/")
    if len(levels) >= 4 and levels[-1] == "state" and levels[-3] in READING_COMPONENTS:
        device, name = "/".join(levels[:-3]), levels[-2]
        value = text(payload)
        if isinstance(value, Reject):
            return value
        if levels[-3] == "sensor":
            return _sensor(device, name, value)
        return _binary(device, name, value, test_point)
    if len(levels) >= 2 and levels[-1] == "status":
        state = text(payload)
        if state in ("online", "offline"):
            return availability("/".join(levels[:-1]), state == "online")
        return state if isinstance(state, Reject) else Reject(BAD_VALUE, "unknown status")
    if len(levels) >= 2 and levels[-1] in QUIET_LAST_LEVELS:
        return None
    return Reject(UNKNOWN_TOPIC, "not an ESPHome state or status topic")


def _sensor(device: str, name: str, value: str) -> Result:
    number = text_number(value)
    if number is None:
        return Reject(BAD_VALUE, f"sensor state {value[:20]!r} is not a number")
    return Decoded(device, {name: number})


def _binary(device: str, name: str, value: str, test_point: str) -> Result:
    flag = ON_OFF.get(value)
    if flag is None:
        return Reject(BAD_VALUE, f"binary sensor state {value[:20]!r} is neither ON nor OFF")
    mode = ("test", TEST if flag else GOOD) if name == test_point else None
    return Decoded(device, {name: flag}, mode=mode)
