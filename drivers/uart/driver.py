"""The UART sensor reader: one port, one sensor module, active-upload or question-and-answer.

Every good frame becomes one batch (the module's points that frame carries). Garbage, bad
checksums and frames this model cannot use are counted in `status.errors` and per device in
`device_errors`. A port that fails is closed and reopened with backoff by the driver itself
(`status.connected` False meanwhile); `batches()` never raises for it. A module that stays
quiet while the port is fine puts its devices into `status.failing`.

Time: questions, silence and reopen backoff run on the injected clock; the wait for the bytes of
a reply is physical and runs on the event loop's time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Self

from drivers.base import Binding, DriverStatus
from drivers.serial_link import SerialLink, port_lost, reopen
from drivers.uart.config import UartDriverConfig
from drivers.uart.frames import (
    MODELS,
    POINTS,
    QA_MODE_COMMAND,
    READ_COMMAND,
    FrameParser,
    UartModel,
    decode,
)
from gateway.clock import Clock
from gateway.errors import ConfigError, ConfigIssue, DriverError
from gateway.model import ReadingBatch

log = logging.getLogger(__name__)
ACTIVE_WAIT_S = 1.0  # how long one read waits in active mode before checking for silence


def bind_model(bindings: Sequence[Binding], where: str) -> tuple[UartModel, list[Binding]]:
    """The port's sensor model (the devices' profile) and the bindings; every problem named."""
    issues = [ConfigIssue(where, key, None, problem) for key, problem in _problems(bindings)]
    if issues:
        raise ConfigError(issues)
    return MODELS[bindings[0].profile], list(bindings)


def _problems(bindings: Sequence[Binding]) -> Iterator[tuple[str, str]]:
    if not bindings:
        yield "devices", "no device uses this driver"
    for b in bindings:
        if b.profile not in MODELS:
            yield f"devices.{b.device}", f"profile: {b.profile!r} is not one of {', '.join(MODELS)}"
        elif (b.point or "gas") not in POINTS:
            yield f"devices.{b.device}", f"point: {b.point!r} is not one of {', '.join(POINTS)}"
    models = sorted({b.profile for b in bindings})
    if len(models) > 1:
        yield "devices", f"one port carries one sensor module, not profiles {models}"


class UartDriver:
    def __init__(self, cfg: UartDriverConfig, bindings: Sequence[Binding], *, clock: Clock) -> None:
        self.name = cfg.id
        self.produced = 0
        self.status = DriverStatus()
        self.cfg, self._clock = cfg, clock
        self.model, self._bindings = bind_model(bindings, f"drivers.{cfg.id}")
        self.device_errors: dict[str, Counter[str]] = {b.device: Counter() for b in bindings}
        self.parser = FrameParser()
        self._link = SerialLink(
            cfg.port,
            baudrate=cfg.baudrate,
            bytesize=cfg.bytesize,
            parity=cfg.parity,
            stopbits=cfg.stopbits,
        )
        self._last_good = 0.0  # clock.monotonic() of the last good frame (or of opening)
        self._next_ask = 0.0  # qa: clock.monotonic() of the next question
        self._seen: Counter[str] = Counter()  # parser rejections already copied into status

    async def __aenter__(self) -> Self:
        try:
            self._open()
        except DriverError as exc:
            log.warning("%s: %s; retrying with backoff", self.name, exc)
            self._port_lost(exc)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._link.close()

    async def batches(self) -> AsyncIterator[ReadingBatch]:
        while True:
            if not self._link.is_open:
                await self._reopen()
            try:
                if self.cfg.mode == "qa":
                    batch = await self._ask()
                else:
                    batch = self._frames_to_batch(await self._link.read(ACTIVE_WAIT_S))
            except DriverError as exc:
                self._port_lost(exc)
                continue
            self._check_silence()
            if len(batch):
                self.produced += len(batch)
                yield batch

    async def _ask(self) -> ReadingBatch:
        """Question-and-answer: one question per poll interval, its answer as a batch."""
        wait = self._next_ask - self._clock.monotonic()
        if wait > 0:
            await self._clock.sleep(wait)
        self._next_ask = max(self._next_ask, self._clock.monotonic()) + self.cfg.poll_interval_s
        self._link.discard_input()
        self._link.write(READ_COMMAND)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.reply_timeout_s
        batch = ReadingBatch.empty()
        while not len(batch) and (remaining := deadline - loop.time()) > 0:
            batch = self._frames_to_batch(await self._link.read(remaining))
        if not len(batch):
            self._count("timeout", "no answer to the read command")
        return batch

    def _frames_to_batch(self, data: bytes) -> ReadingBatch:
        frames = self.parser.feed(data) if data else []
        for reason, n in (self.parser.rejected - self._seen).items():
            self._count(reason, f"{n} rejected", n)
        self._seen = self.parser.rejected.copy()
        sensors: list[int] = []
        values: list[float] = []
        qualities: list[int] = []
        for frame in frames:
            decoded = decode(frame, self.model)
            if isinstance(decoded, str):
                self._count(decoded, f"frame {frame.hex(' ')}")
                continue
            self._on_good_frame()
            for b in self._bindings:
                value = decoded.values.get(b.point or "gas")
                if value is not None:
                    sensors.append(b.index)
                    values.append(value)
                    qualities.append(int(decoded.quality))
        ts = self._clock.wall_ns()
        return ReadingBatch.of(sensors, values, [ts] * len(sensors), qualities)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _count(self, reason: str, what: str, n: int = 1) -> None:
        self.status.errors[reason] += n
        self.status.last_error = f"{reason}: {what}"
        for counter in self.device_errors.values():
            counter[reason] += n

    def _on_good_frame(self) -> None:
        self._last_good = self._clock.monotonic()
        if self.status.failing:
            log.info("%s: %s talks again", self.name, self.model.name)
            self.status.failing.clear()

    def _check_silence(self) -> None:
        quiet = self._clock.monotonic() - self._last_good
        if quiet >= self.cfg.failing_after_s and not self.status.failing:
            log.warning(
                "%s: no good frame for %.0f s (%s)",
                self.name,
                quiet,
                self.status.last_error or "silent",
            )
            self.status.failing.update(self.device_errors)

    def _open(self) -> None:
        self._link.open()
        self._last_good = self._clock.monotonic()
        self.status.connected = True
        log.info(
            "%s: %s open (%s, %s mode)", self.name, self.cfg.port, self.model.name, self.cfg.mode
        )
        if self.cfg.mode == "qa" and self.cfg.switch_to_qa:
            self._link.write(QA_MODE_COMMAND)

    def _port_lost(self, exc: DriverError) -> None:
        port_lost(self._link, self.status, self.name, exc)

    async def _reopen(self) -> None:
        await reopen(self._open, self.status, self._clock, self.cfg.reopen_max_s)
