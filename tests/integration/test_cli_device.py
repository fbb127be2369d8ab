"""`hazgw device read` and `scan` against a real Modbus RTU slave bus on a pty
(drivers/sim/pty_modbus.py: pymodbus's codec on the other end, not ours).

A pty ignores the baud rate: the scan finds the slaves at whatever rate it tries, so these tests
scan one rate; a real adapter only answers at the slaves' own rate.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from typer.testing import CliRunner

from drivers.sim.pty_modbus import PtyModbusSlave
from gateway.cli.device_cmd import app
from tests.unit.test_provision import write_config

runner = CliRunner()
XY, GAS, METER = 1, 2, 5


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PtyModbusSlave]:
    registers = {
        XY: {(4, 1): 0xFF9C, (4, 2): 456},  # -10.0 °C; FC03 / register 0 refused (exception 2)
        GAS: {(3, 0): 0, (3, 1): 125, (3, 2): 1, (3, 3): 1000},
        METER: {(3, 0): 7, (4, 0): 8},
    }
    with PtyModbusSlave(registers, link=tmp_path / "ttyUSB-rs485") as sim:
        yield sim


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_scan_finds_every_slave_including_those_that_refuse(bus: PtyModbusSlave) -> None:
    code, output = run("scan", "--port", bus.path, "--baud", "9600", "--addresses", "1-6",
                       "--timeout", "0.05", "--json")  # fmt: skip
    assert code == 0, output
    found = {f["address"]: f for f in json.loads(output)}
    assert sorted(found) == [XY, GAS, METER]
    assert found[XY]["answer"] == "exception 2"  # a refusal proves the slave is there
    assert found[GAS]["answer"] == "registers [0]"
    assert found[METER]["answer"] == "registers [7]"
    assert all(f["baudrate"] == 9600 for f in found.values())
    assert sum(bus.requests[a] for a in (3, 4, 6)) == 12  # silent addresses: fc3+fc4 of 0 and 1


def test_scan_prints_the_slaves_for_people(bus: PtyModbusSlave) -> None:
    code, output = run("scan", "--port", bus.path, "--addresses", "2,5", "--registers", "0",
                       "--timeout", "0.05")  # fmt: skip
    assert code == 0, output
    assert "slave 2 at 9600 baud: fc3 register 0 -> registers [0]" in output
    assert "2 slaves answered" in output


def test_scan_of_a_missing_port_says_what_to_check(tmp_path: Path) -> None:
    code, output = run("scan", "--port", str(tmp_path / "ttyUSB9"), "--addresses", "1")
    assert code == 1
    assert "/dev/serial/by-id" in output


def test_read_returns_the_slave_value_through_the_real_driver(
    bus: PtyModbusSlave, tmp_path: Path
) -> None:
    config = write_config(tmp_path, bus.path)
    code, output = run("read", "store-temp-2", "--json", "-c", str(config))
    assert code == 0, output
    reading = json.loads(output)
    assert (reading["value"], reading["quality"]) == (-10.0, "good")
    bus.set(XY, 4, 1, 215)
    code, output = run("read", "store-temp-2", "--trace", "-c", str(config))
    assert code == 0, output
    assert "store-temp-2: 21.5 quality good" in output
    assert "tx 01 04 00 01 00 01" in output  # FC04, register 1, one register, then the CRC
    assert "rx 01 04 02 00 d7" in output


def test_read_of_a_silent_slave_suggests_address_and_line_settings(
    bus: PtyModbusSlave, tmp_path: Path
) -> None:
    bus.silent.add(XY)
    config = write_config(tmp_path, bus.path)
    code, output = run("read", "store-temp-2", "-c", str(config))
    assert code == 1
    assert "timeout" in output
    assert "wrong address" in output
    assert "hazgw device scan" in output


def test_read_while_the_port_is_held_asks_whether_the_daemon_runs(
    bus: PtyModbusSlave, tmp_path: Path
) -> None:
    config = write_config(tmp_path, bus.path)
    with serial.Serial(bus.path, exclusive=True):  # as the running daemon holds it
        code, output = run("read", "store-temp-2", "-c", str(config))
    assert code == 1
    assert "is the daemon running?" in output


def test_add_makes_the_running_daemon_reload(tmp_path: Path) -> None:
    """The real daemon (`python -m gateway run`) on a sim-only config; its pid is given with
    --pid-file as the daemon does not write one yet."""
    config = write_config(tmp_path)
    text = config.read_text()
    start = text.index("  - type: modbus_rtu")
    text = text[:start] + text[text.index("\ndevices:") + 1 :]
    config.write_text(
        text[: text.index("  - id: store-temp-2")] + text[text.index("\ndetection") :]
    )
    log = (tmp_path / "daemon.log").open("w+")
    daemon = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(config)],
                              stderr=log, stdout=log)  # fmt: skip
    try:
        assert wait_for(tmp_path / "daemon.log", "hazgw ready")
        pid_file = tmp_path / "daemon.pid"
        pid_file.write_text(str(daemon.pid))
        code, output = run("add", "kitchen-co-1", "--driver", "sim", "--zone", "kitchen",
                           "--class", "co", "--channel", "kitchen_co", "-c", str(config),
                           "--pid-file", str(pid_file))  # fmt: skip
        assert code == 0, output
        assert f"told the gateway (pid {daemon.pid}) to reload" in output
        assert wait_for(tmp_path / "daemon.log", "reloaded: 3 sensors")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        log.close()


def wait_for(path: Path, text: str, guard_s: float = 30.0) -> bool:
    deadline = time.monotonic() + guard_s  # against a hang only
    while time.monotonic() < deadline:
        if text in path.read_text():
            return True
        time.sleep(0.05)
    return False
