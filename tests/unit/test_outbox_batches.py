"""Column batches for the forwarder (take after a cursor, settle by range), drops by reason, and a
second connection (the CLI) purging under the daemon's feet."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.outbox import Batch, DropReason, Lane, Outbox

T0 = 1_700_000_000_000_000_000


def tel(outbox: Outbox, offsets: list[int], tag: str = "t") -> list[str]:
    lines = [f"{tag} v={k}i {T0 + k}" for k in offsets]
    outbox.append(Lane.TELEMETRY, lines, [T0 + k for k in offsets])
    return lines


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite")


def test_a_take_after_the_batch_in_flight_skips_it_but_not_events_appended_since(
    outbox: Outbox,
) -> None:
    outbox.append(Lane.EVENTS, ["alarm v=1i 1"], [T0 + 50])
    lines = tel(outbox, list(range(10)))
    first = outbox.take_batch(4)
    assert (first.lines, first.events) == (["alarm v=1i 1", *lines[:3]], 1)
    outbox.append(Lane.EVENTS, ["alarm v=2i 2"], [T0 - 100])  # older than everything, but new
    cursor = (first.ts_ns[-1], first.ids[-1])
    second = outbox.take_batch(4, after=cursor, events_above=first.high_id)
    assert (second.lines, second.events) == (["alarm v=2i 2", *lines[3:6]], 1)


def test_settling_a_batch_removes_it_and_keeps_rows_appended_since(outbox: Outbox) -> None:
    lines = tel(outbox, [0, 2, 4, 6, 8])
    batch = outbox.take_batch(10)
    late = tel(outbox, [3, 5], tag="late")  # acquired inside the batch's range, stored after it
    outbox.settle_batch(batch, rejected=[batch.ids[1]])
    assert outbox.lines(Lane.TELEMETRY) == late
    stats = outbox.stats()
    assert (stats.telemetry, stats.rejected) == (2, 1)
    assert stats.telemetry_bytes == sum(len(text) for text in late)
    assert lines[1] not in outbox.lines(Lane.TELEMETRY)


def test_settling_a_batch_part_of_which_was_dropped_meanwhile(outbox: Outbox) -> None:
    tel(outbox, list(range(10)))
    batch = outbox.take_batch(10)
    assert outbox.purge_older_than(T0 + 5) == 5
    outbox.settle_batch(batch, rejected=[batch.ids[0], batch.ids[9]])
    stats = outbox.stats()
    assert (stats.telemetry, stats.telemetry_bytes, stats.dropped_expired) == (0, 0, 5)
    assert stats.rejected == 1  # the first refused line had expired already: not counted twice


def test_a_batch_that_is_not_one_run_is_settled_by_id(outbox: Outbox) -> None:
    """Misuse guard: a hand-made batch with a hole must not take the hole's row with it."""
    lines = tel(outbox, list(range(5)))
    whole = outbox.take_batch(5)
    holey = Batch([whole.ids[0], whole.ids[4]], [], [whole.ts_ns[0], whole.ts_ns[4]], 0)
    outbox.settle_batch(holey)
    assert outbox.lines(Lane.TELEMETRY) == lines[1:4]


def test_drops_are_counted_by_reason_and_reported(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_telemetry_bytes=400)
    tel(outbox, list(range(30)))  # 26-27 bytes each: 14 fit, 16..29
    overflow = outbox.stats().dropped_overflow
    assert overflow == 16
    assert outbox.purge_older_than(T0 + 20, reason=DropReason.EXPIRED) == 4
    purged = outbox.purge_older_than(T0 + 25, reason=DropReason.PURGED, limit=2)
    assert purged == 2
    outbox.append(Lane.EVENTS, ["alarm v=1i 1"], [T0 + 3])
    st = outbox.stats()
    assert (st.dropped_overflow, st.dropped_expired, st.dropped_purged) == (16, 4, 2)
    assert st.dropped_telemetry == 30 - st.telemetry
    assert (st.oldest_event_ns, st.oldest_telemetry_ns, st.oldest_ns) == (T0 + 3, T0 + 22, T0 + 3)
    assert st.oldest_age_s(T0 + 2_000_000_003) == 2.0
    assert st.file_bytes > 0
    doc = st.to_json(T0 + 3)
    assert doc["dropped"] == {"overflow": 16, "expired": 4, "purged": 2}
    fields = st.health_fields(T0 + 3)
    assert fields["outbox_dropped"] == st.dropped_telemetry
    assert (fields["outbox_events"], fields["outbox_oldest_age_s"]) == (1, 0.0)


def test_a_purge_through_another_connection_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    daemon = Outbox(path, max_telemetry_bytes=10_000)
    tel(daemon, list(range(100)))
    cli = Outbox(path, max_telemetry_bytes=None)  # as `hazgw outbox purge` opens it
    assert cli.max_telemetry_bytes == 10_000  # the bound the daemon recorded
    while cli.purge_older_than(T0 + 90, reason=DropReason.PURGED, limit=7):
        pass
    cli.close()
    tel(daemon, [200])  # its next transaction sees the purge
    assert daemon.count(Lane.TELEMETRY) == 11
    st = daemon.stats()
    assert (st.telemetry, st.dropped_purged) == (11, 90)
    assert st.telemetry_bytes == sum(len(text) for text in daemon.lines(Lane.TELEMETRY))
    daemon.close()


# -- the pipelined forwarder's pattern, whatever else happens meanwhile ---------------------

_step = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(Lane), st.integers(1, 6), st.integers(0, 40)),
    st.tuples(st.just("take"), st.integers(1, 8), st.booleans()),
    st.tuples(st.just("settle"), st.lists(st.booleans(), max_size=8)),
    st.tuples(st.just("purge"), st.integers(0, 40)),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_step, max_size=30))
def test_batches_taken_after_a_cursor_never_repeat_or_lose_a_line(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[object, ...]]
) -> None:
    """Take batches after the previous one (as the forwarder does while one is in flight),
    settle them in order while appends and purges go on: every line is sent at most once per
    pass, and what is not held was delivered, rejected or dropped, counted."""
    outbox = Outbox(tmp_path_factory.mktemp("batches") / "outbox.sqlite")
    appended: set[str] = set()
    flight: list[Batch] = []  # taken, not yet settled, oldest first
    sent: list[str] = []
    rejected: set[str] = set()
    for step in steps:
        match step:
            case ("append", Lane() as lane, int(n), int(at)):
                lines = [f"m{int(lane)} v={len(appended) + i}i" for i in range(n)]
                outbox.append(lane, lines, [T0 + at] * n)
                appended.update(lines)
            case ("take", int(limit), bool(chain)):
                last = flight[-1] if flight and chain else None
                if last is not None and last.events == len(last):
                    last = None  # the forwarder chains only after a batch that reached telemetry
                if last is None:
                    flight.clear()  # a new pass starts from the top
                    batch = outbox.take_batch(limit)
                else:
                    cursor = (last.ts_ns[-1], last.ids[-1])
                    batch = outbox.take_batch(limit, after=cursor, events_above=last.high_id)
                assert not set(batch.lines) & {x for b in flight for x in b.lines}
                if len(batch):
                    flight.append(batch)
            case ("settle", list(refuse)) if flight:
                batch = flight.pop(0)
                present = set(outbox.lines(Lane.EVENTS) + outbox.lines(Lane.TELEMETRY))
                bad = [i for i, no in zip(batch.ids, refuse, strict=False) if no]
                outbox.settle_batch(batch, bad)
                gone = [text for text in batch.lines if text in present]
                rejected.update(t for i, t in zip(batch.ids, batch.lines, strict=True) if i in bad)
                sent += [t for t in gone if t not in rejected]
            case ("purge", int(at)):
                outbox.purge_older_than(T0 + at)
    held = outbox.lines(Lane.EVENTS) + outbox.lines(Lane.TELEMETRY)
    stats = outbox.stats()
    assert len(sent) == len(set(sent))
    assert not set(held) & (set(sent) | rejected)
    assert stats.events + stats.telemetry == len(held) == outbox.count()
    assert stats.rejected <= len(rejected)
    accounted = len(held) + len(sent) + stats.rejected + stats.dropped_telemetry
    assert accounted == len(appended)
    outbox.close()


def test_a_chain_never_takes_again_an_event_of_an_earlier_batch_still_in_flight(
    tmp_path: Path,
) -> None:
    """Found by the property above: the second batch of a chain held only telemetry with ids
    below an event of the first, and the third take, after the second's ids, sent it again."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.append(Lane.EVENTS, ["e1"], [T0])
    outbox.append(Lane.TELEMETRY, ["t2", "t3"], [T0, T0])
    outbox.append(Lane.EVENTS, ["e4"], [T0])
    first = outbox.take_batch(3)
    second = outbox.take_batch(
        1, after=(first.ts_ns[-1], first.ids[-1]), events_above=first.high_id
    )
    third = outbox.take_batch(
        1, after=(second.ts_ns[-1], second.ids[-1]), events_above=second.high_id
    )
    assert (first.lines, second.lines, third.lines) == (["e1", "e4", "t2"], ["t3"], [])
