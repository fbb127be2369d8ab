"""The Modbus RTU reply parser (CRC-16 checked) and the register decoding behind it.

Input: bytes 0-2 pick the read (slave 1..247, FC03 or FC04, 1..125 registers), the rest is
what came back on the bus. Contract: `parse_reply` never raises and only ever hands back a
reply that lies inside the buffer (`end` within it, the frame at `end` with the expected head
and a good CRC, `count` registers of 16 bits); every other verdict uses none of the buffer.
The registers of a good reply then go through every shipped profile's points: a value is
finite, or NaN with quality BAD.
"""

from __future__ import annotations

import math
import struct

import atheris

with atheris.instrument_imports(include=["drivers", "gateway"]):
    from drivers.modbus.decode import decode_point, needed_registers
    from drivers.modbus.driver import reason_of
    from drivers.modbus.profile import DEFAULT_PROFILES_DIR, Profile, load_profile
    from drivers.modbus.rtu import (
        EXCEPTION_LENGTH,
        Reply,
        ReplyKind,
        crc16,
        parse_reply,
        read_request,
        reply_length,
        with_crc,
    )
    from gateway.model import Quality

from tests.fuzz.harness import fuzz

PROFILES: list[Profile] = [
    load_profile(p.stem) for p in sorted(DEFAULT_PROFILES_DIR.glob("*.yaml"))
]
REASONS = {"", "exception", "crc", "garbage"}  # the driver's counters for a non-empty buffer


def read_of(data: bytes) -> tuple[int, int, int]:
    """(slave, function, count) from the input's first three bytes."""
    return 1 + data[0] % 247, 3 + (data[1] & 1), 1 + data[2] % 125


def head(slave: int, function: int, count: int) -> bytes:
    """The three bytes that make `read_of` choose this read."""
    return bytes([slave - 1, function - 3, count - 1])


def seeds() -> list[bytes]:
    """Good replies, exception replies and damaged ones, alone, behind noise and behind an echo
    of the request (half-duplex adapters echo it), for the reads the profiles make."""
    out = []
    for slave, function, count in [(1, 3, 1), (1, 3, 4), (17, 4, 2), (247, 3, 125)]:
        regs = [(0x1234 * (i + 1)) & 0xFFFF for i in range(count)]
        good = with_crc(struct.pack(f">BBB{count}H", slave, function, 2 * count, *regs))
        refused = with_crc(bytes([slave, function | 0x80, 0x02]))
        damaged = good[:-1] + bytes([good[-1] ^ 0xFF])
        echo = read_request(slave, function, 0, count)
        for reply in (good, refused, damaged + good, b"\x00" + good, echo + good, good[:-3]):
            out.append(head(slave, function, count) + reply)
    return out


def one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    slave, function, count = read_of(data)
    buf = data[3:]
    reply = parse_reply(buf, slave, function, count)
    check(reply, buf, slave, function, count)
    if reply.kind is ReplyKind.REGISTERS:
        decode_all(reply.registers)


def check(reply: Reply, buf: bytes, slave: int, function: int, count: int) -> None:
    assert reason_of(reply, len(buf)) in (REASONS if buf else {"timeout"}), reply
    if reply.kind is ReplyKind.REGISTERS:
        frame = buf[reply.end - reply_length(count) : reply.end]
        assert reply.end <= len(buf), reply
        assert frame[:3] == bytes([slave, function, 2 * count]), reply
        assert crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little"), reply
        assert len(reply.registers) == count, reply
        assert all(0 <= r <= 0xFFFF for r in reply.registers), reply
    elif reply.kind is ReplyKind.EXCEPTION:
        frame = buf[reply.end - EXCEPTION_LENGTH : reply.end]
        assert reply.end <= len(buf), reply
        assert frame[:2] == bytes([slave, function | 0x80]), reply
        assert crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little"), reply
        assert reply.exception_code == frame[2], reply
    else:
        assert reply.end == 0, reply
        assert not reply.registers, reply
        assert reply.kind is not ReplyKind.CRC or reply.crc_failed, reply


def decode_all(registers: tuple[int, ...]) -> None:
    """Every profile point decoded from these words (laid cyclically over what it needs)."""
    for profile in PROFILES:
        for spec in profile.points.values():
            needed = needed_registers(spec, profile.status)
            image = {key: registers[i % len(registers)] for i, key in enumerate(needed)}
            decoded = decode_point(spec, profile.status, image)
            assert decoded is not None, spec
            if decoded.quality is Quality.BAD:
                assert math.isnan(decoded.value), decoded
            else:
                assert math.isfinite(decoded.value), decoded


if __name__ == "__main__":
    fuzz(one_input, seeds())
