"""Register words to values and qualities: pure functions, table-tested.

A value the device says is not a measurement (sensor lost, over range) or that cannot be decoded
(a decimal-point register out of range, a float that is NaN) comes out as NaN with quality BAD:
detection never uses it, and nothing bogus is reported as a measurement.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drivers.modbus.profile import PointSpec, StatusBits, StatusSpec
from gateway.model import Quality

MAX_DECIMALS = 6
Image = Mapping[tuple[int, int], int]  # (function, register) -> 16-bit word read this cycle
_FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


@dataclass(frozen=True, slots=True)
class Decoded:
    value: float
    quality: Quality
    problem: str = ""  # why the value is unusable, when it is the data's fault (counted)


def raw_number(words: Sequence[int], data_type: str, byte_order: str, word_order: str) -> float:
    """The number the words encode, before scaling."""
    ordered = list(words) if word_order == "big" else list(reversed(words))
    data = b"".join(
        w.to_bytes(2, "big") if byte_order == "big" else w.to_bytes(2, "little") for w in ordered
    )
    return float(struct.unpack(_FORMATS[data_type], data)[0])


def status_flags(word: int, bits: StatusBits) -> frozenset[str]:
    """Names of the conditions whose bit is set in the status word."""
    return frozenset(
        name for name, bit in bits.model_dump().items() if bit is not None and word >> bit & 1
    )


def status_quality(word: int, bits: StatusBits) -> Quality:
    flags = status_flags(word, bits)
    if flags & {"sensor_lost", "over_range"}:
        return Quality.BAD
    if "warmup" in flags:
        return Quality.UNCERTAIN
    return Quality.GOOD


def needed_registers(spec: PointSpec, status: StatusSpec | None) -> list[tuple[int, int]]:
    """(function, register) pairs a point needs, status included when it decides quality."""
    regs: list[tuple[int, int]] = [(spec.function, spec.number + i) for i in range(spec.width)]
    if spec.decimals_register is not None:
        regs.append((spec.function, spec.decimals_register))
    if status is not None and spec.use_status:
        regs.append((status.function, status.number))
    return regs


def decode_point(spec: PointSpec, status: StatusSpec | None, image: Image) -> Decoded | None:
    """The point's value from this cycle's registers; None when one of them was not read."""
    if any(key not in image for key in needed_registers(spec, status)):
        return None
    quality = Quality.GOOD
    if status is not None and spec.use_status:
        quality = status_quality(image[(status.function, status.number)], status.bits)
        if quality is Quality.BAD:
            return Decoded(math.nan, Quality.BAD)
    value, problem = _value(spec, image)
    if problem:
        return Decoded(math.nan, Quality.BAD, problem)
    return Decoded(value, quality)


def _value(spec: PointSpec, image: Image) -> tuple[float, str]:
    words = [image[(spec.function, spec.number + i)] for i in range(spec.width)]
    if spec.bit is not None:
        return float(words[0] >> spec.bit & 1), ""
    raw = raw_number(words, spec.type, spec.byte_order, spec.word_order)
    if not math.isfinite(raw):
        return math.nan, f"register {spec.number} holds a non-finite float"
    decimals = 0
    if spec.decimals_register is not None:
        decimals = image[(spec.function, spec.decimals_register)]
        if decimals > MAX_DECIMALS:
            return math.nan, f"decimal-point register {spec.decimals_register} holds {decimals}"
    value = raw * spec.scale / 10**decimals + spec.offset
    if not math.isfinite(value):
        return math.nan, f"register {spec.number} scales to a non-finite value"
    return value, ""
