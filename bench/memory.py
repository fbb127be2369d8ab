"""Resident memory of the daemon with 1,000 MQTT sensors at 1 Hz, its growth, and start-up time.

Run from the project root: `python bench/memory.py [--minutes M]` (the full run is 10 minutes,
`python bench/memory.py --minutes 10`, the default).

It starts its own Mosquitto and influxd on free loopback ports and `python -m gateway run` as a
process with 1,000 gas sensors (generic JSON over MQTT), the shipped detection tick (1 s), the
`log` and `mqtt` notify channels and the InfluxDB 1.x forwarder: the daemon as deployed. Measured:
- start-up: from launch to READY=1 on a NOTIFY_SOCKET datagram socket (as systemd sees it);
- VmRSS (/proc/<pid>/status) at READY=1, then every 10 s while the bench publishes every sensor
  once a second (QoS 1, paced in 100 ms slices);
- growth: VmRSS at the end minus VmRSS after the warm-up (the first minute, or half the run if
  shorter: detection rings, SQLite caches and client buffers fill in that time). The bound is
  --bound MB (default 5) for the run, and the target 100 MB absolute; both are checked and printed.
Baseline: the VmRSS of a bare `python -c 'import gateway.app'` (the code alone, no state).
Last line: the JSON object of design.md's Benchmarks section (value: VmRSS at the end, MB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import GatewayProcess, Publisher, config_text, cpus, machine, payload, topic  # noqa: E402

from tests.integration.servers import (  # noqa: E402
    InfluxDB1Server,
    MosquittoServer,
    start_influxdb1,
    start_mosquitto,
)

SENSORS = 1000
SAMPLE_EVERY_S = 10.0
SLICE_S = 0.1
TARGET_MB = 100.0
BARE = (
    "import time; t = time.perf_counter(); import gateway.app; t = time.perf_counter() - t; "
    "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1]; "
    "print(rss, t)"
)


def bare_import() -> tuple[float, float]:
    """(VmRSS MB, import seconds) of a process that only imports gateway.app."""
    out = subprocess.run([sys.executable, "-c", BARE], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    return int(out[0]) / 1024, float(out[1])


def run_load(
    gw: GatewayProcess, broker: MosquittoServer, seconds: float
) -> tuple[list[tuple[float, float]], int]:
    """Every sensor once a second for `seconds`; ([(elapsed s, VmRSS MB)], readings sent)."""
    pub = Publisher(broker.host, broker.port, "bench-load")
    per_slice = round(SENSORS * SLICE_S)
    samples: list[tuple[float, float]] = []
    t0 = time.perf_counter()
    k = 0
    try:
        while (elapsed := time.perf_counter() - t0) < seconds:
            if elapsed >= len(samples) * SAMPLE_EVERY_S:
                samples.append((elapsed, gw.rss_kib() / 1024))
                print(f"{elapsed:5.0f} s  VmRSS {samples[-1][1]:6.1f} MB", flush=True)
            first = k * per_slice % SENSORS
            pub.publish([(topic(s), payload(5 + k % 50 / 10))
                         for s in range(first, first + per_slice)])  # fmt: skip
            pub.wait_acked(behind=SENSORS)
            k += 1
            time.sleep(max(0.0, t0 + k * SLICE_S - time.perf_counter()))
        samples.append((time.perf_counter() - t0, gw.rss_kib() / 1024))
        pub.wait_acked()
    finally:
        pub.close()
    return samples, pub.sent


def influx_count(influx: InfluxDB1Server) -> int:
    result = influx.query("SELECT count(value) FROM combustible_gas", db="bench")
    series = result["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def wait_stored(influx: InfluxDB1Server, sent: int, timeout_s: float = 15.0) -> int:
    """Readings in InfluxDB once all `sent` are there, or what is there after `timeout_s`."""
    deadline = time.perf_counter() + timeout_s
    while (stored := influx_count(influx)) < sent and time.perf_counter() < deadline:
        time.sleep(0.5)
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--bound", type=float, default=5.0, help="MB of growth after warm-up")
    args = parser.parse_args()
    base_mb, import_s = bare_import()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name:
        tmp = Path(name)
        (tmp / "mqtt").mkdir()
        (tmp / "influx").mkdir()
        mqtt = start_mosquitto(tmp / "mqtt", ["autosave_interval 3600"])
        influxd = start_influxdb1(tmp / "influx")
        try:
            influxd.server.create_database("bench")
            config = tmp / "gateway.yaml"
            config.write_text(config_text(
                tmp / "state", mqtt.server.port, SENSORS, notify_mqtt=True,
                influx=(influxd.server.url, "bench"),
            ))  # fmt: skip
            gw = GatewayProcess(config, tmp)
            try:
                startup_s = gw.wait_ready()
                ready_mb = gw.rss_kib() / 1024
                # READY=1 comes when the daemon's tasks run, a moment before the MQTT driver's
                # SUBSCRIBE reaches a broker that has never seen its session: what is published
                # before that has no queue to wait in (only the very first start; afterwards the
                # persistent session holds it). Give the subscription a moment.
                time.sleep(2.0)
                samples, sent = run_load(gw, mqtt.server, args.minutes * 60)
                stored = wait_stored(influxd.server, sent)
            finally:
                gw.stop()
        finally:
            influxd.stop()
            mqtt.stop()
    warmup_s = min(60.0, args.minutes * 30)
    warm_mb = next(mb for t, mb in samples if t >= warmup_s - 1e-6)
    end_mb, peak_mb = samples[-1][1], max(mb for _, mb in samples)
    growth = end_mb - warm_mb
    growth_ok, under_target = growth <= args.bound, peak_mb < TARGET_MB
    print(f"bare import: {base_mb:.1f} MB in {import_s:.2f} s; gateway READY=1 after "
          f"{startup_s:.2f} s at {ready_mb:.1f} MB; after {warmup_s:.0f} s {warm_mb:.1f} MB; after "
          f"{args.minutes:g} min {end_mb:.1f} MB (peak {peak_mb:.1f}); growth {growth:+.1f} MB "
          f"(bound {args.bound:g} MB: {'OK' if growth_ok else 'EXCEEDED'}); peak under "
          f"{TARGET_MB:g} MB: {'OK' if under_target else 'NO'}; "
          f"{stored:,} of {sent:,} readings in InfluxDB")  # fmt: skip
    print(json.dumps({
        "bench": "memory", "unit": "MB (VmRSS)", "baseline": round(base_mb, 1),
        "value": round(end_mb, 1), "ratio": round(end_mb / base_mb, 2),
        "rss_ready_mb": round(ready_mb, 1), "rss_after_warmup_mb": round(warm_mb, 1),
        "rss_peak_mb": round(peak_mb, 1), "growth_mb": round(growth, 1),
        "growth_bound_mb": args.bound, "warmup_s": warmup_s, "growth_ok": growth_ok,
        "target_mb": TARGET_MB, "under_target": under_target,
        "startup_s": round(startup_s, 2), "baseline_import_s": round(import_s, 2),
        "minutes": args.minutes, "sensors": SENSORS, "rate_hz": 1, "readings_sent": sent,
        "readings_in_influxdb": stored, "machine": machine(), "cpus": cpus(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
