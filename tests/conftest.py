"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class PtyPair:
    """A pseudo-terminal standing in for a serial device.

    The code under test opens `slave_path` (e.g. with pyserial); the test plays the device on
    `master_fd` with `os.write` and `read_master`. The slave is raw: bytes pass unchanged.
    """

    master_fd: int
    slave_path: str

    def read_master(self, size: int, timeout_s: float = 2.0) -> bytes:
        """Up to `size` bytes written to the slave, returning early only when `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        data = b""
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.master_fd], [], [], remaining)[0]:
                break
            data += os.read(self.master_fd, size - len(data))
        return data


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    """A raw pty; the slave fd stays open for the test so the line never hangs up."""
    master_fd, slave_fd = os.openpty()
    try:
        tty.setraw(slave_fd)
        yield PtyPair(master_fd, os.ttyname(slave_fd))
    finally:
        os.close(slave_fd)
        os.close(master_fd)
