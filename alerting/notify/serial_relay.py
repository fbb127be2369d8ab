"""A siren relay on a serial port, switched with Modbus RTU "write single coil" (function 05).

Why Modbus and not a byte protocol of our own: the RS-485 relay modules sold for this job and
every PLC already speak it, the frame carries an address (several modules on one bus) and a CRC,
and the module answers with an echo, so a delivery is confirmed, not hoped for.

Request and answer (8 bytes each, CRC-16/Modbus low byte first; the answer echoes the request):
    [device_id] 05 [coil hi] [coil lo] FF 00 [crc lo] [crc hi]    coil on  (siren sounds)
    [device_id] 05 [coil hi] [coil lo] 00 00 [crc lo] [crc hi]    coil off (silenced)
An exception answer is [device_id] 85 [code] [crc lo] [crc hi]: codes 1-3 (function, address or
value refused) are configuration errors and not retried; 4-6 (device failure, busy) are.
No answer within the timeout, a bad CRC or a wrong echo is retryable.

A drill switches `drill_coil` (a lamp or tone wired as "DRILL") when one is configured, so the
relay too says it is a drill. Zones may share a coil: it is switched off only when the last of its
zones is silenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping

import serial

from alerting.notify import Notification, NotifyError

WRITE_COIL = 0x05
ON, OFF = 0xFF00, 0x0000
NOT_RETRYABLE = {1: "illegal function", 2: "illegal coil address", 3: "illegal value"}
RETRYABLE = {4: "device failure", 5: "acknowledge (busy)", 6: "device busy"}


def crc16(data: bytes) -> int:
    """CRC-16/Modbus: reflected polynomial 0xA001, initial 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: bytes) -> bytes:
    crc = crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def write_coil_frame(device_id: int, coil: int, on: bool) -> bytes:
    value = ON if on else OFF
    return with_crc(
        bytes((device_id, WRITE_COIL, coil >> 8, coil & 0xFF, value >> 8, value & 0xFF))
    )


def check_answer(request: bytes, answer: bytes, where: str) -> None:
    """Raise NotifyError unless `answer` confirms `request`."""
    if len(answer) >= 5 and answer[1] == WRITE_COIL | 0x80 and with_crc(answer[:3]) == answer[:5]:
        code = answer[2]
        if code in NOT_RETRYABLE:
            raise NotifyError(f"{where}: refused: {NOT_RETRYABLE[code]}", retryable=False)
        raise NotifyError(f"{where}: {RETRYABLE.get(code, f'exception {code}')}", retryable=True)
    if not answer:
        raise NotifyError(f"{where}: no answer", retryable=True)
    if answer != request:
        raise NotifyError(f"{where}: bad answer {answer.hex(' ')}", retryable=True)


class SerialRelayNotifier:
    def __init__(
        self,
        *,
        name: str = "serial_relay",
        port: str,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        device_id: int = 1,
        coil: int = 0,
        zone_coils: Mapping[str, int] | None = None,
        drill_coil: int | None = None,
        timeout_s: float = 1.0,
    ) -> None:
        self.name, self.port, self.device_id = name, port, device_id
        self.serial_args = {"baudrate": baudrate, "parity": parity, "stopbits": stopbits}
        self.coil, self.zone_coils, self.drill_coil = coil, dict(zone_coils or {}), drill_coil
        self.timeout_s = timeout_s
        self._serial: serial.Serial | None = None
        self._io = threading.Lock()  # a timed-out attempt's thread may still hold the port
        self._on: dict[int, set[str]] = {}  # coil -> zones sounding on it

    def coil_for(self, zone: str, drill: bool) -> int:
        if drill and self.drill_coil is not None:
            return self.drill_coil
        return self.zone_coils.get(zone, self.coil)

    async def send(self, notification: Notification) -> None:
        coil = self.coil_for(notification.zone, notification.drill)
        await self._write(coil, True)
        self._on.setdefault(coil, set()).add(notification.zone)

    async def silence(self, zone: str) -> None:
        # After a restart the module may still be on: switch off even a coil we never switched on.
        coils = {self.coil_for(zone, False)} | {c for c, zones in self._on.items() if zone in zones}
        if self.drill_coil is not None:
            coils.add(self.drill_coil)
        for coil in sorted(coils):
            others = self._on.get(coil, set()) - {zone}
            if not others:
                await self._write(coil, False)
            self._on[coil] = others

    async def _write(self, coil: int, on: bool) -> None:
        frame = write_coil_frame(self.device_id, coil, on)
        where = f"relay {self.port} #{self.device_id} coil {coil} {'on' if on else 'off'}"
        answer = await asyncio.to_thread(self._transact, frame, where)
        check_answer(frame, answer, where)

    def _transact(self, frame: bytes, where: str) -> bytes:
        """One request and its answer (worker thread)."""
        with self._io:
            try:
                port = self._open()
                port.reset_input_buffer()
                port.write(frame)
                port.flush()
                answer: bytes = port.read(5)  # an exception answer is 5 bytes long
                if len(answer) == 5 and not answer[1] & 0x80:
                    answer += port.read(3)
                return answer
            except (serial.SerialException, OSError) as exc:
                self._close()
                raise NotifyError(f"{where}: {exc}", retryable=True) from None

    def _open(self) -> serial.Serial:
        if self._serial is None:
            self._serial = serial.Serial(
                self.port, bytesize=8, timeout=self.timeout_s, write_timeout=self.timeout_s,
                **self.serial_args,
            )  # fmt: skip
        return self._serial

    def _close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._locked_close)

    def _locked_close(self) -> None:
        with self._io:
            self._close()
