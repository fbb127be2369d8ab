"""Line protocol of what the gateway writes: one point per event, never two on one key."""

from __future__ import annotations

from alerting.ledger import LedgerEvent
from gateway.model import Identity, ReadingBatch
from gateway.telemetry import ledger_line, reading_lines
from tests.schema_doc import parse_line

IDENT = Identity("plant a", "gw01")
T = 1_795_000_000_123_456_789


def event(seq: int, number: str) -> LedgerEvent:
    return LedgerEvent(seq, T, "gateway:gw01", "escalation", number, {"level": 1}, "", "0", "1")


def test_events_of_one_type_in_one_tick_stay_distinct_points() -> None:
    points = [parse_line(ledger_line(event(seq, f"YH-{seq}"), IDENT)) for seq in (41, 42, 43)]
    keys = {(p.measurement, tuple(sorted(p.tags.items())), p.ts_ns) for p in points}
    assert len(keys) == 3
    assert all(abs(p.ts_ns - T) < 1000 for p in points)  # still within the same microsecond


def test_a_reading_line_escapes_tags_and_keeps_its_time() -> None:
    prefixes = ["co,device=co-1,site=plant\\ a"]
    lines, stamps = reading_lines(ReadingBatch.of([0], [2.5], [T], [1]), prefixes)
    assert lines == [f"co,device=co-1,site=plant\\ a value=2.5,quality=1i {T}"]
    assert stamps == [T]
    assert parse_line(lines[0]).tags["site"] == "plant\\ a"


def test_a_reading_without_a_value_keeps_its_quality_and_writes_no_nan() -> None:
    lines, _ = reading_lines(ReadingBatch.of([0], [float("nan")], [T], [2]), ["co,device=co-1"])
    assert lines == [f"co,device=co-1 quality=2i {T}"]
