"""One serial port for asyncio, shared by the serial drivers (modbus, uart): pyserial opens and
configures it, the event loop watches its fd.

Why the loop's reader and not a thread doing blocking reads: a transaction waits for a few bytes
with a deadline; on the loop that is `asyncio.timeout` around a readiness future, cancelled at
once on shutdown, with no thread hand-off per chunk and no thread left blocked in read() when the
driver stops. pyserial opens the port (termios settings, exclusive lock, O_NONBLOCK); frames are
written and chunks read straight on its fd, which stays registered with the loop while the port is
open: one syscall per chunk where pyserial's read() and write() make two or three, and no epoll
re-registration per transaction. A vanished device reads as EIO or as end of file, and writes
fail with EIO.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

import serial

from drivers.base import DriverStatus
from gateway.clock import Clock
from gateway.errors import DriverError

log = logging.getLogger(__name__)
REOPEN_FIRST_S = 1.0

_PORT_ERRORS = (OSError, serial.SerialException, ValueError)
READ_CHUNK = 4096
MAX_BUFFERED = 65536


class SerialLink:
    """Open, the port's fd stays registered with the loop: each chunk is read as it arrives into
    a buffer that `read()` hands out, and a waiting `read()` is woken."""

    def __init__(
        self, port: str, *, baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 1
    ) -> None:
        self.port = port
        self._settings = {
            "baudrate": baudrate, "bytesize": bytesize, "parity": parity, "stopbits": stopbits,
        }  # fmt: skip
        self._ser: Any = None
        self._fd = -1
        self._rx = bytearray()
        self._error: OSError | None = None  # what the reader met; raised by the next call
        self._waiter: asyncio.Future[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def open(self) -> None:
        """Open the port (following a by-id symlink); DriverError if it is not there."""
        self.close()
        try:
            self._ser = serial.Serial(
                self.port, timeout=0, write_timeout=0, exclusive=True, **self._settings
            )
        except _PORT_ERRORS as exc:
            raise DriverError(f"cannot open {self.port}: {exc}") from exc
        self._fd, self._error = self._ser.fileno(), None
        self._rx.clear()
        asyncio.get_running_loop().add_reader(self._fd, self._on_readable)

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is None:
            return
        self._stop_reading()
        with contextlib.suppress(*_PORT_ERRORS):  # a vanished device: the fd goes anyway
            ser.close()

    def write(self, data: bytes) -> None:
        """Queue a frame in the driver's output buffer (never blocks the loop)."""
        self._check()
        try:
            written = os.write(self._fd, data)
        except OSError as exc:  # EAGAIN too: a buffer too full for one frame is a wedged port
            raise self._lost(exc) from exc
        if written != len(data):
            raise self._lost(OSError(f"wrote {written} of {len(data)} bytes"))

    def discard_input(self) -> int:
        """Drop bytes that arrived unasked (a late reply); how many there were."""
        self._check()
        self._on_readable(ready=False)  # what the kernel holds that the loop has not read yet
        self._check()
        dropped = len(self._rx)
        self._rx.clear()
        return dropped

    async def read(self, timeout_s: float) -> bytes:
        """What has arrived, waiting up to `timeout_s` for something; b"" if nothing came."""
        self._check()
        if not self._rx and timeout_s > 0:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._waiter
            except TimeoutError:
                return b""
            finally:
                self._waiter = None
            self._check()
        data = bytes(self._rx)
        self._rx.clear()
        return data

    def _on_readable(self, ready: bool = True) -> None:
        """Read a chunk. pyserial sets VMIN=0, so an empty read means "nothing there"; only
        when the loop said the fd was readable does it mean the device is gone."""
        try:
            data = os.read(self._fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._error = exc
        else:
            if data:
                self._rx += data
                del self._rx[:-MAX_BUFFERED]  # a babbling device cannot eat the memory
            elif ready:  # readable yet empty: the device is gone (pyserial says the same)
                self._error = OSError("device reports readiness to read but returned no data")
        if self._error is not None:
            self._stop_reading()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _stop_reading(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(RuntimeError):  # no loop any more: nothing to remove
                asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = -1

    def _check(self) -> None:
        if self._ser is None:
            raise DriverError(f"{self.port} is not open")
        if self._error is not None:
            raise self._lost(self._error)

    def _lost(self, exc: BaseException) -> DriverError:
        self.close()
        return DriverError(f"{self.port}: {exc}")


def port_lost(link: SerialLink, status: DriverStatus, name: str, exc: DriverError) -> None:
    """The adapter is gone (unplugged, I/O error): one bus fault, logged once per outage."""
    link.close()
    status.errors["port"] += 1
    status.last_error = f"port: {exc}"
    if status.connected:
        log.warning("%s: port lost: %s; reopening with backoff", name, exc)
    status.connected = False


async def reopen(
    open_port: Callable[[], None], status: DriverStatus, clock: Clock, max_s: float
) -> None:
    """Try to open the port again, doubling the wait up to `max_s`, until it works."""
    delay = min(REOPEN_FIRST_S, max_s)
    while True:
        await clock.sleep(delay)
        try:
            open_port()
        except DriverError as exc:
            status.last_error = f"port: {exc}"
            delay = min(delay * 2, max_s)
            continue
        return
