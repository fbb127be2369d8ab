"""The forwarder: moves lines from the outbox to a sink, one batch at a time (asyncio).

A batch is taken (events first), written in a thread, then settled: delivered lines leave the
outbox, lines the server refused as malformed leave it counted. On a retryable failure the batch
stays in the outbox and is taken again after an exponential backoff with jitter (or the server's
Retry-After), so nothing is lost and nothing accepted is sent twice. A fatal failure (credentials,
missing database) stops the forwarder with one clear log line instead of spinning; the outbox
keeps buffering within its bound until an operator fixes the configuration and restarts.

Failures are logged once per episode and recovery once, like Home Assistant's coordinators.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol, TypeVar

from gateway.clock import Clock
from gateway.errors import SinkError
from gateway.influx import Sink, WriteResult
from gateway.outbox import Outbox, OutboxError, OutboxItem

log = logging.getLogger(__name__)

T = TypeVar("T")

_FIRST_BACKOFF_S = 0.5
_MAX_RETRY_AFTER_S = 3600.0  # a bogus Retry-After must not park the forwarder for days


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
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.outbox = outbox
        self.sink = sink
        self.batch_size = batch_size
        self.idle_s = idle_s
        self.max_backoff_s = max_backoff_s
        self._run_db = run_db
        self._clock = clock
        self._rand = random.Random()  # noqa: S311  # jitter, not cryptography
        self.state = ForwarderState.IDLE
        self.sent = 0
        self.rejected = 0
        self.last_error: str | None = None
        self._failures = 0  # failures in a row; 0 when the last attempt succeeded

    async def run(self) -> None:
        """Forward until cancelled, or until a fatal sink error (state STOPPED_FATAL)."""
        while self.state is not ForwarderState.STOPPED_FATAL:
            try:
                moved = await self._forward_batch()
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
                while await self._forward_batch():
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

    async def _forward_batch(self) -> int:
        """Take, write and settle one batch; returns how many items it moved (0: none held)."""
        batch = await self._run_db(lambda: self.outbox.take(self.batch_size))
        if not batch:
            return 0
        self.state = ForwarderState.SENDING
        result = await asyncio.to_thread(self.sink.write, [item.line for item in batch])
        delivered, refused = _split(batch, result)
        await self._run_db(lambda: self.outbox.settle(delivered, refused))
        self._record_success(len(delivered), refused, batch)
        return len(batch)

    def _record_success(self, delivered: int, refused: list[int], batch: list[OutboxItem]) -> None:
        self.sent += delivered
        self.rejected += len(refused)
        if refused:
            first = next(item.line for item in batch if item.id == refused[0])
            log.warning(
                "forwarder: %s refused %d malformed line(s), dropped; first: %.200s",
                self.sink.name,
                len(refused),
                first,
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


def _split(batch: list[OutboxItem], result: WriteResult) -> tuple[list[int], list[int]]:
    """Outbox ids of the delivered and the refused items of `batch`."""
    refused_at = set(result.rejected)
    delivered = [item.id for i, item in enumerate(batch) if i not in refused_at]
    refused = [batch[i].id for i in sorted(refused_at) if 0 <= i < len(batch)]
    return delivered, refused
