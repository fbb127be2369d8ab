"""Outbox append rate, and forwarder drain rate to a real InfluxDB 1.x against raw batched writes.

Starts its own influxd (Debian's 1.6.7) on free loopback ports. Each run makes the same lines
(readings of 50 sensors, as the gateway formats them) and, in the same run:
- baseline: POSTs them to /write with urllib3 in 5,000-line batches, one after another;
- append: stores them in a fresh outbox in 1,000-line transactions (lines/s);
- value: a Forwarder drains that outbox into another database through InfluxV1Sink, as the
  daemon does (SQLite on one worker thread, writes in a thread); the clock stops when the
  outbox is empty. `--compare` also drains with pipelining off (the forwarder as it was).
Every database is read back: the count must equal the lines sent, or the run fails.
The last line printed is one JSON object (design.md "Benchmarks"): rates are medians over the
runs, `ratio` the median of the per-run ratios (each run's drain against its own baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import urllib3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.clock import SystemClock  # noqa: E402
from gateway.forwarder import Forwarder  # noqa: E402
from gateway.influx import InfluxV1Sink  # noqa: E402
from gateway.outbox import Lane, Outbox  # noqa: E402
from tests.integration.servers import InfluxDB1Server, start_influxdb1  # noqa: E402

T = TypeVar("T")
BATCH = 5_000
APPEND_BATCH = 1_000
SENSORS = 50
T0 = 1_700_000_000_000_000_000


def make_lines(n: int) -> tuple[list[str], list[int]]:
    """Readings as gateway/telemetry.py writes them, one per sensor per second."""
    prefixes = [
        f"combustible_gas,device=gas-{s},gateway=gw01,sensor_class=combustible_gas,site=plant-a,"
        f"zone=zone-{s % 8}"
        for s in range(SENSORS)
    ]
    stamps = [T0 + (i // SENSORS) * 1_000_000_000 for i in range(n)]
    lines = [
        f"{prefixes[i % SENSORS]} value={(i % 997) / 10!r},quality=0i {stamps[i]}" for i in range(n)
    ]
    return lines, stamps


def baseline(server: InfluxDB1Server, db: str, lines: list[str]) -> float:
    http = urllib3.PoolManager(retries=False)
    url = f"{server.url}/write?db={db}&precision=ns"
    started = time.perf_counter()
    for at in range(0, len(lines), BATCH):
        body = "\n".join(lines[at : at + BATCH]).encode()
        reply = http.request("POST", url, body=body)
        if reply.status != 204:
            raise RuntimeError(f"baseline write: HTTP {reply.status}: {reply.data[:200]!r}")
    return len(lines) / (time.perf_counter() - started)


def fill(path: Path, lines: list[str], stamps: list[int]) -> tuple[Outbox, float]:
    outbox = Outbox(path)
    started = time.perf_counter()
    for at in range(0, len(lines), APPEND_BATCH):
        outbox.append(Lane.TELEMETRY, lines[at : at + APPEND_BATCH], stamps[at : at + APPEND_BATCH])
    return outbox, len(lines) / (time.perf_counter() - started)


async def _drain(outbox: Outbox, sink: InfluxV1Sink, total: int, pipeline: bool) -> float:
    with ThreadPoolExecutor(1, thread_name_prefix="hazgw-db") as worker:  # as in the daemon

        def run_db(fn: Callable[[], T]) -> asyncio.Future[T]:
            return asyncio.get_running_loop().run_in_executor(worker, fn)

        forwarder = Forwarder(
            outbox, sink, run_db=run_db, clock=SystemClock(), idle_s=0.001, pipeline=pipeline
        )
        started = time.perf_counter()
        task = asyncio.create_task(forwarder.run(), name="forwarder")
        while forwarder.sent < total:
            done, _ = await asyncio.wait({task}, timeout=0.001)
            if done:
                raise RuntimeError(f"forwarder stopped: {forwarder.last_error}")
        elapsed = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if outbox.count() or forwarder.rejected:
        raise RuntimeError(f"{outbox.count()} left, {forwarder.rejected} rejected")
    return total / elapsed


def count(server: InfluxDB1Server, db: str) -> int:
    result = server.query('SELECT count("value") FROM "combustible_gas"', db=db)
    return int(result["results"][0]["series"][0]["values"][0][1])


def one_run(
    server: InfluxDB1Server, tmp: Path, run: int, n: int, compare: bool
) -> dict[str, float]:
    """One paired run; odd runs drain before the baseline, so neither always follows the other
    (influxd compacts what it was just sent, which slows whatever comes next)."""
    lines, stamps = make_lines(n)
    figures: dict[str, float] = {}
    modes = [("value", True), *([("unpipelined", False)] if compare else [])]
    for db in [f"base{run}", *(f"{m}{run}" for m, _ in modes)]:
        server.create_database(db)
    if run % 2 == 0:
        figures["baseline"] = baseline(server, f"base{run}", lines)
    for mode, pipeline in modes:
        outbox, figures["append"] = fill(tmp / f"outbox-{mode}-{run}.sqlite", lines, stamps)
        sink = InfluxV1Sink(server.url, f"{mode}{run}")
        figures[mode] = asyncio.run(_drain(outbox, sink, n, pipeline))
        sink.close()
        outbox.close()
    if run % 2 == 1:
        figures["baseline"] = baseline(server, f"base{run}", lines)
    for db in [f"base{run}", *(f"{m}{run}" for m, _ in modes)]:
        if (got := count(server, db)) != n:
            raise RuntimeError(f"{db}: {got} points read back, {n} sent")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also drain without pipelining")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmpdir:
        tmp = Path(tmpdir)
        running = start_influxdb1(tmp / "influx")
        try:
            runs = []
            for run in range(args.runs):
                figures = one_run(running.server, tmp, run, args.lines, args.compare)
                print(json.dumps({"run": run, **{k: round(v) for k, v in figures.items()}}))
                runs.append(figures)
        finally:
            running.stop()
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    ratios = sorted(r["value"] / r["baseline"] for r in runs)  # paired: same run, same load
    result: dict[str, object] = {
        "bench": "outbox_drain",
        "unit": "lines/s",
        "baseline": round(med["baseline"]),
        "value": round(med["value"]),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_min": round(ratios[0], 3),
        "ratio_max": round(ratios[-1], 3),
        "append_rate": round(med["append"]),
        "lines": args.lines,
        "batch": BATCH,
        "runs": args.runs,
    }
    if "unpipelined" in med:
        result["unpipelined"] = round(med["unpipelined"])
        paired = [r["unpipelined"] / r["baseline"] for r in runs]
        result["unpipelined_ratio"] = round(statistics.median(paired), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
