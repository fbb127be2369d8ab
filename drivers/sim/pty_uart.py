"""A Winsen ZE-series / MH-Z19-style UART gas sensor on a pseudo-terminal.

Active mode: a 9-byte frame `FF gas unit decimals concH concL rangeH rangeL cs` every
`interval_s`. Question-and-answer mode: the read command `FF 01 86 00 00 00 00 00 79` is
answered with `FF 86 ...`; the "question mode" command `FF 01 78 41 ...` switches an active
sensor to it, as on a real ZE module. The frame encoding here is written independently of the
gateway's parser on purpose (tests then check one against the other).

Faults on demand: garbage bytes, damaged checksums, frames split into single-byte writes (short
reads), several frames in one write, silence, and unplugging the sensor (see PtyDevice).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from drivers.sim.pty_modbus import PtyDevice

GAS_CODES = {"co": 0x04, "ch2o": 0x17}
UNIT_PPM, UNIT_PPB = 0x03, 0x04
READ = bytes.fromhex("ff0186000000000079")
QA_MODE = bytes.fromhex("ff0178410000000046")
ACTIVE_MODE = bytes.fromhex("ff0178400000000047")


def frame_checksum(body: bytes) -> int:
    """(~(b1 + ... + b7) + 1) & 0xFF over bytes 1..7 of a frame."""
    total = 0
    for b in body[1:8]:
        total = (total + b) & 0xFF
    return (0x100 - total) & 0xFF


def finish(body: bytes) -> bytes:
    return body[:8] + bytes([frame_checksum(body)])


class PtyUartSensor(PtyDevice):
    """One sensor module. `counts` is the raw concentration (value * 10**decimals)."""

    def __init__(
        self,
        gas: str = "co",
        *,
        mode: str = "active",
        interval_s: float = 0.05,
        counts: int = 37,
        decimals: int = 1,
        unit: int = UNIT_PPM,
        full_range: int = 5000,
        link: Path | None = None,
    ) -> None:
        self.gas_code = GAS_CODES[gas]
        self.mode = mode
        self.interval_s = interval_s
        self.tick_s = interval_s
        self.counts, self.decimals, self.unit, self.full_range = counts, decimals, unit, full_range
        self.temperature_c = 25  # for MH-Z19-style QA replies (byte 4 = °C + 40)
        self.quiet = False  # sends nothing, answers nothing
        self.corrupt = 0  # damage the checksum of this many next frames
        self.dribble = False  # write frames one byte at a time (short reads on the other end)
        self.burst = 1  # frames per active upload, written at once (concatenated frames)
        self.sent = 0
        self.questions = 0
        self._rx = b""
        self._lock = threading.Lock()
        super().__init__(link)

    def active_frame(self) -> bytes:
        c, r = self.counts & 0xFFFF, self.full_range & 0xFFFF
        body = bytes(
            [0xFF, self.gas_code, self.unit, self.decimals, c >> 8, c & 0xFF, r >> 8, r & 0xFF]
        )
        return finish(body)

    def qa_frame(self) -> bytes:
        """ZE07 layout (concentration at bytes 2-3, ZE08 also at 6-7; MH-Z19 °C+40 at 4)."""
        c = self.counts & 0xFFFF
        body = bytes(
            [0xFF, 0x86, c >> 8, c & 0xFF, (self.temperature_c + 40) & 0xFF, 0, c >> 8, c & 0xFF]
        )
        return finish(body)

    def on_tick(self) -> None:
        if self.mode == "active" and not self.quiet:
            self._emit(b"".join(self.active_frame() for _ in range(self.burst)))

    def on_bytes(self, data: bytes) -> None:
        self._rx = (self._rx + data)[-64:]
        while len(self._rx) >= 9:
            at = self._rx.find(b"\xff\x01")
            if at < 0 or len(self._rx) - at < 9:
                self._rx = self._rx[at:] if at >= 0 else b""
                return
            command, self._rx = self._rx[at : at + 9], self._rx[at + 9 :]
            self._command(command)

    def _command(self, command: bytes) -> None:
        if command[8] != frame_checksum(command):
            return  # a real module ignores a damaged command
        if command == QA_MODE:
            self.mode = "qa"
        elif command == ACTIVE_MODE:
            self.mode = "active"
        elif command == READ and not self.quiet:
            self.questions += 1
            self._emit(self.qa_frame())

    def _emit(self, data: bytes) -> None:
        with self._lock:
            if self.corrupt > 0:
                self.corrupt -= 1
                data = data[:8] + bytes([data[8] ^ 0x01]) + data[9:]
            self.sent += len(data) // 9
        if not self.dribble:
            self.send(data)
            return
        for i in range(len(data)):
            self.send(data[i : i + 1])
            time.sleep(0.001)
