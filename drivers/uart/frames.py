"""Winsen ZE-series / MH-Z19-style 9-byte frames: checksum, an incremental parser and decoding.

Frame: `FF b1 b2 b3 b4 b5 b6 b7 cs`, cs = (~(b1 + ... + b7) + 1) & 0xFF.
Active upload: `FF gas unit decimals concH concL rangeH rangeL cs`.
Question-and-answer reply: `FF 86 ...` with the concentration where the model puts it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gateway.model import Quality

START = 0xFF
FRAME_LEN = 9
QA_REPLY = 0x86
UNIT_FACTORS = {0x03: 1.0, 0x04: 0.001}  # to ppm: 0x03 ppm, 0x04 ppb


def checksum(frame: bytes) -> int:
    """The checksum byte of a 9-byte frame (bytes 1..7)."""
    return (~sum(frame[1:8]) + 1) & 0xFF


def with_checksum(body: bytes) -> bytes:
    """Complete the first 8 bytes of a frame with its checksum."""
    return body + bytes([checksum(body + b"\x00")])


class FrameParser:
    """Feed it whatever the port returned; it gives back whole frames with a good checksum.

    It keeps at most one partial frame between calls, hunts for the next 0xFF after garbage,
    and after a bad checksum restarts the hunt one byte later (so a real frame that began
    inside the damaged one is still found). Rejections are counted in `rejected`:
    `checksum` per bad candidate frame, `garbage` per run of bytes skipped while hunting
    (however the run was split between reads).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_garbage = False  # a run of skipped bytes may span several reads: count it once
        self.rejected: Counter[str] = Counter()
        self.frames = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            start = self._buf.find(START)
            if start < 0:
                self._skip(len(self._buf))
                return out
            self._skip(start)
            self._in_garbage = False
            if len(self._buf) < FRAME_LEN:
                return out
            frame = bytes(self._buf[:FRAME_LEN])
            if frame[8] == checksum(frame):
                del self._buf[:FRAME_LEN]
                self.frames += 1
                out.append(frame)
            else:
                self.rejected["checksum"] += 1
                del self._buf[:1]

    @property
    def pending(self) -> int:
        """Bytes held back as the start of a frame."""
        return len(self._buf)

    def _skip(self, n: int) -> None:
        if n and not self._in_garbage:
            self.rejected["garbage"] += 1
        if n:
            self._in_garbage = True
            del self._buf[:n]


@dataclass(frozen=True, slots=True)
class UartModel:
    """What a sensor model sends: its gas code in active frames and where a QA reply keeps
    the concentration. Values are reported in `unit`."""

    name: str
    gas_code: int | None  # byte 1 of its active-upload frames; None: it has no active mode
    unit: str
    qa_high: int  # index of the concentration's high byte in a QA reply
    qa_scale: float  # QA reply counts -> unit
    qa_temperature: int | None = None  # index of a temperature byte (value - 40 °C)


MODELS: dict[str, UartModel] = {
    "ze07-co": UartModel("ze07-co", 0x04, "ppm", qa_high=2, qa_scale=0.1),
    "ze08-ch2o": UartModel("ze08-ch2o", 0x17, "ppm", qa_high=6, qa_scale=0.001),  # ppb
    "mh-z19": UartModel("mh-z19", None, "ppm", qa_high=2, qa_scale=1.0, qa_temperature=4),
}
READ_COMMAND = with_checksum(bytes([0xFF, 0x01, 0x86, 0, 0, 0, 0, 0]))  # FF 01 86 ... 79
QA_MODE_COMMAND = with_checksum(bytes([0xFF, 0x01, 0x78, 0x41, 0, 0, 0, 0]))  # ZE: stop uploads
POINTS = ("gas", "temperature")


@dataclass(frozen=True, slots=True)
class FrameValues:
    """Values of one good frame by point name, with the quality they share."""

    values: dict[str, float]
    quality: Quality


def decode(frame: bytes, model: UartModel) -> FrameValues | str:
    """A checksum-valid frame's values, or why this model cannot use it (a counted reason)."""
    if frame[1] == QA_REPLY:
        return _decode_qa(frame, model)
    if model.gas_code is None or frame[1] != model.gas_code:
        return "other_gas"
    factor = UNIT_FACTORS.get(frame[2])
    if factor is None:
        return "unit"
    decimals = frame[3]
    if decimals > 6:
        return "decimals"
    conc = (frame[4] << 8 | frame[5]) / 10**decimals
    full_range = (frame[6] << 8 | frame[7]) / 10**decimals
    if full_range and conc > full_range:
        return FrameValues({"gas": float("nan")}, Quality.BAD)  # over range: no measurement
    return FrameValues({"gas": conc * factor}, Quality.GOOD)


def _decode_qa(frame: bytes, model: UartModel) -> FrameValues:
    counts = frame[model.qa_high] << 8 | frame[model.qa_high + 1]
    values = {"gas": counts * model.qa_scale}
    if model.qa_temperature is not None:
        values["temperature"] = float(frame[model.qa_temperature] - 40)
    return FrameValues(values, Quality.GOOD)
