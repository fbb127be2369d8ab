"""Fault injection against the gateway as a real process (`python -m gateway run`).

The config has an mqtt driver (gas heads publishing through a real Mosquitto), a modbus_rtu
driver on a PTY (a simulated gas transmitter, drivers/sim/pty_modbus.py), the InfluxDB 1.x
forwarder and a notify mqtt channel on the same broker. One cycle injects, in turn:
the broker SIGKILLed and restarted on its port, InfluxDB SIGKILLed and restarted on its port and
data, the gateway SIGKILLed and restarted, the serial adapter unplugged and replugged. Each fault
comes with a fresh gas alarm (a new MQTT head going over level 1, published while the fault is
on; for the PTY, the transmitter's reading rising while it is unplugged).

After the run: every expected alarm is one gas hazard in the ledger, `hazgw ledger verify`
passes, no (type, number, payload) ledger event is stored twice, every line the outbox ever
committed is in InfluxDB (nothing counted as lost), and every hazard's escalation steps are
distinct and in ladder order. The short version (CI) runs one cycle; `--soak-minutes N`
repeats the cycle for N minutes (tests/soak/conftest.py).
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerting.ledger import Ledger
from drivers.sim.pty_modbus import PtyModbusSlave
from gateway.model import Identity
from tests.integration.servers import (
    InfluxDB1Server,
    MosquittoServer,
    Running,
    start_influxdb1,
    start_mosquitto,
)
from tests.integration.test_outage import (
    GatewayProcess,
    appended_ever,
    held,
    lost_ever,
    points,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
GAS = 2  # the transmitter's slave address
CYCLE_S = 2  # a fault cycle takes at least this long (about 5 s here; 10-15 s with the set-up)
ESCALATION = [0.0, 2.0]  # the ladder's delays (s): duty at once, second after 2 s


def registers(raw: int) -> dict[int, dict[tuple[int, int], int]]:
    return {GAS: {(3, 0): 0, (3, 1): raw, (3, 2): 1, (3, 3): 1000}}  # raw/10 %LEL


def config_text(state: Path, broker: int, influx: str, port: Path, heads: int) -> str:
    head_lines = [
        f"  - {{id: g{i:02d}, driver: broker, zone: kitchen, class: combustible_gas, "
        f"topic: sensors/g{i:02d}, point: gas}}"
        for i in range(heads)
    ]
    return "\n".join([
        "site: {id: soak}",
        "gateway: {id: gw01}",
        f"state_dir: {state}",
        "people: [{id: p1, name: Duty}, {id: p2, name: Second}]",
        "zones: [{id: kitchen, name: Kitchen, owner: p1}, {id: store, name: Store, owner: p1}]",
        "drivers:",
        f"  - {{type: mqtt, id: broker, port: {broker}, client_id: soak-gw, "
        "reconnect_min_s: 0.2, reconnect_max_s: 1, "
        "subscriptions: [{family: json, topic: 'sensors/+', fields: {gas: $.g}}]}",
        f"  - {{type: modbus_rtu, id: rs485, port: '{port}', poll_interval_s: 0.3, "
        "request_timeout_s: 0.1, failures_before_quarantine: 2, quarantine_max_s: 1, "
        "reopen_max_s: 0.5}",
        "detection: {tick_s: 0.1}",
        f"escalation: {{levels: [{{name: duty, recipients: [p1], delay_s: {ESCALATION[0]}}}, "
        f"{{name: second, recipients: [p2], delay_s: {ESCALATION[1]}}}], "
        "start_level: {gas_level1: 0, gas_level2: 0}}",
        f"influxdb: {{version: 1, url: '{influx}', database: hazgw}}",
        "notify:",
        "  grouping: {wait_s: 0, window_s: 0.2}",
        "  channels:",
        "    - {type: log}",
        f"    - {{type: mqtt, port: {broker}, timeout_s: 1}}",
        "devices:",
        "  - {id: store-gas, driver: rs485, zone: store, class: combustible_gas, address: 2,",
        "     profile: gas-transmitter, point: gas}",
        *head_lines,
    ]) + "\n"  # fmt: skip


class Heads:
    """The MQTT gas heads: each alarming head publishes 30 %LEL every 0.2 s at QoS 1,
    normal heads 1 %LEL; paho reconnects by itself when the broker comes back."""

    def __init__(self, port: int) -> None:
        self.alarming: set[int] = set()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-heads")
        self.client.reconnect_delay_set(1, 1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for i in sorted(self.alarming):
                self.client.publish(f"sensors/g{i:02d}", '{"g": 30}', qos=1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.loop_stop()
        self.client.disconnect()


class Plant:
    """The servers, the bus, the heads and the gateway of one soak run."""

    def __init__(self, tmp: Path, heads: int) -> None:
        self.tmp, self.heads_configured = tmp, heads
        self.state, self.log = tmp / "state", tmp / "gateway.log"
        self.broker: Running[MosquittoServer] = start_mosquitto(tmp / "broker")
        self.influx: Running[InfluxDB1Server] = start_influxdb1(tmp / "influx")
        self.influx.server.create_database("hazgw")
        self.bus = PtyModbusSlave(registers(10), link=tmp / "ttyUSB0").start()
        self.config = tmp / "site.yaml"
        self.config.write_text(
            config_text(self.state, self.broker.server.port, self.influx.server.url,
                        tmp / "ttyUSB0", heads)
        )  # fmt: skip
        self.heads = Heads(self.broker.server.port)
        self.gw = GatewayProcess(self.config, self.log)
        self.gw.wait_log("hazgw ready")
        self.next_head = 0
        self.expected: set[str] = set()

    def gas_hazards(self) -> Counter[str]:
        with Ledger(self.state / "ledger.sqlite", Identity("soak", "gw01")) as ledger:
            return Counter(str(h.device) for h in ledger.hazards() if h.kind.value == "gas")

    def alarm(self) -> str:
        i, self.next_head = self.next_head, self.next_head + 1
        self.heads.alarming.add(i)
        self.expected.add(f"g{i:02d}")
        return f"g{i:02d}"

    def wait_alarms(self) -> None:
        wait_for("every expected alarm in the ledger",
                 lambda: set(self.gas_hazards()) >= self.expected, self.gw.output)  # fmt: skip

    def kill_broker(self) -> None:
        port = self.broker.server.port
        self.broker.process.kill()
        self.alarm()  # raised while the broker is down: paho queues it
        self.broker = start_mosquitto(self.tmp / "broker", port=port)
        self.wait_alarms()

    def kill_influx(self) -> None:
        port = self.influx.server.port
        self.influx.process.kill()
        self.alarm()
        self.wait_alarms()  # alarms go on without InfluxDB
        self.influx = start_influxdb1(self.tmp / "influx", port=port)

    def kill_gateway(self) -> None:
        self.gw.kill()
        self.alarm()  # queued in the broker for the gateway's persistent session
        time.sleep(0.5)
        self.gw = GatewayProcess(self.config, self.log)
        self.gw.wait_log("hazgw ready")
        self.wait_alarms()

    def unplug_serial(self) -> None:
        self.bus.unplug()
        time.sleep(1.0)  # the driver sees the port gone and backs off
        self.bus.set(GAS, 3, 1, 300 + self.next_head)  # 30 %LEL and up while unplugged
        self.bus.replug()
        self.expected.add("store-gas")
        self.wait_alarms()

    def close(self) -> None:
        self.gw.popen.kill()
        self.heads.close()
        self.bus.stop()
        self.broker.stop()
        self.influx.stop()


@pytest.fixture
def plant(tmp_path: Path, soak_minutes: float) -> Iterator[Plant]:
    p = Plant(tmp_path, heads=3 * (1 + math.ceil(soak_minutes * 60 / CYCLE_S)))
    yield p
    p.close()


def ledger_cli_verify(state: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway", "ledger", "verify", "--state-dir", str(state)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_faults_lose_no_alarm_no_event_and_no_telemetry(plant: Plant, soak_minutes: float) -> None:
    end = time.monotonic() + soak_minutes * 60
    cycles = 0
    while cycles == 0 or time.monotonic() < end:
        assert plant.next_head + 3 <= plant.heads_configured, "a cycle faster than CYCLE_S"
        plant.kill_broker()
        plant.kill_influx()
        plant.kill_gateway()
        plant.unplug_serial()
        plant.bus.set(GAS, 3, 1, 10)  # the transmitter back to normal for the next cycle
        cycles += 1
    wait_for("the escalation's second step", lambda: "-> second" in plant.gw.output())
    time.sleep(ESCALATION[1] + 1)  # every hazard's second step falls due
    wait_for("an empty backlog", lambda: held(plant.state / "outbox.sqlite") == [],
             plant.gw.output)  # fmt: skip
    output = plant.gw.stop()
    assert "stopped cleanly" in output

    hazards = plant.gas_hazards()
    assert set(hazards) == plant.expected  # no alarm lost
    assert all(n == 1 for n in hazards.values()), hazards  # and none raised twice

    done = ledger_cli_verify(plant.state)
    assert done.returncode == 0, done.stdout + done.stderr
    with Ledger(plant.state / "ledger.sqlite", Identity("soak", "gw01")) as ledger:
        keys = Counter(
            (e.type, e.number, repr(e.payload))
            for e in ledger.events()
            if e.number is not None  # a restart records no standing alarm again
        )
        for h in ledger.hazards():
            steps = [(s.round, s.level, s.repeat) for s in h.escalation.steps]
            assert len(steps) == len(set(steps)), (h.number, steps)  # no step repeated
            assert steps == sorted(steps), (h.number, steps)  # in ladder order
            if h.kind.value == "gas":  # both levels, the second never before its delay
                first, second = h.escalation.steps
                assert (first.level, second.level) == (0, 1)
                assert second.ts_ns - first.ts_ns >= ESCALATION[1] * 1e9
    assert [k for k, n in keys.items() if n > 1] == []

    path = plant.state / "outbox.sqlite"
    assert lost_ever(path) == {}
    stored = points(plant.influx.server, "hazgw")
    assert len(stored) == appended_ever(path)  # every committed line arrived, once
