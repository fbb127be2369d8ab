"""The pty_pair fixture behaves like a serial line: raw bytes both ways through pyserial."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import serial

if TYPE_CHECKING:
    from tests.conftest import PtyPair

EVERY_BYTE = bytes(range(256))  # includes \r \n ^C ^S ^Q: a cooked tty would change or eat them


def test_pty_pair_carries_bytes_both_ways_through_pyserial(pty_pair: PtyPair) -> None:
    with serial.Serial(pty_pair.slave_path, 9600, timeout=1) as port:
        os.write(pty_pair.master_fd, EVERY_BYTE)
        assert port.read(len(EVERY_BYTE)) == EVERY_BYTE
        port.write(EVERY_BYTE[::-1])
        port.flush()
        assert pty_pair.read_master(len(EVERY_BYTE)) == EVERY_BYTE[::-1]


def test_pty_pair_slave_path_is_a_terminal_device(pty_pair: PtyPair) -> None:
    assert pty_pair.slave_path.startswith("/dev/pts/")
    assert os.isatty(pty_pair.master_fd)


def test_read_master_returns_what_arrived_when_the_timeout_passes(pty_pair: PtyPair) -> None:
    with serial.Serial(pty_pair.slave_path, 9600, timeout=1) as port:
        port.write(b"\x01\x03")
        port.flush()
        started = time.monotonic()
        assert pty_pair.read_master(10, timeout_s=0.2) == b"\x01\x03"
        assert 0.2 <= time.monotonic() - started < 1.0
