"""The durable outbox: lanes, the telemetry bound, settling, retention, nothing lost uncounted."""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.outbox import Lane, Outbox, OutboxError, OutboxItem

T0 = 1_700_000_000_000_000_000


def tel(n: int, start: int = 0, *, width: int = 0) -> tuple[list[str], list[int]]:
    """`n` telemetry lines at consecutive nanoseconds; `width` pads each line to that many bytes."""
    lines = [f"t v={i}i {T0 + i}" for i in range(start, start + n)]
    lines = [text + " " * max(0, width - len(text)) for text in lines]
    return lines, [T0 + i for i in range(start, start + n)]


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.db")


def test_events_are_taken_before_older_telemetry(outbox: Outbox) -> None:
    outbox.append(Lane.TELEMETRY, *tel(3))
    outbox.append(Lane.EVENTS, ["alarm v=1i 5", "alarm v=2i 6"], [T0 + 100, T0 + 101])
    items = outbox.take(4)
    assert [i.lane for i in items] == [Lane.EVENTS, Lane.EVENTS, Lane.TELEMETRY, Lane.TELEMETRY]
    assert [i.line for i in items[2:]] == tel(2)[0]
    assert outbox.count() == 5  # take removes nothing


def test_telemetry_is_taken_oldest_acquisition_first(outbox: Outbox) -> None:
    outbox.append(Lane.TELEMETRY, ["late v=1i 2"], [T0 + 2])
    outbox.append(Lane.TELEMETRY, ["early v=1i 1"], [T0 + 1])  # buffered by a device, sent late
    assert [i.line for i in outbox.take(10)] == ["early v=1i 1", "late v=1i 2"]
    assert outbox.lines(Lane.TELEMETRY) == ["early v=1i 1", "late v=1i 2"]
    assert outbox.stats().oldest_ns == T0 + 1


def test_settle_removes_delivered_and_counts_rejected(outbox: Outbox) -> None:
    outbox.append(Lane.TELEMETRY, *tel(5))
    ids = [i.id for i in outbox.take(5)]
    outbox.settle(ids[:2], rejected=[ids[2]])
    assert outbox.lines(Lane.TELEMETRY) == tel(2, start=3)[0]
    outbox.settle(ids[:3], rejected=[ids[2], 999_999])  # settling twice counts nothing twice
    stats = outbox.stats()
    assert (stats.telemetry, stats.rejected, stats.dropped_telemetry) == (2, 1, 0)
    assert stats.telemetry_bytes == sum(len(t) for t in tel(2, start=3)[0])


def test_bound_drops_oldest_telemetry_counts_and_survives_reopen(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path, max_telemetry_bytes=1000)
    outbox.append(Lane.EVENTS, ["alarm v=1i 1"], [T0 - 10])  # older than all telemetry, kept
    with caplog.at_level(logging.WARNING, logger="gateway.outbox"):
        for start in range(0, 40, 4):  # 40 lines of 100 bytes into a 1,000-byte bound
            outbox.append(Lane.TELEMETRY, *tel(4, start, width=100))
    assert outbox.lines(Lane.TELEMETRY) == tel(10, start=30, width=100)[0]
    stats = outbox.stats()
    assert (stats.telemetry, stats.telemetry_bytes, stats.dropped_telemetry) == (10, 1000, 30)
    assert outbox.lines(Lane.EVENTS) == ["alarm v=1i 1"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per drop episode, not once per append
    outbox.close()

    reopened = Outbox(path, max_telemetry_bytes=1000)
    assert reopened.stats() == stats
    assert reopened.lines(Lane.TELEMETRY) == tel(10, start=30, width=100)[0]


def test_events_are_never_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_telemetry_bytes=100)
    events = [f"alarm v={i}i {i}" for i in range(50)]
    outbox.append(Lane.EVENTS, events, list(range(50)))
    outbox.append(Lane.TELEMETRY, *tel(3, width=60))
    assert outbox.lines(Lane.EVENTS) == events
    assert outbox.count(Lane.TELEMETRY) == 1


def test_settling_a_stale_batch_never_touches_newer_rows(outbox: Outbox) -> None:
    """The batch in flight was purged meanwhile; its ids must not name the rows appended since."""
    outbox.append(Lane.TELEMETRY, *tel(3))
    stale = outbox.take(3)
    outbox.purge_older_than(T0 + 10)
    outbox.append(Lane.TELEMETRY, *tel(3, start=20))
    outbox.settle([i.id for i in stale[:2]], rejected=[stale[2].id])
    assert outbox.lines(Lane.TELEMETRY) == tel(3, start=20)[0]
    assert outbox.stats().rejected == 0


def test_purge_drops_only_old_telemetry_and_counts(outbox: Outbox) -> None:
    outbox.append(Lane.TELEMETRY, *tel(10))
    outbox.append(Lane.EVENTS, ["alarm v=1i 1"], [T0])
    assert outbox.purge_older_than(T0 + 4) == 4
    assert outbox.purge_older_than(T0 + 4) == 0
    assert outbox.lines(Lane.TELEMETRY) == tel(6, start=4)[0]
    assert outbox.count(Lane.EVENTS) == 1
    assert outbox.stats().dropped_telemetry == 4
    assert outbox.stats().oldest_ns == T0


def test_reopen_after_close_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        outbox.append(Lane.TELEMETRY, *tel(1000))
        outbox.append(Lane.EVENTS, ["alarm v=1i 1"], [T0])
        ids = [i.id for i in outbox.take(3)]
        outbox.settle(ids[1:], rejected=ids[:1])
        before = outbox.stats()
    with Outbox(path) as again:
        assert again.stats() == before
        assert again.lines(Lane.TELEMETRY) == tel(998, start=2)[0]
        assert again.count() == 998


def test_committed_appends_survive_a_killed_process(tmp_path: Path) -> None:
    """kill -9 right after append returns: WAL with NORMAL or FULL keeps every commit."""
    path = tmp_path / "outbox.db"
    child = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from gateway.outbox import Lane, Outbox\n"
        "box = Outbox(Path(sys.argv[1]))\n"
        "box.append(Lane.EVENTS, ['alarm v=1i 1'], [1])\n"
        "box.append(Lane.TELEMETRY, [f't v={i}i {i}' for i in range(500)], list(range(500)))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", child, str(path)], cwd=root, timeout=30, check=False
    )
    assert done.returncode == -signal.SIGKILL
    with Outbox(path) as outbox:
        assert outbox.lines(Lane.EVENTS) == ["alarm v=1i 1"]
        assert outbox.count(Lane.TELEMETRY) == 500


def test_empty_outbox_and_argument_checks(outbox: Outbox) -> None:
    assert outbox.take(10) == []
    assert outbox.stats().oldest_ns is None
    outbox.append(Lane.TELEMETRY, [], [])
    with pytest.raises(ValueError, match="timestamps"):
        outbox.append(Lane.TELEMETRY, ["a v=1i 1"], [])


def test_numpy_timestamps_are_accepted(outbox: Outbox) -> None:
    outbox.append(Lane.TELEMETRY, ["a v=1i 1", "b v=1i 2"], np.array([T0 + 2, T0 + 1]))  # type: ignore[arg-type]
    assert outbox.lines(Lane.TELEMETRY) == ["b v=1i 2", "a v=1i 1"]


def test_unicode_lines_are_bounded_by_utf8_bytes(outbox: Outbox) -> None:
    outbox.append(Lane.TELEMETRY, ["gas,room=机房 v=1i 1"], [T0])
    assert outbox.stats().telemetry_bytes == len("gas,room=机房 v=1i 1".encode())


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(OutboxError, match="newer"):
        Outbox(path)


def test_sqlite_errors_become_outbox_errors(outbox: Outbox) -> None:
    outbox.close()
    with pytest.raises(OutboxError, match="take failed"):
        outbox.take(1)


def test_not_a_database_is_an_outbox_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError):
        Outbox(path)


# -- the accounting property ---------------------------------------------------------------

_op = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(Lane), st.integers(1, 8), st.integers(0, 60)),
    st.tuples(st.just("take"), st.integers(0, 12)),
    st.tuples(st.just("settle"), st.lists(st.booleans(), max_size=12), st.booleans()),
    st.tuples(st.just("purge"), st.integers(0, 40)),
    st.tuples(
        st.just("reopen"),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(_op, max_size=30))
def test_every_line_is_held_delivered_rejected_or_counted(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[object, ...]]
) -> None:
    """Whatever the sequence of calls, no appended line vanishes uncounted, and no event at all."""
    path = tmp_path_factory.mktemp("prop") / "outbox.db"
    outbox = Outbox(path, max_telemetry_bytes=300)
    appended: dict[str, Lane] = {}
    delivered: set[str] = set()
    rejected: set[str] = set()
    taken: list[OutboxItem] = []
    for op in ops:
        match op:
            case ("append", Lane() as lane, int(n), int(ts)):
                lines = [f"m{int(lane)} v={len(appended) + i}i" for i in range(n)]
                outbox.append(lane, lines, [T0 + ts] * n)
                appended.update(dict.fromkeys(lines, lane))
            case ("take", int(limit)):
                taken = outbox.take(limit)  # may go stale: settling it later must be harmless
            case ("settle", list(picks), bool(reject_rest)):
                held_now = {item.id for item in outbox.take(10**6)}
                good = [item for item, pick in zip(taken, picks, strict=False) if pick]
                bad = [item for item in taken if item not in good] if reject_rest else []
                outbox.settle([i.id for i in good], [i.id for i in bad])
                delivered.update(i.line for i in good if i.id in held_now)
                rejected.update(i.line for i in bad if i.id in held_now)
            case ("purge", int(ts)):
                outbox.purge_older_than(T0 + ts)
            case ("reopen",):
                outbox.close()
                outbox = Outbox(path, max_telemetry_bytes=300)
    held = outbox.lines(Lane.EVENTS) + outbox.lines(Lane.TELEMETRY)
    stats = outbox.stats()
    assert len(held) == len(set(held)) == outbox.count() == stats.events + stats.telemetry
    assert not set(held) & (delivered | rejected)
    assert not delivered & rejected
    assert stats.rejected == len(rejected)
    assert stats.telemetry_bytes <= 300
    assert len(held) + len(delivered) + len(rejected) + stats.dropped_telemetry == len(appended)
    events = {text for text, lane in appended.items() if lane is Lane.EVENTS}
    assert events <= set(held) | delivered | rejected  # the events lane is never dropped
    outbox.close()
