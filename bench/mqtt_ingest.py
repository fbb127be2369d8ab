"""MQTT ingest: the real driver draining a QoS 1 burst, against mosquitto_sub draining the same.

Run from the project root: `python bench/mqtt_ingest.py [--messages N] [--runs R]`.

It starts its own Mosquitto (max_queued_messages raised, domain.md section 6), creates two
persistent sessions subscribed at QoS 1 to `zigbee2mqtt/bench/#` (mosquitto_sub's and the
driver's), then per run publishes a burst of N small Zigbee2MQTT-style JSON messages to 1,000
sensor topics at QoS 1 (a raw-socket publisher, all PUBACKs awaited, so the broker holds the
whole burst for both sessions), and drains it twice: `mosquitto_sub -c -q 1 -C N` (the baseline,
in C) and the real MqttDriver (gmqtt, decoded by the zigbee2mqtt codec and appended into
ReadingBatches). Each drain is timed from connect to the last message and counted exactly: every
sequence number once. The drain order alternates between runs; rates are medians. The broker's
max_inflight_messages is raised to 1000 (`--inflight`): at Mosquitto's default of 20 the C
baseline is throttled more than the driver, which would flatter the ratio.
Last line: the JSON object of design.md's Benchmarks section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.base import Binding  # noqa: E402
from drivers.mqtt.config import MqttDriverConfig  # noqa: E402
from drivers.mqtt.driver import MqttDriver  # noqa: E402
from gateway.clock import SystemClock  # noqa: E402
from tests.integration.servers import HOST, MosquittoServer, start_mosquitto  # noqa: E402

TOPICS = 1000
BASE = "zigbee2mqtt/bench"
# Only the session's queue matters here: a whole-database save every second would be noise.
BROKER_CONF = ["autosave_interval 3600", "max_queued_bytes 0"]
# Mosquitto's default of 20 unacknowledged messages per client throttles mosquitto_sub (MQTT
# 3.1.1) more than the driver: the default window of 1000 gives the C baseline its best rate.
INFLIGHT = 1000
WINDOW = 20_000  # publisher: PUBLISH packets in flight before waiting for PUBACKs


def topic(i: int) -> str:
    return f"{BASE}/s{i:04d}"


def payload(seq: int) -> bytes:
    return b'{"battery_low":false,"gas_density":%d,"linkquality":87}' % seq


# --- the publisher: MQTT 3.1.1 over a raw socket, so it never is the bottleneck -------------


def _packet(kind: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([kind]) + bytes(encoded) + body


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_burst(broker: MosquittoServer, start: int, count: int) -> float:
    """Publish sequence numbers start..start+count-1 at QoS 1; wait for every PUBACK."""
    t0 = time.perf_counter()
    with socket.create_connection((broker.host, broker.port)) as sock:
        sock.sendall(_packet(0x10, _utf8("MQTT") + bytes([4, 2]) + struct.pack("!H", 60)
                             + _utf8("bench-publisher")))  # fmt: skip
        if sock.recv(4) != b"\x20\x02\x00\x00":
            raise RuntimeError("publisher refused by the broker")
        sent = acked = 0
        pending = b""
        while acked < count:
            if sent < count and sent - acked < WINDOW:
                n = min(5_000, count - sent)
                sock.sendall(b"".join(
                    _packet(0x32, _utf8(topic(seq % TOPICS)) + struct.pack("!H", seq % 65535 + 1)
                            + payload(seq))
                    for seq in range(start + sent, start + sent + n)
                ))  # fmt: skip
                sent += n
                continue
            pending += sock.recv(65536)
            acked += len(pending) // 4
            pending = pending[len(pending) // 4 * 4 :]
    return count / (time.perf_counter() - t0)


# --- the two subscribers ---------------------------------------------------------------------


def sub_argv(broker: MosquittoServer, *extra: str) -> list[str]:
    return ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-c", "-i", "bench-sub",
            "-q", "1", "-t", f"{BASE}/#", *extra]  # fmt: skip


def drain_mosquitto_sub(broker: MosquittoServer, start: int, count: int, out: Path) -> float:
    t0 = time.perf_counter()
    with out.open("wb") as sink:
        subprocess.run(sub_argv(broker, "-C", str(count)), stdout=sink, check=True, timeout=600)
    elapsed = time.perf_counter() - t0
    seqs = np.array([json.loads(line)["gas_density"] for line in out.read_bytes().splitlines()])
    check_exact("mosquitto_sub", seqs, start, count)
    return count / elapsed


def driver_config(broker: MosquittoServer) -> MqttDriverConfig:
    return MqttDriverConfig.model_validate({
        "type": "mqtt", "id": "bench", "host": broker.host, "port": broker.port,
        "client_id": "bench-driver", "expected_cadence_s": None,
        "subscriptions": [{"family": "zigbee2mqtt", "topic": f"{BASE}/#"}],
    })  # fmt: skip


def bindings() -> list[Binding]:
    return [Binding(i, f"s{i:04d}", "combustible_gas", point="gas_density", topic=topic(i))
            for i in range(TOPICS)]  # fmt: skip


async def _drain_driver(broker: MosquittoServer, count: int) -> tuple[float, np.ndarray]:
    values: list[np.ndarray] = []
    t0 = time.perf_counter()
    driver = MqttDriver(driver_config(broker), bindings(), clock=SystemClock())
    async with driver:
        async for batch in driver.batches():
            values.append(batch.value)
            if driver.produced >= count:
                break
        elapsed = time.perf_counter() - t0
        errors = dict(driver.status.errors)
    if errors or driver.received != count:
        raise RuntimeError(f"driver: {driver.received} messages, errors {errors}")
    return elapsed, np.concatenate(values)


def drain_driver(broker: MosquittoServer, start: int, count: int) -> float:
    elapsed, seqs = asyncio.run(_drain_driver(broker, count))
    check_exact("driver", seqs, start, count)
    return count / elapsed


def check_exact(who: str, seqs: np.ndarray, start: int, count: int) -> None:
    unique = np.unique(seqs.astype(np.int64))
    if len(seqs) != count or len(unique) != count or unique[0] != start:
        raise RuntimeError(f"{who}: {len(seqs)} messages, {len(unique)} distinct of {count}")


async def _create_driver_session(broker: MosquittoServer) -> None:
    driver = MqttDriver(driver_config(broker), bindings(), clock=SystemClock())
    async with driver:
        while not driver.status.connected:  # noqa: ASYNC110 - the driver offers no event
            await asyncio.sleep(0.01)


def create_sessions(broker: MosquittoServer) -> None:
    """Subscribe both persistent sessions before anything is published."""
    subprocess.run(sub_argv(broker, "-E"), check=True, timeout=30)
    asyncio.run(_create_driver_session(broker))


def machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{platform.machine()} {line.partition(':')[2].strip()}"
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inflight", type=int, default=INFLIGHT, help="max_inflight_messages")
    args = parser.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        conf = [*BROKER_CONF, f"max_inflight_messages {args.inflight}"]
        running = start_mosquitto(Path(tmp), conf)
        broker = running.server
        try:
            create_sessions(broker)
            base: list[float] = []
            ours: list[float] = []
            pubs: list[float] = []
            for run in range(args.runs):
                start = run * n
                pubs.append(publish_burst(broker, start, n))
                out = Path(tmp) / "sub.out"
                if run % 2 == 0:
                    base.append(drain_mosquitto_sub(broker, start, n, out))
                    ours.append(drain_driver(broker, start, n))
                else:  # the other order: neither drain always runs on a warmer machine
                    ours.append(drain_driver(broker, start, n))
                    base.append(drain_mosquitto_sub(broker, start, n, out))
                print(f"run {run + 1}: published {pubs[-1]:,.0f} msg/s; mosquitto_sub "
                      f"{base[-1]:,.0f} msg/s; driver {ours[-1]:,.0f} msg/s; "
                      f"ratio {ours[-1] / base[-1]:.2f}")  # fmt: skip
        finally:
            running.stop()
    baseline, value = statistics.median(base), statistics.median(ours)
    ratios = [v / b for v, b in zip(ours, base, strict=True)]  # each pair ran side by side
    print(f"mosquitto_sub (C, QoS 1): {baseline:,.0f} msg/s   driver (gmqtt + decode + batch): "
          f"{value:,.0f} msg/s   ratio {value / baseline:.2f} (target >= 0.35)")  # fmt: skip
    print(json.dumps({
        "bench": "mqtt_ingest", "unit": "msg/s", "baseline": round(baseline),
        "value": round(value), "ratio": round(value / baseline, 3), "messages": n,
        "topics": TOPICS, "qos": 1, "runs": args.runs, "broker_inflight": args.inflight,
        "baseline_runs": [round(x) for x in base], "value_runs": [round(x) for x in ours],
        "ratio_runs": [round(r, 3) for r in ratios],
        "ratio_median_of_runs": round(statistics.median(ratios), 3),
        "publish_rate": round(statistics.median(pubs)), "client": f"gmqtt {version('gmqtt')}",
        "machine": machine(), "cpus": len(os.sched_getaffinity(0)), "host": HOST,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
