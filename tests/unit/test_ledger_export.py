"""Ledger events the outbox never took reach it late (gateway/ledger_export.py), once each."""

from __future__ import annotations

from pathlib import Path

from alerting.ledger import Grade, Kind, Ledger
from alerting.vocabulary import Source
from gateway.ledger_export import export_missed
from gateway.model import Identity
from gateway.outbox import Lane, Outbox
from gateway.telemetry import ledger_line

S = 1_000_000_000
T0 = 1_795_000_000 * S
IDENT = Identity("s1", "gw01")


def register(ledger: Ledger, title: str, at_s: int) -> None:
    ledger.register_finding(
        title=title, kind=Kind.FIRE, grade=Grade.GENERAL, source=Source.SELF_INSPECTION,
        location="store", zone=None, found_by="li.na", ts_ns=T0 + at_s * S,
    )  # fmt: skip


def test_a_new_outbox_is_marked_at_the_ledgers_end_and_sends_nothing_old(tmp_path: Path) -> None:
    ledger, outbox = Ledger(tmp_path / "l.sqlite", IDENT), Outbox(tmp_path / "o.sqlite")
    register(ledger, "blocked exit", 0)
    assert export_missed(ledger, outbox, IDENT) == 0
    assert outbox.lines(Lane.EVENTS) == []
    assert outbox.ledger_seq() == ledger.events()[-1].seq


def test_events_written_while_the_outbox_missed_them_are_appended_once(tmp_path: Path) -> None:
    ledger, outbox = Ledger(tmp_path / "l.sqlite", IDENT), Outbox(tmp_path / "o.sqlite")
    register(ledger, "blocked exit", 0)
    export_missed(ledger, outbox, IDENT)  # the daemon's start: marked
    register(ledger, "extinguisher missing", 10)  # e.g. the CLI while the daemon was down
    register(ledger, "cracked gas hose", 20)
    missed = ledger.events_since(outbox.ledger_seq() or 0)
    assert export_missed(ledger, outbox, IDENT) == len(missed) == 2
    assert outbox.lines(Lane.EVENTS) == [ledger_line(e, IDENT) for e in missed]
    assert export_missed(ledger, outbox, IDENT) == 0  # once


def test_the_mark_moves_with_the_step_that_carries_the_events(tmp_path: Path) -> None:
    ledger, outbox = Ledger(tmp_path / "l.sqlite", IDENT), Outbox(tmp_path / "o.sqlite")
    export_missed(ledger, outbox, IDENT)
    register(ledger, "blocked exit", 0)
    (event,) = ledger.events()
    outbox.append(Lane.EVENTS, [ledger_line(event, IDENT)], [event.ts_ns], ledger_seq=event.seq)
    assert outbox.ledger_seq() == event.seq
    assert export_missed(ledger, outbox, IDENT) == 0
    outbox.append(Lane.EVENTS, ["x v=1i"], [T0], ledger_seq=event.seq - 1)
    assert outbox.ledger_seq() == event.seq  # never moves back
