"""What the whole-daemon benchmarks share: a gateway config with 1,000 MQTT sensors, the daemon as
a real process (`python -m gateway run`) watched through a real sd_notify socket, a raw-socket QoS 1
publisher that never is the bottleneck, /proc memory readings and the machine's description.

The sensors are generic JSON devices (`bench/d0000` ... on the topic `bench/+`): payload
`{"g": <%LEL>, "t": <epoch ns>}`, class combustible_gas, each in its own zone (a zone of its own
per device keeps the notification grouping of one zone out of the alarm latency figures).
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "bench"
PREFIX = "hazgw/bench/gw01"  # the mqtt notify channel's topic prefix (site bench, gateway gw01)


def device(i: int) -> str:
    return f"d{i:04d}"


def topic(i: int) -> str:
    return f"{BASE}/{device(i)}"


def payload(value: float, ts_ns: int | None = None) -> bytes:
    if ts_ns is None:
        return b'{"g":%.1f}' % value
    return b'{"g":%.1f,"t":%d}' % (value, ts_ns)


# --- the gateway's config ---------------------------------------------------------------------


def config_text(
    state: Path,
    broker_port: int,
    sensors: int,
    *,
    tick_s: float = 1.0,
    influx: tuple[str, str] | None = None,  # (url, database)
    notify_mqtt: bool = False,
    time_path: bool = False,
    client_id: str = "bench-gw",
) -> str:
    """The YAML of a gateway with `sensors` MQTT gas sensors; defaults are the shipped ones."""
    sub = "{family: json, topic: '" + BASE + "/+', fields: {gas: $.g}"
    sub += ", time_path: $.t, time_unit: ns}" if time_path else "}"
    lines = [
        "site: {id: bench}",
        "gateway: {id: gw01}",
        f"state_dir: {state}",
        "log_level: WARNING",
        "people: [{id: p1, name: Duty}]",
        "zones:",
        *(f"  - {{id: z{i:04d}, name: Zone {i}, owner: p1}}" for i in range(sensors)),
        "drivers:",
        f"  - {{type: mqtt, id: broker, host: 127.0.0.1, port: {broker_port}, "
        f"client_id: {client_id}, subscriptions: [{sub}]}}",
        f"detection: {{tick_s: {tick_s}}}",
        "escalation: {levels: [{name: duty, recipients: [p1]}], "
        "start_level: {fire: 0, gas_level2: 0}}",
        "devices:",
        *(
            f"  - {{id: {device(i)}, driver: broker, zone: z{i:04d}, class: combustible_gas, "
            f"topic: {topic(i)}, point: gas}}"
            for i in range(sensors)
        ),
    ]
    if influx is not None:
        lines.append(f"influxdb: {{version: 1, url: '{influx[0]}', database: {influx[1]}}}")
    if notify_mqtt:
        lines += [
            "notify:",
            "  channels:",
            "    - {type: log}",
            f"    - {{type: mqtt, host: 127.0.0.1, port: {broker_port}, "
            "topic_prefix: 'hazgw/{site}/{gateway}'}",
        ]
    return "\n".join(lines) + "\n"


# --- the daemon as a process ------------------------------------------------------------------


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket collecting what the daemon says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)

    def wait_for(self, message: str, proc: subprocess.Popen[bytes], timeout_s: float) -> float:
        """perf_counter() when `message` arrived; raise if the daemon exits or is too slow."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                if proc.poll() is not None:
                    raise RuntimeError(f"the gateway exited with {proc.returncode}") from None
                continue
            if message in data.split("\n"):
                return time.perf_counter()
        raise RuntimeError(f"no {message} from the gateway within {timeout_s} s")

    def close(self) -> None:
        self.sock.close()


class GatewayProcess:
    """`python -m gateway run --config FILE` with NOTIFY_SOCKET set; output to `log`."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.notify = NotifySocket(workdir / f"notify-{time.monotonic_ns()}.sock")
        self.log = workdir / "gateway.log"
        env = os.environ | {"NOTIFY_SOCKET": str(self.notify.path), "PYTHONPATH": str(ROOT)}
        self.launched = time.perf_counter()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(config)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Seconds from launch to READY=1."""
        return self.notify.wait_for("READY=1", self.proc, timeout_s) - self.launched

    def rss_kib(self) -> int:
        return vm_rss_kib(self.proc.pid)

    def stop(self) -> str:
        """SIGTERM and wait; the daemon's output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        return self.log.read_text(errors="replace")


def vm_rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# --- a raw MQTT 3.1.1 publisher ---------------------------------------------------------------


def packet(kind: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([kind]) + bytes(encoded) + body


def utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


class Publisher:
    """QoS 1 publishes over one socket; a reader thread counts the PUBACKs."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connect = utf8("MQTT") + bytes([4, 2]) + struct.pack("!H", 60) + utf8(client_id)
        self.sock.sendall(packet(0x10, connect))
        if self.sock.recv(4) != b"\x20\x02\x00\x00":
            raise RuntimeError("publisher refused by the broker")
        self.sent = self.acked = 0
        self._packet_id = 0
        self._acks = threading.Condition()
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Send these PUBLISH packets (QoS 1) in one write."""
        chunks = []
        for name, body in messages:
            self._packet_id = self._packet_id % 65535 + 1
            chunks.append(packet(0x32, utf8(name) + struct.pack("!H", self._packet_id) + body))
        self.sock.sendall(b"".join(chunks))
        self.sent += len(messages)

    def wait_acked(self, behind: int = 0, timeout_s: float = 120.0) -> None:
        """Block until at most `behind` publishes await their PUBACK."""
        with self._acks:
            if not self._acks.wait_for(lambda: self.sent - self.acked <= behind, timeout_s):
                raise RuntimeError(f"{self.sent - self.acked} publishes not acknowledged")

    def _read_acks(self) -> None:
        pending = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            pending += data
            with self._acks:
                self.acked += len(pending) // 4  # PUBACK: 4 bytes each, nothing else comes
                self._acks.notify_all()
            pending = pending[len(pending) // 4 * 4 :]

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self.sock.close()


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{cpu} {line.partition(':')[2].strip()}"
    except OSError:
        pass
    return cpu


def cpus() -> int:
    return len(os.sched_getaffinity(0))
