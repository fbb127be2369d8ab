"""Outages against a real InfluxDB 1.x that these tests start, stop and restart themselves.

- The gateway as a real process: the server stops while readings flow, the outbox grows, the
  gateway is killed with SIGKILL and started again, the server comes back on its port and data
  dir, and the backlog drains: every line ever appended arrives once.
- The forwarder after an outage sends the events ahead of the telemetry backlog.
- A tiny telemetry bound: telemetry drops are counted, every alarm event is delivered.
- A really full disk (a 1 MiB tmpfs in a private mount namespace): the error surfaces, events
  committed before it are kept, and appends work again once there is room.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.clock import SystemClock
from gateway.forwarder import Forwarder
from gateway.influx import InfluxV1Sink, WriteResult
from gateway.outbox import Lane, Outbox
from tests.integration.servers import InfluxDB1Server, Running, start_influxdb1

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 20.0
Key = tuple[str, tuple[tuple[str, str], ...], int]  # measurement, tags, time


def wait_for(what: str, ready: Callable[[], bool], explain: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {DEADLINE_S} s\n{explain()}")
        time.sleep(0.05)


# -- reading the outbox file the way an investigator would: read-only, changing nothing -------


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def held(path: Path) -> list[str]:
    with read_only(path) as db:
        return [text for (text,) in db.execute("SELECT line FROM outbox ORDER BY id")]


def appended_ever(path: Path) -> int:
    """The outbox's AUTOINCREMENT high-water mark: every line either run ever committed."""
    with read_only(path) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    return int(row[0])


NOT_LOSSES = {"max_telemetry_bytes", "ledger_seq"}  # settings and marks beside the counters


def lost_ever(path: Path) -> dict[str, int]:
    """The outbox's loss counters (dropped, rejected ...), non-zero ones only."""
    with read_only(path) as db:
        rows = db.execute("SELECT key, value FROM meta").fetchall()
    return {str(k): int(v) for k, v in rows if k not in NOT_LOSSES}


def key_of(line: str) -> Key:
    series = line.split(" ", 1)[0]
    measurement, *pairs = series.split(",")
    tags = tuple(sorted(tuple(pair.split("=", 1)) for pair in pairs))
    return measurement, tags, int(line.rsplit(" ", 1)[1])  # type: ignore[return-value]


def points(server: InfluxDB1Server, db: str) -> list[Key]:
    """Every point of every measurement, as (measurement, tags, time)."""
    result = server.query("SELECT * FROM /.*/ GROUP BY *", db=db)
    keys: list[Key] = []
    for s in result["results"][0].get("series", []):
        tags = tuple(sorted((k, v) for k, v in s.get("tags", {}).items() if v != ""))
        keys += [(s["name"], tags, int(row[0])) for row in s["values"]]
    return keys


# -- the gateway as a process ------------------------------------------------------------------


def config_text(state: Path, url: str) -> str:
    """Three simulated detectors at 10 Hz; one is over its level 1 from the start, so an alarm
    is raised and escalation reminds every second: events keep coming during the outage."""
    devices = [
        "{id: kitchen-temp-1, driver: sim, zone: kitchen, class: temperature, "
        "channel: kitchen_temp, thresholds: {level1: 20, level2: 1000}}",
        "{id: kitchen-gas-1, driver: sim, zone: kitchen, class: combustible_gas, "
        "channel: kitchen_gas}",
        "{id: office-co-1, driver: sim, zone: kitchen, class: co, channel: office_co}",
    ]
    return "\n".join(
        [
            "site: {id: test}",
            "gateway: {id: gw01}",
            f"state_dir: {state}",
            "people: [{id: p1, name: Person}]",
            "zones: [{id: kitchen, name: Kitchen, owner: p1}]",
            "drivers: [{type: sim, id: sim, period_s: 0.1}]",
            "detection: {tick_s: 0.1}",
            "escalation: {levels: [{name: duty, recipients: [p1]}], repeat_s: 1}",
            f"influxdb: {{version: 1, url: '{url}', database: hazgw}}",
            "devices:",
            *(f"  - {d}" for d in devices),
        ]
    )


class GatewayProcess:
    """`python -m gateway run --config FILE`, its output appended to a log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(config)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def wait_log(self, text: str) -> None:
        wait_for(repr(text), lambda: text in self.output(), self.output)

    def kill(self) -> None:
        self.popen.kill()
        assert self.popen.wait(10) == -signal.SIGKILL

    def stop(self) -> str:
        self.popen.send_signal(signal.SIGTERM)
        assert self.popen.wait(20) == 0, self.output()
        return self.output()


def outbox_stats_cli(state: Path) -> dict[str, Any]:
    """`hazgw outbox stats --json` as a separate process, while the daemon runs."""
    code = "from gateway.cli.outbox_cmd import app; app()"
    argv = [sys.executable, "-c", code, "stats", "--json", "--state-dir", str(state)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[list[Running[InfluxDB1Server]]]:
    """A server of this test's own (it will be stopped); a list, so a restart can replace it."""
    handle = [start_influxdb1(tmp_path / "influx")]
    handle[0].server.create_database("hazgw")
    yield handle
    handle[0].stop()


def test_outage_kill_and_restart_every_line_arrives_once(
    tmp_path: Path, influx: list[Running[InfluxDB1Server]]
) -> None:
    server = influx[0].server
    state, log = tmp_path / "state", tmp_path / "gateway.log"
    path = state / "outbox.sqlite"
    config = tmp_path / "site.yaml"
    config.write_text(config_text(state, server.url))
    first = GatewayProcess(config, log)
    try:
        wait_for("readings in InfluxDB", lambda: len(points(server, "hazgw")) > 30, first.output)
        influx[0].stop()  # the outage begins; readings keep flowing
        growing = outbox_stats_cli(state)
        wait_for(
            "a growing backlog",
            lambda: outbox_stats_cli(state)["telemetry"] > 60 + growing["telemetry"],
        )
        wait_for("events held", lambda: outbox_stats_cli(state)["events"] >= 2)
        first.kill()
    finally:
        first.popen.kill()
    backlog = held(path)  # what the killed gateway left, read without touching the file
    assert sum(1 for x in backlog if x.startswith(("alarm_event", "ledger_event"))) >= 2

    second = GatewayProcess(config, log)
    try:
        second.wait_log("hazgw ready")
        time.sleep(1.0)  # the restarted gateway fails to write and keeps buffering
        influx[0] = start_influxdb1(tmp_path / "influx", port=server.port)  # same port and data
        second.wait_log("accepts writes again")
        output = second.stop()  # its last tick, then a drain to the server
    finally:
        second.popen.kill()
    assert "stopped cleanly" in output

    assert held(path) == []
    assert lost_ever(path) == {}
    produced = appended_ever(path)
    stored = points(server, "hazgw")
    assert len(stored) == len(set(stored))  # trivially true in InfluxDB: the next line is not
    assert len(stored) == produced  # so no two lines shared a series and timestamp, none lost
    assert {key_of(x) for x in backlog} <= set(stored)
    kinds = Counter(name for name, _, _ in stored)
    assert kinds["temperature"] > 0
    assert kinds["ledger_event"] > 0
    assert kinds["alarm_event"] > 0


class RecordingSink(InfluxV1Sink):
    """The real v1 sink, remembering the batches the server accepted, in order."""

    def __init__(self, url: str, database: str) -> None:
        super().__init__(url, database, timeout_s=2)
        self.accepted: list[list[str]] = []

    def write(self, lines: Sequence[str]) -> WriteResult:
        result = super().write(lines)
        self.accepted.append(list(lines))
        return result


def forward_while(
    outbox: Outbox, sink: InfluxV1Sink, scenario: Callable[[Forwarder], None]
) -> Forwarder:
    """Run a forwarder as the daemon does (its own loop, one SQLite worker thread) while
    `scenario` runs here, then until the outbox is empty. The scenario stays on the main
    thread: servers die with the thread that started them (servers.py)."""
    started: list[Forwarder] = []
    scenario_over = threading.Event()

    async def main() -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="hazgw-db") as worker:

            def run_db(fn: Callable[[], T]) -> asyncio.Future[T]:
                return asyncio.get_running_loop().run_in_executor(worker, fn)

            fwd = Forwarder(
                outbox, sink, run_db=run_db, clock=SystemClock(), idle_s=0.02, max_backoff_s=0.3
            )
            started.append(fwd)
            task = asyncio.create_task(fwd.run(), name="forwarder")
            async with asyncio.timeout(2 * DEADLINE_S):
                while not scenario_over.is_set() or outbox.count():  # noqa: ASYNC110
                    await asyncio.sleep(0.02)  # a thread's flag and a count: no Event to await
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    with ThreadPoolExecutor(1, thread_name_prefix="forwarder-loop") as pool:
        running = pool.submit(asyncio.run, main())
        wait_for("a forwarder", lambda: bool(started) or running.done())
        try:
            scenario(started[0])
        finally:
            scenario_over.set()
        running.result()
    return started[0]


def test_after_an_outage_events_go_ahead_of_the_telemetry_backlog(
    tmp_path: Path, influx: list[Running[InfluxDB1Server]]
) -> None:
    server = influx[0].server
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sink = RecordingSink(server.url, "hazgw")
    t0 = time.time_ns()
    telemetry = [f"temperature,device=d{i % 9} value={i}.5 {t0 + i}" for i in range(12_000)]
    events = [
        f'alarm_event,device=d{i} state="unacknowledged" {t0 + 20_000 + i}' for i in range(20)
    ]

    def outage(fwd: Forwarder) -> None:
        influx[0].stop()
        outbox.append(Lane.TELEMETRY, telemetry, [t0 + i for i in range(12_000)])
        outbox.append(Lane.EVENTS, events, [t0 + 20_000 + i for i in range(20)])  # the newest
        wait_for("failed writes", lambda: fwd.last_error is not None)
        influx[0] = start_influxdb1(tmp_path / "influx", port=server.port)

    forwarder = forward_while(outbox, sink, outage)
    sink.close()
    order = [line for batch in sink.accepted for line in batch]
    assert order[:20] == events  # the first batch after the outage leads with every event
    assert sorted(order[20:]) == sorted(telemetry)
    assert (forwarder.sent, forwarder.rejected) == (12_020, 0)
    assert len(points(server, "hazgw")) == 12_020
    outbox.close()


def test_a_tiny_bound_drops_counted_telemetry_and_delivers_every_alarm_event(
    influxdb1: InfluxDB1Server, tmp_path: Path
) -> None:
    db = f"tiny_{os.getpid()}"
    influxdb1.create_database(db)
    outbox = Outbox(tmp_path / "outbox.sqlite", max_telemetry_bytes=8_000)
    t0 = time.time_ns()
    appended = 0
    for r in range(40):  # 40 ticks of 50 readings and one alarm transition each
        lines = [f"co,device=d{i} value={r}.{i} {t0 + r * 1000 + i}" for i in range(50)]
        outbox.append(Lane.TELEMETRY, lines, [t0 + r * 1000 + i for i in range(50)])
        event = f'alarm_event,device=d{r} state="unacknowledged" {t0 + r * 1000}'
        outbox.append(Lane.EVENTS, [event], [t0 + r * 1000])
        appended += 50
    stats = outbox.stats()
    assert stats.telemetry_bytes <= 8_000
    assert stats.dropped_overflow == appended - stats.telemetry > 1_500
    assert stats.events == 40
    sink = InfluxV1Sink(influxdb1.url, db)
    forward_while(outbox, sink, lambda _fwd: None)
    sink.close()
    kinds = Counter(name for name, _, _ in points(influxdb1, db))
    assert kinds == {"alarm_event": 40, "co": stats.telemetry}
    assert kinds["co"] + outbox.stats().dropped_overflow == appended
    outbox.close()


# -- a full disk -------------------------------------------------------------------------------

DISK_FULL_CHILD = """
import json, sys
from pathlib import Path
from gateway.outbox import Lane, Outbox, OutboxError
disk = Path(sys.argv[1])
ballast = disk / "ballast"
ballast.write_bytes(b"x" * 300_000)  # room to give back later
box = Outbox(disk / "outbox.sqlite", max_telemetry_bytes=100 * 2**20)  # bound > disk
kept, error = [], None
for r in range(10_000):
    try:
        event = f"alarm_event,device=d{r} level=2i {r}"
        box.append(Lane.EVENTS, [event], [r])
        kept.append(event)
        readings = [f"co,device=d{i} value={r}.{i} {r}" for i in range(200)]
        box.append(Lane.TELEMETRY, readings, [r] * 200)
    except OutboxError as exc:
        error = exc
        break
held_after_error = box.lines(Lane.EVENTS)
ballast.unlink()
box.append(Lane.EVENTS, ["alarm_event,device=after level=1i 1"], [10**6])
print(json.dumps({
    "error": str(error), "unusable": error.unusable if error else None, "kept": kept,
    "held_after_error": held_after_error, "held_at_end": box.lines(Lane.EVENTS),
    "telemetry": box.count(Lane.TELEMETRY), "stats_telemetry": box.stats().telemetry,
}))
"""


def _private_tmpfs_works() -> str | None:
    """None if `unshare --mount` + a tmpfs mount work here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return None if probe.returncode == 0 else f"no private tmpfs here: {probe.stderr.strip()}"


def test_a_full_disk_surfaces_the_error_and_keeps_every_committed_event(tmp_path: Path) -> None:
    reason = _private_tmpfs_works()
    if reason is not None:
        pytest.skip(reason)  # needs CAP_SYS_ADMIN (root, as in CI); nothing else can fill a disk
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f'mount -t tmpfs -o size=1m tmpfs "$1" && exec "{sys.executable}" -c "$2" "$1"'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(disk),
         DISK_FULL_CHILD],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "database or disk is full" in result["error"]
    assert result["unusable"] is False  # a full disk is not a damaged file: nothing moved aside
    assert len(result["kept"]) > 5
    assert result["held_after_error"] == result["kept"]  # every committed event is still there
    assert result["held_at_end"] == [*result["kept"], "alarm_event,device=after level=1i 1"]
    assert result["telemetry"] == result["stats_telemetry"] > 0
