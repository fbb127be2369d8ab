"""The Winsen/MH-Z19 UART frame parser and decoder on arbitrary serial bytes.

Input: byte 0 picks the read size the port hands over (1..32), the rest is the stream.
Contract: `FrameParser.feed` never raises and holds back less than one frame (a bounded buffer
whatever arrives); what it returns are 9-byte frames with a good checksum, the same frames and
counts however the stream is split into reads; `decode` of any such frame for any model gives
values (finite, or NaN with quality BAD) or one of its counted reasons.
"""

from __future__ import annotations

import math

import atheris

with atheris.instrument_imports(include=["drivers", "gateway"]):
    from drivers.uart.frames import (
        FRAME_LEN,
        MODELS,
        POINTS,
        QA_MODE_COMMAND,
        QA_REPLY,
        READ_COMMAND,
        START,
        FrameParser,
        FrameValues,
        checksum,
        decode,
        with_checksum,
    )
    from gateway.model import Quality

from tests.fuzz.harness import fuzz

REASONS = {"other_gas", "unit", "decimals"}
MAX_READ = 32


def seeds() -> list[bytes]:
    """Real frames (active uploads of each gas, QA replies, the commands), alone, behind noise
    and back to back, each behind a read-size byte."""
    frames = [
        with_checksum(bytes([START, 0x04, 0x03, 0x01, 0x00, 0x25, 0x13, 0x88])),  # ZE07 CO
        with_checksum(bytes([START, 0x17, 0x04, 0x00, 0x00, 0x25, 0x07, 0xD0])),  # ZE08 CH2O
        with_checksum(bytes([START, 0x04, 0x03, 0x02, 0x13, 0x88, 0x03, 0xE8])),  # over range
        with_checksum(bytes([START, QA_REPLY, 0x01, 0x90, 0x41, 0x00, 0x00, 0x00])),  # MH-Z19
        with_checksum(bytes([START, QA_REPLY, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x64])),  # ZE QA
        READ_COMMAND,
        QA_MODE_COMMAND,
    ]
    streams = [*frames, b"".join(frames), b"\x00\xfe\xff\x01" + frames[0] + frames[3][:5]]
    return [bytes([size]) + s for s in streams for size in (0, 3, 8)]


def one_input(data: bytes) -> None:
    if not data:
        return
    read_size, stream = 1 + data[0] % MAX_READ, data[1:]
    whole = FrameParser()
    frames = whole.feed(stream)
    assert whole.pending < FRAME_LEN, whole.pending
    split = FrameParser()
    got: list[bytes] = []
    for at in range(0, len(stream), read_size):
        got += split.feed(stream[at : at + read_size])
        assert split.pending < FRAME_LEN, split.pending
    assert got == frames, (got, frames)
    assert split.rejected == whole.rejected, (split.rejected, whole.rejected)
    assert whole.frames == len(frames)
    for frame in frames:
        assert len(frame) == FRAME_LEN, frame
        assert frame[0] == START, frame
        assert frame[8] == checksum(frame), frame
        for model in MODELS.values():
            check(decode(frame, model))


def check(decoded: FrameValues | str) -> None:
    if isinstance(decoded, str):
        assert decoded in REASONS, decoded
        return
    assert decoded.values, decoded
    assert set(decoded.values) <= set(POINTS), decoded
    for value in decoded.values.values():
        assert isinstance(value, float)
        assert math.isfinite(value) or (math.isnan(value) and decoded.quality is Quality.BAD)


if __name__ == "__main__":
    fuzz(one_input, seeds())
