"""End-to-end ingest: a QoS 1 burst through the real broker and the whole daemon into InfluxDB 1.x,
against mosquitto_sub draining the same burst.

Run from the project root: `python bench/end_to_end.py [--messages N] [--runs R] [--tick S]`.

It starts its own Mosquitto (the settings of bench/mqtt_ingest.py) and influxd on free loopback
ports and makes two persistent QoS 1 sessions on `bench/+`: mosquitto_sub's and the gateway's
(the daemon's own MQTT driver config, client id bench-gw). Per run it publishes a burst of N
readings of 1,000 gas sensors at QoS 1 (every PUBACK awaited, so the broker holds the whole burst
for both sessions; each payload carries a distinct timestamp, so no two points can overwrite each
other in InfluxDB), then drains it twice, in alternating order between runs:
- baseline: `mosquitto_sub -c -q 1 -C N`, from its launch to its exit (every reading once);
- value: `python -m gateway run --config FILE` as a process: MQTT driver, decode, detection
  (tick_s, default the shipped 1 s), outbox, forwarder into a fresh database. The clock runs from
  READY=1 (sd_notify; before it the daemon has connected nothing) until `SELECT count(value)`
  (polled every 0.2 s) reads back all N points. From launch is reported as well.
A gateway that stops short of N (no progress for --stall seconds) fails the run with the counts.
Last line: the JSON object of design.md's Benchmarks section; rates are medians over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402
    BASE,
    GatewayProcess,
    Publisher,
    config_text,
    cpus,
    machine,
    payload,
    topic,
)

from drivers.mqtt.config import MqttDriverConfig  # noqa: E402
from drivers.mqtt.driver import MqttDriver  # noqa: E402
from gateway.clock import SystemClock  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.registry import Registry  # noqa: E402
from tests.integration.servers import (  # noqa: E402
    InfluxDB1Server,
    MosquittoServer,
    start_influxdb1,
    start_mosquitto,
)

SENSORS = 1000
BROKER_CONF = ["autosave_interval 3600", "max_queued_bytes 0", "max_inflight_messages 1000"]
WINDOW = 20_000  # publisher: PUBLISH packets in flight before waiting for PUBACKs
POLL_S = 0.2


def publish_burst(broker: MosquittoServer, start: int, count: int) -> float:
    """Readings start..start+count-1 (value 5-9.9 %LEL, no alarm), each with its own time."""
    pub = Publisher(broker.host, broker.port, "bench-publisher")
    t0, base_ns = time.perf_counter(), time.time_ns()
    for first in range(start, start + count, 5000):
        chunk = range(first, min(first + 5000, start + count))
        pub.publish([(topic(s % SENSORS), payload(5 + s % 50 / 10, base_ns + s * 1000))
                     for s in chunk])  # fmt: skip
        pub.wait_acked(behind=WINDOW)
    pub.wait_acked()
    pub.close()
    return count / (time.perf_counter() - t0)


def sub_argv(broker: MosquittoServer, *extra: str) -> list[str]:
    return ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-c", "-i", "bench-sub",
            "-q", "1", "-t", f"{BASE}/+", *extra]  # fmt: skip


def drain_mosquitto_sub(broker: MosquittoServer, count: int, out: Path) -> float:
    t0 = time.perf_counter()
    with out.open("wb") as sink:
        subprocess.run(sub_argv(broker, "-C", str(count)), stdout=sink, check=True, timeout=600)
    elapsed = time.perf_counter() - t0
    stamps = {json.loads(line)["t"] for line in out.read_bytes().splitlines()}
    if len(stamps) != count:
        raise RuntimeError(f"mosquitto_sub: {len(stamps)} distinct readings of {count}")
    return count / elapsed


def influx_count(influx: InfluxDB1Server, db: str) -> int:
    result = influx.query("SELECT count(value) FROM combustible_gas", db=db)
    series = result["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def drain_gateway(
    influx: InfluxDB1Server, config: Path, db: str, count: int, stall_s: float
) -> tuple[float, float]:
    """(readings/s from READY=1, readings/s from launch) until InfluxDB holds all `count`."""
    influx.create_database(db)
    gw = GatewayProcess(config, config.parent)
    seen, progress_at = 0, time.perf_counter()
    try:
        ready = gw.launched + gw.wait_ready()
        while seen < count:
            time.sleep(POLL_S)
            now_seen = influx_count(influx, db)
            if now_seen != seen:
                seen, progress_at = now_seen, time.perf_counter()
            elif time.perf_counter() - progress_at > stall_s or gw.proc.poll() is not None:
                break
        done = time.perf_counter()
    finally:
        output = gw.stop()
    if seen != count:
        stored = [ln for ln in output.splitlines() if "stopped cleanly" in ln]
        raise RuntimeError(
            f"gateway lost points: InfluxDB holds {seen} of {count} after {stall_s:g} s without "
            f"progress; daemon says {stored or 'nothing'}; log {gw.log}"
        )
    return count / (done - ready), count / (done - gw.launched)


async def _create_gateway_session(config: Path) -> None:
    """The daemon's own driver, connected once: the broker then queues the burst for it."""
    cfg = load_config(config)
    dcfg = cfg.drivers[0]
    assert isinstance(dcfg, MqttDriverConfig)
    driver = MqttDriver(dcfg, Registry.from_config(cfg).bindings(dcfg.id), clock=SystemClock())
    async with driver:
        while not driver.status.connected:  # noqa: ASYNC110 - the driver offers no event
            await asyncio.sleep(0.01)


def write_config(tmp: Path, run: int, broker: MosquittoServer, influx: InfluxDB1Server,
                 tick_s: float) -> Path:  # fmt: skip
    path = tmp / f"run{run}" / "gateway.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(config_text(
        path.parent / "state", broker.port, SENSORS, tick_s=tick_s,
        influx=(influx.url, f"bench{run}"), time_path=True,
    ))  # fmt: skip
    return path


def one_run(
    run: int, tmp: Path, servers: tuple[MosquittoServer, InfluxDB1Server], args: argparse.Namespace
) -> tuple[float, float, float, float]:
    broker, influx = servers
    n = args.messages
    config = write_config(tmp, run, broker, influx, args.tick)
    pub = publish_burst(broker, run * n, n)
    out = tmp / "sub.out"
    if run % 2 == 0:
        base = drain_mosquitto_sub(broker, n, out)
        ours, launch = drain_gateway(influx, config, f"bench{run}", n, args.stall)
    else:  # the other order: neither drain always runs on a warmer machine
        ours, launch = drain_gateway(influx, config, f"bench{run}", n, args.stall)
        base = drain_mosquitto_sub(broker, n, out)
    print(f"run {run + 1}: published {pub:,.0f} msg/s; mosquitto_sub {base:,.0f}/s; gateway "
          f"into InfluxDB {ours:,.0f}/s ({launch:,.0f}/s from launch); ratio {ours / base:.2f}",
          flush=True)  # fmt: skip
    return pub, base, ours, launch


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tick", type=float, default=1.0, help="detection.tick_s")
    parser.add_argument("--stall", type=float, default=30.0, help="seconds without progress")
    args = parser.parse_args()
    rows: list[tuple[float, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as name:
        tmp = Path(name)
        (tmp / "mqtt").mkdir()
        (tmp / "influx").mkdir()
        mqtt = start_mosquitto(tmp / "mqtt", BROKER_CONF)
        influxd = start_influxdb1(tmp / "influx")
        try:
            servers = (mqtt.server, influxd.server)
            subprocess.run(sub_argv(mqtt.server, "-E"), check=True, timeout=30)
            first = write_config(tmp, 999, mqtt.server, influxd.server, args.tick)
            asyncio.run(_create_gateway_session(first))
            rows = [one_run(r, tmp, servers, args) for r in range(args.runs)]
        finally:
            influxd.stop()
            mqtt.stop()
    pubs, base, ours, launch = (list(col) for col in zip(*rows, strict=True))
    ratios = [v / b for v, b in zip(ours, base, strict=True)]
    baseline, value = statistics.median(base), statistics.median(ours)
    print(f"mosquitto_sub (C, QoS 1): {baseline:,.0f} readings/s   gateway (MQTT -> detection -> "
          f"outbox -> InfluxDB, read back): {value:,.0f} readings/s   ratio {value / baseline:.2f} "
          "(target >= 0.30)")  # fmt: skip
    print(json.dumps({
        "bench": "end_to_end", "unit": "readings/s", "baseline": round(baseline),
        "value": round(value), "ratio": round(value / baseline, 3), "messages": args.messages,
        "sensors": SENSORS, "qos": 1, "runs": args.runs, "tick_s": args.tick,
        "baseline_runs": [round(x) for x in base], "value_runs": [round(x) for x in ours],
        "value_from_launch_runs": [round(x) for x in launch],
        "ratio_runs": [round(r, 3) for r in ratios],
        "ratio_median_of_runs": round(statistics.median(ratios), 3),
        "publish_rate": round(statistics.median(pubs)), "influxdb": "1.6.7",
        "machine": machine(), "cpus": cpus(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
