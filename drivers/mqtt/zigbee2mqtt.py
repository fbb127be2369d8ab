"""Zigbee2MQTT: device state JSON, device availability and bridge state.

- `<base>/<friendly name>` (the name may contain '/'): the device's whole cached state. Every
  top-level number or boolean is a point named by its key (smoke, gas, gas_density, co,
  temperature, tamper, battery_low, test...); booleans read 1.0/0.0; `null` means not known yet
  and is skipped; strings and objects carry no reading. Repeated payloads are fine.
- `test: true` marks the whole message TEST (a person is testing: never a real hazard);
  `state: preparation` (Aqara gas warm-up) or `trouble: true` mark it UNCERTAIN.
- `<device>/availability`: `{"state": "online"|"offline"}` (or the legacy plain text).
- `<base>/bridge/state`: the bridge itself; offline means every device behind it is unheard.
Known quirk: Heiman gas detectors raise the IAS "Alarm2" bit with `"gas": false`; when the
converter publishes it (`alarm_2`), `alarm_aliases` folds it into the `gas` point.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.mqtt.codec import (
    GOOD,
    NAN,
    TEST,
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
)

AVAILABILITY = "/availability"
COMMANDS = ("/set", "/get")


def decode(
    topic: str, payload: bytes, base_topic: str, alarm_aliases: Mapping[str, list[str]]
) -> Result:
    prefix = base_topic + "/"
    if not topic.startswith(prefix) or len(topic) == len(prefix):
        return Reject(UNKNOWN_TOPIC, f"not under {prefix}")
    rest = topic[len(prefix) :]
    if rest.startswith("bridge/"):
        return _online(base_topic, payload, bridge=True) if rest == "bridge/state" else None
    if rest.endswith(AVAILABILITY):
        return _online(topic[: -len(AVAILABILITY)], payload, bridge=False)
    if rest.endswith(COMMANDS) or "/set/" in rest:
        return None  # commands to the device, published by others
    return _state(topic, payload, alarm_aliases)


def _online(device: str, payload: bytes, *, bridge: bool) -> Result:
    """`{"state":"online"}` since Zigbee2MQTT 1.22; plain `online` before."""
    state: object = text(payload)
    if isinstance(state, str) and state.startswith("{"):
        data = parse_json(payload)
        if isinstance(data, Reject):
            return data
        state = data.get("state") if isinstance(data, dict) else None
    if state in ("online", "offline"):
        return availability(device, state == "online", bridge=bridge)
    if isinstance(state, Reject):
        return state
    return Reject(WRONG_TYPE, "availability is neither online nor offline")


def _state(topic: str, payload: bytes, alarm_aliases: Mapping[str, list[str]]) -> Result:
    data = parse_json(payload)
    if isinstance(data, Reject):
        return data
    if not isinstance(data, dict):
        return Reject(WRONG_TYPE, "the state is not a JSON object")
    values: dict[str, float] = {}
    for key, raw in data.items():
        kind = raw.__class__
        if kind is float or kind is bool:  # the common case, without a call
            values[key] = float(raw) if raw - raw == 0 else NAN  # inf - inf and nan - nan: nan
        elif kind is not str and raw is not None:
            value = number(raw)  # int (may overflow a float), dict and list (no reading)
            if value is not None:
                values[key] = value
    for point, keys in alarm_aliases.items():
        for k in keys:
            if data.get(k) is True:
                values[point] = 1.0
    quality = GOOD
    if data.get("test") is True:
        quality = TEST
    elif data.get("state") == "preparation" or data.get("trouble") is True:
        quality = UNCERTAIN
    return Decoded(topic, values, quality)
