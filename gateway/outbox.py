"""The durable outbox between the pipeline and the forwarder (SQLite, WAL).

Two lanes share one table and one id sequence (never reused), so a batch is settled by its ids:
EVENTS (alarm and ledger events) is never dropped and always taken first; TELEMETRY is bounded
by `max_telemetry_bytes` (line bytes, not file bytes) and loses its oldest rows first. Every
telemetry drop is counted by reason (`DropReason`), every line the server refused as `rejected`.

"Oldest" means acquisition time (`ts_ns`), then insertion order: one index serves take, the
bound, retention purges and `oldest_ns` without sorting or scanning.

Durability: an append that carries events commits with synchronous=FULL (the WAL is fsynced
before the call returns, so a power cut on an SD card cannot lose an alarm); telemetry commits
with NORMAL (WAL mode stays consistent, a power cut may lose the last moments of telemetry,
and every commit skips an fsync). A later FULL commit also makes all earlier frames durable.
Settling is NORMAL too: a lost delete only means a line is sent again, and InfluxDB overwrites a
point with the same series and timestamp.

Damage (`open_or_recover`): a file SQLite calls corrupt or not a database, or one whose
`PRAGMA quick_check` fails, is moved aside (`outbox.sqlite.corrupt-<UTC>` with its -wal/-shm,
kept as evidence) and a fresh outbox takes its place. quick_check reads every page in use: on a
full default bound (367 MB, 1.76M lines) it took 0.5 s with a warm page cache and 7 s cold on the
reference machine, and an SD card is slower still. So it runs only after an unclean stop (a -wal
or -shm left beside the file: SQLite removes both when the last connection closes cleanly), the
power cut and kill -9 cases; after a clean stop SQLite's own open checks and the totals scan catch
truncated and garbage files, not a page flipped in the middle.

The file takes about 1.4 times the telemetry bound (367 MB for the default 256 MB, measured:
row headers, the index, free pages).
One process writes the file; counts and byte totals are kept in memory after one scan at open
and scanned again when another connection (`hazgw outbox purge`) changed the file.
Each call is one transaction, serialised by a lock, so the object may be used from any thread.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from itertools import islice, repeat
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

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
-- counters (dropped_<reason>, rejected) and the bound last configured; missing keys read as 0
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
DEFAULT_MAX_TELEMETRY_BYTES = 256 * 1024 * 1024
_ID_CHUNK = 900  # stays under SQLite's historical limit of 999 bound parameters
_EPISODE_END = 0.9  # a drop episode ends once telemetry falls below 90% of the bound
_UNUSABLE = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB: the file, not the disk or the program
_SIDECARS = ("-wal", "-shm")


class OutboxError(HazgwError):
    """The outbox file cannot be used (disk full, I/O error, corrupt or newer schema).

    `unusable`: the file itself is damaged or foreign (corrupt, not a database, newer schema);
    moving it aside helps. Otherwise (disk full, permissions) a fresh file would fail the same way.
    """

    def __init__(self, message: str, *, unusable: bool = False) -> None:
        super().__init__(message)
        self.unusable = unusable


class Lane(IntEnum):
    EVENTS = 0  # alarm and ledger events: never dropped, always sent first
    TELEMETRY = 1


class DropReason(StrEnum):
    OVERFLOW = "overflow"  # over the telemetry bound, oldest first
    EXPIRED = "expired"  # older than the sink keeps (the forwarder's max_age_s)
    PURGED = "purged"  # `hazgw outbox purge --older-than`


class OutboxItem(NamedTuple):  # a tuple: 5,000 of them are made per batch, 3x faster
    id: int
    lane: Lane
    line: str
    ts_ns: int = 0  # acquisition time


@dataclass(frozen=True, slots=True)
class Batch:
    """`take_batch`'s answer as columns (no object per line): the first `events` rows are
    events, the rest one run of telemetry in (ts_ns, id) order."""

    ids: list[int]
    lines: list[str]
    ts_ns: list[int]
    events: int
    # Every event with an id up to this one is in this batch or an earlier one of its chain:
    # the `events_above` of the next take (the batch's own ids alone can be lower than an event
    # of an earlier batch still in flight).
    high_id: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def items(self) -> list[OutboxItem]:
        lanes = [Lane.EVENTS] * self.events + [Lane.TELEMETRY] * (len(self) - self.events)
        return list(
            map(OutboxItem._make, zip(self.ids, lanes, self.lines, self.ts_ns, strict=True))
        )


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the outbox holds and what it lost; `file_bytes` is not compared (it varies)."""

    events: int
    telemetry: int
    telemetry_bytes: int
    max_telemetry_bytes: int
    dropped_overflow: int
    dropped_expired: int
    dropped_purged: int
    rejected: int
    oldest_event_ns: int | None
    oldest_telemetry_ns: int | None
    file_bytes: int = field(default=0, compare=False)  # the database and its WAL on disk

    @property
    def dropped_telemetry(self) -> int:
        return self.dropped_overflow + self.dropped_expired + self.dropped_purged

    @property
    def oldest_ns(self) -> int | None:
        held = [ts for ts in (self.oldest_event_ns, self.oldest_telemetry_ns) if ts is not None]
        return min(held) if held else None

    def oldest_age_s(self, now_ns: int) -> float:
        """Age of the oldest line held (0 when empty): how far behind the sink is."""
        oldest = self.oldest_ns
        return 0.0 if oldest is None else max(0.0, (now_ns - oldest) / 1e9)

    def health_fields(self, now_ns: int) -> dict[str, int | float]:
        """`gateway_health` fields (docs/schema.md)."""
        return {
            "outbox_events": self.events,
            "outbox_telemetry": self.telemetry,
            "outbox_telemetry_bytes": self.telemetry_bytes,
            "outbox_file_bytes": self.file_bytes,
            "outbox_dropped": self.dropped_telemetry,
            "outbox_dropped_overflow": self.dropped_overflow,
            "outbox_dropped_expired": self.dropped_expired,
            "outbox_dropped_purged": self.dropped_purged,
            "outbox_rejected": self.rejected,
            "outbox_oldest_age_s": round(self.oldest_age_s(now_ns), 3),
        }

    def to_json(self, now_ns: int) -> dict[str, object]:
        """`hazgw outbox stats --json`."""
        return {
            "events": self.events,
            "telemetry": self.telemetry,
            "telemetry_bytes": self.telemetry_bytes,
            "max_telemetry_bytes": self.max_telemetry_bytes,
            "file_bytes": self.file_bytes,
            "dropped": {r.value: getattr(self, f"dropped_{r.value}") for r in DropReason},
            "rejected": self.rejected,
            "oldest_event_ns": self.oldest_event_ns,
            "oldest_telemetry_ns": self.oldest_telemetry_ns,
            "oldest_age_s": round(self.oldest_age_s(now_ns), 3),
        }


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    it = iter(ids)
    while chunk := list(islice(it, _ID_CHUNK)):
        yield chunk


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _translate(what: str, path: Path, exc: sqlite3.Error) -> OutboxError:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
    return OutboxError(f"outbox {path}: {what} failed: {exc}", unusable=code in _UNUSABLE)


def _diagnose(path: Path, *, quick: bool) -> str | None:
    """What makes `path` unusable, or None. Read-only: a read-only connection never checkpoints,
    so a crash's -wal stays as it was, as evidence. `quick` adds PRAGMA quick_check; without it,
    reading the header, the schema and the totals' index catches truncated and foreign files."""
    if not path.is_file():
        return None  # missing (created fresh) or not a file (the real open says why)
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            return f"outbox schema {version} is newer than this program's ({SCHEMA_VERSION})"
        if version == SCHEMA_VERSION:
            db.execute("SELECT lane, COUNT(*), SUM(size) FROM outbox GROUP BY lane").fetchall()
        found = "; ".join(str(t) for (t,) in db.execute("PRAGMA quick_check(5)")) if quick else ""
        return None if found in ("", "ok") else f"quick_check: {found}"
    except sqlite3.Error as exc:
        return str(exc) if _translate("check", path, exc).unusable else None
    finally:
        db.close()


def move_aside(path: Path, label: str, now_ns: int) -> Path:
    """Rename `path` and its -wal/-shm to `<name>.<label>-<UTC time>[-n]`; returns the new path.

    The sidecars move first: a stale -wal left beside a fresh file would be replayed into it.
    The new names keep SQLite's pairing, so `sqlite3 <moved>` still sees the WAL.
    """
    stamp = datetime.fromtimestamp(now_ns / 1e9, UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    n = 1
    while any(_sidecar(target, s).exists() for s in ("", *_SIDECARS)):
        target, n = path.with_name(f"{path.name}.{label}-{stamp}-{n}"), n + 1
    for suffix in (*_SIDECARS, ""):
        with suppress(FileNotFoundError):
            _sidecar(path, suffix).rename(_sidecar(target, suffix))
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the renames survive a power cut that follows
    finally:
        os.close(fd)
    return target


class Outbox:
    """Durable two-lane queue of line-protocol lines; see the module docstring.

    `max_telemetry_bytes=None` keeps the bound the file last had (the CLI, which has no config).
    """

    def __init__(
        self, path: Path, *, max_telemetry_bytes: int | None = DEFAULT_MAX_TELEMETRY_BYTES
    ) -> None:
        if max_telemetry_bytes is not None and max_telemetry_bytes <= 0:
            raise ValueError("max_telemetry_bytes must be positive")
        self.path = path
        self.max_telemetry_bytes = max_telemetry_bytes or DEFAULT_MAX_TELEMETRY_BYTES
        self._lock = threading.Lock()
        self._dropping = False  # inside a drop episode: warn once, not per append
        self._episode_dropped = 0
        self._sync: str | None = None
        self._data_version = -1
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _translate("open", path, exc) from exc
        try:
            with self._guard("open"):
                self._prepare(max_telemetry_bytes)
        except OutboxError:
            self._db.close()
            raise

    @classmethod
    def open_or_recover(
        cls,
        path: Path,
        *,
        now_ns: int,
        max_telemetry_bytes: int | None = DEFAULT_MAX_TELEMETRY_BYTES,
        check: bool | None = None,
    ) -> tuple[Outbox, Path | None]:
        """Open `path`, or move an unusable file aside and open a fresh one in its place.

        Returns the outbox and where the old file went (None when it was fine). `check` runs
        PRAGMA quick_check: None (default) after an unclean stop only (module docstring).
        Disk and permission errors are raised: a fresh file would not help.
        """
        unclean = any(_sidecar(path, s).exists() for s in _SIDECARS)
        problem = _diagnose(path, quick=unclean if check is None else check)
        if problem is None:
            try:
                return cls(path, max_telemetry_bytes=max_telemetry_bytes), None
            except OutboxError as exc:
                if not exc.unusable:
                    raise
                problem = str(exc)
        moved = move_aside(path, "corrupt", now_ns)
        log.error(
            "outbox %s was unusable (%s); moved it aside to %s with its -wal/-shm and started a "
            "fresh one: the lines it held were not sent (ledger events stay in the ledger)",
            path,
            problem.splitlines()[0][:300],
            moved.name,
        )
        return cls(path, max_telemetry_bytes=max_telemetry_bytes), moved

    def _prepare(self, max_telemetry_bytes: int | None) -> None:
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a file system without shared memory: still safe, slower
            log.warning("outbox %s: journal mode is %s, not WAL", self.path, mode)
        self._db.execute("PRAGMA journal_size_limit=67108864")  # trim the WAL after bursts
        self._migrate()
        stored = self._meta().get("max_telemetry_bytes")
        if max_telemetry_bytes is None:
            self.max_telemetry_bytes = stored or DEFAULT_MAX_TELEMETRY_BYTES
        elif stored != max_telemetry_bytes:  # recorded for `hazgw outbox stats`
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('max_telemetry_bytes', ?)",
                (max_telemetry_bytes,),
            )
        self._refresh_totals()

    # -- life cycle -------------------------------------------------------------------------

    def _migrate(self) -> None:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise OutboxError(
                f"{self.path}: outbox schema {version} is newer than this program's "
                f"({SCHEMA_VERSION})",
                unusable=True,
            )
        if version < SCHEMA_VERSION:
            self._set_sync("FULL")
            self._db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )

    def _refresh_totals(self) -> None:
        """Scan the totals again if another connection changed the file since the last scan."""
        version: int = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        self._data_version = version
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
                    raise _translate(what, self.path, exc) from exc
                raise

    def _recover(self) -> None:
        """Roll back, then re-read the totals the failed call may have changed in memory."""
        with suppress(sqlite3.Error):  # closed or unusable: the original error says why
            if self._db.in_transaction:
                self._db.rollback()
            self._data_version = -1
            self._refresh_totals()

    @contextmanager
    def _transaction(self, what: str, sync: str = "NORMAL") -> Iterator[sqlite3.Connection]:
        with self._guard(what):
            self._set_sync(sync)
            self._db.execute("BEGIN IMMEDIATE")
            self._refresh_totals()  # under the write lock: no other writer can slip in now
            yield self._db
            self._db.execute("COMMIT")

    def _set_sync(self, level: str) -> None:
        # PRAGMA synchronous cannot change inside a transaction; callers are outside one
        if level != self._sync:
            self._db.execute(f"PRAGMA synchronous={level}")
            self._sync = level

    def _add_counter(self, key: str, n: int) -> None:
        if n:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (key, n),
            )

    def ledger_seq(self) -> int | None:
        """The last ledger event this outbox has taken (None: a new outbox, never told)."""
        with self._guard("read"):
            return self._meta().get("ledger_seq")

    def mark_ledger(self, seq: int) -> None:
        with self._transaction("mark", "FULL"):
            self._mark_ledger(seq)

    def _mark_ledger(self, seq: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('ledger_seq', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            (seq,),
        )

    def _meta(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    # -- writing ----------------------------------------------------------------------------

    def append(
        self, lane: Lane, lines: Sequence[str], ts_ns: Sequence[int], *,
        ledger_seq: int | None = None,
    ) -> None:  # fmt: skip
        """Store `lines` (acquired at `ts_ns`) in one transaction; then enforce the bound.
        `ledger_seq`: these lines carry the ledger's events up to this one (`ledger_seq()`)."""
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
            if ledger_seq is not None:
                self._mark_ledger(ledger_seq)
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
        self._add_counter("dropped_overflow", dropped)
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
        return self.take_batch(limit).items()

    def take_batch(
        self, limit: int, *, after: tuple[int, int] | None = None, events_above: int = 0
    ) -> Batch:
        """`take` as columns. For a take while the previous batch is still in flight: `after` =
        (ts_ns, id) of its last telemetry row, `events_above` = its `high_id` (events appended
        since have higher ids, whatever their time), so no row of the chain is taken twice."""
        low = after or (-(2**63), 0)
        with self._guard("take"):
            rows = self._db.execute(
                "SELECT id, line, ts_ns FROM outbox WHERE lane = ? AND id > ? "
                "ORDER BY ts_ns, id LIMIT ?",
                (Lane.EVENTS, events_above, limit),
            ).fetchall()
            events = len(rows)
            if events < limit:
                rows += self._db.execute(
                    "SELECT id, line, ts_ns FROM outbox WHERE lane = ? AND (ts_ns, id) > (?, ?) "
                    "ORDER BY ts_ns, id LIMIT ?",
                    (Lane.TELEMETRY, *low, limit - events),
                ).fetchall()
        if not rows:
            return Batch([], [], [], 0, events_above)
        ids, lines, stamps = (list(column) for column in zip(*rows, strict=True))
        return Batch(ids, lines, stamps, events, max(events_above, *ids))

    def settle(self, delivered: Iterable[int], rejected: Iterable[int] = ()) -> None:
        """Remove delivered items, and rejected ones (counted). Unknown ids are ignored."""
        with self._transaction("settle"):
            self._delete_ids(delivered)
            self._add_counter("rejected", self._delete_ids(rejected))

    def settle_batch(self, batch: Batch, rejected: Iterable[int] = ()) -> None:
        """`settle` for a batch as `take_batch` returned it: all of it leaves, `rejected` ids
        counted. Its telemetry is one run of the index, so it goes by one range delete (cheaper
        than 5,000 deletes by id); rows appended since the take have higher ids and stay."""
        with self._transaction("settle"):
            refused = list(rejected)
            if refused:
                self._add_counter("rejected", self._count_ids(refused))
            self._delete_ids(batch.ids[: batch.events])
            if len(batch) > batch.events and not self._delete_run(batch):
                self._delete_ids(batch.ids[batch.events :])

    def _delete_run(self, batch: Batch) -> bool:
        """Delete the telemetry rows of `batch` as one index range; False if they are not one."""
        first = batch.events
        where = "lane = ? AND (ts_ns, id) BETWEEN (?, ?) AND (?, ?) AND id <= ?"
        top = max(batch.ids[first:])
        args = (
            Lane.TELEMETRY,
            batch.ts_ns[first],
            batch.ids[first],
            batch.ts_ns[-1],
            batch.ids[-1],
            top,
        )
        count, size = self._db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE {where}",  # noqa: S608
            args,
        ).fetchone()
        if count > len(batch) - first:  # not a run: other rows lie between them
            return False
        self._db.execute(f"DELETE FROM outbox WHERE {where}", args)  # noqa: S608
        self._forget_telemetry(count, size)
        return True

    def _count_ids(self, ids: list[int]) -> int:
        found = 0
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT COUNT(*) FROM outbox WHERE id IN ({marks})"  # noqa: S608
            found += int(self._db.execute(query, chunk).fetchone()[0])
        return found

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

    def purge_older_than(
        self, ts_ns: int, *, reason: DropReason = DropReason.EXPIRED, limit: int = 50_000
    ) -> int:
        """Drop up to `limit` telemetry lines acquired before `ts_ns`, oldest first, counted
        under `reason`; returns how many. Call again while it returns `limit`: a purge of 3.8M
        rows in one transaction held the SQLite worker for 6 s in a measurement here."""
        with self._transaction("purge") as db:
            sizes = [
                size
                for (size,) in db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE lane = ? "
                    "AND ts_ns < ? ORDER BY ts_ns, id LIMIT ?) RETURNING size",
                    (Lane.TELEMETRY, ts_ns, limit),
                )
            ]
            if sizes:
                self._forget_telemetry(len(sizes), sum(sizes))
                self._add_counter(f"dropped_{reason.value}", len(sizes))
        return len(sizes)

    def older_than(self, ts_ns: int) -> tuple[int, int]:
        """(lines, bytes) of telemetry acquired before `ts_ns`: what a purge would drop."""
        with self._guard("count"):
            count, size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE lane = ? AND ts_ns < ?",
                (Lane.TELEMETRY, ts_ns),
            ).fetchone()
        return int(count), int(size)

    # -- inspection -------------------------------------------------------------------------

    def count(self, lane: Lane | None = None) -> int:
        with self._lock:
            if lane is None:
                return sum(self._counts.values())
            return self._counts[Lane(lane)]

    def stats(self) -> OutboxStats:
        with self._guard("stats"):
            self._refresh_totals()
            oldest = [
                self._db.execute(
                    "SELECT MIN(ts_ns) FROM outbox WHERE lane = ?", (lane,)
                ).fetchone()[0]
                for lane in Lane
            ]
            meta = self._meta()
            return OutboxStats(
                events=self._counts[Lane.EVENTS],
                telemetry=self._counts[Lane.TELEMETRY],
                telemetry_bytes=self._telemetry_bytes,
                max_telemetry_bytes=self.max_telemetry_bytes,
                dropped_overflow=meta.get("dropped_overflow", 0),
                dropped_expired=meta.get("dropped_expired", 0),
                dropped_purged=meta.get("dropped_purged", 0),
                rejected=meta.get("rejected", 0),
                oldest_event_ns=oldest[Lane.EVENTS],
                oldest_telemetry_ns=oldest[Lane.TELEMETRY],
                file_bytes=sum(_file_size(_sidecar(self.path, s)) for s in ("", "-wal")),
            )

    def lines(self, lane: Lane) -> list[str]:
        """Everything held in `lane`, oldest first (tests and `hazgw outbox`)."""
        with self._guard("lines"):
            rows = self._db.execute(
                "SELECT line FROM outbox WHERE lane = ? ORDER BY ts_ns, id", (Lane(lane),)
            )
            return [text for (text,) in rows]


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
