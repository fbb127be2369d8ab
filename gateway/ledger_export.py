"""Ledger events the outbox never took, handed to it late.

Every ledger event goes to InfluxDB through the outbox, marked there with its sequence number
(`Outbox.ledger_seq`) in the same transaction. Some never reach it in the step that made them:
the daemon killed or the power cut between the ledger's commit and the outbox's, the outbox's
disk full at that moment, or people's actions through the CLI while the daemon was down. At start
and when the outbox is writable again, what the ledger holds beyond the mark is appended; a
ledger event's point is fixed by its time and sequence number, so one sent twice overwrites
itself in InfluxDB rather than doubling.
"""

from __future__ import annotations

import logging

from alerting.ledger import Ledger
from gateway.model import Identity
from gateway.outbox import Lane, Outbox
from gateway.telemetry import ledger_line

log = logging.getLogger(__name__)


def export_missed(ledger: Ledger, outbox: Outbox, ident: Identity) -> int:
    """Append the ledger events beyond the outbox's mark; how many. A new outbox (no mark) is
    marked at the ledger's end: its predecessor's fate is logged where it was moved aside."""
    mark = outbox.ledger_seq()
    if mark is None:
        outbox.mark_ledger(ledger.last_seq)
        return 0
    missed = ledger.events_since(mark)
    if not missed:
        return 0
    lines = [ledger_line(e, ident) for e in missed]
    outbox.append(Lane.EVENTS, lines, [e.ts_ns for e in missed], ledger_seq=missed[-1].seq)
    log.warning(
        "%d ledger event(s) had not reached the outbox (a stop between the two writes, a full "
        "outbox disk, or the CLI while the daemon was down): queued for InfluxDB now",
        len(missed),
    )
    return len(missed)
