"""The MQTT driver: one broker session, decoded messages appended into columnar batches.

Hot path (gmqtt's message callback, on the event loop): payload size check, one cached
topic -> decoder lookup, the family's pure decoder, then four list appends per bound point.
`batches()` swaps the lists out every `flush_interval_s` or `batch_max_readings`. When the
consumer falls behind by `max_pending_readings`, the socket is paused: QoS 1 messages wait on
the broker (persistent session) instead of in our memory.

Status:
- `connected`: the broker session is up and no Zigbee2MQTT bridge with bound devices behind it
  reports offline (a dead bridge is one connection-level fault for everything behind it).
- `failing`: devices whose own availability says offline (Zigbee2MQTT availability, Tasmota
  LWT, ESPHome status, Homie $state lost/disconnected, Shelly online false), and bindings that
  cannot be routed (no topic or no point).
- `errors`: connection reasons (connect, tls, refused, timeout, lost, subscribe_refused, deaf,
  bridge_offline) and input reasons (drivers/mqtt/codec.py), never reset.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Self

from drivers.base import Binding, DriverStatus
from drivers.mqtt.client import Link, LinkError
from drivers.mqtt.codec import (
    BAD,
    BAD_TOPIC,
    DECODER_ERROR,
    NOT_FINITE,
    OVERSIZED,
    UNKNOWN_DEVICE,
    UNKNOWN_TOPIC,
    UNTRUSTED_TIME,
    Decoded,
)
from drivers.mqtt.config import MqttDriverConfig
from drivers.mqtt.problems import Problems
from drivers.mqtt.router import Router
from gateway.clock import NS_PER_S, Clock, sleep_unless
from gateway.errors import DriverError
from gateway.model import ReadingBatch

log = logging.getLogger("drivers.mqtt")
STABLE_S = 30.0  # a connection that lived this long resets the backoff
JITTER = 0.2  # +-20 % on every backoff delay, so a fleet does not reconnect in lockstep


class MqttDriver:
    def __init__(self, cfg: MqttDriverConfig, bindings: Sequence[Binding], *, clock: Clock) -> None:
        self.name = cfg.id
        self.produced = 0  # readings yielded
        self.received = 0  # messages delivered by the broker, whatever became of them
        self.status = DriverStatus()
        self.cfg, self._clock = cfg, clock
        self._router = Router(cfg.subscriptions)
        self._problems = Problems(cfg.id, self.status, clock)
        self._routes: dict[str, list[tuple[str, int]]] = {}  # device topic -> (point, index)
        self._devices: dict[str, set[str]] = {}  # device topic -> device ids
        self._unrouted: set[str] = set()
        self._route(bindings)
        self._sensor: list[int] = []
        self._value: list[float] = []
        self._ts: list[int] = []
        self._quality: list[int] = []
        self._has_data = asyncio.Event()
        self._full = asyncio.Event()
        self._modes: dict[str, dict[str, int]] = {}  # device topic -> slot -> quality
        self._floor: dict[str, int] = {}  # device topic -> worst sticky quality
        self._bridges_down: set[str] = set()
        self._link: Link | None = None
        self._link_up = False
        self._task: asyncio.Task[None] | None = None

    def _route(self, bindings: Sequence[Binding]) -> None:
        for b in bindings:
            if not b.topic or not b.point:
                self._unrouted.add(b.device)
                log.error("mqtt %s: device %s needs a topic and a point", self.name, b.device)
                continue
            self._routes.setdefault(b.topic, []).append((b.point, b.index))
            self._devices.setdefault(b.topic, set()).add(b.device)
        self.status.failing.update(self._unrouted)  # fail closed: an unroutable sensor is blind

    # --- lifetime --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=f"mqtt:{self.name}")
        self._task.add_done_callback(lambda _: self._has_data.set())  # batches() reports it
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # closes the link; never raises
            if not task.cancelled():
                task.exception()  # a crash was already raised from batches()
        self._set_link(None)

    async def batches(self) -> AsyncIterator[ReadingBatch]:
        while True:
            await self._has_data.wait()
            self._raise_if_run_ended()
            if len(self._sensor) < self.cfg.batch_max_readings:
                await sleep_unless(self._clock, self._full, self.cfg.flush_interval_s)
            batch = self.take()
            if len(batch):
                yield batch

    def _raise_if_run_ended(self) -> None:
        """The connection loop only ends on a bug: hand it to the supervisor, which restarts."""
        task = self._task
        if task is not None and task.done() and not task.cancelled():
            exc = task.exception()
            raise DriverError(f"mqtt {self.name}: connection loop ended: {exc!r}") from exc

    @property
    def pending(self) -> int:
        """Readings decoded and not yet taken."""
        return len(self._sensor)

    @property
    def paused(self) -> bool:
        """True while the socket is paused because the consumer fell behind."""
        return self._link is not None and self._link.paused

    def take(self) -> ReadingBatch:
        """Everything decoded so far, as one batch; resumes a paused socket."""
        batch = ReadingBatch.of(self._sensor, self._value, self._ts, self._quality)
        self._sensor, self._value, self._ts, self._quality = [], [], [], []
        self._has_data.clear()
        self._full.clear()
        self.produced += len(batch)
        if self._link is not None and self._link.paused:
            self._link.resume_reading()
        return batch

    # --- the connection loop -------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            link = Link(self.cfg, self.deliver, self._problems.count)
            try:
                reason, message, lived_s = await self._session(link)
            finally:
                self._set_link(None)
                await link.close()
            self._down(reason, message, was_up=lived_s > 0)
            if lived_s >= STABLE_S:
                failures = 0
            await self._clock.sleep(self._backoff(failures))
            failures += 1

    async def _session(self, link: Link) -> tuple[str, str, float]:
        """Connect, subscribe and hold; (reason, message, seconds it was up) when it ends."""
        try:
            await link.open()
            await link.subscribe(self._router.filters)
        except LinkError as exc:
            return exc.reason, str(exc), 0.0
        up_since = self._clock.monotonic()
        self._set_link(link)
        reason = await self._hold(link)
        where = f"{self.cfg.host}:{self.cfg.port}"
        message = f"connection to {where} {'lost' if reason == 'lost' else 'deaf: rebuilt'}"
        return reason, message, self._clock.monotonic() - up_since

    async def _hold(self, link: Link) -> str:
        """Wait while the link lives; 'lost' when it dies, 'deaf' when it delivers nothing."""
        cadence = self.cfg.expected_cadence_s
        check_s = 60.0 if cadence is None else min(cadence / 4, 5.0)
        seen, since = self.received, self._clock.monotonic()
        while True:
            if await sleep_unless(self._clock, link.lost, check_s):
                return "lost"
            now = self._clock.monotonic()
            if self.received != seen or link.paused:  # paused by us is not deaf
                seen, since = self.received, now
            elif cadence is not None and now - since > cadence:
                log.warning(
                    "mqtt %s: connected but nothing delivered for %.0f s (expected cadence "
                    "%.0f s): rebuilding the connection", self.name, now - since, cadence,
                )  # fmt: skip
                return "deaf"

    def _backoff(self, failures: int) -> float:
        cfg = self.cfg
        delay = min(cfg.reconnect_max_s, cfg.reconnect_min_s * 2.0 ** min(failures, 30))
        return delay * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - not crypto

    def _set_link(self, link: Link | None) -> None:
        self._link, self._link_up = link, link is not None
        self.status.connected = self._link_up and not self._bridges_down
        if link is not None:
            present = "resumed" if link.session_present else "new"
            log.info(
                "mqtt %s: connected to %s:%d (%s session)",
                self.name, self.cfg.host, self.cfg.port, present,
            )  # fmt: skip

    def _down(self, reason: str, message: str, *, was_up: bool) -> None:
        """Count and log a failure: a lost link or a new reason at WARNING, repeats at DEBUG."""
        self.status.errors[reason] += 1
        edge = was_up or message != self.status.last_error
        log.log(logging.WARNING if edge else logging.DEBUG, "mqtt %s: %s", self.name, message)
        self.status.last_error = message

    # --- the hot path --------------------------------------------------------------------

    def deliver(self, topic: str | bytes, payload: bytes) -> None:
        """One message from the broker (topic as bytes when it is not UTF-8)."""
        self.received += 1
        if not payload:
            return  # how a retained message is deleted: no news about the device
        if len(payload) > self.cfg.max_payload_bytes:
            self._problems.count(OVERSIZED, str(topic), f"{len(payload)} bytes")
            return
        if not isinstance(topic, str):
            self._problems.count(BAD_TOPIC, repr(topic)[:120], "not UTF-8")
            return
        decoder = self._router.decoder_for(topic)
        if decoder is None:
            self._problems.count(UNKNOWN_TOPIC, topic, "matches no subscription")
            return
        try:
            result = decoder(topic, payload)
        except Exception:  # a decoder bug must cost one message, never the driver
            log.exception("mqtt %s: decoder failed on %r", self.name, topic)
            self._problems.count(DECODER_ERROR, topic)
            return
        if isinstance(result, Decoded):
            self._accept(result, topic)
        elif result is not None:
            self._problems.count(result.reason, topic, result.detail)

    def _accept(self, d: Decoded, topic: str) -> None:
        if d.online is not None or d.mode is not None or d.problems:
            self._news(d, topic)
        values = d.values
        if not values:
            return
        route = self._routes.get(d.device)
        if route is None:
            self._problems.count(UNKNOWN_DEVICE, d.device)
            return
        ts = self._clock.wall_ns()
        if d.ts_ns is not None:
            if abs(d.ts_ns - ts) <= self.cfg.max_time_skew_s * NS_PER_S:
                ts = d.ts_ns
            else:
                self._problems.count(UNTRUSTED_TIME, topic)
        quality = max(d.quality, self._floor.get(d.device, 0))
        sensor, value, stamps, qualities = self._sensor, self._value, self._ts, self._quality
        for point, index in route:
            v = values.get(point)
            if v is None:
                continue
            sensor.append(index)
            value.append(v)
            stamps.append(ts)
            if v == v:  # noqa: PLR0124 - the cheapest NaN test on the hot path
                qualities.append(quality)
            else:
                qualities.append(BAD)
                self._problems.count(NOT_FINITE, topic, point)
        self._has_data.set()
        pending = len(sensor)
        if pending >= self.cfg.batch_max_readings:
            self._full.set()
            if pending >= self.cfg.max_pending_readings and self._link is not None:
                self._link.pause_reading()

    # --- what messages say about devices -------------------------------------------------

    def _news(self, d: Decoded, topic: str) -> None:
        for reason in d.problems:
            self._problems.count(reason, topic)
        if d.mode is not None and d.device in self._routes:
            slots = self._modes.setdefault(d.device, {})
            slots[d.mode[0]] = d.mode[1]
            self._floor[d.device] = max(slots.values())
        if d.online is not None:
            if d.bridge:
                self._bridge(d.device, d.online)
            else:
                self._availability(d.device, d.online)

    def _availability(self, device_topic: str, online: bool) -> None:
        devices = self._devices.get(device_topic)
        if not devices:
            return
        before = set(self.status.failing)
        if online:
            self.status.failing.difference_update(devices - self._unrouted)
        else:
            self.status.failing.update(devices)
        if before != self.status.failing:
            log.warning(
                "mqtt %s: %s %s", self.name, ", ".join(sorted(devices)),
                "back online" if online else "offline (the device's availability says so)",
            )  # fmt: skip

    def _bridge(self, base: str, online: bool) -> None:
        if not any(t.startswith(base + "/") for t in self._routes):
            return  # no device of ours behind this bridge
        was_down = base in self._bridges_down
        if online:
            self._bridges_down.discard(base)
        else:
            self._bridges_down.add(base)
        self.status.connected = self._link_up and not self._bridges_down
        if was_down == online:  # an edge
            if not online:
                self.status.errors["bridge_offline"] += 1
                self.status.last_error = f"bridge {base} offline"
            log.warning("mqtt %s: bridge %s %s", self.name, base, "online" if online else "offline")
