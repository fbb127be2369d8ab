"""A Modbus RTU slave bus on a pseudo-terminal, for tests, the demo and `hazgw device scan`.

The code under test opens `path` with pyserial exactly like a USB RS-485 adapter; this side
answers on the pty master from its own thread. Requests are decoded and replies encoded by
pymodbus (its RTU framer and PDU classes): an implementation independent of the gateway's own
RTU codec, so the two meet on the wire like a real master and a real slave.

Faults on demand: silent slaves (dead), slow slaves (reply after a delay), damaged CRCs, noise
before replies, raw garbage, and unplugging / replugging the adapter (the pty disappears; with
`link` set, a udev-style symlink disappears and comes back pointing at a new pty).
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
import time
import tty
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 1, 2
FRAME_SILENCE_S = 0.05  # generous for a pty: a request arrives in one or two chunks


class PtyDevice:
    """A serial device on the master side of a pty, served by one thread.

    Subclasses implement `on_bytes` (what the master received) and may implement `on_tick`
    (called every `tick_s` seconds, for devices that talk unasked).
    """

    tick_s: float | None = None

    def __init__(self, link: Path | None = None) -> None:
        self.link = link
        self._master = self._slave = -1
        self._tty = ""
        self._wake_r, self._wake_w = os.pipe()
        self._calls: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._plug()

    @property
    def path(self) -> str:
        """What the code under test opens: the symlink when there is one, else the pty."""
        return str(self.link) if self.link is not None else self._tty

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        self._unplug()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1  # stop() twice must not close a reused fd number

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def unplug(self) -> None:
        """The adapter disappears: the pty closes (the opener reads EIO), the symlink goes."""
        self._in_thread(self._unplug)

    def replug(self) -> None:
        """A new pty appears; with a symlink, the same path now leads to it."""
        self._in_thread(self._plug)

    def send(self, data: bytes) -> None:
        """Write to the line now (from the device thread or from a test)."""
        if self._master >= 0:
            with contextlib.suppress(OSError):
                os.write(self._master, data)

    def on_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    def on_tick(self) -> None:
        return None

    # --- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic() + (self.tick_s or 0.0)
        while not self._stopping.is_set():
            self._drain_calls()
            timeout = None if self.tick_s is None else max(0.0, next_tick - time.monotonic())
            fds = [self._wake_r] + ([self._master] if self._master >= 0 else [])
            ready = select.select(fds, [], [], timeout)[0]
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if self._master >= 0 and self._master in ready:
                self._receive()
            if self.tick_s is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.tick_s
                self.on_tick()

    def _receive(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        if data:
            self.on_bytes(data)

    def _in_thread(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the device thread (it owns the fds it may be selecting on)."""
        if self._thread is None:
            fn()
            return
        done = threading.Event()
        self._calls.put((fn, done))
        os.write(self._wake_w, b"x")
        done.wait(timeout=5)

    def _drain_calls(self) -> None:
        while not self._calls.empty():
            fn, done = self._calls.get_nowait()
            fn()
            done.set()

    def _plug(self) -> None:
        self._unplug()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # raw from the start: no echo, no line editing
        self._tty = os.ttyname(self._slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._tty)
            tmp.replace(self.link)  # atomic, like udev

    def _unplug(self) -> None:
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1


class PtyModbusSlave(PtyDevice):
    """One or more Modbus RTU slaves behind one simulated adapter.

    `registers` maps slave address -> {(function, register): value}; function 3 holds holding
    registers and 4 input registers. A read touching a register not listed is refused with
    exception 2 (illegal data address), any other function with exception 1.
    """

    def __init__(
        self, registers: Mapping[int, Mapping[tuple[int, int], int]], link: Path | None = None
    ) -> None:
        self.registers = {s: dict(regs) for s, regs in registers.items()}
        self.silent: set[int] = set()  # dead slaves: never answer
        self.delay_s: dict[int, float] = {}  # slow slaves: answer after this long
        self.corrupt_crc = 0  # damage the CRC of this many next replies
        self.noise_before = b""  # bytes sent before every reply (a transceiver glitch)
        self.requests: Counter[int] = Counter()  # requests seen per slave address
        self._framer = FramerRTU(DecodePDU(is_server=True))
        self._buf = b""
        self._last_rx = 0.0
        self._lock = threading.Lock()
        super().__init__(link)

    def set(self, slave: int, function: int, register: int, value: int) -> None:
        with self._lock:
            self.registers.setdefault(slave, {})[(function, register)] = value & 0xFFFF

    def on_bytes(self, data: bytes) -> None:
        now = time.monotonic()
        if now - self._last_rx > FRAME_SILENCE_S:
            self._buf = b""  # like a real slave: silence on the line ends any partial frame
        self._last_rx = now
        self._buf += data
        while self._buf:
            try:
                used, pdu = self._framer.handleFrame(self._buf, 0, 0)
            except Exception:  # pymodbus raises on undecodable frames: drop what we hold
                used, pdu = len(self._buf), None
            if not used:
                return  # wait for the rest of the frame
            self._buf = self._buf[used:]
            if pdu is not None:
                self._answer(pdu)

    def _answer(self, request: ModbusPDU) -> None:
        slave = request.dev_id
        self.requests[slave] += 1
        if slave not in self.registers or slave in self.silent:
            return  # nobody at that address, or a dead device: silence on the wire
        frame = self._framer.buildFrame(self._reply(request))
        if self.corrupt_crc > 0:
            self.corrupt_crc -= 1
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        if self.delay_s.get(slave):  # the other slaves are separate devices: they go on
            threading.Timer(self.delay_s[slave], self.send, (self.noise_before + frame,)).start()
            return
        self.send(self.noise_before + frame)

    def _reply(self, request: ModbusPDU) -> ModbusPDU:
        fc, slave = request.function_code, request.dev_id
        if fc not in (3, 4):
            return ExceptionResponse(fc, ILLEGAL_FUNCTION, device_id=slave)
        with self._lock:
            regs = self.registers[slave]
            keys = [(fc, request.address + i) for i in range(request.count)]
            if any(k not in regs for k in keys):
                return ExceptionResponse(fc, ILLEGAL_ADDRESS, device_id=slave)
            values = [regs[k] for k in keys]
        cls = ReadHoldingRegistersResponse if fc == 3 else ReadInputRegistersResponse
        return cls(dev_id=slave, registers=values)
