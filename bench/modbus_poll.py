"""Modbus RTU poll efficiency: the gateway's driver against raw pyserial, on the PTY slave.

N slaves with one holding register each are polled round-robin, one-register reads, through a
pty whose far end is drivers/sim/pty_modbus.py (pymodbus's codec) in its own process, so the
simulator never competes with the measured code for the GIL.

- baseline: the same request/response cycle with raw pyserial: write a precomputed request,
  block until the 7-byte reply is in; no parsing beyond that.
- value: ModbusRtuDriver polling the same slaves (batches() consumed as the daemon does), with
  the inter-frame gap set to 0 because a pty has no wire; the gap is in the wire model below.
- extra: pymodbus 3's AsyncModbusSerialClient doing the same reads (retries=0), for reference.

Two overheads per request: wall (1/value - 1/baseline; the simulator's time cancels out, machine
load does not) and CPU (this process's CPU time per request minus the baseline's; steadier on a
busy machine). On a real 9600-baud bus a one-register transaction costs (8 + 7 bytes) x 10 bits /
9600 plus two 3.5-character silences = 22.9 ms (43.6 transactions/s); the prediction adds the
driver's wall overhead to that.

Run from the project root: python bench/modbus_poll.py [--slaves 8] [--transactions 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import serial
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.framer import FramerType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.base import Binding  # noqa: E402
from drivers.modbus.config import ModbusRtuDriverConfig  # noqa: E402
from drivers.modbus.driver import ModbusRtuDriver  # noqa: E402
from drivers.modbus.rtu import frame_gap_seconds, read_request, reply_length  # noqa: E402
from drivers.sim.pty_modbus import PtyModbusSlave  # noqa: E402
from gateway.clock import SystemClock  # noqa: E402

BAUD = 9600
PROFILE = "description: one holding register\npoints:\n  value: {register: 0}\n"
KINDS = ("raw", "driver", "pymodbus")
LABELS = {"raw": "raw pyserial (baseline)", "driver": "gateway driver", "pymodbus": "pymodbus"}


@dataclass(frozen=True)
class Sample:
    tps: float  # transactions per wall second
    cpu_us: float  # this process's CPU microseconds per transaction


class Stopwatch:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def sample(self, n: int) -> Sample:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return Sample(n / wall, cpu / n * 1e6)


def wire_seconds_per_transaction(baud: int = BAUD) -> float:
    frames = (len(read_request(1, 3, 0, 1)) + reply_length(1)) * 10 / baud
    return frames + 2 * frame_gap_seconds(baud)


def raw_pyserial(path: str, slaves: list[int], n: int) -> Sample:
    requests = [read_request(s, 3, 0, 1) for s in slaves]
    size = reply_length(1)
    with serial.Serial(path, BAUD, timeout=2.0) as port:
        watch = Stopwatch()
        for i in range(n):
            port.write(requests[i % len(requests)])
            if len(port.read(size)) != size:
                raise RuntimeError("the simulator did not answer")
        return watch.sample(n)


async def driver_rate(path: str, slaves: list[int], n: int, profiles: Path) -> Sample:
    cfg = ModbusRtuDriverConfig(
        type="modbus_rtu", id="bench", port=path, baudrate=BAUD, poll_interval_s=1e-6,
        request_timeout_s=2.0, inter_frame_gap_s=0.0,
    )  # fmt: skip
    bindings = [Binding(i, f"d{s}", "co", address=s, profile="one") for i, s in enumerate(slaves)]
    driver = ModbusRtuDriver(cfg, bindings, clock=SystemClock(), profiles_dir=profiles)
    async with driver:
        watch = Stopwatch()
        async for _batch in driver.batches():
            if driver.transactions >= n:
                break
        sample = watch.sample(driver.transactions)
    if driver.status.errors.keys() - {"cycle_overrun"}:
        raise RuntimeError(f"driver errors: {driver.status.errors}")
    return sample


async def pymodbus_rate(path: str, slaves: list[int], n: int) -> Sample:
    client = AsyncModbusSerialClient(
        path, framer=FramerType.RTU, baudrate=BAUD, timeout=2.0, retries=0, reconnect_delay=0
    )
    await client.connect()
    try:
        watch = Stopwatch()
        for i in range(n):
            reply = await client.read_holding_registers(
                0, count=1, device_id=slaves[i % len(slaves)]
            )
            if reply.isError():
                raise RuntimeError(f"pymodbus: {reply}")
        return watch.sample(n)
    finally:
        client.close()


def serve(conn: Connection, slaves: list[int]) -> None:
    """The simulated bus, in its own process until told to stop."""
    with PtyModbusSlave({s: {(3, 0): 100 + s} for s in slaves}) as sim:
        conn.send(sim.path)
        conn.recv()


def measure(args: argparse.Namespace) -> dict[str, list[Sample]]:
    slaves = list(range(1, args.slaves + 1))
    samples: dict[str, list[Sample]] = {k: [] for k in KINDS}
    parent, child = multiprocessing.Pipe()
    sim = multiprocessing.Process(target=serve, args=(child, slaves), daemon=True)
    sim.start()
    path, n = parent.recv(), args.transactions
    try:
        with tempfile.TemporaryDirectory() as tmp:
            profiles = Path(tmp)
            (profiles / "one.yaml").write_text(PROFILE)
            for _ in range(args.runs):  # interleaved, so drift hits all three alike
                samples["raw"].append(raw_pyserial(path, slaves, n))
                samples["driver"].append(asyncio.run(driver_rate(path, slaves, n, profiles)))
                samples["pymodbus"].append(asyncio.run(pymodbus_rate(path, slaves, n)))
    finally:
        parent.send("stop")
        sim.join(timeout=5)
    return samples


def paired(samples: dict[str, list[Sample]], kind: str) -> dict[str, float]:
    """Median over runs of per-run comparisons with the baseline run next to it."""
    pairs = list(zip(samples[kind], samples["raw"], strict=True))
    return {
        "tps": statistics.median(s.tps for s in samples[kind]),
        "ratio": statistics.median(s.tps / r.tps for s, r in pairs),
        "wall_us": statistics.median((1 / s.tps - 1 / r.tps) * 1e6 for s, r in pairs),
        "cpu_us": statistics.median(s.cpu_us - r.cpu_us for s, r in pairs),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report(samples: dict[str, list[Sample]], args: argparse.Namespace) -> None:
    raw = statistics.median(s.tps for s in samples["raw"])
    drv, pym = paired(samples, "driver"), paired(samples, "pymodbus")
    wire_s = wire_seconds_per_transaction()
    limit = 1 / wire_s
    predicted = 1 / (wire_s + max(0.0, drv["wall_us"]) / 1e6)
    print(f"machine: {cpu_model()}, Python {platform.python_version()}")
    print(f"{args.slaves} slaves, {args.transactions} one-register reads per run, {args.runs} runs")
    for kind, label in LABELS.items():
        runs = " ".join(f"{s.tps:.0f}" for s in samples[kind])
        tps = statistics.median(s.tps for s in samples[kind])
        print(f"{label:24} {tps:8.0f} transactions/s   runs {runs}")
    for label, p in (("driver", drv), ("pymodbus", pym)):
        print(f"{label}: {p['ratio']:.3f} of raw; overhead per request {p['wall_us']:.0f} us wall, "
              f"{p['cpu_us']:.0f} us CPU")  # fmt: skip
    share = predicted / limit
    print(f"9600 baud wire limit: {wire_s * 1e3:.2f} ms per transaction = {limit:.1f}/s; with "
          f"the driver's overhead {predicted:.1f}/s ({share:.1%} of the limit)")  # fmt: skip
    print(json.dumps({
        "bench": "modbus_poll", "unit": "transactions/s", "baseline": round(raw, 1),
        "value": round(drv["tps"], 1), "ratio": round(drv["ratio"], 3),
        "overhead_us_per_request": round(drv["wall_us"], 1),
        "cpu_overhead_us_per_request": round(drv["cpu_us"], 1),
        "pymodbus_client": round(pym["tps"], 1), "pymodbus_ratio": round(pym["ratio"], 3),
        "pymodbus_overhead_us_per_request": round(pym["wall_us"], 1),
        "pymodbus_cpu_overhead_us_per_request": round(pym["cpu_us"], 1),
        "wire_limit_9600": round(limit, 2), "predicted_9600": round(predicted, 2),
        "predicted_efficiency_9600": round(predicted / limit, 4),
        "slaves": args.slaves, "transactions": args.transactions, "runs": args.runs,
        "machine": cpu_model(),
    }))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--slaves", type=int, default=8)
    ap.add_argument("--transactions", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    report(measure(args), args)


if __name__ == "__main__":
    main()
