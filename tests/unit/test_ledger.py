"""The hazard ledger (隐患台账): append-only, hash-chained, numbered, shared by daemon and CLI."""

from __future__ import annotations

import itertools
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.escalation import EscalationLevel, EscalationPolicy, due_steps
from alerting.hazards import GENESIS_HASH, LabelledEnum
from alerting.ledger import (
    MIGRATIONS,
    EscalationStep,
    Grade,
    Hazard,
    Kind,
    Ledger,
    Source,
    Status,
)
from gateway.errors import LedgerError
from gateway.model import Identity

GW1 = Identity("demo", "gw01")
T0 = int(datetime(2026, 3, 1, 8, 0, tzinfo=UTC).timestamp()) * 1_000_000_000
MINUTE = 60 * 1_000_000_000
ISO_T0 = "2026-03-01T08:00:00.000000Z"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger(path, GW1) as opened:
        yield opened


def gas(
    ledger: Ledger,
    *,
    level: int = 1,
    value: float | None = 30.0,
    device: str = "kitchen-gas-1",
    ts_ns: int = T0,
    start_level: int = 0,
) -> tuple[Hazard, bool]:
    return ledger.raise_alarm_hazard(
        dedup_key=f"dev:{device}:gas",
        kind=Kind.GAS,
        title="Combustible gas leak in the kitchen",
        grade=Grade.GENERAL,
        level=level,
        device=device,
        zone="kitchen",
        location="Kitchen, ground floor",
        value=value,
        condition=f"level{level}",
        actor=f"gateway:gw01/rule:level{level}",
        ts_ns=ts_ns,
        start_level=start_level,
    )


def fire(ledger: Ledger, device: str, ts_ns: int = T0) -> tuple[Hazard, bool]:
    return ledger.raise_alarm_hazard(
        dedup_key="zone:store:fire",
        kind=Kind.FIRE,
        title="Fire in the store",
        grade=Grade.MAJOR,
        level=1,
        device=device,
        zone="store",
        location="Store room",
        value=1.0,
        condition="level1",
        actor="gateway:gw01/rule:level1",
        ts_ns=ts_ns,
        start_level=1,
    )


def step(level: int, ts_ns: int, *, repeat: int = 0, round_: int = 0) -> EscalationStep:
    return EscalationStep(level, f"level-{level}", (f"person-{level}",), ts_ns, repeat, round_)


# ---- registration, dedup, occurrences ---------------------------------------------------------
def test_first_alarm_registers_a_numbered_monitoring_entry(ledger: Ledger) -> None:
    hazard, created = gas(ledger)
    assert created
    assert hazard.number == "YH-2026-demo-gw01-0001"
    assert (hazard.status, hazard.source, hazard.kind) == (
        Status.REGISTERED,
        Source.MONITORING_ALARM,
        Kind.GAS,
    )
    assert hazard.found_by == "gateway:gw01/rule:level1"
    assert hazard.found_at_ns == T0
    assert (hazard.occurrences, hazard.peak_value, hazard.level) == (1, 30.0, 1)
    assert hazard.escalation.start_level == 0
    assert hazard.escalation.started_ns == T0
    assert ledger.open_hazard("dev:kitchen-gas-1:gas") == hazard


def test_repeated_alarms_on_an_open_key_count_occurrences_on_one_entry(ledger: Ledger) -> None:
    first, _ = gas(ledger, value=30.0)
    again, created = gas(ledger, value=41.5, ts_ns=T0 + MINUTE)
    last, _ = gas(ledger, value=35.0, ts_ns=T0 + 2 * MINUTE)
    assert not created
    assert again.number == last.number == first.number
    assert last.occurrences == 3
    assert last.peak_value == 41.5
    assert last.evidence["alarm_count"] == 3
    assert last.evidence["last_value"] == 35.0
    assert [e.type for e in ledger.events(first.number)] == ["registered", *["occurrence"] * 2]
    assert last.events == [e.seq for e in ledger.events(first.number)]


def test_a_zone_hazard_collects_every_device_that_alarmed(ledger: Ledger) -> None:
    fire(ledger, "smoke-1")
    hazard, created = fire(ledger, "smoke-2", T0 + MINUTE)
    assert not created
    assert hazard.device == "smoke-1"  # the first detector stays the entry's device
    assert hazard.evidence["devices"] == ["smoke-1", "smoke-2"]


def test_a_higher_level_raises_the_entry_and_its_escalation_start(ledger: Ledger) -> None:
    gas(ledger, level=1, start_level=0)
    hazard, created = gas(ledger, level=2, value=55.0, start_level=1, ts_ns=T0 + MINUTE)
    assert not created
    assert hazard.level == 2
    assert hazard.escalation.start_level == 1
    assert hazard.escalation.started_ns == T0 + MINUTE  # the raised level is due at once
    assert hazard.escalation.round == 1
    assert ledger.events(hazard.number)[-1].payload["raised"] is True


def test_a_lower_level_never_lowers_the_entry(ledger: Ledger) -> None:
    gas(ledger, level=2, start_level=1)
    hazard, _ = gas(ledger, level=1, start_level=0, ts_ns=T0 + MINUTE)
    assert (hazard.level, hazard.escalation.start_level, hazard.escalation.round) == (2, 1, 0)


def test_the_raised_start_level_is_never_below_the_current_one(ledger: Ledger) -> None:
    gas(ledger, level=1, start_level=2)
    hazard, _ = gas(ledger, level=2, start_level=1, ts_ns=T0 + MINUTE)
    assert hazard.escalation.start_level == 2


def test_a_repeat_alarm_after_acknowledgement_keeps_the_ack(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    again, _ = gas(ledger, ts_ns=T0 + 2 * MINUTE)
    assert again.status is Status.ACKNOWLEDGED
    assert again.acknowledged_by == "wang"


def test_a_level_rise_after_acknowledgement_rearms_escalation(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    again, _ = gas(ledger, level=2, start_level=1, ts_ns=T0 + 2 * MINUTE)
    assert again.status is Status.REGISTERED
    assert again.acknowledged_at_ns is None
    assert again.acknowledged_by is None
    assert "acknowledgement cleared" in ledger.events(hazard.number)[-1].reason


def test_an_alarm_after_closure_opens_a_new_entry_linked_to_the_old(ledger: Ledger) -> None:
    old, _ = gas(ledger)
    ledger.acknowledge(old.number, by="wang", ts_ns=T0 + MINUTE)
    ledger.close(old.number, by="li", ts_ns=T0 + 2 * MINUTE, reason="valve replaced")
    assert ledger.open_hazard(old.dedup_key) is None
    new, created = gas(ledger, ts_ns=T0 + 3 * MINUTE)
    assert created
    assert new.number == "YH-2026-demo-gw01-0002"
    assert new.recurrence_of == old.number


def test_a_nan_reading_still_registers_with_a_null_value(ledger: Ledger) -> None:
    hazard, _ = gas(ledger, value=float("nan"))
    assert hazard.peak_value is None
    assert ledger.events(hazard.number)[0].payload["value"] is None


# ---- numbering --------------------------------------------------------------------------------
def test_numbers_count_up_per_ledger_and_take_the_year_from_found_at(ledger: Ledger) -> None:
    gas(ledger, device="a")
    gas(ledger, device="b")
    next_year = int(datetime(2027, 1, 2, tzinfo=UTC).timestamp()) * 1_000_000_000
    gas(ledger, device="c", ts_ns=next_year)
    assert [h.number for h in ledger.hazards()] == [
        "YH-2026-demo-gw01-0001",
        "YH-2026-demo-gw01-0002",
        "YH-2027-demo-gw01-0003",
    ]


def test_the_year_follows_the_sites_time_zone(path: Path) -> None:
    beijing = timezone(timedelta(hours=8))
    new_year_local = int(datetime(2027, 1, 1, 3, 0, tzinfo=beijing).timestamp()) * 10**9
    with Ledger(path, GW1, prefix="AQ", tz=beijing) as ledger:
        hazard, _ = gas(ledger, ts_ns=new_year_local)  # still 2026 in UTC
    assert hazard.number == "AQ-2027-demo-gw01-0001"


def test_two_gateways_never_issue_the_same_number(tmp_path: Path) -> None:
    numbers: list[set[str]] = []
    for gateway in ("gw01", "gw02"):
        with Ledger(tmp_path / f"{gateway}.sqlite", Identity("plant-a", gateway)) as ledger:
            numbers.append({gas(ledger, device=f"d{i}")[0].number for i in range(3)})
    assert numbers[0].isdisjoint(numbers[1])
    assert "YH-2026-plant-a-gw02-0001" in numbers[1]


@pytest.mark.parametrize(
    ("prefix", "identity"),
    [("YH", Identity("demo", "gw-01")), ("Y-H", GW1), ("YH", Identity("de mo", "gw01"))],
)
def test_ids_that_would_make_numbers_ambiguous_are_refused(
    path: Path, prefix: str, identity: Identity
) -> None:
    with pytest.raises(LedgerError, match="unambiguous"):
        Ledger(path, identity, prefix=prefix)


def test_people_register_findings_that_are_never_merged(ledger: Ledger) -> None:
    first = ledger.register_finding(
        title="Blocked fire exit",
        kind=Kind.FIRE,
        grade=Grade.MAJOR,
        source=Source.REPORT,
        location="Store room, east exit",
        zone="store",
        found_by="anonymous",
        ts_ns=T0,
        description="Pallets in front of the exit door",
    )
    second = ledger.register_finding(
        title="Blocked fire exit",
        kind=Kind.FIRE,
        grade=Grade.MAJOR,
        source=Source.SELF_INSPECTION,
        location="Store room, east exit",
        zone="store",
        found_by="zhang",
        ts_ns=T0 + MINUTE,
    )
    assert first.number != second.number
    assert (first.source, first.found_by, first.occurrences) == (Source.REPORT, "anonymous", 0)
    assert first.description == "Pallets in front of the exit door"
    assert first.dedup_key == f"finding:{first.number}"
    assert first.status is Status.REGISTERED


# ---- people's actions -------------------------------------------------------------------------
def test_acknowledge_records_who_and_when(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    event = ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE, reason="on my way")
    assert (event.type, event.actor, event.reason) == ("acknowledged", "wang", "on my way")
    acked = ledger.hazard(hazard.number)
    assert (acked.status, acked.acknowledged_by) == (Status.ACKNOWLEDGED, "wang")
    assert acked.acknowledged_at_ns == T0 + MINUTE


def test_a_second_acknowledgement_is_refused_and_says_by_whom(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    with pytest.raises(LedgerError, match="already acknowledged by wang at 2026-03-01T08:01"):
        ledger.acknowledge(hazard.number, by="li", ts_ns=T0 + 2 * MINUTE)
    assert len(ledger.events(hazard.number)) == 2  # nothing appended


def test_unknown_and_closed_entries_cannot_be_acknowledged(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown hazard"):
        ledger.acknowledge("YH-2026-demo-gw01-9999", by="wang", ts_ns=T0)
    hazard, _ = gas(ledger)
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    ledger.close(hazard.number, by="li", ts_ns=T0 + 2 * MINUTE, reason="sensor recalibrated")
    with pytest.raises(LedgerError, match="closed"):
        ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + 3 * MINUTE)


def test_closing_needs_an_acknowledgement_and_a_reason(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    with pytest.raises(LedgerError, match="cannot become closed"):
        ledger.close(hazard.number, by="li", ts_ns=T0 + MINUTE, reason="false alarm")
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    with pytest.raises(LedgerError, match="needs a reason"):
        ledger.close(hazard.number, by="li", ts_ns=T0 + 2 * MINUTE, reason="  ")
    ledger.close(hazard.number, by="li", ts_ns=T0 + 2 * MINUTE, reason="hose replaced")
    closed = ledger.hazard(hazard.number)
    assert (closed.status, closed.closed_by, closed.closed_at_ns) == (
        Status.CLOSED,
        "li",
        T0 + 2 * MINUTE,
    )


def test_escalation_steps_are_recorded_once_and_stop_at_acknowledgement(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    ledger.record_escalation(hazard.number, step(0, T0), actor="gateway:gw01")
    assert ledger.hazard(hazard.number).escalation.steps == [step(0, T0)]
    with pytest.raises(LedgerError, match="already notified"):
        ledger.record_escalation(hazard.number, step(0, T0 + 1), actor="gateway:gw01")
    with pytest.raises(LedgerError, match="round"):
        ledger.record_escalation(hazard.number, step(1, T0, round_=3), actor="gateway:gw01")
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    with pytest.raises(LedgerError, match="escalation has stopped"):
        ledger.record_escalation(hazard.number, step(1, T0 + 5 * MINUTE), actor="gateway:gw01")


def test_alarm_transitions_are_an_audit_trail_linked_to_their_entry(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    event = ledger.record_alarm_transition(
        number=hazard.number,
        alarm_key="kitchen-gas-1/level1",
        device="kitchen-gas-1",
        condition="level1",
        from_state="normal",
        to_state="unacked",
        value=30.0,
        actor="gateway:gw01/rule:level1",
        ts_ns=T0,
    )
    assert event.payload["to"] == "unacked"
    assert event.seq in ledger.hazard(hazard.number).events
    assert ledger.hazard(hazard.number).evidence["alarm_states"] == {
        "kitchen-gas-1/level1": "unacked"
    }
    unlinked = ledger.record_alarm_transition(
        number=None,
        alarm_key="store-temp-1/stale",
        device="store-temp-1",
        condition="stale",
        from_state="unacked",
        to_state="normal",
        value=None,
        actor="gateway:gw01/rule:stale",
        ts_ns=T0,
    )
    assert unlinked.number is None
    with pytest.raises(LedgerError, match="unknown hazard"):
        ledger.record_alarm_transition(
            number="YH-2026-demo-gw01-0404",
            alarm_key="x/level1",
            device="x",
            condition="level1",
            from_state="normal",
            to_state="unacked",
            value=1.0,
            actor="gateway:gw01/rule:level1",
            ts_ns=T0,
        )


# ---- storage: append-only, chained, durable, shared ---------------------------------------
def test_sqlite_itself_refuses_update_and_delete(ledger: Ledger, path: Path) -> None:
    gas(ledger)
    raw = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE events SET reason = 'nothing happened'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM events")
    finally:
        raw.close()


def test_every_event_has_actor_time_reason_and_links_to_the_one_before(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    gas(ledger, level=2, ts_ns=T0 + MINUTE)
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + 2 * MINUTE)
    events = ledger.events()
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in events] == [1, 2, 3]
    for before, event in itertools.pairwise(events):
        assert event.prev_hash == before.hash
    assert all(e.actor and e.reason and e.ts_ns >= T0 for e in events)


def test_verify_passes_an_untouched_ledger(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    assert ledger.verify().ok
    assert ledger.verify().checked == 2


def test_verify_names_the_first_event_altered_behind_the_triggers_back(
    ledger: Ledger, path: Path
) -> None:
    hazard, _ = gas(ledger, value=60.0)
    gas(ledger, value=70.0, ts_ns=T0 + MINUTE)
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + 2 * MINUTE)
    raw = sqlite3.connect(path)
    try:
        raw.execute("DROP TRIGGER events_no_update")
        forged = json.loads(raw.execute("SELECT payload FROM events WHERE seq = 2").fetchone()[0])
        forged["value"] = 7.0  # make the peak look harmless
        forged_text = json.dumps(forged, sort_keys=True, separators=(",", ":"))
        raw.execute("UPDATE events SET payload = ? WHERE seq = 2", (forged_text,))
        raw.commit()
    finally:
        raw.close()
    result = ledger.verify()
    assert not result.ok
    assert result.first_broken_seq == 2
    assert "hash mismatch" in result.reason


def test_verify_names_the_event_after_a_removed_one(ledger: Ledger, path: Path) -> None:
    for minute in range(3):
        gas(ledger, ts_ns=T0 + minute * MINUTE)
    raw = sqlite3.connect(path)
    try:
        raw.execute("DROP TRIGGER events_no_delete")
        raw.execute("DELETE FROM events WHERE seq = 2")
        raw.commit()
    finally:
        raw.close()
    result = ledger.verify()
    assert (result.ok, result.first_broken_seq) == (False, 3)


def test_verify_reports_missing_triggers_even_when_the_chain_holds(
    ledger: Ledger, path: Path
) -> None:
    gas(ledger)
    raw = sqlite3.connect(path)
    try:
        raw.execute("DROP TRIGGER events_no_delete")
        raw.commit()
    finally:
        raw.close()
    result = ledger.verify()
    assert (result.ok, result.first_broken_seq) == (False, None)
    assert "events_no_delete" in result.reason


def test_an_ack_from_the_cli_process_is_seen_by_refresh(ledger: Ledger, path: Path) -> None:
    hazard, _ = gas(ledger)
    with Ledger(path, GW1) as cli:
        cli.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    seen = ledger.refresh()
    assert [(e.type, e.number, e.actor) for e in seen] == [("acknowledged", hazard.number, "wang")]
    assert ledger.hazard(hazard.number).status is Status.ACKNOWLEDGED
    assert ledger.refresh() == []


def test_appends_decide_on_what_the_other_process_wrote(ledger: Ledger, path: Path) -> None:
    hazard, _ = gas(ledger)
    with Ledger(path, GW1) as cli:
        cli.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
        cli_finding = cli.register_finding(
            title="Extinguisher missing",
            kind=Kind.FIRE,
            grade=Grade.GENERAL,
            source=Source.SELF_INSPECTION,
            location="Kitchen",
            zone="kitchen",
            found_by="zhang",
            ts_ns=T0 + MINUTE,
        )
    with pytest.raises(LedgerError, match="already acknowledged by wang"):
        ledger.acknowledge(hazard.number, by="li", ts_ns=T0 + 2 * MINUTE)
    other, created = gas(ledger, device="kitchen-gas-2", ts_ns=T0 + 2 * MINUTE)
    assert created
    assert other.number != cli_finding.number  # numbering continued after the CLI's entry
    # what the append caught up on is still reported by the next refresh
    assert [e.type for e in ledger.refresh()] == ["acknowledged", "registered"]


def test_events_since_reads_every_writer(ledger: Ledger, path: Path) -> None:
    gas(ledger)
    with Ledger(path, GW1) as cli:
        cli.acknowledge("YH-2026-demo-gw01-0001", by="wang", ts_ns=T0 + MINUTE)
    assert [e.seq for e in ledger.events_since(1)] == [2]


def test_the_file_uses_wal_and_the_current_schema(ledger: Ledger, path: Path) -> None:
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        raw.close()


def test_a_ledger_from_newer_software_is_refused(path: Path) -> None:
    Ledger(path, GW1).close_db()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(LedgerError, match="newer than this software"):
        Ledger(path, GW1)


def test_sqlite_errors_become_ledger_errors(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="open"):
        Ledger(tmp_path / "missing-dir" / "ledger.sqlite", GW1)
    not_a_db = tmp_path / "garbage.sqlite"
    not_a_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError):
        Ledger(not_a_db, GW1)


def test_returned_hazards_are_snapshots(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    gas(ledger, ts_ns=T0 + MINUTE)
    assert hazard.occurrences == 1  # later events do not change what the caller holds


# ---- vocabulary and JSON ----------------------------------------------------------------------
@pytest.mark.parametrize("member", [*Grade, *Status, *Source, *Kind], ids=str)
def test_value_english_and_chinese_labels_all_parse(member: LabelledEnum) -> None:
    enum = type(member)
    assert enum.parse(member.value) is member
    assert enum.parse(member.label.en.upper()) is member
    assert enum.parse(f" {member.label.zh} ") is member


def test_known_labels() -> None:
    assert Grade.parse("重大") is Grade.MAJOR
    assert Status.parse("已销号") is Status.CLOSED
    assert Source.parse("举报") is Source.REPORT
    assert Kind.parse("可燃/有毒气体") is Kind.GAS
    with pytest.raises(LedgerError, match="一般"):
        Grade.parse("critical")


def test_to_json_has_the_required_keys_and_iso_times(ledger: Ledger) -> None:
    hazard, _ = gas(ledger)
    ledger.record_escalation(hazard.number, step(0, T0), actor="gateway:gw01")
    ledger.acknowledge(hazard.number, by="wang", ts_ns=T0 + MINUTE)
    doc = ledger.hazard(hazard.number).to_json()
    required = {
        "number", "title", "grade", "status", "source", "device", "kind", "found_at", "location",
        "zone", "level", "occurrences", "peak_value", "acknowledged_at", "acknowledged_by",
        "escalation",
    }  # fmt: skip
    assert required <= doc.keys()
    assert doc["found_at"] == ISO_T0
    assert doc["acknowledged_at"] == "2026-03-01T08:01:00.000000Z"
    assert (doc["grade"], doc["status"], doc["source"]) == (
        "general",
        "acknowledged",
        "monitoring_alarm",
    )
    first_step = {"level": 0, "name": "level-0", "recipients": ["person-0"], "at": ISO_T0}
    assert doc["escalation"] == {
        "start_level": 0,
        "started_at": ISO_T0,
        "round": 0,
        "steps": [{**first_step, "repeat": 0, "round": 0}],
    }
    assert json.loads(json.dumps(doc)) == doc
    assert datetime.fromisoformat(str(doc["found_at"])).tzinfo is not None


# ---- property: replay rebuilds the projection ------------------------------------------------
POLICY = EscalationPolicy(
    (
        EscalationLevel("duty", ("wang",), 0),
        EscalationLevel("supervisor", ("li",), 300),
        EscalationLevel("manager", ("zhao",), 600),
    ),
    repeat_s=900,
)
Op = tuple[str, int, int, int]  # (action, which, level, minutes later)
OPS = st.tuples(
    st.sampled_from(["raise", "raise", "ack", "escalate", "close", "finding", "transition"]),
    st.integers(0, 3),
    st.integers(1, 2),
    st.integers(0, 30),
)


def _play(ledger: Ledger, op: Op, now: int) -> None:
    action, which, level, _ = op
    numbers = [h.number for h in ledger.hazards()]
    number = numbers[which % len(numbers)] if numbers else "YH-none"
    if action == "raise":
        gas(ledger, level=level, device=f"gas-{which}", value=10.0 * level + which, ts_ns=now)
    elif action == "ack":
        ledger.acknowledge(number, by="wang", ts_ns=now)
    elif action == "close":
        ledger.close(number, by="li", ts_ns=now, reason="fixed")
    elif action == "finding":
        ledger.register_finding(
            title="Loose cable",
            kind=Kind.FAULT,
            grade=Grade.GENERAL,
            source=Source.UPPER_INSPECTION,
            location="Store",
            zone=None,
            found_by="inspector",
            ts_ns=now,
        )
    elif action == "transition":
        ledger.record_alarm_transition(
            number=number if numbers and which else None,
            alarm_key=f"gas-{which}/level{level}",
            device=f"gas-{which}",
            condition=f"level{level}",
            from_state="unacked",
            to_state="acked",
            value=None,
            actor="gateway:gw01/rule:level1",
            ts_ns=now,
        )
    else:
        for hazard in ledger.open_hazards():
            for due in due_steps(hazard, POLICY, now):
                ledger.record_escalation(hazard.number, due, actor="gateway:gw01")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=25))
def test_replaying_the_ledger_rebuilds_the_same_projection(ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite"
        live, watcher = Ledger(path, GW1), Ledger(path, GW1)
        now = T0
        for op in ops:
            now += op[3] * MINUTE
            stored = len(live.events())
            try:
                _play(live, op, now)
            except LedgerError:
                assert len(live.events()) == stored  # a refused action leaves no trace
        expected = [h.to_json() for h in live.hazards()]
        watcher.refresh()
        with Ledger(path, GW1) as replayed:
            assert [h.to_json() for h in replayed.hazards()] == expected
            assert replayed.verify().ok
        assert [h.to_json() for h in watcher.hazards()] == expected
        live.close_db()
        watcher.close_db()
