"""RTU framing: requests and CRCs agree with pymodbus, replies are found behind noise, and no
input makes the reply parser do anything but return a verdict."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
)

from drivers.modbus.driver import reason_of
from drivers.modbus.rtu import (
    ReplyKind,
    crc16,
    frame_gap_seconds,
    parse_reply,
    read_request,
    reply_length,
    wire_seconds,
    with_crc,
)

PYMODBUS = FramerRTU(DecodePDU(is_server=False))


def pymodbus_reply(slave: int, function: int, registers: list[int]) -> bytes:
    cls = ReadHoldingRegistersResponse if function == 3 else ReadInputRegistersResponse
    return PYMODBUS.buildFrame(cls(dev_id=slave, registers=registers))


GOOD = pymodbus_reply(1, 3, [42])  # 01 03 02 00 2a 39 9b


def test_the_crc_of_a_textbook_request_is_sent_low_byte_first() -> None:
    assert read_request(1, 3, 0, 1).hex(" ") == "01 03 00 00 00 01 84 0a"
    assert GOOD.hex(" ") == "01 03 02 00 2a 39 9b"


@given(
    slave=st.integers(1, 247),
    function=st.sampled_from([3, 4]),
    start=st.integers(0, 0xFFFF - 125),
    count=st.integers(1, 125),
)
def test_requests_are_byte_for_byte_what_pymodbus_sends(
    slave: int, function: int, start: int, count: int
) -> None:
    cls = ReadHoldingRegistersRequest if function == 3 else ReadInputRegistersRequest
    expected = PYMODBUS.buildFrame(cls(address=start, count=count, dev_id=slave))
    assert read_request(slave, function, start, count) == expected


@given(st.binary(max_size=300))
def test_the_crc_agrees_with_pymodbus_on_any_bytes(data: bytes) -> None:
    assert crc16(data).to_bytes(2, "little") == FramerRTU.compute_CRC(data).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("slave", "function", "start", "count"),
    [(0, 3, 0, 1), (248, 3, 0, 1), (1, 6, 0, 1), (1, 3, 0, 0), (1, 3, 0, 126), (1, 3, 0xFFFF, 2)],
)
def test_impossible_reads_are_refused_before_they_reach_the_wire(
    slave: int, function: int, start: int, count: int
) -> None:
    with pytest.raises(ValueError, match="bad"):
        read_request(slave, function, start, count)


EXCEPTION_2 = PYMODBUS.buildFrame(ExceptionResponse(3, 2, device_id=1))
DAMAGED = GOOD[:-1] + bytes([GOOD[-1] ^ 0xFF])


@pytest.mark.parametrize(
    ("buf", "kind", "registers", "exception"),
    [
        pytest.param(GOOD, ReplyKind.REGISTERS, (42,), 0, id="a clean reply"),
        pytest.param(EXCEPTION_2, ReplyKind.EXCEPTION, (), 2, id="exception 2"),
        pytest.param(b"\x00" + GOOD, ReplyKind.REGISTERS, (42,), 0, id="a turnaround glitch"),
        pytest.param(b"\x01\x03" + GOOD, ReplyKind.REGISTERS, (42,), 0, id="a false start"),
        pytest.param(DAMAGED + GOOD, ReplyKind.REGISTERS, (42,), 0, id="damaged then good"),
        pytest.param(GOOD + b"\x99\x98", ReplyKind.REGISTERS, (42,), 0, id="trailing noise"),
        pytest.param(GOOD[:4], ReplyKind.INCOMPLETE, (), 0, id="half a reply"),
        pytest.param(b"\x55\x01", ReplyKind.INCOMPLETE, (), 0, id="noise then an address"),
        pytest.param(b"", ReplyKind.INCOMPLETE, (), 0, id="nothing yet"),
        pytest.param(DAMAGED, ReplyKind.CRC, (), 0, id="a damaged CRC"),
        pytest.param(pymodbus_reply(2, 3, [42]), ReplyKind.GARBAGE, (), 0, id="another slave"),
        pytest.param(pymodbus_reply(1, 4, [42]), ReplyKind.GARBAGE, (), 0, id="another function"),
        pytest.param(pymodbus_reply(1, 3, [1, 2]), ReplyKind.GARBAGE, (), 0, id="wrong count"),
        pytest.param(b"\x55\xaa\x00", ReplyKind.GARBAGE, (), 0, id="line noise"),
    ],
)
def test_the_reply_to_a_one_register_read_of_slave_1(
    buf: bytes, kind: ReplyKind, registers: tuple[int, ...], exception: int
) -> None:
    reply = parse_reply(buf, 1, 3, 1)
    assert (reply.kind, reply.registers, reply.exception_code) == (kind, registers, exception)


def test_a_damaged_copy_before_a_good_reply_is_still_reported_as_a_crc_failure() -> None:
    reply = parse_reply(DAMAGED + GOOD, 1, 3, 1)
    assert reply.kind is ReplyKind.REGISTERS
    assert reply.crc_failed
    assert reply.end == len(DAMAGED + GOOD)


@given(st.binary(max_size=80), st.integers(1, 247), st.sampled_from([3, 4]), st.integers(1, 8))
def test_garbage_only_ever_yields_a_verdict(
    buf: bytes, slave: int, function: int, count: int
) -> None:
    reply = parse_reply(buf, slave, function, count)
    reason = reason_of(reply, len(buf))  # what the driver counts when the wait is over
    assert reason in {"", "exception", "timeout", "crc", "garbage"}
    assert (reason == "") is (reply.kind is ReplyKind.REGISTERS)
    if reply.kind is ReplyKind.REGISTERS:  # only ever a frame whose CRC checks
        frame = buf[reply.end - reply_length(count) : reply.end]
        assert crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")
        assert frame[:3] == bytes((slave, function, 2 * count))
        assert len(reply.registers) == count
    elif reply.kind is ReplyKind.EXCEPTION:
        assert buf[reply.end - 5 : reply.end - 3] == bytes((slave, function | 0x80))


@given(
    noise=st.binary(max_size=20).map(lambda b: b.replace(b"\x07", b"")),
    registers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20),
    cut=st.integers(0, 200),
)
def test_a_good_reply_behind_noise_is_found_and_never_before_it_is_complete(
    noise: bytes, registers: list[int], cut: int
) -> None:
    stream = noise + pymodbus_reply(7, 4, registers)
    partial = parse_reply(stream[: min(cut, len(stream) - 1)], 7, 4, len(registers))
    assert partial.kind is not ReplyKind.REGISTERS
    full = parse_reply(stream, 7, 4, len(registers))
    assert full.registers == tuple(registers)


def test_with_crc_appends_the_low_byte_first() -> None:
    assert with_crc(bytes.fromhex("010300000001"))[-2:] == b"\x84\x0a"


@pytest.mark.parametrize(
    ("baud", "gap_ms"),
    [(1200, 29.17), (9600, 3.646), (19200, 1.823), (38400, 1.75), (115200, 1.75)],
)
def test_the_frame_gap_is_three_and_a_half_characters_up_to_19200_baud(
    baud: int, gap_ms: float
) -> None:
    assert frame_gap_seconds(baud) * 1000 == pytest.approx(gap_ms, abs=0.01)


def test_a_one_register_transaction_spends_about_16_ms_on_a_9600_baud_wire() -> None:
    assert wire_seconds(8 + reply_length(1), 9600) == pytest.approx(0.015625)
