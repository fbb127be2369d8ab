"""Modbus RTU framing for a master reading registers (FC03/FC04): pure functions.

Frame: address | function | data | CRC-16 (poly 0xA001 reflected, init 0xFFFF, low byte first).
A reply is hunted for anywhere in what arrived, so a stray byte at bus turnaround (common on
RS-485 when a transceiver switches direction) does not cost the reply.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Modbus CRC-16 of `data`; sent low byte first."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + crc16(frame).to_bytes(2, "little")


def read_request(slave: int, function: int, start: int, count: int) -> bytes:
    """The 8-byte FC03/FC04 request frame."""
    if not (1 <= slave <= 247 and function in (3, 4) and 0 <= start <= 0xFFFF):
        raise ValueError(f"bad read: slave {slave} function {function} start {start}")
    if not (1 <= count <= 125 and start + count <= 0x10000):
        raise ValueError(f"bad register count {count} from {start}")
    return with_crc(struct.pack(">BBHH", slave, function, start, count))


def reply_length(count: int) -> int:
    """Bytes of a normal reply to a read of `count` registers."""
    return 5 + 2 * count


EXCEPTION_LENGTH = 5


def wire_seconds(n_bytes: int, baudrate: int, bits_per_char: int = 10) -> float:
    """Time `n_bytes` take on the wire (8N1 = 10 bits per character)."""
    return n_bytes * bits_per_char / baudrate


def frame_gap_seconds(baudrate: int, bits_per_char: int = 10) -> float:
    """The 3.5-character silence that ends a frame; the spec fixes 1.75 ms above 19200 baud."""
    return 0.00175 if baudrate > 19200 else 3.5 * bits_per_char / baudrate


class ReplyKind(Enum):
    INCOMPLETE = "incomplete"  # a reply may still be arriving: keep reading
    REGISTERS = "registers"
    EXCEPTION = "exception"  # the slave refused the request (exception code)
    CRC = "crc"  # a complete frame with the right header failed its CRC
    GARBAGE = "garbage"  # bytes arrived but none can start the expected reply


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    registers: tuple[int, ...] = ()
    exception_code: int = 0
    end: int = 0  # bytes of the buffer the reply used (up to its last CRC byte)
    crc_failed: bool = False  # some complete candidate failed its CRC (counted as a CRC error)


def parse_reply(buf: bytes, slave: int, function: int, count: int) -> Reply:
    """Find the reply to a read of `count` registers of `slave` in `buf`.

    Every offset that starts with the expected address and function (or its exception form)
    is a candidate; the first with a good CRC wins. Never raises on any input.
    """
    crc_failed = waiting = False
    for at in _candidates(buf, slave, function):
        if at + 1 == len(buf):
            waiting = True  # a lone last address byte may be the start of the reply
            continue
        is_exception = buf[at + 1] == function | 0x80
        if not is_exception and len(buf) > at + 2 and buf[at + 2] != 2 * count:
            continue  # wrong byte count: not our reply
        size = EXCEPTION_LENGTH if is_exception else reply_length(count)
        if len(buf) < at + size:
            waiting = True
            continue
        frame = buf[at : at + size]
        if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            crc_failed = True
            continue
        if is_exception:
            return Reply(ReplyKind.EXCEPTION, (), frame[2], at + size, crc_failed)
        regs = struct.unpack(f">{count}H", frame[3:-2])
        return Reply(ReplyKind.REGISTERS, regs, 0, at + size, crc_failed)
    if waiting or not buf:
        return Reply(ReplyKind.INCOMPLETE, crc_failed=crc_failed)
    return Reply(ReplyKind.CRC if crc_failed else ReplyKind.GARBAGE, crc_failed=crc_failed)


def _candidates(buf: bytes, slave: int, function: int) -> list[int]:
    heads = (bytes((slave, function)), bytes((slave, function | 0x80)))
    found = []
    for i in range(len(buf)):
        if buf[i] != slave:
            continue
        if i + 1 == len(buf) or buf[i : i + 2] in heads:
            found.append(i)
    return found
