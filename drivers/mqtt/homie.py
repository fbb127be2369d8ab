"""Homie 5: `<domain>/5/<device>/<node>/<property>` plain values, `<domain>/5/<device>/$state`.

The device's topic is `<domain>/5/<device>` (`homie/5/kitchen-gas`), its points
`<node>/<property>` (`sensor/concentration`). Numbers and `true`/`false` are readings; other
property types (string, enum, colour, datetime, json) carry none. `$state`: `ready` is online,
`lost` and `disconnected` offline; `init` and `sleeping` change nothing. Attributes (`$...`) and
`/set` commands carry no reading. A boolean property named `test_point` puts the device's
readings in TEST while true.
"""

from __future__ import annotations

from drivers.mqtt.codec import (
    BAD_VALUE,
    GOOD,
    TEST,
    TRUE_FALSE,
    UNKNOWN_TOPIC,
    Decoded,
    Reject,
    Result,
    availability,
    text,
    text_number,
)

ONLINE = {"ready": True, "lost": False, "disconnected": False}
QUIET_STATES = frozenset({"init", "sleeping", ""})


def decode(topic: str, payload: bytes, test_point: str) -> Result:  # noqa: PLR0911 - a decoder reads best as one case per topic shape
    levels = topic.split("/")
    if len(levels) < 4 or levels[1] != "5" or not levels[2] or levels[2].startswith("$"):
        return Reject(UNKNOWN_TOPIC, "not a Homie 5 device topic")
    device = "/".join(levels[:3])
    if levels[3:] == ["$state"]:
        return _state(device, payload)
    if len(levels) != 5 or any(level.startswith("$") for level in levels[3:]):
        return None  # attributes, $target, /set commands
    value = text(payload)
    if isinstance(value, Reject):
        return value
    flag = TRUE_FALSE.get(value)
    if flag is not None:
        mode = ("test", TEST if flag else GOOD) if levels[4] == test_point else None
        return Decoded(device, {f"{levels[3]}/{levels[4]}": flag}, mode=mode)
    number = text_number(value)
    if number is None:
        return None  # a string-typed property: no reading
    return Decoded(device, {f"{levels[3]}/{levels[4]}": number})


def _state(device: str, payload: bytes) -> Result:
    state = text(payload)
    if isinstance(state, Reject):
        return state
    if state in ONLINE:
        return availability(device, ONLINE[state])
    if state in QUIET_STATES:
        return None
    return Reject(BAD_VALUE, f"unknown $state {state[:20]!r}")
