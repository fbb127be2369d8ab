"""The ledger's own disk fills up while an escalation runs and a new alarm comes.

The ledger's SQLite connection is capped with `PRAGMA max_page_count` at its current size, so its
next write fails with SQLITE_FULL, the very error a full disk gives (SQLite raises it for both);
lifting the cap is the disk getting room again. The engine is stepped once per second as in the
clock-jump soak (demo ladder: duty officer at 0 s, safety officer 120 s later, principal
responsible person 180 s after that). What must hold:
- while the ledger cannot be written, escalation goes on and a new alarm is notified at once
  (under a provisional id), nothing is lost and the daemon's step never fails;
- once it can be written, everything waiting is recorded in order with its original times, each
  step once, the chain verifies, and the new alarm's entry starts its own escalation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import LedgerStorageError
from gateway.model import ReadingBatch
from tests.soak.test_clock_jumps import LADDER, T0, Site

S = 1_000_000_000


class FullSite(Site):
    """The demo site with the office CO head over its levels from `co_from` on."""

    co_from = 10**9

    def batch(self, ts: int) -> ReadingBatch:
        batch = super().batch(ts)
        if (ts - T0) // S >= self.co_from:
            row = self.registry.by_device["office-co-1"].index
            batch.value[row] = 400.0
        return batch

    def fill(self, ts_ns: int) -> None:
        """Cap the file at its size, then let a person's notes take the room left in its pages
        until the ledger refuses one: from then on the disk is full."""
        db = self.ledger._db  # the cap lives on the ledger's own connection
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages}")
        (hazard,) = self.ledger.hazards()

        def note() -> None:
            self.ledger.note(hazard.number, text="x" * 200, by="li.na", ts_ns=ts_ns)

        for _ in range(10_000):
            try:
                note()
            except LedgerStorageError:
                break
        with pytest.raises(LedgerStorageError, match="full"):
            note()

    def make_room(self) -> None:
        self.ledger._db.execute("PRAGMA max_page_count=1073741823")


@pytest.fixture
def site(tmp_path: Path) -> FullSite:
    return FullSite(tmp_path)


def test_a_full_ledger_disk_stops_no_alarm_and_loses_no_record(site: FullSite) -> None:
    site.run(range(10))  # kitchen gas over level 1: duty officer told at 0 s
    site.fill(T0 + 10 * S)
    site.co_from = 60  # a new alarm while the ledger cannot be written
    notes = site.run_notes(range(10, 400))
    kitchen = [n for n in notes if n.device == "kitchen-gas-1"]
    assert [n.step_name for n in kitchen] == LADDER[1:3]  # escalation went on, on time
    assert [(n.ts_ns - T0) // S for n in kitchen] == [120, 300]
    office = [n for n in notes if n.device == "office-co-1"]
    assert office, "the new alarm was not notified while the ledger was full"
    assert office[0].number.startswith("unrecorded:")
    assert (office[0].ts_ns - T0) // S <= 61
    assert site.engine.backlog.failing
    events_while_full = len(site.ledger.events())

    site.make_room()
    late = site.run_notes(range(400, 401))
    assert len(site.engine.backlog) == 0  # everything waiting was written
    assert len(site.ledger.events()) > events_while_full
    assert site.ledger.verify().ok
    by_device = {h.device: h for h in site.ledger.hazards()}
    steps = [(s.level, (s.ts_ns - T0) // S) for s in by_device["kitchen-gas-1"].escalation.steps]
    assert steps == [(0, 0), (1, 120), (2, 300)]  # recorded late, with the times people were told
    office_entry = by_device["office-co-1"]
    states = office_entry.evidence["alarm_states"]
    assert isinstance(states, dict)
    assert set(states.values()) == {"unacknowledged"}  # its transitions took its number
    assert [n.number for n in late if n.device == "office-co-1"] == [office_entry.number]
    assert office_entry.escalation.steps  # and its own ladder started
