"""Alarm latency under load: a gas threshold crossing published to the broker until the daemon's
notification arrives on the local annunciation topic, at a steady 5,000 readings/s.

Run from the project root: `python bench/alarm_latency.py [--alarms N] [--rate R] [--tick S]`.

It starts its own Mosquitto on a free loopback port and `python -m gateway run` as a process with
1,000 MQTT gas sensors (generic JSON, one zone each), the shipped `log` channel and the `mqtt`
notify channel on the same broker, and the shipped detection.tick_s (1 s): a reading that crosses a
set point wakes the engine at once (gateway/wake.py), so the tick no longer bounds the latency
(`--tick 0.05` shows the same path with short ticks as well).
A background thread publishes every sensor at 5 Hz (1,000 x 5 = 5,000 readings/s, QoS 1, paced in
10 ms slices). After a warm-up, every --every seconds one more sensor (every 4th device, so N
different devices: gas alarms latch and a device's hazard is deduplicated) goes from 5 to 60 %LEL
and stays there, as a real leak does. Measured in the same run, by the same subscriber:
- value: from the crossing's PUBLISH leaving the bench until the notification naming that device
  arrives on hazgw/bench/gw01/notifications (broker -> driver -> engine tick -> ledger -> notify
  pipeline -> broker -> subscriber);
- baseline: the broker's own round trip for the same payload, published in the same write on a
  topic the gateway does not read (bench/probe/<device>).
A crossing without a notification within --grace seconds fails the run, counted and named.
Last line: the JSON object of design.md's Benchmarks section (ratio = p99 / baseline p99).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402
    PREFIX,
    GatewayProcess,
    Publisher,
    config_text,
    cpus,
    device,
    machine,
    payload,
    topic,
)

from tests.integration.servers import MosquittoServer, start_mosquitto  # noqa: E402

SENSORS = 1000
SLICE_S = 0.01
BROKER_CONF = ["autosave_interval 3600"]


class Watcher:
    """One paho subscriber for both paths: notifications and the probes."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.arrived: dict[str, float] = {}  # device -> first notification naming it
        self.probes: dict[str, float] = {}
        self.notifications = 0
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-watch")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([(f"{PREFIX}/notifications", 1), ("bench/probe/+", 1)])
        self.client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        with self._lock:
            if msg.topic.startswith("bench/probe/"):
                self.probes.setdefault(msg.topic.rsplit("/", 1)[1], now)
                return
            self.notifications += 1
            for hazard in json.loads(msg.payload)["hazards"]:
                self.arrived.setdefault(hazard["device"], now)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Load:
    """Every sensor at `hz`, in 10 ms slices; due crossings go out in their sensor's slot."""

    def __init__(self, broker: MosquittoServer, hz: float) -> None:
        self.pub = Publisher(broker.host, broker.port, "bench-load")
        self.hz = hz
        self.crossed: dict[str, float] = {}  # device -> when its first 60 %LEL left the bench
        self.due: list[int] = []  # sensors to cross at their next slot (appended by main)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.perf_counter()
        self.thread.start()

    def _run(self) -> None:
        slices = round(1 / self.hz / SLICE_S)
        per_slice = -(-SENSORS // slices)
        high: set[int] = set()
        k = 0
        while not self.stopping.is_set():
            first = k % slices * per_slice
            sensors = range(first, min(first + per_slice, SENSORS))
            crossing = [s for s in list(self.due) if s in sensors and s not in high]
            high.update(crossing)
            messages = [(topic(s), payload(60.0 if s in high else 5.0)) for s in sensors]
            messages += [(f"bench/probe/{device(s)}", payload(60.0)) for s in crossing]
            now = time.perf_counter()
            self.pub.publish(messages)
            for s in crossing:
                self.crossed[device(s)] = now
            k += 1
            self.pub.wait_acked(behind=5000)
            time.sleep(max(0.0, self.started + k * SLICE_S - time.perf_counter()))

    def rate(self) -> float:
        return self.pub.sent / (time.perf_counter() - self.started)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.pub.close()


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    stats = {"min": a.min(), "p50": np.percentile(a, 50), "p99": np.percentile(a, 99)}
    return {k: round(float(v), 2) for k, v in (stats | {"max": a.max()}).items()}


def measure(
    broker: MosquittoServer, tmp: Path, args: argparse.Namespace
) -> tuple[list[float], list[float], float, int]:
    config = tmp / "gateway.yaml"
    config.write_text(config_text(tmp / "state", broker.port, SENSORS, tick_s=args.tick,
                                  notify_mqtt=True))  # fmt: skip
    watcher = Watcher(broker)
    gw = GatewayProcess(config, tmp)
    load: Load | None = None
    try:
        gw.wait_ready()
        load = Load(broker, args.rate / SENSORS)
        time.sleep(args.warmup)
        targets = [i * (SENSORS // args.alarms) for i in range(args.alarms)]
        for s in targets:
            load.due.append(s)
            time.sleep(args.every)
        deadline = time.perf_counter() + args.grace
        names = [device(s) for s in targets]
        while time.perf_counter() < deadline and not all(n in watcher.arrived for n in names):
            time.sleep(0.1)
        rate = load.rate()
    finally:
        if load is not None:
            load.stop()
        watcher.close()
        gw.stop()
    missing = [n for n in names if n not in watcher.arrived or n not in load.crossed]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(names)} crossings without a notification "
                           f"within {args.grace:g} s: {missing[:10]}; log {gw.log}")  # fmt: skip
    ours = [(watcher.arrived[n] - load.crossed[n]) * 1000 for n in names]
    base = [(watcher.probes[n] - load.crossed[n]) * 1000 for n in names]
    return ours, base, rate, watcher.notifications


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--alarms", type=int, default=250, help="crossings, each its own device")
    parser.add_argument("--rate", type=float, default=5000, help="background readings/s")
    parser.add_argument("--tick", type=float, default=1.0, help="detection.tick_s")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between crossings")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args()
    if not 0 < args.alarms <= SENSORS:
        parser.error(f"--alarms: 1 to {SENSORS}")
    with tempfile.TemporaryDirectory(prefix="bench-alarm-") as name:
        tmp = Path(name)
        (tmp / "mqtt").mkdir()
        broker = start_mosquitto(tmp / "mqtt", BROKER_CONF)
        try:
            ours, base, rate, notes = measure(broker.server, tmp, args)
        finally:
            broker.stop()
    value, baseline = percentiles(ours), percentiles(base)
    print(f"broker round trip (same payload, same run): p50 {baseline['p50']} ms, p99 "
          f"{baseline['p99']} ms, max {baseline['max']} ms")  # fmt: skip
    print(f"crossing -> notification on {PREFIX}/notifications at {rate:,.0f} readings/s, tick "
          f"{args.tick:g} s: p50 {value['p50']} ms, p99 {value['p99']} ms, max {value['max']} ms "
          f"over {len(ours)} alarms (target p99 < 100 ms)")  # fmt: skip
    print(json.dumps({
        "bench": "alarm_latency", "unit": "ms (p99)", "baseline": baseline["p99"],
        "value": value["p99"], "ratio": round(value["p99"] / baseline["p99"], 2),
        "min": value["min"], "p50": value["p50"], "p99": value["p99"], "max": value["max"],
        "baseline_min": baseline["min"], "baseline_p50": baseline["p50"],
        "baseline_p99": baseline["p99"], "baseline_max": baseline["max"], "alarms": len(ours),
        "notifications": notes,
        "background_rate": round(rate), "sensors": SENSORS, "tick_s": args.tick,
        "machine": machine(), "cpus": cpus(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
