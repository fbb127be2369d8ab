"""The pipeline's promises, on a fast-forwarding event loop (looptime): no real sleeping.

Channels here are in-memory notifiers that record when they were called and fail or hang on
command: they stand in for networks that cannot be made to fail at will (the real channels are
exercised against real servers in tests/integration/test_notify_*.py).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import looptime
import pytest

from alerting.notify import Notification, NotifyError
from alerting.notify.config import GroupingConfig, RetryConfig
from alerting.notify.delivery import Channel, ChannelPolicy, backoff_s, ledger_recorder
from alerting.notify.pipeline import NotifyPipeline
from alerting.records import DeliveryAttempt
from gateway.clock import LoopClock
from tests.unit.test_notify_grouping import T0, note

T = TypeVar("T")
FAST = RetryConfig(initial_s=1, max_s=8, multiplier=2, jitter=0.5, give_up_after_s=None)


def run_virtual(main: Callable[[LoopClock], Awaitable[T]]) -> T:
    loop = looptime.patch_event_loop(asyncio.SelectorEventLoop(), start=0)
    try:
        return loop.run_until_complete(main(LoopClock(epoch_ns=T0)))
    finally:
        loop.close()


@dataclass
class Records:
    """The ledger side: every recorded attempt, as the daemon's `record` callable receives it."""

    clock: LoopClock
    rows: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, attempt: DeliveryAttempt) -> None:
        self.rows.append({"at": self.clock.monotonic(), **asdict(attempt)})

    def of(self, channel: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["channel"] == channel]


class Probe:
    """A notifier that records (time, notification); fails from `script` first, or hangs."""

    def __init__(self, name: str, clock: LoopClock, script: list[NotifyError] | None = None):
        self.name, self.clock = name, clock
        self.script = list(script or [])
        self.sent: list[tuple[float, Notification]] = []
        self.hang = asyncio.Event()  # set: calls hang until released
        self.release = asyncio.Event()

    async def send(self, notification: Notification) -> None:
        if self.hang.is_set():
            await self.release.wait()
        if self.script:
            raise self.script.pop(0)
        self.sent.append((self.clock.monotonic(), notification))

    def numbers(self) -> list[str]:
        return [m.number for _, n in self.sent for m in n.members]


class Siren(Probe):
    """An annunciator: it also has a per-zone state that `silence` turns off."""

    def __init__(self, name: str, clock: LoopClock) -> None:
        super().__init__(name, clock)
        self.ops: list[tuple[str, str]] = []

    async def send(self, notification: Notification) -> None:
        await super().send(notification)
        self.ops.append(("on", notification.zone))

    async def silence(self, zone: str) -> None:
        if self.hang.is_set():
            await self.release.wait()
        self.ops.append(("off", zone))


def pipeline(
    clock: LoopClock, *channels: tuple[Probe, ChannelPolicy], window_s: float = 10.0
) -> tuple[NotifyPipeline, Records]:
    records = Records(clock)
    p = NotifyPipeline(
        [Channel(n, pol) for n, pol in channels], record=records, clock=clock,
        actor="gateway:gw01/notify", grouping=GroupingConfig(window_s=window_s, wait_s=5),
        rng=random.Random(7),
    )  # fmt: skip
    return p, records


LOCAL = ChannelPolicy(local=True, retry=FAST, timeout_s=5)
REMOTE = ChannelPolicy(local=False, retry=FAST, timeout_s=5)


async def settle(clock: LoopClock, seconds: float = 0.0) -> None:
    await clock.sleep(seconds)
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_flood_in_one_zone_is_a_handful_of_messages_and_another_zone_is_not_delayed() -> None:
    async def main(clock: LoopClock) -> None:
        siren, mail = Probe("siren", clock), Probe("mail", clock)
        p, records = pipeline(clock, (siren, LOCAL), (mail, REMOTE))
        task = asyncio.create_task(p.run())
        for i in range(200):  # 200 fire alarms in the kitchen over 60 s
            p.submit(note(i, zone="kitchen"))
            if i == 100:
                await settle(clock)
                p.submit(note(1000, zone="store", kind="gas", level=2))
                at = clock.monotonic()
                await settle(clock)
                assert siren.sent[-1] == (at, note(1000, zone="store", kind="gas", level=2))
            await clock.sleep(0.3)
        assert await p.drain(timeout_s=60) == 0
        await task
        for probe in (siren, mail):
            assert 2 <= len(probe.sent) <= 10  # about 1 + 60 s / 10 s, not 201
            assert sorted(probe.numbers()) == sorted(note(i).number for i in [*range(200), 1000])
        assert siren.sent[0] == (0.0, note(0))  # the first fire went at once
        assert len(records.of("siren")) == 201  # one record per hazard, grouped or not
        assert all(r["ok"] and r["attempt"] == 1 for r in records.rows)

    run_virtual(main)


def test_a_hanging_remote_channel_never_delays_a_local_one() -> None:
    async def main(clock: LoopClock) -> None:
        siren, hook = Probe("siren", clock), Probe("webhook", clock)
        hook.hang.set()
        p, records = pipeline(clock, (siren, LOCAL), (hook, REMOTE))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        p.submit(note(2, zone="store"))
        await settle(clock)
        assert [t for t, _ in siren.sent] == [0.0, 0.0]
        await settle(clock, 6.5)  # the webhook's attempts time out and are retried
        timeouts = records.of("webhook")
        assert timeouts
        assert all(r["retryable"] and not r["ok"] for r in timeouts)
        assert "no answer within 5 s" in timeouts[0]["detail"]
        hook.release.set()
        await p.drain(timeout_s=60)
        await task
        assert sorted(hook.numbers()) == [note(1).number, note(2).number]

    run_virtual(main)


def test_retries_back_off_exponentially_and_every_attempt_is_recorded() -> None:
    async def main(clock: LoopClock) -> None:
        down = NotifyError("connection refused", retryable=True)
        hook = Probe("webhook", clock, script=[down] * 5)
        p, records = pipeline(clock, (hook, REMOTE))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        await p.drain(timeout_s=600)
        await task
        rows = records.of("webhook")
        assert [(r["attempt"], r["ok"], r["retryable"]) for r in rows] == [
            (1, False, True), (2, False, True), (3, False, True), (4, False, True),
            (5, False, True), (6, True, False),
        ]  # fmt: skip
        gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(rows)]
        for gap, ceiling in zip(gaps, [1, 2, 4, 8, 8], strict=True):
            assert ceiling * 0.5 <= gap <= ceiling  # jittered down by at most half
        assert rows[0]["detail"] == "connection refused"
        assert rows[0]["actor"] == "gateway:gw01/notify"
        assert rows[0]["ts_ns"] == T0
        assert rows[0]["recipients"] == ("wang.wei",)

    run_virtual(main)


def test_a_non_retryable_failure_is_recorded_once_and_not_retried() -> None:
    async def main(clock: LoopClock) -> None:
        hook = Probe("webhook", clock, script=[NotifyError("HTTP 401", retryable=False)])
        p, records = pipeline(clock, (hook, REMOTE))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        await p.drain(timeout_s=60)
        await task
        assert [(r["attempt"], r["ok"], r["retryable"]) for r in records.rows] == [
            (1, False, False)
        ]
        assert p.health_fields()["notify_webhook_given_up"] == 1

    run_virtual(main)


def test_retrying_stops_after_give_up_after_s() -> None:
    async def main(clock: LoopClock) -> None:
        hook = Probe("webhook", clock, script=[NotifyError("down", retryable=True)] * 100)
        policy = ChannelPolicy(retry=RetryConfig(initial_s=1, max_s=10, give_up_after_s=30))
        p, records = pipeline(clock, (hook, policy))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        await p.drain(timeout_s=600)
        await task
        assert records.rows[-1]["at"] >= 30
        assert records.rows[-1]["at"] < 45
        assert not any(r["ok"] for r in records.rows)

    run_virtual(main)


def test_retry_after_from_the_far_end_is_honoured() -> None:
    async def main(clock: LoopClock) -> None:
        busy = NotifyError("HTTP 429", retryable=True, retry_after=30)
        hook = Probe("webhook", clock, script=[busy])
        p, records = pipeline(clock, (hook, REMOTE))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        await p.drain(timeout_s=600)
        await task
        assert [r["at"] for r in records.rows] == [0.0, 30.0]

    run_virtual(main)


def test_a_backlog_coalesces_per_key_so_an_outage_never_drops_and_never_grows_per_alarm() -> None:
    async def main(clock: LoopClock) -> None:
        hook = Probe("webhook", clock)
        hook.hang.set()
        p, _ = pipeline(clock, (hook, ChannelPolicy(max_in_flight=1, timeout_s=1000)))
        task = asyncio.create_task(p.run())
        for i in range(300):
            p.submit(note(i, kind="fire" if i % 2 else "fault"))
            await clock.sleep(1)
        worker = p.workers[0]
        assert len(worker.pending) <= 2  # one waiting message per key: fire, fault
        hook.release.set()
        await p.drain(timeout_s=100)
        await task
        assert sorted(hook.numbers()) == sorted(note(i).number for i in range(300))

    run_virtual(main)


def test_silence_never_overtakes_the_alarm_before_it_on_an_annunciator() -> None:
    async def main(clock: LoopClock) -> None:
        siren = Siren("siren", clock)
        siren.hang.set()
        p, _ = pipeline(clock, (siren, LOCAL))
        task = asyncio.create_task(p.run())
        p.submit(note(1, kind="fault"))  # held 5 s, then queued behind nothing
        await settle(clock, 6)
        p.silence("kitchen")
        p.submit(note(2, zone="kitchen"))  # urgent: may jump the queue, but not its zone's
        p.submit(note(3, zone="store"))
        siren.release.set()
        await p.drain(timeout_s=60)
        await task
        kitchen = [op for op in siren.ops if op[1] == "kitchen"]
        assert kitchen == [("on", "kitchen"), ("off", "kitchen"), ("on", "kitchen")]

    run_virtual(main)


def test_a_duplicate_submission_is_delivered_once() -> None:
    async def main(clock: LoopClock) -> None:
        siren = Probe("siren", clock)
        p, _ = pipeline(clock, (siren, LOCAL))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        p.submit(note(1))
        await p.drain(timeout_s=60)
        await task
        assert siren.numbers() == [note(1).number]
        assert p.health_fields()["notify_duplicates"] == 1

    run_virtual(main)


def test_drain_sends_what_grouping_holds() -> None:
    async def main(clock: LoopClock) -> None:
        siren = Probe("siren", clock)
        p, _ = pipeline(clock, (siren, LOCAL), window_s=600)
        task = asyncio.create_task(p.run())
        for i in range(5):
            p.submit(note(i))
        await settle(clock)
        assert len(siren.sent) == 1
        assert await p.drain(timeout_s=60) == 0
        await task
        assert clock.monotonic() < 600
        assert sorted(siren.numbers()) == sorted(note(i).number for i in range(5))

    run_virtual(main)


def test_drain_gives_up_on_a_hanging_channel_and_says_how_much_is_left() -> None:
    async def main(clock: LoopClock) -> None:
        hook = Probe("webhook", clock)
        hook.hang.set()
        p, _ = pipeline(clock, (hook, ChannelPolicy(timeout_s=1000)))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        await settle(clock)
        assert await p.drain(timeout_s=5) == 1
        await task

    run_virtual(main)


def test_a_channel_only_carries_its_kinds() -> None:
    async def main(clock: LoopClock) -> None:
        relay = Probe("relay", clock)
        p, _ = pipeline(clock, (relay, ChannelPolicy(local=True, kinds=frozenset({"fire"}))))
        task = asyncio.create_task(p.run())
        p.submit(note(1, kind="fault"))
        p.submit(note(2, kind="fire"))
        await p.drain(timeout_s=60)
        await task
        assert relay.numbers() == [note(2).number]

    run_virtual(main)


def test_a_per_recipient_channel_delivers_and_records_each_person() -> None:
    async def main(clock: LoopClock) -> None:
        sms = Probe("sms", clock, script=[NotifyError("gateway busy", retryable=True)])
        p, records = pipeline(clock, (sms, ChannelPolicy(per_recipient=True, retry=FAST)))
        task = asyncio.create_task(p.run())
        p.submit(note(1, recipients=("li.na", "wang.wei")))
        await p.drain(timeout_s=60)
        await task
        assert sorted(n.recipients for _, n in sms.sent) == [("li.na",), ("wang.wei",)]
        outcomes = sorted((r["recipients"], r["attempt"], r["ok"]) for r in records.rows)
        assert outcomes == [(("li.na",), 1, False), (("li.na",), 2, True), (("wang.wei",), 1, True)]

    run_virtual(main)


def test_a_ledger_that_refuses_a_record_does_not_stop_delivery() -> None:
    async def main(clock: LoopClock) -> None:
        siren = Probe("siren", clock)

        async def broken(attempt: DeliveryAttempt) -> None:
            raise RuntimeError("database is locked")

        p = NotifyPipeline([Channel(siren, LOCAL)], record=broken, clock=clock, actor="gw")
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        p.submit(note(2, zone="store"))
        await p.drain(timeout_s=60)
        await task
        assert siren.numbers() == [note(1).number, note(2).number]

    run_virtual(main)


def test_an_unexpected_notifier_exception_is_retried() -> None:
    async def main(clock: LoopClock) -> None:
        siren = Probe("siren", clock)
        siren.script = [ValueError("bug")]  # type: ignore[list-item]
        p, records = pipeline(clock, (siren, LOCAL))
        task = asyncio.create_task(p.run())
        p.submit(note(1))
        await p.drain(timeout_s=60)
        await task
        assert [(r["ok"], r["detail"]) for r in records.rows] == [
            (False, "unexpected ValueError: bug"), (True, "delivered"),
        ]  # fmt: skip

    run_virtual(main)


def test_ledger_recorder_writes_through_the_database_runner() -> None:
    calls: list[tuple[bool, DeliveryAttempt]] = []
    on_db_thread = False

    class Ledger:
        def record_delivery(self, attempt: DeliveryAttempt) -> object:
            calls.append((on_db_thread, attempt))
            return None

    async def run_db(fn: Callable[[], T]) -> T:
        nonlocal on_db_thread
        on_db_thread = True
        try:
            return fn()
        finally:
            on_db_thread = False

    record = ledger_recorder(Ledger(), run_db)
    attempt = DeliveryAttempt(
        "YH-1", channel="mqtt", recipients=("a",), step=0, round=0, repeat=0, attempt=1,
        ok=True, retryable=False, detail="delivered", actor="gw", ts_ns=T0,
    )  # fmt: skip

    async def main() -> None:
        await record(attempt)

    asyncio.run(main())
    assert calls == [(True, attempt)]


@pytest.mark.parametrize("attempt", [1, 2, 5, 10, 1000])
def test_backoff_grows_to_its_cap_and_jitters_down_only(attempt: int) -> None:
    retry = RetryConfig(initial_s=1, max_s=60, multiplier=2, jitter=0.5)
    rng = random.Random(attempt)
    ceiling = min(60.0, 2.0 ** (min(attempt, 60) - 1))
    for _ in range(50):
        assert ceiling * 0.5 <= backoff_s(attempt, retry, rng) <= ceiling
