"""The append-only, hash-chained hazard ledger (隐患台账) in SQLite.

The file format and the chain are in ledger_db.py; what the events mean in hazards.py; the moves
people may make in lifecycle.py and ledger_people.py. This module registers entries (alarms,
findings, drills), records what the machine does (alarm transitions, escalation, overdue
deadlines, deliveries) and reads the projection.

The daemon and the `hazgw` CLI append to the same file from two processes. Every append therefore
takes the write lock (`BEGIN IMMEDIATE`), first catches up with events the other process wrote, and
only then decides (dedup, numbering, "already acknowledged") on the up-to-date projection.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerting import ledger_db as db
from alerting.drills import DrillReport, drill_report
from alerting.hazards import Projection, apply
from alerting.ledger_db import MIGRATIONS, VerifyResult, canonical_json, chain_hash
from alerting.ledger_machine import MachineRecords
from alerting.ledger_people import PeopleActions
from alerting.records import Draft, EscalationState, EscalationStep, Hazard, LedgerEvent
from alerting.vocabulary import GENESIS_HASH, EventType, Grade, Kind, Source, Status
from gateway.errors import LedgerError
from gateway.model import Identity

__all__ = [
    "MIGRATIONS",
    "EscalationState",
    "EscalationStep",
    "Grade",
    "Hazard",
    "Kind",
    "Ledger",
    "LedgerEvent",
    "Source",
    "Status",
    "VerifyResult",
    "canonical_json",
    "chain_hash",
]

# Numbers read prefix-year-site-gateway-n; with no "-" in prefix and gateway they parse back
# unambiguously even when the site id has one, so two gateways never issue the same number.
_SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*")
DRILL_PREFIX = "DRILL"  # drills are numbered apart: a drill never takes a hazard number


class Ledger(PeopleActions, MachineRecords):
    """The ledger file plus its projection, kept current in memory."""

    def __init__(
        self, path: Path, identity: Identity, *, prefix: str = "YH", tz: tzinfo = UTC
    ) -> None:
        _check_number_parts(prefix, identity)
        self.path = path
        self.identity = identity
        self.prefix = prefix
        self.tz = tz  # the site's zone picks the year in numbers and the report periods
        self._lock = threading.RLock()
        self._state = Projection()
        self._unreported: list[LedgerEvent] = []  # caught up during appends, not yet refreshed
        self._db = db.connect(path)
        owner = {"site": identity.site, "gateway": identity.gateway, "prefix": prefix}
        zone = getattr(tz, "key", None)  # a named zone is kept for the CLI, which has no config
        try:
            with db.translate("open"):
                db.migrate(self._db)
                db.claim(self._db, owner, {"timezone": zone} if isinstance(zone, str) else {})
                for event in db.read_since(self._db, 0):
                    apply(self._state, event)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open_existing(cls, path: Path) -> Ledger:
        """Open a ledger file as its owner, e.g. from the CLI that knows only the state dir."""
        if not path.exists():
            raise LedgerError(f"no ledger at {path}")
        rows = db.read_owner(path)
        if not {"site", "gateway", "prefix"} <= rows.keys():
            raise LedgerError(f"ledger {path} does not say whose it is; open it with its config")
        tz: tzinfo = UTC
        if "timezone" in rows:
            try:
                tz = ZoneInfo(rows["timezone"])
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise LedgerError(f"ledger {path}: unknown time zone {rows['timezone']!r}") from exc
        return cls(path, Identity(rows["site"], rows["gateway"]), prefix=rows["prefix"], tz=tz)

    @staticmethod
    def verify_path(path: Path) -> VerifyResult:
        """Check a file's chain without replaying it: works on a file too damaged to open."""
        if not path.exists():
            raise LedgerError(f"no ledger at {path}")
        conn = db.connect(path)
        try:
            with db.translate("verify"):
                return db.verify_file(conn, GENESIS_HASH)
        finally:
            conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_db()

    # ---- registration by people -------------------------------------------------------------
    def start_drill(
        self,
        *,
        title: str,
        kind: Kind,
        by: str,
        ts_ns: int,
        starts_at_ns: int | None = None,
        level: int = 1,
        zone: str | None = None,
        location: str = "",
        description: str = "",
        start_level: int = 0,
    ) -> Hazard:
        """An emergency drill (应急演练): escalated through the real chain, marked as a drill
        everywhere, numbered apart (DRILL-...), never counted as a hazard."""
        starts = ts_ns if starts_at_ns is None else starts_at_ns
        if starts < ts_ns:
            raise LedgerError("a drill cannot start before it is registered")
        if not title.strip():
            raise LedgerError("a drill needs a title (what is being practised)")
        payload: dict[str, object] = {
            "title": title.strip(), "kind": kind.value, "grade": Grade.GENERAL.value,
            "source": Source.DRILL.value, "device": None, "zone": zone,
            "location": location or zone or "site", "level": level, "start_level": start_level,
            "description": description, "starts_at_ns": starts,
        }  # fmt: skip

        def decide(state: Projection) -> Draft:
            number = self._number(state, ts_ns, drill=True)
            payload["dedup_key"] = f"drill:{number}"
            reason = f"DRILL (演练) started by {by}: {title.strip()}"
            return Draft(ts_ns, by, EventType.DRILL_STARTED, number, dict(payload), reason)

        return self.hazard(_number_of(self._append(decide)))

    def _number(self, state: Projection, ts_ns: int, *, drill: bool = False) -> str:
        year = datetime.fromtimestamp(ts_ns // 1_000_000_000, self.tz).year
        site, gateway = self.identity.site, self.identity.gateway
        if drill:
            return f"{DRILL_PREFIX}-{year}-{site}-{gateway}-{state.drills_issued + 1:04d}"
        return f"{self.prefix}-{year}-{site}-{gateway}-{state.issued + 1:04d}"

    # ---- reading ----------------------------------------------------------------------------
    def hazard(self, number: str) -> Hazard:
        with self._lock:
            return self._state.get(number).snapshot()

    def hazards(self) -> list[Hazard]:
        """Every entry (drills included), in the order numbers were issued."""
        with self._lock:
            return [h.snapshot() for h in self._state.hazards.values()]

    def open_hazards(self) -> list[Hazard]:
        """Entries not closed, in issue order: what the escalation tick walks."""
        with self._lock:
            return [
                h.snapshot() for h in self._state.hazards.values() if h.status is not Status.CLOSED
            ]

    def unacknowledged_zones(self) -> set[str]:
        """Zones with an open entry nobody has acknowledged (read in place: every tick asks)."""
        with self._lock:
            return {
                h.zone
                for h in self._state.hazards.values()
                if h.zone and h.acknowledged_at_ns is None and h.status is not Status.CLOSED
            }

    def open_hazard(self, dedup_key: str) -> Hazard | None:
        with self._lock:
            number = self._state.open_by_key.get(dedup_key)
            return None if number is None else self._state.get(number).snapshot()

    def drill_report(self, number: str) -> DrillReport:
        """Per person of a drill: notified when, acknowledged when, seconds to acknowledge."""
        return drill_report(self.hazard(number))

    def overdue(self, now_ns: int) -> list[Hazard]:
        """Entries past their rectification deadline and not verified (drills never are)."""
        with self._lock:
            return [h.snapshot() for h in self._state.hazards.values() if h.overdue_at(now_ns)]

    def events(self, number: str | None = None) -> list[LedgerEvent]:
        """Stored events (of one entry, or all), read from the file."""
        where, args = ("WHERE number = ?", (number,)) if number is not None else ("", ())
        with self._lock, db.translate("read"):
            rows = self._db.execute(f"SELECT {db.COLUMNS} FROM events {where} ORDER BY seq", args)  # noqa: S608
            return [db.to_event(row) for row in rows]

    @property
    def last_seq(self) -> int:
        """The newest event this ledger has read or written (0: empty)."""
        with self._lock:
            return self._state.last_seq

    def events_since(self, seq: int) -> list[LedgerEvent]:
        """Stored events after `seq`, read from the file (whoever wrote them)."""
        with self._lock, db.translate("read"):
            return db.read_since(self._db, seq)

    def refresh(self) -> list[LedgerEvent]:
        """Apply events other processes appended since last seen, and return them."""
        with self._lock, db.translate("refresh"):
            new = db.read_since(self._db, self._state.last_seq)
            for event in new:
                apply(self._state, event)
            seen, self._unreported = [*self._unreported, *new], []
            return seen

    def verify(self) -> VerifyResult:
        """Recompute the whole chain from the file; name the first event that does not fit."""
        with self._lock, db.translate("verify"):
            return db.verify_file(self._db, GENESIS_HASH)

    def close_db(self) -> None:
        with self._lock:
            self._db.close()

    # ---- storage ----------------------------------------------------------------------------
    def _append(self, decide: Callable[[Projection], Draft]) -> LedgerEvent:
        """Decide and insert under the write lock, on a projection caught up with the file."""
        with self._lock, db.translate("append"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                caught_up = db.read_since(self._db, self._state.last_seq)
                for foreign in caught_up:
                    apply(self._state, foreign)
                self._unreported.extend(caught_up)
                event = self._insert(decide(self._state))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            apply(self._state, event)  # only once it is durable
            return event

    def _insert(self, draft: Draft) -> LedgerEvent:
        if not draft.actor.strip():
            raise LedgerError("every ledger event needs an actor")
        if not isinstance(draft.ts_ns, int) or isinstance(draft.ts_ns, bool):
            raise LedgerError(f"ts_ns must be integer unix nanoseconds, got {draft.ts_ns!r}")
        seq, prev_hash = self._state.last_seq + 1, self._state.last_hash
        text = canonical_json(draft.payload)
        fields = [seq, draft.ts_ns, draft.actor, draft.type.value, draft.number, json.loads(text)]
        digest = chain_hash(prev_hash, [*fields, draft.reason])
        row = (*fields[:5], text, draft.reason, prev_hash, digest)
        self._db.execute(f"INSERT INTO events ({db.COLUMNS}) VALUES ({', '.join('?' * 9)})", row)  # noqa: S608
        return db.to_event(row)  # built from the stored row: exactly what a replay reads back


def _check_number_parts(prefix: str, identity: Identity) -> None:
    if prefix == DRILL_PREFIX:
        raise LedgerError(f"ledger prefix {prefix!r} is kept for drills: choose another")
    checks = (("prefix", prefix, _PLAIN_ID), ("gateway id", identity.gateway, _PLAIN_ID))
    for what, part, pattern in (*checks, ("site id", identity.site, _SITE_ID)):
        if not pattern.fullmatch(part):
            no_dash = "" if pattern is _SITE_ID else " (no '-': it separates the number's parts)"
            raise LedgerError(
                f"ledger {what} {part!r} cannot form unambiguous hazard numbers: "
                f"use letters, digits, '_' or '.'{no_dash}"
            )


def _number_of(event: LedgerEvent) -> str:
    if event.number is None:  # registrations and occurrences always carry one
        raise LedgerError(f"event {event.seq} ({event.type}) has no hazard number")
    return event.number
