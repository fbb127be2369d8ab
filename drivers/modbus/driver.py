"""The bus poller: one task per RS-485 bus, one request at a time.

Each cycle visits every slave that is not quarantined, sends the reads its plan needs, and
yields one batch per slave as soon as that slave is done. A slave that stops answering is
quarantined after `failures_before_quarantine` cycles (its devices go into `status.failing`) and
only probed again after a doubling backoff, so it costs one timeout per backoff, not one per
cycle. When the port itself fails the driver closes it, reports `connected = False` and reopens
it with backoff on its own; `batches()` never raises for a bus fault.

Time: poll cycles, quarantine and reopen backoff run on the injected clock (gateway time);
the inter-frame gap and reply timeouts are physical properties of the wire and run on the event
loop's own time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from drivers.base import Binding, DriverStatus
from drivers.modbus.config import ModbusRtuDriverConfig
from drivers.modbus.decode import decode_point
from drivers.modbus.health import SlaveHealth
from drivers.modbus.plan import ReadOp, SlavePlan, bind_points, plan_reads
from drivers.modbus.profile import DEFAULT_PROFILES_DIR, load_profile
from drivers.modbus.rtu import (
    Reply,
    ReplyKind,
    frame_gap_seconds,
    parse_reply,
    read_request,
    reply_length,
    wire_seconds,
)
from drivers.serial_link import SerialLink, port_lost, reopen
from gateway.clock import Clock
from gateway.errors import DriverError
from gateway.model import ReadingBatch

log = logging.getLogger(__name__)


def reason_of(reply: Reply, received: int) -> str:
    """The error counter a finished transaction adds to ("" for a good reply)."""
    if reply.kind is ReplyKind.REGISTERS:
        return ""
    if reply.kind is ReplyKind.EXCEPTION:
        return "exception"
    if not received:
        return "timeout"
    return "crc" if reply.crc_failed else "garbage"


class ModbusRtuDriver:
    def __init__(
        self,
        cfg: ModbusRtuDriverConfig,
        bindings: Sequence[Binding],
        *,
        clock: Clock,
        profiles_dir: Path | None = None,
    ) -> None:
        self.name = cfg.id
        self.produced = 0
        self.transactions = 0
        self.status = DriverStatus()
        self.device_errors: dict[str, Counter[str]] = {b.device: Counter() for b in bindings}
        self.cfg, self._clock = cfg, clock
        directory = profiles_dir or cfg.profiles_dir or DEFAULT_PROFILES_DIR
        names = sorted({b.profile for b in bindings if b.profile})
        profiles = {name: load_profile(name, directory) for name in names}
        points, by_slave = bind_points(bindings, profiles, f"drivers.{cfg.id}")
        self.plans: tuple[SlavePlan, ...] = plan_reads(points, by_slave, cfg.max_registers_per_read)
        self._health = {
            p.slave: SlaveHealth(
                cfg.failures_before_quarantine, cfg.poll_interval_s, cfg.quarantine_max_s
            )
            for p in self.plans
        }
        self._link = SerialLink(
            cfg.port, baudrate=cfg.baudrate, bytesize=cfg.bytesize, parity=cfg.parity,
            stopbits=cfg.stopbits,
        )  # fmt: skip
        gap = cfg.inter_frame_gap_s
        self._gap_s = frame_gap_seconds(cfg.baudrate) if gap is None else gap
        self._quiet_since = 0.0  # loop time the bus last fell silent
        self._silent = False  # every slave quarantined: the bus counts as down
        self._refused: set[ReadOp] = set()  # reads answered with an exception (logged once)

    async def __aenter__(self) -> Self:
        try:
            self._open()
        except DriverError as exc:
            log.warning("%s: %s; retrying with backoff", self.name, exc)
            self._port_lost(exc)  # batches() keeps trying; a missing adapter is a bus fault
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._link.close()

    async def batches(self) -> AsyncIterator[ReadingBatch]:
        interval = self.cfg.poll_interval_s
        next_cycle = self._clock.monotonic()
        while True:
            if not self._link.is_open:
                await self._reopen()
                next_cycle = self._clock.monotonic()
            for plan in self.plans:
                if not self._health[plan.slave].due(self._clock.monotonic()):
                    continue
                try:
                    batch = await self._poll_slave(plan)
                except DriverError as exc:
                    self._port_lost(exc)
                    break
                if len(batch):
                    self.produced += len(batch)
                    yield batch
            if not self._link.is_open:
                continue  # straight to reopening
            next_cycle += interval
            wait = next_cycle - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            else:
                self.status.errors["cycle_overrun"] += 1
                next_cycle = self._clock.monotonic()

    # --- one slave -----------------------------------------------------------------------------

    async def _poll_slave(self, plan: SlavePlan) -> ReadingBatch:
        image: dict[tuple[int, int], int] = {}
        answered = True
        for op in plan.reads:
            reply, reason = await self._transact(op)
            what = f"slave {op.slave} fc{op.function} @{op.start}"
            if reply.crc_failed and reason != "crc":
                self._count(plan, "crc", what)  # a damaged frame came before the good one
            if reason:
                self._count(plan, reason, what)
            if reply.kind is ReplyKind.REGISTERS:
                image.update(
                    {(op.function, op.start + i): w for i, w in enumerate(reply.registers)}
                )
                self._refused.discard(op)
            elif reply.kind is ReplyKind.EXCEPTION:
                self._on_refused(op, reply.exception_code)
            else:
                answered = False
                break  # a silent slave costs one timeout per cycle, not one per read
        self._record_health(plan, answered)
        return self._decode(plan, image, self._clock.wall_ns())

    async def _transact(self, op: ReadOp) -> tuple[Reply, str]:
        loop = asyncio.get_running_loop()
        wait = self._quiet_since + self._gap_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if self._link.discard_input():
            self.status.errors["late_reply"] += 1  # a slow slave answered after its timeout
        request = read_request(op.slave, op.function, op.start, op.count)
        self._link.write(request)
        self.transactions += 1
        wire = wire_seconds(len(request) + reply_length(op.count), self.cfg.baudrate)
        deadline = loop.time() + wire + self.cfg.request_timeout_s
        buf, reply = b"", Reply(ReplyKind.INCOMPLETE)
        while True:
            remaining = deadline - loop.time()
            if reply.kind is ReplyKind.CRC:
                remaining = min(remaining, self._gap_s)  # only a trailing frame can help
            chunk = await self._link.read(remaining) if remaining > 0 else b""
            if not chunk:
                break
            buf += chunk
            reply = parse_reply(buf, op.slave, op.function, op.count)
            if reply.kind in (ReplyKind.REGISTERS, ReplyKind.EXCEPTION):
                break
        self._quiet_since = loop.time()
        return reply, reason_of(reply, len(buf))

    def _decode(self, plan: SlavePlan, image: dict[tuple[int, int], int], ts: int) -> ReadingBatch:
        sensors, values, qualities = [], [], []
        for p in plan.points:
            decoded = decode_point(p.point, p.status, image)
            if decoded is None:
                continue
            if decoded.problem:
                self._count(plan, "decode", f"{p.device}: {decoded.problem}", devices=[p.device])
            sensors.append(p.index)
            values.append(decoded.value)
            qualities.append(int(decoded.quality))
        return ReadingBatch.of(sensors, values, [ts] * len(sensors), qualities)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _count(
        self, plan: SlavePlan, reason: str, what: str, devices: Sequence[str] | None = None
    ) -> None:
        self.status.errors[reason] += 1
        self.status.last_error = f"{reason}: {what}"
        for device in plan.devices if devices is None else devices:
            self.device_errors[device][reason] += 1

    def _on_refused(self, op: ReadOp, code: int) -> None:
        if op not in self._refused:
            self._refused.add(op)
            log.warning(
                "%s: slave %d refused fc%d registers %d-%d with exception %d (check its profile)",
                self.name, op.slave, op.function, op.start, op.start + op.count - 1, code,
            )  # fmt: skip

    def _record_health(self, plan: SlavePlan, answered: bool) -> None:
        health = self._health[plan.slave]
        if answered:
            if health.succeeded():
                log.info("%s: slave %d answers again", self.name, plan.slave)
                self.status.failing.difference_update(plan.devices)
        elif health.failed(self._clock.monotonic()):
            log.warning(
                "%s: slave %d quarantined after %d silent cycles (%s); next probe in %.3g s",
                self.name, plan.slave, health.failures, self.status.last_error, health.backoff_s,
            )  # fmt: skip
            self.status.failing.update(plan.devices)
        self._update_connected()

    def _update_connected(self) -> None:
        """With two or more slaves, all of them silent means the bus itself is down (cable,
        adapter or line settings): one bus fault instead of one fault per device."""
        silent = len(self._health) >= 2 and all(h.quarantined for h in self._health.values())
        if silent != self._silent:
            self._silent = silent
            if silent:
                log.warning("%s: no slave answers on %s: bus down", self.name, self.cfg.port)
            else:
                log.info("%s: slaves answer again on %s", self.name, self.cfg.port)
        self.status.connected = self._link.is_open and not silent

    def _open(self) -> None:
        self._link.open()
        self._quiet_since = 0.0
        self._update_connected()
        log.info("%s: %s open", self.name, self.cfg.port)

    def _port_lost(self, exc: DriverError) -> None:
        port_lost(self._link, self.status, self.name, exc)

    async def _reopen(self) -> None:
        await reopen(self._open, self.status, self._clock, self.cfg.reopen_max_s)
