"""One channel's deliveries: a backlog that coalesces instead of dropping, attempts with a timeout,
retries with exponential backoff and jitter, and a ledger record of every attempt.

Each channel has its own worker task(s), so a channel that hangs or is down delays nothing but
itself. Its backlog holds at most one waiting message per group key: a newer notification of the
same key is merged into the waiting message, so a long outage costs memory per key, never per alarm,
and nothing is dropped. Channels that keep a per-zone state (annunciators: the MQTT zone topic, the
siren relay) deliver one at a time and in order within a zone, so a silence never overtakes the
alarm before it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from alerting.notify import Notification, Notifier, NotifyError
from alerting.notify.config import ALL_KINDS, RetryConfig
from alerting.notify.grouping import GroupKey, group_key, merge
from alerting.records import DeliveryAttempt
from gateway.clock import Clock

log = logging.getLogger("hazgw.notify")
TIMEOUT_GRACE_S = 1.0  # the channel's own timeout should fire first; this is the backstop


# Records one attempt in the ledger (the lead's callable, run on the database thread).
RecordDelivery = Callable[[DeliveryAttempt], Awaitable[None]]


class DeliveryLedger(Protocol):
    """The ledger's side (alerting/ledger.py `Ledger.record_delivery`), synchronous."""

    def record_delivery(self, attempt: DeliveryAttempt) -> object: ...


RunDb = Callable[[Callable[[], object]], Awaitable[object]]


def ledger_recorder(ledger: DeliveryLedger, run_db: RunDb) -> RecordDelivery:
    """`record` for the pipeline: each attempt written through `run_db` (the database thread)."""

    async def record(attempt: DeliveryAttempt) -> None:
        await run_db(lambda: ledger.record_delivery(attempt))

    return record


@runtime_checkable
class Annunciator(Protocol):
    """A channel with a per-zone state (siren on/off) that `silence` turns off."""

    async def silence(self, zone: str) -> None: ...


@runtime_checkable
class Closable(Protocol):
    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ChannelPolicy:
    local: bool = False  # local channels are served first and never wait for remote ones
    kinds: frozenset[str] = frozenset(ALL_KINDS)
    retry: RetryConfig = field(default_factory=RetryConfig)
    timeout_s: float = 10.0
    max_in_flight: int = 4
    per_recipient: bool = False  # one delivery (and record) per recipient


@dataclass(frozen=True)
class Channel:
    notifier: Notifier
    policy: ChannelPolicy = field(default_factory=ChannelPolicy)

    @property
    def name(self) -> str:
        return self.notifier.name


def backoff_s(attempt: int, retry: RetryConfig, rng: random.Random) -> float:
    """The wait after failed attempt `attempt` (1-based): exponential, capped, jittered down."""
    base = min(retry.max_s, retry.initial_s * retry.multiplier ** min(attempt - 1, 64))
    return base * (1.0 - retry.jitter * rng.random())


@dataclass
class Job:
    """A waiting message (its hazards by number, in order) or, without a key, a zone's silence."""

    seq: int
    zone: str  # the group key's place: zone id, or the hazard number without one
    key: GroupKey | None = None  # None: silence the zone
    recipients: tuple[str, ...] = ()
    members: dict[str, Notification] = field(default_factory=dict)
    urgent: bool = False

    def absorb(self, message: Notification) -> None:
        self.members.update((m.number, m) for m in message.members)

    def message(self) -> Notification | None:
        if self.key is None:
            return None
        return merge(self.members.values(), recipients=self.recipients)


@dataclass
class Outcome:
    ok: bool
    retryable: bool
    detail: str
    retry_after: float | None = None


class ChannelWorker:
    def __init__(
        self,
        channel: Channel,
        *,
        record: RecordDelivery,
        clock: Clock,
        actor: str,
        rng: random.Random,
        on_progress: Callable[[], None],
    ) -> None:
        self.channel, self.name, self.policy = channel, channel.name, channel.policy
        self.record, self.clock, self.actor, self.rng = record, clock, actor, rng
        self.on_progress = on_progress
        self.annunciator = isinstance(channel.notifier, Annunciator)
        self.slots = 1 if self.annunciator else self.policy.max_in_flight
        self.pending: list[Job] = []
        self._by_zone: dict[str, list[Job]] = {}  # the same jobs, per zone, in order
        self.in_flight = 0
        self._wake = asyncio.Event()
        self._seq = 0
        self.delivered = self.failed_attempts = self.given_up = 0

    @property
    def idle(self) -> bool:
        return not self.pending and self.in_flight == 0

    # --- the backlog ------------------------------------------------------------------------

    def offer(self, message: Notification) -> None:
        """Queue `message` if this channel carries its kind (per recipient when it asks so)."""
        if message.kind not in self.policy.kinds:
            return
        if not self.policy.per_recipient:
            self._add(message)
            return
        for who in message.recipients:
            self._add(replace(message, recipients=(who,)))

    def offer_silence(self, zone: str) -> None:
        if not self.annunciator:
            return
        queued = self._by_zone.get(zone)
        if not queued or queued[-1].key is not None:
            self._push(Job(self._next_seq(), zone))

    def _add(self, message: Notification) -> None:
        key = group_key(message)
        for job in reversed(self._by_zone.get(key[1], [])):
            if job.key is None:
                break  # never merge across a silence of the zone: it would overtake it
            if job.key == key:
                job.absorb(message)
                return
        job = Job(self._next_seq(), key[1], key, message.recipients, urgent=message.urgent)
        job.absorb(message)
        self._push(job)

    def _push(self, job: Job) -> None:
        self.pending.append(job)
        self._by_zone.setdefault(job.zone, []).append(job)
        self._wake.set()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _pick(self) -> Job:
        """Urgent first, then oldest; an annunciator keeps each zone's order."""
        eligible = [q[0] for q in self._by_zone.values()] if self.annunciator else self.pending
        best = min(eligible, key=lambda j: (not j.urgent, j.seq))
        self.pending.remove(best)
        queued = self._by_zone[best.zone]
        queued.remove(best)
        if not queued:
            del self._by_zone[best.zone]
        return best

    # --- the workers ------------------------------------------------------------------------

    def start(self, tg: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
        return [
            tg.create_task(self._worker(), name=f"notify-{self.name}-{i}")
            for i in range(self.slots)
        ]

    async def _worker(self) -> None:
        while True:
            while not self.pending:
                self._wake.clear()
                await self._wake.wait()
            job = self._pick()
            self.in_flight += 1
            try:
                await self._deliver(job)
            finally:
                self.in_flight -= 1
                self.on_progress()

    async def _deliver(self, job: Job) -> None:
        started, attempt, message = self.clock.monotonic(), 0, job.message()
        while True:
            attempt += 1
            outcome = await self._attempt(job.zone, message)
            await self._record(job.zone, message, attempt, outcome)
            if outcome.ok:
                self.delivered += 1
                return
            self.failed_attempts += 1
            if not outcome.retryable or self._past_give_up(started):
                self.given_up += 1
                what = message.number if message else f"silence of {job.zone}"
                log.error("%s: gave up on %s after %d attempt(s): %s",
                          self.name, what, attempt, outcome.detail)  # fmt: skip
                return
            wait = backoff_s(attempt, self.policy.retry, self.rng)
            await self.clock.sleep(max(wait, outcome.retry_after or 0.0))

    def _past_give_up(self, started: float) -> bool:
        limit = self.policy.retry.give_up_after_s
        return limit is not None and self.clock.monotonic() - started >= limit

    async def _attempt(self, zone: str, message: Notification | None) -> Outcome:
        notifier = self.channel.notifier
        try:
            async with asyncio.timeout(self.policy.timeout_s + TIMEOUT_GRACE_S):
                if message is None:
                    assert isinstance(notifier, Annunciator)
                    await notifier.silence(zone)
                else:
                    await notifier.send(message)
        except NotifyError as exc:
            return Outcome(False, exc.retryable, str(exc), exc.retry_after)
        except TimeoutError:
            return Outcome(False, True, f"no answer within {self.policy.timeout_s:g} s")
        except Exception as exc:  # a notifier bug: an alarm is worth another try
            log.exception("%s: unexpected failure", self.name)
            return Outcome(False, True, f"unexpected {type(exc).__name__}: {exc}")
        group = message.members if message is not None else ()
        return Outcome(True, False, f"delivered (group of {len(group)})" if len(group) > 1
                       else "delivered")  # fmt: skip

    async def _record(
        self, zone: str, message: Notification | None, attempt: int, outcome: Outcome
    ) -> None:
        if message is None:  # a silence is no hazard notification: the log has it
            level = logging.INFO if outcome.ok else logging.WARNING
            log.log(level, "%s: silence %s #%d: %s", self.name, zone, attempt, outcome.detail)
            return
        ts_ns = self.clock.wall_ns()
        for m in message.members:
            try:
                await self.record(DeliveryAttempt(
                    number=m.number, channel=self.name, recipients=message.recipients,
                    step=m.step, round=m.round, repeat=m.repeat, attempt=attempt,
                    ok=outcome.ok, retryable=outcome.retryable, detail=outcome.detail,
                    actor=self.actor, ts_ns=ts_ns,
                ))  # fmt: skip
            except Exception:
                # The ledger refusing a record must not stop the siren or the next attempt.
                log.exception("%s: could not record the delivery of %s", self.name, m.number)
