"""The forwarder's policy: keep and retry, honour Retry-After, stop on fatal, drop refused lines.

The sink here is a fake: it stands in for server errors (5xx, 429, 401, malformed lines) that a
real server cannot be made to produce at will. The outbox is the real one, on a temporary file.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.errors import SinkError
from gateway.forwarder import Forwarder, ForwarderState, backoff_delay
from gateway.influx import WriteResult
from gateway.outbox import Lane, Outbox, OutboxError

T = TypeVar("T")
T0 = 1_700_000_000_000_000_000


class FakeClock:
    """Records every backoff instead of sleeping it; time advances by what was asked."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now = 0.0

    def wall_ns(self) -> int:
        return T0 + int(self.now * 1e9)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeSink:
    """Plays `script` (an error to raise, or None to accept) once per write, then accepts.

    Lines containing "malformed" are refused by index, as a server refuses bad line protocol.
    """

    name = "fake"

    def __init__(self, script: Sequence[SinkError | None] = ()) -> None:
        self.script = list(script)
        self.calls = 0
        self.accepted: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def write(self, lines: Sequence[str]) -> WriteResult:
        self.calls += 1
        self.release.wait(timeout=5)
        if self.script and (error := self.script.pop(0)) is not None:
            raise error
        refused = tuple(i for i, text in enumerate(lines) if "malformed" in text)
        self.accepted += [text for i, text in enumerate(lines) if i not in refused]
        return WriteResult(refused)

    def close(self) -> None:
        pass


async def inline(fn: Callable[[], T]) -> T:
    """run_db for tests: the blocking call runs right here (SQLite on tmpfs takes microseconds)."""
    return fn()


def make(outbox: Outbox, sink: FakeSink, clock: FakeClock, **kwargs: Any) -> Forwarder:
    return Forwarder(outbox, sink, run_db=inline, clock=clock, idle_s=0.001, **kwargs)


async def run_until(forwarder: Forwarder, done: Callable[[], bool], limit_s: float = 5.0) -> None:
    """Run the forwarder until `done()`, then cancel it; fails if that takes over `limit_s`."""
    task = asyncio.create_task(forwarder.run(), name="forwarder")
    async with asyncio.timeout(limit_s):
        while not done():
            finished, _ = await asyncio.wait({task}, timeout=0.001)
            if finished:
                break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    box = Outbox(tmp_path / "outbox.db")
    lines = [f"t,s=a v={i}i {T0 + i}" for i in range(250)]
    box.append(Lane.TELEMETRY, lines, [T0 + i for i in range(250)])
    return box


def retryable(message: str = "HTTP 500", retry_after: float | None = None) -> SinkError:
    return SinkError(message, retryable=True, retry_after=retry_after)


def test_retryable_errors_keep_the_batch_until_success_without_duplicates(outbox: Outbox) -> None:
    expected = outbox.lines(Lane.TELEMETRY)
    sink, clock = FakeSink([retryable(), retryable("timeout"), retryable()]), FakeClock()
    forwarder = make(outbox, sink, clock, batch_size=100)
    asyncio.run(run_until(forwarder, lambda: outbox.count() == 0))
    assert Counter(sink.accepted) == Counter(expected)
    assert len(sink.accepted) == len(expected)  # each line exactly once
    backoffs = clock.sleeps[:3]
    for n, delay in enumerate(backoffs):  # 0.5 s doubling, jittered into [50%, 100%]
        assert 0.25 * 2**n <= delay <= 0.5 * 2**n
    assert (forwarder.sent, forwarder.rejected, forwarder.last_error) == (250, 0, "HTTP 500")


def test_retry_after_is_honoured(outbox: Outbox) -> None:
    sink, clock = FakeSink([retryable("HTTP 429", retry_after=7.5)]), FakeClock()
    forwarder = make(outbox, sink, clock, max_backoff_s=2)
    asyncio.run(run_until(forwarder, lambda: outbox.count() == 0))
    assert clock.sleeps[0] == 7.5  # the server's word beats our own 2 s ceiling
    assert forwarder.sent == 250


def test_fatal_error_stops_once_and_keeps_everything(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    fatal = SinkError("HTTP 401: unauthorized", retryable=False, fatal=True)
    sink, clock = FakeSink([fatal]), FakeClock()
    forwarder = make(outbox, sink, clock)
    with caplog.at_level(logging.WARNING, logger="gateway.forwarder"):
        asyncio.run(asyncio.wait_for(forwarder.run(), timeout=5))  # returns by itself
    assert forwarder.state is ForwarderState.STOPPED_FATAL
    assert forwarder.last_error == "HTTP 401: unauthorized"
    assert (sink.calls, outbox.count(), clock.sleeps) == (1, 250, [])
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "configuration" in caplog.records[0].getMessage()


def test_non_retryable_error_also_stops(outbox: Outbox) -> None:
    forwarder = make(outbox, FakeSink([SinkError("odd", retryable=False)]), FakeClock())
    asyncio.run(asyncio.wait_for(forwarder.run(), timeout=5))
    assert forwarder.state is ForwarderState.STOPPED_FATAL


def test_refused_lines_are_dropped_alone_and_counted(outbox: Outbox) -> None:
    outbox.append(Lane.TELEMETRY, ["malformed line", "t,s=b v=1i 1"], [T0 + 5, T0 + 6])
    sink, clock = FakeSink(), FakeClock()
    forwarder = make(outbox, sink, clock, batch_size=64)
    asyncio.run(run_until(forwarder, lambda: outbox.count() == 0))
    assert len(sink.accepted) == len(set(sink.accepted)) == 251
    assert "malformed line" not in sink.accepted
    assert (forwarder.sent, forwarder.rejected, outbox.stats().rejected) == (251, 1, 1)


def test_events_go_first(outbox: Outbox) -> None:
    outbox.append(Lane.EVENTS, ["alarm,s=a level=2i 1"], [T0 + 10_000])
    sink = FakeSink()
    forwarder = make(outbox, sink, FakeClock(), batch_size=10)
    asyncio.run(run_until(forwarder, lambda: outbox.count() == 0))
    assert sink.accepted[0] == "alarm,s=a level=2i 1"


def test_outbox_errors_back_off_and_recover(outbox: Outbox) -> None:
    failures = [OutboxError("disk I/O error")]

    async def flaky(fn: Callable[[], T]) -> T:
        if failures:
            raise failures.pop()
        return fn()

    sink, clock = FakeSink(), FakeClock()
    forwarder = Forwarder(outbox, sink, run_db=flaky, clock=clock, idle_s=0.001)
    asyncio.run(run_until(forwarder, lambda: outbox.count() == 0))
    assert forwarder.last_error == "disk I/O error"
    assert len(sink.accepted) == 250


def test_to_thread_is_an_acceptable_run_db(outbox: Outbox) -> None:
    threaded: Callable[[Callable[[], T]], Awaitable[T]] = asyncio.to_thread
    forwarder = Forwarder(outbox, FakeSink(), run_db=threaded, clock=FakeClock(), idle_s=0.001)
    asyncio.run(run_until(forwarder, lambda: forwarder.sent == 250))
    assert outbox.count() == 0


def test_drain_flushes_everything(outbox: Outbox) -> None:
    sink = FakeSink()
    forwarder = make(outbox, sink, FakeClock(), batch_size=100)
    asyncio.run(forwarder.drain(timeout_s=5))
    assert (outbox.count(), len(sink.accepted), forwarder.state) == (0, 250, ForwarderState.IDLE)


def test_drain_stops_at_the_first_failure_without_backing_off(outbox: Outbox) -> None:
    clock = FakeClock()
    forwarder = make(outbox, FakeSink([retryable()]), clock)
    asyncio.run(forwarder.drain(timeout_s=5))
    assert (outbox.count(), clock.sleeps, forwarder.last_error) == (250, [], "HTTP 500")


def test_drain_is_bounded_by_its_timeout(outbox: Outbox) -> None:
    sink = FakeSink()
    sink.release.clear()  # the server hangs for 50 ms
    threading.Timer(0.05, sink.release.set).start()
    forwarder = make(outbox, sink, FakeClock())
    asyncio.run(asyncio.wait_for(forwarder.drain(timeout_s=0.01), timeout=2))
    assert outbox.count() == 250  # nothing settled: sent again at the next start


def test_backoff_grows_to_its_ceiling() -> None:
    rand = random.Random(1)
    delays = [backoff_delay(n, 10.0, None, rand) for n in range(1, 40)]
    assert all(5.0 <= d <= 10.0 for d in delays[6:])
    assert backoff_delay(3, 10.0, -1.0, rand) == 0.0
    assert backoff_delay(3, 10.0, 1e9, rand) == 3600.0


# -- retention: a backlog older than the server keeps is dropped, counted, not retried ---------


def test_telemetry_older_than_max_age_is_dropped_counted_and_never_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    clock.now = 3_600.0  # wall time T0 + 1 h
    box = Outbox(tmp_path / "outbox.db")
    old = [f"t,s=a v={i}i {T0 + i}" for i in range(30)]  # acquired at T0: an hour ago
    box.append(Lane.TELEMETRY, old, [T0 + i for i in range(30)])
    fresh = [f"t,s=a v={i}i {T0 + 3_000 * 10**9 + i}" for i in range(5)]
    box.append(Lane.TELEMETRY, fresh, [T0 + 3_000 * 10**9 + i for i in range(5)])
    box.append(Lane.EVENTS, ["alarm,s=a level=2i 1"], [T0])  # as old, but events are kept
    sink = FakeSink()
    forwarder = make(box, sink, clock, batch_size=10)
    forwarder.max_age_s = 1_800.0
    with caplog.at_level(logging.WARNING, logger="gateway.forwarder"):
        asyncio.run(run_until(forwarder, lambda: box.count() == 0))
    assert sink.accepted == ["alarm,s=a level=2i 1", *fresh]
    assert (forwarder.expired, box.stats().dropped_expired, forwarder.sent) == (30, 30, 6)
    assert [r.getMessage()[:30] for r in caplog.records] == ["forwarder: dropped 30 telemetr"]


def test_expiry_works_in_chunks_and_at_most_every_ten_seconds(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.forwarder._EXPIRE_CHUNK", 7)
    calls: list[int] = []
    purge = outbox.purge_older_than

    def counted(ts_ns: int, **kwargs: Any) -> int:
        calls.append(ts_ns)
        return purge(ts_ns, **kwargs)

    monkeypatch.setattr(outbox, "purge_older_than", counted)
    clock = FakeClock()
    clock.now = 100.0
    forwarder = make(outbox, FakeSink(), clock, batch_size=1000)
    forwarder.max_age_s = 100.0 - 20e-9  # the first 20 lines (T0 + 0..19 ns) are too old
    asyncio.run(forwarder.drain(timeout_s=5))
    assert (forwarder.expired, forwarder.sent) == (20, 230)
    assert len(calls) == 3  # 7 + 7 + 6: a short chunk ends the round
    asyncio.run(forwarder.drain(timeout_s=5))
    assert len(calls) == 3  # not due again yet
    clock.now += 10.0
    asyncio.run(forwarder.drain(timeout_s=5))
    assert len(calls) == 4


def test_max_age_must_be_positive(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="max_age_s"):
        Forwarder(outbox, FakeSink(), run_db=inline, clock=FakeClock(), max_age_s=0)


# -- pipelining ------------------------------------------------------------------------------


class AppendingSink(FakeSink):
    """On its first write an alarm happens: the gateway appends an event mid-drain."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self.outbox = outbox
        self.batches: list[list[str]] = []

    def write(self, lines: Sequence[str]) -> WriteResult:
        if not self.batches:
            self.outbox.append(Lane.EVENTS, ["alarm,s=z level=2i 9"], [T0 - 1])
        self.batches.append(list(lines))
        return super().write(lines)


@pytest.mark.parametrize("pipeline", [True, False], ids=["pipelined", "serial"])
def test_a_backlog_drains_once_each_with_events_ahead_of_the_rest(
    outbox: Outbox, pipeline: bool
) -> None:
    expected = outbox.lines(Lane.TELEMETRY)
    sink = AppendingSink(outbox)
    forwarder = Forwarder(
        outbox, sink, run_db=asyncio.to_thread, clock=FakeClock(), batch_size=50, pipeline=pipeline
    )
    asyncio.run(forwarder.drain(timeout_s=5))
    assert outbox.count() == 0
    telemetry = [x for x in sink.accepted if not x.startswith("alarm")]
    assert telemetry == expected  # each once, oldest first
    at = next(n for n, b in enumerate(sink.batches) if "alarm,s=z level=2i 9" in b)
    assert at <= 2 < len(sink.batches) - 1  # the event did not wait for the whole backlog
    assert forwarder.sent == 251


def test_a_failed_write_discards_the_batch_taken_ahead(outbox: Outbox) -> None:
    sink = FakeSink([None, retryable()])  # the second batch fails once
    forwarder = make(outbox, sink, FakeClock(), batch_size=100)
    asyncio.run(run_until(forwarder, lambda: outbox.count() == 0))
    assert sorted(sink.accepted) == sorted(f"t,s=a v={i}i {T0 + i}" for i in range(250))
    assert len(sink.accepted) == 250


def test_health_fields_say_what_the_forwarder_is_doing(outbox: Outbox) -> None:
    clock = FakeClock()
    forwarder = make(outbox, FakeSink([None, retryable("HTTP 503")]), clock, batch_size=200)
    assert forwarder.health_fields()["forwarder_last_success_age_s"] == -1.0
    asyncio.run(forwarder.drain(timeout_s=5))  # the first batch goes, the second fails
    clock.now += 2.5
    assert forwarder.health_fields() == {
        "forwarder_state": "sending",
        "forwarder_sent": 200,
        "forwarder_rejected": 0,
        "forwarder_expired": 0,
        "forwarder_failures": 0,  # drain does not back off: the run loop counts failures
        "forwarder_last_success_age_s": 2.5,
    }
