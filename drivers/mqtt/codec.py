"""What every payload decoder returns, and the small parsing helpers they share.

A decoder is a pure function `(topic, payload) -> Decoded | Reject | None`:
- `Decoded`: values by point for one device (its topic), plus what the message says about the
  device (availability, a sticky mode such as warm-up or test);
- `Reject`: the message is bad; `reason` is the key counted in `DriverStatus.errors`;
- `None`: a message the family knows and that carries no reading (metadata, commands).
A decoder never raises: garbage in, a counted rejection out.

Input reasons (the keys of status.errors besides the connection ones in driver.py):
oversized, bad_topic, unknown_topic, unknown_device, malformed_json, wrong_type, bad_value,
not_finite (a NaN/Inf value: kept as a BAD reading), null_value, missing_field, untrusted_time,
malformed_packet (a PUBLISH that cannot be sliced), decoder_error (a bug: logged with its trace).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.model import Quality

OVERSIZED: Final = "oversized"
BAD_TOPIC: Final = "bad_topic"
UNKNOWN_TOPIC: Final = "unknown_topic"
UNKNOWN_DEVICE: Final = "unknown_device"
MALFORMED_JSON: Final = "malformed_json"
WRONG_TYPE: Final = "wrong_type"
BAD_VALUE: Final = "bad_value"
NOT_FINITE: Final = "not_finite"
NULL_VALUE: Final = "null_value"
MISSING_FIELD: Final = "missing_field"
UNTRUSTED_TIME: Final = "untrusted_time"
MALFORMED_PACKET: Final = "malformed_packet"
DECODER_ERROR: Final = "decoder_error"

NAN: Final = math.nan
GOOD: Final = int(Quality.GOOD)
UNCERTAIN: Final = int(Quality.UNCERTAIN)
BAD: Final = int(Quality.BAD)
TEST: Final = int(Quality.TEST)


@dataclass(frozen=True, slots=True)
class Decoded:
    """One message's meaning for one device."""

    device: str  # the device's topic, matched against Binding.topic
    values: Mapping[str, float]  # point -> value; NaN = the device sent no valid number
    quality: int = GOOD  # for these values (gateway.model.Quality)
    ts_ns: int | None = None  # the payload's own time, when it carries one
    online: bool | None = None  # availability news: False = the device (or bridge) is offline
    bridge: bool = False  # `online` concerns a bridge and every device behind it
    mode: tuple[str, int] | None = None  # (slot, quality): sticky until the slot changes
    problems: tuple[str, ...] = ()  # reasons counted although the message was used


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str  # the status.errors key
    detail: str = ""  # for the log, never counted


Result = Decoded | Reject | None
Decoder = Callable[[str, bytes], Result]

NO_VALUES: Final[Mapping[str, float]] = {}


def availability(device: str, online: bool, *, bridge: bool = False) -> Decoded:
    return Decoded(device, NO_VALUES, online=online, bridge=bridge)


def parse_json(payload: bytes) -> Any | Reject:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        return Reject(MALFORMED_JSON, str(exc)[:80])


def number(value: object) -> float | None:
    """A JSON scalar as a float: booleans 1.0/0.0, non-finite NaN; None for other types."""
    if value is True:
        return 1.0
    if value is False:
        return 0.0
    if isinstance(value, float):
        return value if math.isfinite(value) else NAN
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # a 400-digit integer is no measurement
            return NAN
    return None


_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_NOT_FINITE = frozenset({"nan", "-nan", "+nan", "inf", "+inf", "-inf", "infinity", "-infinity"})


def text(payload: bytes) -> str | Reject:
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        return Reject(BAD_VALUE, f"not UTF-8: {exc.reason}")


def text_number(value: str) -> float | None:
    """A plain-text number ('21.5', '1e3'); 'nan'/'inf' as NaN; None if it is not a number."""
    if _NUMBER.fullmatch(value):
        result = float(value)
        return result if math.isfinite(result) else NAN  # '1e999' overflows to inf
    if value.lower() in _NOT_FINITE:
        return NAN
    return None


ON_OFF: Final[Mapping[str, float]] = {"ON": 1.0, "OFF": 0.0}
TRUE_FALSE: Final[Mapping[str, float]] = {"true": 1.0, "false": 0.0}
