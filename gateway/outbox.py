"""The durable outbox between the pipeline and the forwarder (SQLite, WAL).

Two lanes share one table and one id sequence, so the forwarder settles by id alone:
EVENTS (alarm and ledger events) is never dropped and always taken first; TELEMETRY is bounded
by `max_telemetry_bytes` (line bytes, not file bytes) and loses its oldest rows first, counted.

"Oldest" means acquisition time (`ts_ns`), then insertion order: one index serves take, the
bound, retention purges and `oldest_ns` without sorting or scanning.

Durability: an append that carries events commits with synchronous=FULL (the WAL is fsynced
before the call returns, so a power cut on an SD card cannot lose an alarm); telemetry commits
with NORMAL (WAL mode stays consistent, a power cut may lose the last moments of telemetry,
and every commit skips an fsync). A later FULL commit also makes all earlier frames durable.
Settling is NORMAL too: a lost delete only means a line is sent again, and InfluxDB overwrites a
point with the same series and timestamp.

The file takes about 1.7 times the telemetry bound (row headers, the index, free pages).
One process writes the file; counts and byte totals are kept in memory after one scan at open.
Each call is one transaction, serialised by a lock, so the object may be used from any thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import IntEnum
from itertools import islice, repeat
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.errors import HazgwError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    -- AUTOINCREMENT: an id is never reused, so settling a stale batch whose rows were dropped
    -- meanwhile cannot delete newer rows that would otherwise get the same ids
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    lane  INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    size  INTEGER NOT NULL,   -- UTF-8 bytes of line, for the telemetry bound
    line  TEXT    NOT NULL
);
-- id in the key makes (ts_ns, id) order free; size makes sums and the bound index-only
CREATE INDEX IF NOT EXISTS outbox_lane_ts ON outbox (lane, ts_ns, id, size);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('dropped_telemetry', 0), ('rejected', 0);
"""
_ID_CHUNK = 900  # stays under SQLite's historical limit of 999 bound parameters
_EPISODE_END = 0.9  # a drop episode ends once telemetry falls below 90% of the bound


class OutboxError(HazgwError):
    """The outbox file cannot be used (disk full, I/O error, corrupt or newer schema)."""


class Lane(IntEnum):
    EVENTS = 0  # alarm and ledger events: never dropped, always sent first
    TELEMETRY = 1


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    lane: Lane
    line: str


@dataclass(frozen=True, slots=True)
class OutboxStats:
    events: int
    telemetry: int
    telemetry_bytes: int
    dropped_telemetry: int
    rejected: int
    oldest_ns: int | None


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    it = iter(ids)
    while chunk := list(islice(it, _ID_CHUNK)):
        yield chunk


class Outbox:
    """Durable two-lane queue of line-protocol lines; see the module docstring."""

    def __init__(self, path: Path, *, max_telemetry_bytes: int = 256 * 1024 * 1024) -> None:
        if max_telemetry_bytes <= 0:
            raise ValueError("max_telemetry_bytes must be positive")
        self.path = path
        self.max_telemetry_bytes = max_telemetry_bytes
        self._lock = threading.Lock()
        self._dropping = False  # inside a drop episode: warn once, not per append
        self._episode_dropped = 0
        self._sync: str | None = None
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
        try:
            with self._guard("open"):
                self._prepare()
        except OutboxError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a file system without shared memory: still safe, slower
            log.warning("outbox %s: journal mode is %s, not WAL", self.path, mode)
        self._db.execute("PRAGMA journal_size_limit=67108864")  # trim the WAL after bursts
        self._migrate()
        self._load_totals()

    # -- life cycle -------------------------------------------------------------------------

    def _migrate(self) -> None:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise OutboxError(
                f"{self.path}: outbox schema {version} is newer than this program's "
                f"({SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            self._set_sync("FULL")
            self._db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )

    def _load_totals(self) -> None:
        self._counts = {Lane.EVENTS: 0, Lane.TELEMETRY: 0}
        self._telemetry_bytes = 0
        rows = self._db.execute(
            "SELECT lane, COUNT(*), COALESCE(SUM(size), 0) FROM outbox GROUP BY lane"
        )
        for lane, count, size in rows:
            self._counts[Lane(lane)] = count
            if lane == Lane.TELEMETRY:
                self._telemetry_bytes = size

    def close(self) -> None:
        with self._lock:
            with suppress(sqlite3.Error):  # closed already: nothing to optimise
                self._db.execute("PRAGMA optimize")
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Hold the lock; on failure roll back and translate sqlite3 errors at the boundary."""
        with self._lock:
            try:
                yield
            except BaseException as exc:
                self._recover()
                if isinstance(exc, sqlite3.Error):
                    raise OutboxError(f"outbox {self.path}: {what} failed: {exc}") from exc
                raise

    def _recover(self) -> None:
        """Roll back, then re-read the totals the failed call may have changed in memory."""
        with suppress(sqlite3.Error):  # closed or unusable: the original error says why
            if self._db.in_transaction:
                self._db.rollback()
            self._load_totals()

    @contextmanager
    def _transaction(self, what: str, sync: str = "NORMAL") -> Iterator[sqlite3.Connection]:
        with self._guard(what):
            self._set_sync(sync)
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")

    def _set_sync(self, level: str) -> None:
        # PRAGMA synchronous cannot change inside a transaction; callers are outside one
        if level != self._sync:
            self._db.execute(f"PRAGMA synchronous={level}")
            self._sync = level

    def _add_counter(self, key: str, n: int) -> None:
        if n:
            self._db.execute("UPDATE meta SET value = value + ? WHERE key = ?", (n, key))

    def _counter(self, key: str) -> int:
        value: int = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
        return value

    # -- writing ----------------------------------------------------------------------------

    def append(self, lane: Lane, lines: Sequence[str], ts_ns: Sequence[int]) -> None:
        """Store `lines` (acquired at `ts_ns`) in one transaction; then enforce the bound."""
        if len(lines) != len(ts_ns):
            raise ValueError(f"{len(lines)} lines but {len(ts_ns)} timestamps")
        if not lines:
            return
        sizes = [len(text.encode()) for text in lines]
        lane = Lane(lane)
        # int(): timestamps often come from numpy int64 arrays, which sqlite3 cannot bind
        rows = zip(repeat(int(lane)), map(int, ts_ns), sizes, lines)
        sync = "FULL" if lane is Lane.EVENTS else "NORMAL"
        with self._transaction("append", sync) as db:
            db.executemany("INSERT INTO outbox (lane, ts_ns, size, line) VALUES (?, ?, ?, ?)", rows)
            self._counts[lane] += len(lines)
            if lane is Lane.TELEMETRY:
                self._telemetry_bytes += sum(sizes)
                if self._telemetry_bytes > self.max_telemetry_bytes:
                    self._drop_oldest(self._telemetry_bytes - self.max_telemetry_bytes)

    def _drop_oldest(self, excess: int) -> None:
        """Delete the oldest telemetry until `excess` bytes are freed (inside a transaction)."""
        freed = dropped = 0
        last: tuple[int, int] | None = None
        cursor = self._db.execute(
            "SELECT ts_ns, id, size FROM outbox WHERE lane = ? ORDER BY ts_ns, id",
            (Lane.TELEMETRY,),
        )
        for ts, row_id, size in cursor:
            freed += size
            dropped += 1
            last = (ts, row_id)
            if freed >= excess:
                break
        cursor.close()
        if last is None:
            return
        self._db.execute(
            "DELETE FROM outbox WHERE lane = ? AND (ts_ns, id) <= (?, ?)", (Lane.TELEMETRY, *last)
        )
        self._forget_telemetry(dropped, freed)
        self._add_counter("dropped_telemetry", dropped)
        self._episode_dropped += dropped
        if not self._dropping:
            self._dropping = True
            log.warning(
                "outbox %s: telemetry over its bound of %d bytes: dropping the oldest lines "
                "(%d so far); alarm and ledger events are kept",
                self.path,
                self.max_telemetry_bytes,
                dropped,
            )

    def _forget_telemetry(self, count: int, size: int) -> None:
        self._counts[Lane.TELEMETRY] -= count
        self._telemetry_bytes -= size
        if self._dropping and self._telemetry_bytes < self.max_telemetry_bytes * _EPISODE_END:
            log.info(
                "outbox %s: telemetry back under its bound; %d lines were dropped",
                self.path,
                self._episode_dropped,
            )
            self._dropping = False
            self._episode_dropped = 0

    # -- reading and settling ---------------------------------------------------------------

    def take(self, limit: int) -> list[OutboxItem]:
        """Up to `limit` items: events first, then the oldest telemetry. Removes nothing."""
        items: list[OutboxItem] = []
        with self._guard("take"):
            for lane in Lane:
                if len(items) >= limit:
                    break
                rows = self._db.execute(
                    "SELECT id, line FROM outbox WHERE lane = ? ORDER BY ts_ns, id LIMIT ?",
                    (lane, limit - len(items)),
                )
                items += [OutboxItem(row_id, lane, text) for row_id, text in rows]
        return items

    def settle(self, delivered: Iterable[int], rejected: Iterable[int] = ()) -> None:
        """Remove delivered items, and rejected ones (counted). Unknown ids are ignored."""
        with self._transaction("settle"):
            self._delete_ids(delivered)
            self._add_counter("rejected", self._delete_ids(rejected))

    def _delete_ids(self, ids: Iterable[int]) -> int:
        removed = 0
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING lane, size",  # noqa: S608
                chunk,
            ).fetchall()
            removed += len(rows)
            self._counts[Lane.EVENTS] -= sum(1 for lane, _ in rows if lane == Lane.EVENTS)
            tel = [size for lane, size in rows if lane == Lane.TELEMETRY]
            if tel:
                self._forget_telemetry(len(tel), sum(tel))
        return removed

    def purge_older_than(self, ts_ns: int) -> int:
        """Drop telemetry acquired before `ts_ns` (retention); counted as dropped.

        One transaction: call it often (every minute or so) so each call removes little; a purge
        of 3.8M rows at once held the SQLite worker for 6 s in a measurement here.
        """
        with self._transaction("purge") as db:
            count, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE lane = ? AND ts_ns < ?",
                (Lane.TELEMETRY, ts_ns),
            ).fetchone()
            if count:
                db.execute(
                    "DELETE FROM outbox WHERE lane = ? AND ts_ns < ?", (Lane.TELEMETRY, ts_ns)
                )
                self._forget_telemetry(count, size)
                self._add_counter("dropped_telemetry", count)
        return int(count)

    # -- inspection -------------------------------------------------------------------------

    def count(self, lane: Lane | None = None) -> int:
        with self._lock:
            if lane is None:
                return sum(self._counts.values())
            return self._counts[Lane(lane)]

    def stats(self) -> OutboxStats:
        with self._guard("stats"):
            oldest = [
                self._db.execute(
                    "SELECT MIN(ts_ns) FROM outbox WHERE lane = ?", (lane,)
                ).fetchone()[0]
                for lane in Lane
            ]
            held = [ts for ts in oldest if ts is not None]
            return OutboxStats(
                events=self._counts[Lane.EVENTS],
                telemetry=self._counts[Lane.TELEMETRY],
                telemetry_bytes=self._telemetry_bytes,
                dropped_telemetry=self._counter("dropped_telemetry"),
                rejected=self._counter("rejected"),
                oldest_ns=min(held) if held else None,
            )

    def lines(self, lane: Lane) -> list[str]:
        """Everything held in `lane`, oldest first (tests and `hazgw outbox`)."""
        with self._guard("lines"):
            rows = self._db.execute(
                "SELECT line FROM outbox WHERE lane = ? ORDER BY ts_ns, id", (Lane(lane),)
            )
            return [text for (text,) in rows]
