"""Generic JSON: any payload, a path per point (`gas: $.data.ch4`, `t: readings[0].value`).

The device's topic is the message's topic. A path that leads to a number or boolean is a
reading; `null` and other types are counted (null_value, wrong_type); a path that leads nowhere
is skipped, and a message in which no path leads anywhere is rejected (missing_field).
Optional: `test_path` (true = TEST quality), `time_path` (the device's epoch time, in
`time_unit`; the driver trusts it only within max_time_skew_s of its own clock; a message
without it is stamped on arrival).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drivers.mqtt.codec import (
    BAD_VALUE,
    GOOD,
    MISSING_FIELD,
    NULL_VALUE,
    TEST,
    WRONG_TYPE,
    Decoded,
    Reject,
    Result,
    number,
    parse_json,
)
from drivers.mqtt.config import JsonSubscription, PathStep, compile_path

NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
MISSING = object()


@dataclass(frozen=True, slots=True)
class JsonPaths:
    fields: tuple[tuple[str, tuple[PathStep, ...]], ...]
    test: tuple[PathStep, ...] | None = None
    time: tuple[PathStep, ...] | None = None
    ns_per_unit: int = 1_000_000_000

    @classmethod
    def of(cls, sub: JsonSubscription) -> JsonPaths:
        return cls(
            tuple((point, compile_path(path)) for point, path in sub.fields.items()),
            None if sub.test_path is None else compile_path(sub.test_path),
            None if sub.time_path is None else compile_path(sub.time_path),
            NS_PER_UNIT[sub.time_unit],
        )


def resolve(data: object, path: Sequence[PathStep]) -> object:
    for step in path:
        if isinstance(step, str) and isinstance(data, dict):
            data = data.get(step, MISSING)
        elif isinstance(step, int) and isinstance(data, list) and step < len(data):
            data = data[step]
        else:
            return MISSING
    return data


def decode(topic: str, payload: bytes, paths: JsonPaths) -> Result:
    data = parse_json(payload)
    if isinstance(data, Reject):
        return data
    values: dict[str, float] = {}
    problems: list[str] = []
    for point, path in paths.fields:
        raw = resolve(data, path)
        if raw is MISSING:
            continue
        value = number(raw)
        if value is None:
            problems.append(NULL_VALUE if raw is None else WRONG_TYPE)
        else:
            values[point] = value
    if not values:
        return Reject(problems[0] if problems else MISSING_FIELD, "no configured field usable")
    quality = GOOD
    if paths.test is not None and number(resolve(data, paths.test)) == 1.0:
        quality = TEST
    ts_ns = None
    raw_time = MISSING if paths.time is None else resolve(data, paths.time)
    if raw_time is not MISSING:  # no time in the message: stamped on arrival
        ts_ns = _timestamp(raw_time, paths.ns_per_unit)
        if ts_ns is None:
            problems.append(BAD_VALUE)
    return Decoded(topic, values, quality, ts_ns=ts_ns, problems=tuple(problems))


def _timestamp(raw: object, ns_per_unit: int) -> int | None:
    value = number(raw)
    if value is None or isinstance(raw, bool) or not abs(value) <= 9e18 / ns_per_unit:
        return None
    if isinstance(raw, int):
        return raw * ns_per_unit
    return int(value * ns_per_unit)
