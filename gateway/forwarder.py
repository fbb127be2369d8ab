"""The forwarder: moves lines from the outbox to a sink, batch by batch (asyncio).

A batch is taken (events first), written in a thread, then settled: delivered lines leave the
outbox, lines the server refused as malformed leave it counted. On a retryable failure the batch
stays in the outbox and is taken again after an exponential backoff with jitter (or the server's
Retry-After), so nothing is lost and nothing accepted is sent twice. A fatal failure (credentials,
missing database) stops the forwarder with one clear log line instead of spinning; the outbox
keeps buffering within its bound until an operator fixes the configuration and restarts.

Pipelining: while a full batch of telemetry is being written, the next one is taken (after the
last row in flight, `Outbox.take_batch`) and the previous one settled, so SQLite and HTTP overlap
(bench/outbox_drain.py measures it). Every take starts with the events not in flight, so an alarm
never waits behind a telemetry backlog.

Retention (`max_age_s`): telemetry acquired longer ago than the sink keeps it (the bucket's or
retention policy's duration) is dropped from the outbox before it is sent, in chunks, counted as
`expired` by the outbox and logged once per episode: a long outage then costs the lines the server
would refuse anyway, not endless retries of them. Events are never dropped by age: they are few, the
server is the judge of its retention, and a refused event is counted as rejected and logged.

Failures are logged once per episode and recovery once, like Home Assistant's coordinators.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from enum import StrEnum
from functools import partial
from typing import Protocol, TypeVar

from gateway.clock import NS_PER_S, Clock
from gateway.errors import SinkError
from gateway.influx import Sink, WriteResult
from gateway.outbox import Batch, DropReason, Outbox, OutboxError

log = logging.getLogger(__name__)

T = TypeVar("T")

_FIRST_BACKOFF_S = 0.5
_MAX_RETRY_AFTER_S = 3600.0  # a bogus Retry-After must not park the forwarder for days
_EXPIRE_EVERY_S = 10.0  # how often old telemetry is looked for: each time removes little
_EXPIRE_CHUNK = 50_000  # lines per purge transaction: the SQLite worker is shared with the engine


class RunDb(Protocol):
    """Runs a blocking callable on the daemon's single SQLite worker and awaits its result.

    A Protocol rather than `Callable[[Callable[[], T]], Awaitable[T]]`: the forwarder calls it
    with callables of different result types, so T must be bound per call, not per forwarder.
    """

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


class ForwarderState(StrEnum):
    IDLE = "idle"
    SENDING = "sending"
    BACKING_OFF = "backing_off"
    STOPPED_FATAL = "stopped_fatal"


def backoff_delay(
    failures: int, max_backoff_s: float, retry_after: float | None, rand: random.Random
) -> float:
    """Seconds to wait after the `failures`-th failure in a row (1-based).

    The server's Retry-After wins when given; otherwise 0.5 s doubling up to `max_backoff_s`,
    scaled by a random factor in [0.5, 1] so gateways that lost the same server do not return
    in step.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), _MAX_RETRY_AFTER_S)
    ceiling = min(max_backoff_s, _FIRST_BACKOFF_S * 2.0 ** min(failures - 1, 30))
    return ceiling * rand.uniform(0.5, 1.0)


class Forwarder:
    """Outbox -> sink. `run` until cancelled; `drain` at shutdown (never both at once)."""

    def __init__(
        self,
        outbox: Outbox,
        sink: Sink,
        *,
        run_db: RunDb,
        clock: Clock,
        batch_size: int = 5000,
        idle_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_age_s: float | None = None,
        pipeline: bool = True,
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        if max_age_s is not None and max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        self.outbox = outbox
        self.sink = sink
        self.batch_size = batch_size
        self.idle_s = idle_s
        self.max_backoff_s = max_backoff_s
        self.max_age_s = max_age_s
        self.pipeline = pipeline
        self._run_db = run_db
        self._clock = clock
        self._rand = random.Random()  # noqa: S311  # jitter, not cryptography
        self.state = ForwarderState.IDLE
        self.sent = 0
        self.rejected = 0
        self.expired = 0
        self.last_error: str | None = None
        self._failures = 0  # failures in a row; 0 when the last attempt succeeded
        self._last_success: float | None = None  # clock.monotonic() of the last write accepted
        self._next_expiry = float("-inf")
        self._expiring = False  # inside an expiry episode: warn once

    def health_fields(self) -> dict[str, int | float | str]:
        """`gateway_health` fields (docs/schema.md); ages in seconds, -1 before any success."""
        since = self._last_success
        return {
            "forwarder_state": self.state.value,
            "forwarder_sent": self.sent,
            "forwarder_rejected": self.rejected,
            "forwarder_expired": self.expired,
            "forwarder_failures": self._failures,
            "forwarder_last_success_age_s": (
                -1.0 if since is None else round(self._clock.monotonic() - since, 3)
            ),
        }

    async def run(self) -> None:
        """Forward until cancelled, or until a fatal sink error (state STOPPED_FATAL)."""
        while self.state is not ForwarderState.STOPPED_FATAL:
            try:
                moved = await self._forward()
            except SinkError as exc:
                if self._stop_if_fatal(exc):
                    return
                await self._back_off(str(exc), exc.retry_after)
            except OutboxError as exc:  # disk trouble: the pipeline reports it; keep trying
                await self._back_off(str(exc), None)
            else:
                if not moved:
                    self.state = ForwarderState.IDLE
                    await self._clock.sleep(self.idle_s)

    async def drain(self, timeout_s: float) -> None:
        """Send what is held until empty, the first failure, or `timeout_s` (shutdown)."""
        if self.state is ForwarderState.STOPPED_FATAL:
            return
        try:
            async with asyncio.timeout(timeout_s):
                while await self._forward():
                    pass
            self.state = ForwarderState.IDLE
        except TimeoutError:
            log.warning("forwarder: shutdown drain stopped after %.1f s", timeout_s)
        except SinkError as exc:
            if not self._stop_if_fatal(exc):
                self.last_error = str(exc)
                log.warning("forwarder: shutdown drain stopped: %s", exc)
        except OutboxError as exc:
            self.last_error = str(exc)
            log.warning("forwarder: shutdown drain stopped: %s", exc)

    async def _forward(self) -> int:
        """Forward batches until one is not a full batch of telemetry; returns the items moved.

        Pipelined: the next batch is taken while this one is written, and this one is settled
        while the next is written (SQLite work runs on its worker, HTTP in a thread).
        """
        await self._expire_if_due()
        batch = await self._run_db(lambda: self.outbox.take_batch(self.batch_size))
        moved = 0
        settling: asyncio.Future[None] | None = None
        try:
            while batch:
                self.state = ForwarderState.SENDING
                write = asyncio.ensure_future(asyncio.to_thread(self.sink.write, batch.lines))
                following = self._take_following(batch)
                try:
                    result = await write
                except BaseException:
                    if following is not None:
                        await _cancel(following)
                    raise
                if settling is not None:
                    await settling
                refused = _refused(batch, result)
                settling = asyncio.ensure_future(
                    self._run_db(partial(self.outbox.settle_batch, batch, refused))
                )
                self._record_success(batch, refused)
                moved += len(batch)
                batch = await following if following is not None else Batch([], [], [], 0)
        finally:
            if settling is not None:
                await _finish(settling)
        return moved

    def _take_following(self, batch: Batch) -> asyncio.Future[Batch] | None:
        """Start taking the batch after `batch`, if it was full and reached the telemetry lane
        (then every event held at its take is in it, and later events have higher ids)."""
        if not self.pipeline or len(batch) < self.batch_size or batch.events == len(batch):
            return None
        after, above = (batch.ts_ns[-1], batch.ids[-1]), batch.high_id
        return asyncio.ensure_future(
            self._run_db(
                lambda: self.outbox.take_batch(self.batch_size, after=after, events_above=above)
            )
        )

    async def _expire_if_due(self) -> None:
        """Drop telemetry older than `max_age_s`, every `_EXPIRE_EVERY_S`, in chunks."""
        now = self._clock.monotonic()
        if self.max_age_s is None or now < self._next_expiry:
            return
        self._next_expiry = now + _EXPIRE_EVERY_S
        cutoff = self._clock.wall_ns() - int(self.max_age_s * NS_PER_S)
        removed = chunk = _EXPIRE_CHUNK
        while chunk == _EXPIRE_CHUNK:  # one transaction per chunk: the engine gets turns between
            chunk = await self._run_db(
                lambda: self.outbox.purge_older_than(
                    cutoff, reason=DropReason.EXPIRED, limit=_EXPIRE_CHUNK
                )
            )
            removed += chunk
        removed -= _EXPIRE_CHUNK
        self.expired += removed
        if removed and not self._expiring:
            log.warning(
                "forwarder: dropped %d telemetry line(s) acquired over %.0f s ago (max_age_s): "
                "the server would not keep them; counted as expired",
                removed,
                self.max_age_s,
            )
        elif removed:
            log.debug("forwarder: %d more telemetry line(s) expired", removed)
        self._expiring = bool(removed)

    def _record_success(self, batch: Batch, refused: dict[int, int]) -> None:
        self._last_success = self._clock.monotonic()
        self.sent += len(batch) - len(refused)
        self.rejected += len(refused)
        if refused:
            log.warning(
                "forwarder: %s refused %d line(s) (malformed, field type conflict or beyond "
                "retention), dropped and counted; first: %.200s",
                self.sink.name,
                len(refused),
                batch.lines[next(iter(refused.values()))],
            )
        if self._failures:
            log.info(
                "forwarder: %s accepts writes again after %d failed attempt(s)",
                self.sink.name,
                self._failures,
            )
            self._failures = 0

    def _stop_if_fatal(self, exc: SinkError) -> bool:
        # a non-retryable error that is not marked fatal cannot be helped by retrying either
        if not (exc.fatal or not exc.retryable):
            return False
        self.state = ForwarderState.STOPPED_FATAL
        self.last_error = str(exc)
        log.error(
            "forwarder: stopped, %s cannot accept telemetry until the configuration is fixed: "
            "%s; the outbox keeps buffering (events in full, telemetry within its bound)",
            self.sink.name,
            exc,
        )
        return True

    async def _back_off(self, error: str, retry_after: float | None) -> None:
        self._failures += 1
        self.last_error = error
        self.state = ForwarderState.BACKING_OFF
        delay = backoff_delay(self._failures, self.max_backoff_s, retry_after, self._rand)
        if self._failures == 1:
            log.warning("forwarder: write failed, keeping the batch and retrying: %s", error)
        else:
            log.debug(
                "forwarder: attempt %d failed, next in %.1f s: %s", self._failures, delay, error
            )
        await self._clock.sleep(delay)


def _refused(batch: Batch, result: WriteResult) -> dict[int, int]:
    """Outbox id -> index in `batch` of each line the server refused."""
    return {batch.ids[i]: i for i in sorted(set(result.rejected)) if 0 <= i < len(batch)}


async def _cancel(future: asyncio.Future[T]) -> None:
    future.cancel()
    await asyncio.gather(future, return_exceptions=True)


async def _finish(settling: asyncio.Future[None]) -> None:
    """Wait for a settle in flight even when cancelled, then let the cancellation go on: a
    caller that cancels the forwarder and reads the outbox must never see delivered lines."""
    try:
        await asyncio.shield(settling)
    except asyncio.CancelledError:
        await settling
        raise
