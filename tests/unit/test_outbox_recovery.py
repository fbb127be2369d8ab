"""A damaged outbox (power cut, bad sectors, a stray -wal) is moved aside at start-up and the
gateway goes on with a fresh one; a sound one is kept, whatever state the crash left it in."""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.outbox import Lane, Outbox, OutboxError

T0 = 1_700_000_000_000_000_000
NOW = 1_763_812_800_000_000_000  # 2025-11-22 12:00:00 UTC
STAMP = "20251122T120000Z"
SIDECARS = ("", "-wal", "-shm")


def side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def fill(outbox: Outbox, start: int, n: int) -> None:
    lines = [f't,s=a v={i}i,pad="{"x" * 80}" {T0 + i}' for i in range(start, start + n)]
    outbox.append(Lane.TELEMETRY, lines, [T0 + i for i in range(start, start + n)])


def crash_image(path: Path, *, base: int = 40_000, tail: int = 2_000) -> Path:
    """What a power cut leaves: a file with most rows checkpointed into it, the newest commits
    only in its -wal, and the -shm. Made by copying the three files while the writer is open
    between commits (exactly the bytes a crash at that moment leaves; no child process)."""
    work = path.with_name("live.sqlite")
    with Outbox(work) as outbox:
        outbox.append(Lane.EVENTS, ["alarm,s=a level=2i 1"], [T0])
        fill(outbox, 0, base)  # > 1,000 WAL pages: checkpoints move them into the file
        fill(outbox, base, tail)
        for suffix in SIDECARS:
            shutil.copyfile(side(work, suffix), side(path, suffix))
    return path


def overwrite_middle(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2)
        f.write(random.Random(7).randbytes(8192))


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def truncate_odd(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 3 * 4096 - 123)


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(3).randbytes(path.stat().st_size))


def stale_wal(path: Path) -> None:
    """The -wal of an earlier crash of this same file, put back beside its newer state."""
    old = path.with_name("old.sqlite")
    crash_image(old, base=40_000, tail=50)
    with Outbox(old) as outbox:  # the file moves on: more rows, checkpointed, closed cleanly
        fill(outbox, 50_000, 20_000)
    for suffix in SIDECARS:
        shutil.copyfile(side(path, suffix), side(path.with_name("tmp"), suffix))
    shutil.copyfile(old, path)
    shutil.copyfile(side(path.with_name("tmp"), "-wal"), side(path, "-wal"))
    side(path, "-shm").unlink()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated to half": truncate_half,
    "truncated mid-page": truncate_odd,
    "8 KiB overwritten in the middle": overwrite_middle,
    "garbage of the same size": garbage,
    "stale -wal": stale_wal,
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_file_after_a_crash_is_moved_aside_and_a_fresh_one_used(
    tmp_path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    path = crash_image(tmp_path / "outbox.sqlite")
    damage(path)
    sizes = {s: side(path, s).stat().st_size for s in SIDECARS if side(path, s).exists()}
    with caplog.at_level(logging.ERROR, logger="gateway.outbox"):
        outbox, moved = Outbox.open_or_recover(path, now_ns=NOW, max_telemetry_bytes=10**7)
    assert moved == tmp_path / f"outbox.sqlite.corrupt-{STAMP}"
    assert {s: side(moved, s).stat().st_size for s in sizes} == sizes  # kept byte for byte
    (record,) = caplog.records
    assert "was unusable" in record.getMessage()
    assert moved.name in record.getMessage()
    assert outbox.count() == 0  # a fresh outbox in the same place, and it works
    outbox.append(Lane.EVENTS, ["alarm,s=a level=1i 5"], [T0])
    assert [item.line for item in outbox.take(5)] == ["alarm,s=a level=1i 5"]
    assert outbox.stats().max_telemetry_bytes == 10**7
    outbox.close()


def test_a_sound_crash_image_is_kept_with_every_committed_line(tmp_path: Path) -> None:
    path = crash_image(tmp_path / "outbox.sqlite")
    outbox, moved = Outbox.open_or_recover(path, now_ns=NOW)
    assert moved is None
    assert (outbox.count(Lane.EVENTS), outbox.count(Lane.TELEMETRY)) == (1, 42_000)
    outbox.close()


def test_after_a_clean_stop_truncation_is_still_caught_without_quick_check(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as outbox:
        fill(outbox, 0, 5_000)
    assert not side(path, "-wal").exists()  # a clean close leaves no -wal: no quick_check
    truncate_half(path)
    outbox, moved = Outbox.open_or_recover(path, now_ns=NOW)
    assert moved is not None
    assert outbox.count() == 0
    outbox.close()


def test_a_broken_table_page_in_a_cleanly_closed_file_needs_the_explicit_check(
    tmp_path: Path,
) -> None:
    """The documented trade-off: after a clean stop quick_check is skipped unless asked for,
    so a page that only holds line text (never read at open) goes unnoticed until then."""
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as outbox:
        fill(outbox, 0, 20_000)
    data = path.read_bytes()
    page = data.index(f"v={10_000}i".encode()) // 4096 * 4096  # a table leaf, mid-file
    with path.open("r+b") as f:
        f.seek(page)
        f.write(b"\xff" * 8)  # its b-tree page header
    outbox, moved = Outbox.open_or_recover(path, now_ns=NOW)
    assert (moved, outbox.count()) == (None, 20_000)
    outbox.close()
    outbox, moved = Outbox.open_or_recover(path, now_ns=NOW, check=True)
    assert (moved, outbox.count()) == (tmp_path / f"outbox.sqlite.corrupt-{STAMP}", 0)
    outbox.close()


def test_garbage_and_a_newer_schema_are_moved_aside_twice_in_one_second(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"not a database" * 1000)
    first, moved = Outbox.open_or_recover(path, now_ns=NOW)
    first.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    second, moved_again = Outbox.open_or_recover(path, now_ns=NOW)
    second.close()
    assert moved is not None
    assert moved_again is not None
    assert (moved.name, moved_again.name) == (
        f"outbox.sqlite.corrupt-{STAMP}",
        f"outbox.sqlite.corrupt-{STAMP}-1",
    )
    assert moved.read_bytes().startswith(b"not a database")


def test_errors_a_fresh_file_cannot_cure_are_raised_and_nothing_is_moved(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.mkdir()  # cannot be opened as a file at all, like a permission problem
    with pytest.raises(OutboxError) as caught:
        Outbox.open_or_recover(path, now_ns=NOW)
    assert not caught.value.unusable
    assert [p.name for p in tmp_path.iterdir()] == ["outbox.sqlite"]


def test_a_missing_file_is_simply_created(tmp_path: Path) -> None:
    outbox, moved = Outbox.open_or_recover(tmp_path / "outbox.sqlite", now_ns=NOW)
    assert (moved, outbox.count()) == (None, 0)
    outbox.close()
    assert re.fullmatch(r"outbox\.sqlite", "".join(p.name for p in tmp_path.iterdir()))
