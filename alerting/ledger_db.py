"""The ledger file: SQLite connection, schema migrations, the hash chain and its check.

Each event row is chained, the first `prev_hash` being 64 zeros:
    hash = sha256_hex(prev_hash + canonical_json([seq, ts_ns, actor, type, number, payload,
                                                  reason]))
where canonical JSON is UTF-8 with sorted keys, no spaces and no NaN. Triggers refuse UPDATE and
DELETE; `row_problem` recomputes one link of the chain, so an edit made behind the triggers' back
is named by its sequence number.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerting.records import LedgerEvent
from gateway.errors import LedgerError, LedgerStorageError

BUSY_TIMEOUT_S = 5.0  # the other process holds the write lock for milliseconds only
COLUMNS = "seq, ts_ns, actor, type, number, payload, reason, prev_hash, hash"
APPEND_ONLY = ("events_no_update", "events_no_delete")
OWNER_KEYS = ("site", "gateway", "prefix")  # who the file belongs to; other keys are settings


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
    for name, verb in zip(APPEND_ONLY, ("UPDATE", "DELETE"), strict=True):
        db.execute(
            f"CREATE TRIGGER {name} BEFORE {verb} ON events"
            " BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END"
        )


def _migrate_2_owner(db: sqlite3.Connection) -> None:
    """Whose ledger this is: numbers carry site and gateway, so a file must not change hands."""
    db.execute("CREATE TABLE owner (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


# Schema history: entry i moves a file from user_version i to i + 1. Only ever append.
# (New event types need no migration: the events table stores any payload.)
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


def connect(path: Path) -> sqlite3.Connection:
    with translate(f"open {path}"):
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


def migrate(db: sqlite3.Connection) -> None:
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


def claim(db: sqlite3.Connection, owner: dict[str, str], settings: dict[str, str]) -> None:
    """Record the owner on first open; refuse a file that belongs to another gateway.

    `settings` (the site's time zone) are updated on every open by the owner.
    """
    rows = dict(db.execute("SELECT key, value FROM owner").fetchall())
    have = {k: rows[k] for k in OWNER_KEYS if k in rows}
    if not have:
        db.executemany("INSERT OR IGNORE INTO owner VALUES (?, ?)", owner.items())
    elif have != owner:
        raise LedgerError(f"this ledger belongs to {have}, not to {owner}")
    changed = {k: v for k, v in settings.items() if rows.get(k) != v}
    if changed:
        db.executemany("INSERT OR REPLACE INTO owner VALUES (?, ?)", changed.items())


def read_owner(path: Path) -> dict[str, str]:
    db = connect(path)
    try:
        with translate(f"read owner of {path}"):
            return dict(db.execute("SELECT key, value FROM owner").fetchall())
    finally:
        db.close()


def read_since(db: sqlite3.Connection, seq: int) -> list[LedgerEvent]:
    rows = db.execute(f"SELECT {COLUMNS} FROM events WHERE seq > ? ORDER BY seq", (seq,))  # noqa: S608
    return [to_event(row) for row in rows]


def to_event(row: Any) -> LedgerEvent:
    try:
        payload = json.loads(row[5])
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise LedgerError(
            f"event {row[0]}: payload is not a JSON object (run: hazgw ledger verify)"
        )
    return LedgerEvent(row[0], row[1], row[2], row[3], row[4], payload, row[6], row[7], row[8])


def verify_file(db: sqlite3.Connection, genesis: str) -> VerifyResult:
    """Recompute the whole chain; name the first event that does not fit.

    Text is read as bytes so that a changed byte which breaks UTF-8 is named like any other edit.
    """
    db.text_factory = bytes
    try:
        rows = db.execute(f"SELECT {COLUMNS} FROM events ORDER BY seq").fetchall()  # noqa: S608
        names = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    finally:
        db.text_factory = str
    triggers = {_text(r[0]) for r in names}
    prev_hash, checked = genesis, 0
    for raw in rows:
        checked += 1
        row = tuple(_text(v) if isinstance(v, bytes) else v for v in raw)
        problem = row_problem(row, checked, prev_hash)
        if problem:
            return VerifyResult(False, checked, int(raw[0]), problem)
        prev_hash = row[8]
    missing = [name for name in APPEND_ONLY if name not in triggers]
    if missing:
        return VerifyResult(False, checked, None, f"append-only triggers missing: {missing}")
    return VerifyResult(True, checked, None, "chain intact")


_NOT_UTF8 = "\ufffd<not UTF-8>"


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return _NOT_UTF8


def row_problem(row: Any, expected_seq: int, prev_hash: str) -> str | None:
    seq, _, actor, type_, number, text, reason, row_prev, digest = row
    if seq != expected_seq:
        return f"sequence gap: expected event {expected_seq}, found {seq}"
    if row_prev != prev_hash:
        return (
            "prev_hash does not match the previous event's hash (an event was removed or altered)"
        )
    if _NOT_UTF8 in (actor, type_, number, text, reason, digest):
        return "stored text is not UTF-8: the event was altered after it was written"
    return _content_problem(row, prev_hash)


def _content_problem(row: Any, prev_hash: str) -> str | None:
    seq, ts_ns, actor, type_, number, text, reason, _, digest = row
    try:
        payload = json.loads(text)
    except (TypeError, ValueError):
        return "payload is not JSON"
    if canonical_json(payload) != text:
        return "payload is not in canonical form (edited by hand?)"
    if chain_hash(prev_hash, [seq, ts_ns, actor, type_, number, payload, reason]) != digest:
        return "hash mismatch: the event was altered after it was written"
    return None


@contextmanager
def translate(action: str) -> Iterator[None]:
    """sqlite3 errors never leave the ledger modules."""
    try:
        yield
    except sqlite3.OperationalError as exc:  # disk full, I/O error, locked: may pass
        raise LedgerStorageError(f"ledger {action} failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {action} failed: {exc}") from exc
    except UnicodeDecodeError as exc:  # a byte changed inside a stored text value
        raise LedgerError(f"ledger {action} failed: stored text is not UTF-8 ({exc})") from exc
