"""The notification pipeline: dedup -> grouping -> fan-out to channels (local first) -> retries.

Stages in the manner of Alertmanager's notify pipeline (dedup, wait/group, fan-out, retry), in
one event loop (apprise and the serial port run their blocking calls in the default executor):

    submit(n) ─► Dedup ─► Grouper ──(now, or when its window ends)──► fan-out
                                                              ├─► local channels  (own tasks)
                                                              └─► remote channels (own tasks)

`submit` is synchronous and never blocks or drops: a few dictionary operations, then the message
goes to each channel's backlog. Backlogs coalesce per group key (delivery.py): a flood or a long
outage costs one waiting message per key (zone, kind, step, recipients), listing each hazard once,
never one entry per alarm, so there is no "full" to handle. Each channel has
its own worker task(s): a webhook that hangs holds its own slot, never the siren's. Every attempt is
recorded through the `record` callable the daemon supplies.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from alerting.notify import Notification
from alerting.notify.config import GroupingConfig
from alerting.notify.delivery import Channel, ChannelWorker, Closable, RecordDelivery
from alerting.notify.grouping import Dedup, Grouper
from gateway.clock import Clock, sleep_unless

log = logging.getLogger("hazgw.notify")


class NotifyPipeline:
    """Construct in or out of the loop; `run()` as a task; `submit` from the loop's thread."""

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        record: RecordDelivery,
        clock: Clock,
        actor: str,
        grouping: GroupingConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        g = grouping or GroupingConfig()
        self.clock = clock
        self._dedup = Dedup(g.dedup_entries)
        self._grouper = Grouper(g.window_s, g.wait_s)
        rng = rng or random.Random()  # noqa: S311  (jitter, not secrets)
        ordered = sorted(channels, key=lambda c: not c.policy.local)  # local first
        self.workers = [
            ChannelWorker(c, record=record, clock=clock, actor=actor, rng=rng,
                          on_progress=self._on_progress)
            for c in ordered
        ]  # fmt: skip
        self._timer_wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stop = asyncio.Event()
        self.submitted = self.duplicates = self.messages = 0

    # --- the safety path's side: synchronous, never blocks -----------------------------------

    def submit(self, notification: Notification) -> None:
        """Accept one notification; it is delivered at once, or grouped (see grouping.py)."""
        self.submitted += 1
        if self._dedup.seen(notification):
            self.duplicates += 1
            return
        if self._stop.is_set():
            log.error("notification after the pipeline stopped, logged only: %s", notification.text)
            return
        message = self._grouper.add(notification, self.clock.monotonic())
        if message is not None:
            self._fan_out(message)
        self._timer_wake.set()

    def silence(self, zone: str) -> None:
        """Turn off the local annunciation of `zone` (its hazards are all acknowledged)."""
        for worker in self.workers:
            worker.offer_silence(zone)

    def _fan_out(self, message: Notification) -> None:
        self.messages += 1
        for worker in self.workers:  # local channels first
            worker.offer(message)

    # --- the tasks -------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until `drain()` (or cancellation); then close the channels' connections."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self._timer(), name="notify-grouping")]
                for worker in self.workers:
                    tasks += worker.start(tg)
                await self._stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            await self._close()

    async def drain(self, timeout_s: float) -> int:
        """Send what grouping holds, wait up to `timeout_s` for the channels, then stop `run()`.

        Returns the number of messages left undelivered (logged); 0 is a clean stop.
        """
        for message in self._grouper.flush():
            self._fan_out(message)
        try:
            async with asyncio.timeout(timeout_s):
                while not all(w.idle for w in self.workers):
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            pass
        left = sum(len(w.pending) + w.in_flight for w in self.workers)
        if left:
            log.error("notify: stopping with %d message(s) undelivered", left)
        self._stop.set()
        return left

    async def _timer(self) -> None:
        while True:
            self._timer_wake.clear()
            due = self._grouper.next_due()
            if due is None:
                await self._timer_wake.wait()
            else:
                delay = due - self.clock.monotonic()
                if delay > 0:
                    await sleep_unless(self.clock, self._timer_wake, delay)
            for message in self._grouper.due(self.clock.monotonic()):
                self._fan_out(message)

    def _on_progress(self) -> None:
        self._progress.set()

    async def _close(self) -> None:
        for worker in self.workers:
            notifier = worker.channel.notifier
            if isinstance(notifier, Closable):
                try:
                    await notifier.aclose()
                except Exception:
                    log.exception("notify: closing %s failed", worker.name)

    # --- health ----------------------------------------------------------------------------

    def health_fields(self) -> dict[str, int]:
        fields = {
            "notify_submitted": self.submitted,
            "notify_duplicates": self.duplicates,
            "notify_messages": self.messages,
            "notify_held": self._grouper.held,
        }
        for w in self.workers:
            fields[f"notify_{w.name}_pending"] = len(w.pending) + w.in_flight
            fields[f"notify_{w.name}_delivered"] = w.delivered
            fields[f"notify_{w.name}_failed_attempts"] = w.failed_attempts
            fields[f"notify_{w.name}_given_up"] = w.given_up
        return fields
