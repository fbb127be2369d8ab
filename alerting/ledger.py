"""The append-only, hash-chained hazard ledger (隐患台账) in SQLite.

Each event row is chained, the first `prev_hash` being 64 zeros:
    hash = sha256_hex(prev_hash + canonical_json([seq, ts_ns, actor, type, number, payload,
                                                  reason]))
where canonical JSON is UTF-8 with sorted keys, no spaces and no NaN. Triggers refuse UPDATE and
DELETE, and `verify()` recomputes the chain, so an edit made behind the triggers' back is named by
its sequence number.

The daemon and the `hazgw` CLI append to the same file from two processes. Every append therefore
takes the write lock (`BEGIN IMMEDIATE`), first catches up with events the other process wrote, and
only then decides (dedup, numbering, "already acknowledged") on the up-to-date projection.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from alerting.hazards import (
    GENESIS_HASH,
    EscalationState,
    EscalationStep,
    EventType,
    Grade,
    Hazard,
    Json,
    Kind,
    LedgerEvent,
    Projection,
    Source,
    Status,
    apply,
    check_transition,
    iso_utc,
)
from gateway.errors import LedgerError
from gateway.model import Identity

__all__ = [
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

BUSY_TIMEOUT_S = 5.0  # the other process holds the write lock for milliseconds only
_COLUMNS = "seq, ts_ns, actor, type, number, payload, reason, prev_hash, hash"
# Numbers read prefix-year-site-gateway-n; with no "-" in prefix and gateway they parse back
# unambiguously even when the site id has one, so two gateways never issue the same number.
_SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*")
_APPEND_ONLY = ("events_no_update", "events_no_delete")


def canonical_json(value: object) -> str:
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def chain_hash(prev_hash: str, fields: Sequence[object]) -> str:
    """`fields` = [seq, ts_ns, actor, type, number, payload, reason], in that order."""
    return hashlib.sha256((prev_hash + canonical_json(list(fields))).encode()).hexdigest()


def _migrate_1_events(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, actor TEXT NOT NULL,"
        " type TEXT NOT NULL, number TEXT NULL, payload TEXT NOT NULL, reason TEXT NOT NULL,"
        " prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX events_by_number ON events(number) WHERE number IS NOT NULL")
    for name, verb in zip(_APPEND_ONLY, ("UPDATE", "DELETE"), strict=True):
        db.execute(
            f"CREATE TRIGGER {name} BEFORE {verb} ON events"
            " BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END"
        )


def _migrate_2_owner(db: sqlite3.Connection) -> None:
    """Whose ledger this is: numbers carry site and gateway, so a file must not change hands."""
    db.execute("CREATE TABLE owner (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


# Schema history: entry i moves a file from user_version i to i + 1. Only ever append.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_1_events,
    _migrate_2_owner,
)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # events examined, the broken one included
    first_broken_seq: int | None
    reason: str


@dataclass(frozen=True)
class _Draft:
    """An event decided on but not yet stored (seq and hashes come at insert time)."""

    ts_ns: int
    actor: str
    type: EventType
    number: str | None
    payload: Json
    reason: str


@dataclass(frozen=True)
class _Entry:
    """The facts a "registered" event stores; an alarm's facts also feed its occurrences."""

    dedup_key: str
    title: str
    kind: Kind
    grade: Grade
    source: Source
    device: str | None
    zone: str | None
    location: str
    level: int
    value: float | None
    condition: str | None  # None for people's findings: no alarm is attached
    start_level: int
    description: str = ""

    def where(self) -> str:
        return self.device or self.zone or self.location


class Ledger:
    """The ledger file plus its projection, kept current in memory."""

    def __init__(
        self, path: Path, identity: Identity, *, prefix: str = "YH", tz: tzinfo = UTC
    ) -> None:
        _check_number_parts(prefix, identity)
        self.path = path
        self.identity = identity
        self.prefix = prefix
        self._tz = tz  # the site's zone picks the year in numbers; times stay UTC
        self._lock = threading.RLock()
        self._state = Projection()
        self._unreported: list[LedgerEvent] = []  # caught up during appends, not yet refreshed
        self._db = _connect(path)
        try:
            with _translate("open"):
                _migrate(self._db)
                _claim(self._db, identity, prefix)
                for event in self._read_since(0):
                    apply(self._state, event)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open_existing(cls, path: Path) -> Ledger:
        """Open a ledger file as its owner, e.g. from the CLI that knows only the state dir."""
        if not path.exists():
            raise LedgerError(f"no ledger at {path}")
        db = _connect(path)
        try:
            with _translate(f"read owner of {path}"):
                rows = dict(db.execute("SELECT key, value FROM owner").fetchall())
        finally:
            db.close()
        if not {"site", "gateway", "prefix"} <= rows.keys():
            raise LedgerError(f"ledger {path} does not say whose it is; open it with its config")
        return cls(path, Identity(rows["site"], rows["gateway"]), prefix=rows["prefix"])

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_db()

    # ---- the alarm side -------------------------------------------------------------------
    def raise_alarm_hazard(
        self,
        *,
        dedup_key: str,
        kind: Kind,
        title: str,
        grade: Grade,
        level: int,
        device: str | None,
        zone: str | None,
        location: str,
        value: float | None,
        condition: str,
        actor: str,
        ts_ns: int,
        start_level: int,
    ) -> tuple[Hazard, bool]:
        """Register a new entry for `dedup_key`, or count an occurrence on its open one."""
        alarm = _Entry(
            dedup_key=dedup_key,
            title=title,
            kind=kind,
            grade=grade,
            source=Source.MONITORING_ALARM,
            device=device,
            zone=zone,
            location=location,
            level=level,
            value=_finite(value),
            condition=condition,
            start_level=start_level,
        )
        reason = f"{condition} at {alarm.where()}: level {level}, value {alarm.value}"

        def decide(state: Projection) -> _Draft:
            number = state.open_by_key.get(dedup_key)
            if number is None:
                return self._registration(state, alarm, actor, ts_ns, reason)
            return _occurrence(state.get(number), alarm, actor, ts_ns)

        event = self._append(decide)
        return self.hazard(_number_of(event)), event.type == EventType.REGISTERED

    def record_alarm_transition(
        self,
        *,
        number: str | None,
        alarm_key: str,
        device: str,
        condition: str,
        from_state: str,
        to_state: str,
        value: float | None,
        actor: str,
        ts_ns: int,
        peak: float | None = None,
    ) -> LedgerEvent:
        """The audit trail of the alarm state machine; `number` links it to an entry.

        `peak` is the worst value seen while the condition was present, given when it clears.
        """
        payload: Json = {"alarm_key": alarm_key, "device": device, "condition": condition}
        payload.update({"from": from_state, "to": to_state, "value": _finite(value)})
        if peak is not None:
            payload["peak"] = _finite(peak)
        reason = f"{alarm_key}: {from_state} -> {to_state}"

        def decide(state: Projection) -> _Draft:
            if number is not None:
                state.get(number)
            return _Draft(ts_ns, actor, EventType.ALARM_TRANSITION, number, payload, reason)

        return self._append(decide)

    def record_escalation(self, number: str, step: EscalationStep, *, actor: str) -> LedgerEvent:
        """Record that `step` is being notified; refused once acknowledged, closed or recorded."""

        def decide(state: Projection) -> _Draft:
            hazard = state.get(number)
            if hazard.status is not Status.REGISTERED:
                raise LedgerError(f"{number} is {hazard.status.value}: escalation has stopped")
            esc = hazard.escalation
            if step.round != esc.round:
                raise LedgerError(f"{number}: step of round {step.round}, ladder is in {esc.round}")
            if any(
                (s.round, s.level, s.repeat) == (step.round, step.level, step.repeat)
                for s in esc.steps
            ):
                raise LedgerError(
                    f"{number}: level {step.level} repeat {step.repeat} already notified"
                )
            payload: Json = {"level": step.level, "name": step.name, "repeat": step.repeat}
            payload.update(recipients=list(step.recipients), round=step.round)
            reason = f"unacknowledged: notify level {step.level} ({step.name})"
            reason += f", repeat {step.repeat}" if step.repeat else ""
            return _Draft(step.ts_ns, actor, EventType.ESCALATION, number, payload, reason)

        return self._append(decide)

    # ---- people's actions -----------------------------------------------------------------
    def acknowledge(self, number: str, *, by: str, ts_ns: int, reason: str = "") -> LedgerEvent:
        def decide(state: Projection) -> _Draft:
            hazard = state.get(number)
            if hazard.status is Status.CLOSED:
                raise LedgerError(f"{number} is closed; nothing to acknowledge")
            if hazard.acknowledged_at_ns is not None:
                raise LedgerError(
                    f"{number} was already acknowledged by {hazard.acknowledged_by}"
                    f" at {iso_utc(hazard.acknowledged_at_ns)}"
                )
            check_transition(hazard, Status.ACKNOWLEDGED)
            why = reason.strip() or f"acknowledged by {by}"
            return _Draft(ts_ns, by, EventType.ACKNOWLEDGED, number, {}, why)

        return self._append(decide)

    def close(self, number: str, *, by: str, ts_ns: int, reason: str) -> LedgerEvent:
        """销号: needs a reason; the skeleton allows it from acknowledged only."""
        if not reason.strip():
            raise LedgerError(f"closing {number} needs a reason")

        def decide(state: Projection) -> _Draft:
            check_transition(state.get(number), Status.CLOSED)
            return _Draft(ts_ns, by, EventType.CLOSED, number, {}, reason.strip())

        return self._append(decide)

    def register_finding(
        self,
        *,
        title: str,
        kind: Kind,
        grade: Grade,
        source: Source,
        location: str,
        zone: str | None,
        found_by: str,
        ts_ns: int,
        description: str = "",
    ) -> Hazard:
        """An entry found by people (inspection, report); never merged with another."""
        entry = _Entry(
            dedup_key="",  # "finding:<number>", set once the number is issued
            title=title,
            kind=kind,
            grade=grade,
            source=source,
            device=None,
            zone=zone,
            location=location,
            level=1,
            value=None,
            condition=None,
            start_level=0,
            description=description,
        )
        reason = f"{source.label.en} by {found_by}: {title}"

        def decide(state: Projection) -> _Draft:
            return self._registration(state, entry, found_by, ts_ns, reason)

        return self.hazard(_number_of(self._append(decide)))

    def _registration(
        self, state: Projection, entry: _Entry, actor: str, ts_ns: int, reason: str
    ) -> _Draft:
        number = self._next_number(state, ts_ns)
        payload: Json = asdict(entry)
        payload["dedup_key"] = entry.dedup_key or f"finding:{number}"
        payload["recurrence_of"] = state.last_closed_by_key.get(entry.dedup_key)
        return _Draft(ts_ns, actor, EventType.REGISTERED, number, payload, reason)

    # ---- reading --------------------------------------------------------------------------
    def hazard(self, number: str) -> Hazard:
        with self._lock:
            return self._state.get(number).snapshot()

    def hazards(self) -> list[Hazard]:
        """Every entry, in the order numbers were issued."""
        with self._lock:
            return [h.snapshot() for h in self._state.hazards.values()]

    def open_hazards(self) -> list[Hazard]:
        """Entries not closed, in issue order: what the escalation tick walks."""
        with self._lock:
            return [
                h.snapshot() for h in self._state.hazards.values() if h.status is not Status.CLOSED
            ]

    def open_hazard(self, dedup_key: str) -> Hazard | None:
        with self._lock:
            number = self._state.open_by_key.get(dedup_key)
            return None if number is None else self._state.get(number).snapshot()

    def events(self, number: str | None = None) -> list[LedgerEvent]:
        """Stored events (of one entry, or all), read from the file."""
        where, args = ("WHERE number = ?", (number,)) if number is not None else ("", ())
        with self._lock, _translate("read"):
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM events {where} ORDER BY seq", args)  # noqa: S608
            return [_event(row) for row in rows]

    def events_since(self, seq: int) -> list[LedgerEvent]:
        """Stored events after `seq`, read from the file (whoever wrote them)."""
        with self._lock, _translate("read"):
            return self._read_since(seq)

    def refresh(self) -> list[LedgerEvent]:
        """Apply events other processes appended since last seen, and return them."""
        with self._lock, _translate("refresh"):
            new = self._read_since(self._state.last_seq)
            for event in new:
                apply(self._state, event)
            seen, self._unreported = [*self._unreported, *new], []
            return seen

    def verify(self) -> VerifyResult:
        """Recompute the whole chain from the file; name the first event that does not fit."""
        with self._lock, _translate("verify"):
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM events ORDER BY seq").fetchall()  # noqa: S608
            triggers = {
                r[0]
                for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            }
        prev_hash, checked = GENESIS_HASH, 0
        for row in rows:
            checked += 1
            problem = _row_problem(row, checked, prev_hash)
            if problem:
                return VerifyResult(False, checked, row[0], problem)
            prev_hash = row[8]
        missing = [name for name in _APPEND_ONLY if name not in triggers]
        if missing:
            return VerifyResult(False, checked, None, f"append-only triggers missing: {missing}")
        return VerifyResult(True, checked, None, "chain intact")

    def close_db(self) -> None:
        with self._lock:
            self._db.close()

    # ---- storage --------------------------------------------------------------------------
    def _append(self, decide: Callable[[Projection], _Draft]) -> LedgerEvent:
        """Decide and insert under the write lock, on a projection caught up with the file."""
        with self._lock, _translate("append"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                caught_up = self._read_since(self._state.last_seq)
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

    def _insert(self, draft: _Draft) -> LedgerEvent:
        if not draft.actor.strip():
            raise LedgerError("every ledger event needs an actor")
        if not isinstance(draft.ts_ns, int) or isinstance(draft.ts_ns, bool):
            raise LedgerError(f"ts_ns must be integer unix nanoseconds, got {draft.ts_ns!r}")
        seq, prev_hash = self._state.last_seq + 1, self._state.last_hash
        text = canonical_json(draft.payload)
        fields = [seq, draft.ts_ns, draft.actor, draft.type.value, draft.number, json.loads(text)]
        digest = chain_hash(prev_hash, [*fields, draft.reason])
        row = (*fields[:5], text, draft.reason, prev_hash, digest)
        self._db.execute(f"INSERT INTO events ({_COLUMNS}) VALUES ({', '.join('?' * 9)})", row)  # noqa: S608
        return _event(row)  # built from the stored row: exactly what a replay reads back

    def _read_since(self, seq: int) -> list[LedgerEvent]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq", (seq,))  # noqa: S608
        return [_event(row) for row in rows]

    def _next_number(self, state: Projection, ts_ns: int) -> str:
        year = datetime.fromtimestamp(ts_ns // 1_000_000_000, self._tz).year
        site, gateway = self.identity.site, self.identity.gateway
        return f"{self.prefix}-{year}-{site}-{gateway}-{state.issued + 1:04d}"


def _occurrence(hazard: Hazard, alarm: _Entry, actor: str, ts_ns: int) -> _Draft:
    """Another alarm on an open entry; a higher level restarts escalation and re-arms an ack."""
    raised = alarm.level > hazard.level
    start = hazard.escalation.start_level
    if raised:
        start = max(alarm.start_level, start)
    rearmed = raised and hazard.acknowledged_at_ns is not None
    payload: Json = {"device": alarm.device, "value": alarm.value, "condition": alarm.condition}
    payload.update(level=alarm.level, raised=raised, start_level=start, rearmed=rearmed)
    reason = f"again: {alarm.condition} at {alarm.where()}"
    if raised:
        reason += f"; level raised {hazard.level} -> {alarm.level}, escalation from level {start}"
    if rearmed:
        reason += "; acknowledgement cleared"
    return _Draft(ts_ns, actor, EventType.OCCURRENCE, hazard.number, payload, reason)


def _check_number_parts(prefix: str, identity: Identity) -> None:
    checks = (("prefix", prefix, _PLAIN_ID), ("gateway id", identity.gateway, _PLAIN_ID))
    for what, part, pattern in (*checks, ("site id", identity.site, _SITE_ID)):
        if not pattern.fullmatch(part):
            no_dash = "" if pattern is _SITE_ID else " (no '-': it separates the number's parts)"
            raise LedgerError(
                f"ledger {what} {part!r} cannot form unambiguous hazard numbers: "
                f"use letters, digits, '_' or '.'{no_dash}"
            )


def _finite(value: float | None) -> float | None:
    """A NaN or infinite reading is stored as null: it must not keep a hazard out of the ledger."""
    return value if value is None or math.isfinite(value) else None


def _number_of(event: LedgerEvent) -> str:
    if event.number is None:  # registrations and occurrences always carry one
        raise LedgerError(f"event {event.seq} ({event.type}) has no hazard number")
    return event.number


def _event(row: Any) -> LedgerEvent:
    payload = json.loads(row[5])
    if not isinstance(payload, dict):
        raise LedgerError(f"event {row[0]}: payload is not a JSON object")
    return LedgerEvent(row[0], row[1], row[2], row[3], row[4], payload, row[6], row[7], row[8])


def _row_problem(row: Any, expected_seq: int, prev_hash: str) -> str | None:
    seq, ts_ns, actor, type_, number, text, reason, row_prev, digest = row
    if seq != expected_seq:
        return f"sequence gap: expected event {expected_seq}, found {seq}"
    if row_prev != prev_hash:
        return (
            "prev_hash does not match the previous event's hash (an event was removed or altered)"
        )
    try:
        payload = json.loads(text)
    except (TypeError, ValueError):
        return "payload is not JSON"
    if canonical_json(payload) != text:
        return "payload is not in canonical form (edited by hand?)"
    if chain_hash(prev_hash, [seq, ts_ns, actor, type_, number, payload, reason]) != digest:
        return "hash mismatch: the event was altered after it was written"
    return None


def _connect(path: Path) -> sqlite3.Connection:
    with _translate(f"open {path}"):
        db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise LedgerError(f"ledger {path}: cannot use WAL journaling (got {mode!r})")
            db.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives power loss
        except BaseException:
            db.close()
            raise
        return db


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema to len(MIGRATIONS), under the write lock in case both processes start."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise LedgerError(
                f"ledger schema {version} is newer than this software ({len(MIGRATIONS)})"
            )
        for migration in MIGRATIONS[version:]:
            migration(db)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _claim(db: sqlite3.Connection, identity: Identity, prefix: str) -> None:
    """Record the owner on first open; refuse a file that belongs to another gateway."""
    want = {"site": identity.site, "gateway": identity.gateway, "prefix": prefix}
    have = dict(db.execute("SELECT key, value FROM owner").fetchall())
    if not have:
        db.executemany("INSERT OR IGNORE INTO owner VALUES (?, ?)", want.items())
    elif have != want:
        raise LedgerError(f"this ledger belongs to {have}, not to {want}")


@contextmanager
def _translate(action: str) -> Iterator[None]:
    """sqlite3 errors never leave this module."""
    try:
        yield
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {action} failed: {exc}") from exc
