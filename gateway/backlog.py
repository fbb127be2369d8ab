"""What the ledger could not take yet: the engine's side of a ledger that cannot be written.

When the ledger's disk is full (or its file fails), the safety path does not stop: alarms are
still annunciated and escalated, and everything the ledger should have recorded waits here, in
order, until a write succeeds again. Then it is written with its original times, so the record
says when people were really told:
- alarms whose entry could not be raised (they are notified at once under a provisional id);
- alarm transitions;
- escalation steps notified before they could be recorded (their ladder goes on from them, so
  reminders keep coming while the disk is full).
Memory only: a stop while the disk is still full loses the backlog (the daemon logs how much).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from alerting.alarms import AlarmKey, Transition
from alerting.records import EscalationStep

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingTransition:
    tr: Transition
    number: str | None
    actor: str
    peak: float | None
    waits_for_entry: bool  # its alarm's entry is not raised yet: takes its number when it is


@dataclass(slots=True)
class LedgerBacklog:
    transitions: list[PendingTransition] = field(default_factory=list)
    unraised: dict[AlarmKey, Any] = field(default_factory=dict)  # alarm -> how to raise it
    steps: dict[str, list[EscalationStep]] = field(default_factory=dict)  # hazard -> notified
    failing: bool = False
    late: int = 0  # writes that waited, since the ledger last failed

    def __len__(self) -> int:
        steps = sum(len(v) for v in self.steps.values())
        return len(self.transitions) + len(self.unraised) + steps

    def failed(self, exc: Exception) -> None:
        if not self.failing:
            log.critical(
                "ledger cannot be written (%s): alarms are still notified and escalated; what "
                "the ledger should hold waits in memory until it can be written",
                exc,
            )
        self.failing = True

    def caught_up(self) -> None:
        """A write went through; the ledger counts as writable once nothing waits."""
        if self.failing and not len(self):
            log.warning("ledger writable again; %d record(s) written late", self.late)
            self.failing, self.late = False, 0

    def entry_raised(self, key: AlarmKey, number: str) -> None:
        """The alarm `key` finally has its entry: its waiting transitions take the number."""
        self.unraised.pop(key, None)
        for p in self.transitions:
            if p.waits_for_entry and p.tr.key == key:
                p.number, p.waits_for_entry = number, False
