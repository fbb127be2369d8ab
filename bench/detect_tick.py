"""Time of one detection tick (ingest + evaluate) for 1,000 and 10,000 sensors, 64-sample rings.

Each tick every sensor delivers one reading (the worst case of a full poll), the sensors a mix of
gas, CO, oxygen, temperature and smoke presets, after the rings and windows have filled. In the
same run, on the same readings:
- baseline: a plain numpy kernel doing the same array work from scratch every tick: write the
  ring, thresholds with hysteresis, and a least-squares slope over each sensor's samples inside
  the 60 s window (masked sums over sensors x 64 samples);
- roll_polyfit: the naive form design.md warns about (np.roll the ring, np.polyfit the window);
- value: alerting.detect.Detector (running window sums, O(sensors) per tick), which also does
  stale, stuck, range, warm-up, dose and the delays.
Medians over the repeats. The last line is one JSON object (design.md "Benchmarks"); the figure
is the 10,000-sensor tick, which must stay under 2 ms here.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerting.detect import Detector  # noqa: E402
from alerting.presets import PRESETS, Preset  # noqa: E402
from gateway.model import ReadingBatch, SensorClass  # noqa: E402

S = 1_000_000_000
RING, WINDOW_S, PERIOD_S = 64, 60.0, 1.0
LIMIT_MS = 2.0
MIX = [
    SensorClass.COMBUSTIBLE_GAS, SensorClass.CO, SensorClass.OXYGEN, SensorClass.TEMPERATURE,
    SensorClass.SMOKE,
]  # fmt: skip


def presets(n: int) -> list[Preset]:
    return [PRESETS[MIX[i % len(MIX)]] for i in range(n)]


def readings(n: int, ticks: int, seed: int) -> list[ReadingBatch]:
    """One reading per sensor per tick, with jittered stamps, values near each class's normal."""
    rng = np.random.default_rng(seed)
    base = np.array([{0: 1.0, 1: 2.0, 2: 20.9, 3: 22.0, 4: 0.0}[i % len(MIX)] for i in range(n)])
    idx = np.arange(n)
    out = []
    for k in range(ticks):
        ts = ((k * PERIOD_S + rng.uniform(-0.3, 0.0, n)) * S).astype(np.int64)
        out.append(ReadingBatch.of(idx, base + rng.normal(0, 0.1, n), ts))
    return out


class Baseline:
    """Thresholds with hysteresis and a masked least-squares slope, recomputed every tick."""

    def __init__(self, p: list[Preset]) -> None:
        n = len(p)
        self.t, self.v = np.full((n, RING), -np.inf), np.zeros((n, RING))
        self.head, self.rows = 0, np.arange(n)
        self.l1 = np.array([x.level1 for x in p])
        self.db = np.array([x.deadband for x in p])
        self.ror = np.array([x.rate_of_rise_per_min for x in p])
        self.level = np.zeros(n, dtype=bool)

    def tick(self, b: ReadingBatch, now_ns: int) -> np.ndarray:
        self.t[b.sensor, self.head] = b.ts_ns / S
        self.v[b.sensor, self.head] = b.value
        self.head = (self.head + 1) % RING
        latest = b.value
        with np.errstate(invalid="ignore"):
            self.level = (latest >= self.l1) | (self.level & (latest >= self.l1 - self.db))
        now = now_ns / S
        inside = self.t >= now - WINDOW_S
        tz = np.where(inside, self.t - now, 0.0)
        vz = np.where(inside, self.v, 0.0)
        n = np.count_nonzero(inside, axis=1)
        st, sv = tz.sum(axis=1), vz.sum(axis=1)
        stt, stv = np.einsum("ij,ij->i", tz, tz), np.einsum("ij,ij->i", tz, vz)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (n * stv - st * sv) / (n * stt - st * st) * 60.0
            return np.asarray(self.level | (slope >= self.ror))


class RollPolyfit:
    """The naive form: shift the whole ring each tick and fit a line to every window."""

    def __init__(self, p: list[Preset]) -> None:
        self.v = np.zeros((len(p), RING))
        self.ror = np.array([x.rate_of_rise_per_min for x in p])
        self.x = np.arange(RING) * PERIOD_S

    def tick(self, b: ReadingBatch, now_ns: int) -> np.ndarray:
        self.v = np.roll(self.v, -1, axis=1)
        self.v[b.sensor, -1] = b.value
        slope = np.polyfit(self.x, self.v.T, 1)[0] * 60.0
        with np.errstate(invalid="ignore"):
            return np.asarray(slope >= self.ror)


def median_ms(step: Callable[[ReadingBatch, int], object], batches: list[ReadingBatch]) -> float:
    """Fill for 80 ticks, then time the rest one tick at a time."""
    times = []
    for k, batch in enumerate(batches):
        t0 = time.perf_counter()
        step(batch, k * S)
        if k >= 80:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def detector_step(n: int) -> Callable[[ReadingBatch, int], object]:
    d = Detector(presets(n), start_ns=0, ring=RING, window_s=WINDOW_S)

    def step(batch: ReadingBatch, now_ns: int) -> object:
        d.ingest(batch)
        return d.evaluate(now_ns)

    return step


def measure(n: int, ticks: int, repeats: int) -> dict[str, float]:
    runs: dict[str, list[float]] = {"value": [], "baseline": [], "roll_polyfit": []}
    for r in range(repeats):
        batches = readings(n, ticks, seed=r)
        runs["baseline"].append(median_ms(Baseline(presets(n)).tick, batches))
        runs["value"].append(median_ms(detector_step(n), batches))
        runs["roll_polyfit"].append(median_ms(RollPolyfit(presets(n)).tick, batches[:120]))
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--ticks", type=int, default=300, help="ticks per run (80 fill the rings)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    figures = {}
    for n in (1_000, 10_000):
        figures[n] = measure(n, args.ticks, args.repeats)
        f = figures[n]
        print(
            f"{n:>6} sensors: detector {f['value']:.3f} ms, baseline {f['baseline']:.3f} ms, "
            f"np.roll + polyfit {f['roll_polyfit']:.3f} ms per tick"
        )
    big, small = figures[10_000], figures[1_000]
    result = {
        "bench": "detect_tick",
        "unit": "ms per tick (10,000 sensors x 64 samples)",
        "baseline": round(big["baseline"], 4),
        "value": round(big["value"], 4),
        "ratio": round(big["value"] / big["baseline"], 4),
        "roll_polyfit": round(big["roll_polyfit"], 4),
        "value_1000": round(small["value"], 4),
        "baseline_1000": round(small["baseline"], 4),
        "limit_ms": LIMIT_MS,
        "within_limit": big["value"] < LIMIT_MS,
        "repeats": args.repeats,
        "ticks": args.ticks,
        "machine": f"{platform.machine()} {platform.processor() or platform.platform()}",
        "numpy": np.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
