"""Smoke tests that prove each server fixture: a real round trip through each server."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.integration import servers
from tests.integration.servers import (
    InfluxDB1Server,
    MosquittoServer,
    ServerRequestError,
    ServerStartError,
    VictoriaMetricsServer,
    require_binary,
    start_mosquitto,
)


def unique(prefix: str) -> str:
    """Names that cannot collide with another test on the same session server."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def mosquitto_pub(broker: MosquittoServer, topic: str, message: str) -> None:
    argv = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port)]
    subprocess.run([*argv, "-t", topic, "-m", message, "-q", "1", "-r"], check=True, timeout=10)


def mosquitto_sub_one(broker: MosquittoServer, topic: str) -> str:
    argv = ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", topic]
    done = subprocess.run(
        [*argv, "-q", "1", "-C", "1", "-W", "5"],
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0, f"mosquitto_sub: {done.returncode} {done.stderr}"
    return done.stdout


def saved_since(path: Path, timestamp: float) -> bool:
    return path.exists() and path.stat().st_mtime > timestamp


def test_mosquitto_delivers_a_retained_qos1_message_published_by_one_client_to_another(
    mosquitto: MosquittoServer,
) -> None:
    topic = f"hazgw/smoke/{uuid.uuid4().hex}"
    mosquitto_pub(mosquitto, topic, '{"ppm": 12.5}')
    assert mosquitto_sub_one(mosquitto, topic) == '{"ppm": 12.5}\n'


def test_mosquitto_keeps_a_retained_message_through_kill_9_once_autosaved(
    tmp_path: Path,
) -> None:
    broker = start_mosquitto(tmp_path)
    try:
        mosquitto_pub(broker.server, "hazgw/persist", "kept")
        published_at = time.time()
        store = broker.server.data_dir / "mosquitto.db"
        deadline = time.monotonic() + 5
        while not saved_since(store, published_at) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert saved_since(store, published_at), "autosave_interval 1 saves every second"
        broker.process.kill()
        broker = start_mosquitto(tmp_path, port=broker.server.port)
        assert mosquitto_sub_one(broker.server, "hazgw/persist") == "kept\n"
    finally:
        broker.stop()


def test_extra_conf_lines_override_the_defaults_for_security_tests(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path, ["allow_anonymous false"])
    try:
        argv = ["mosquitto_pub", "-h", broker.server.host, "-p", str(broker.server.port)]
        done = subprocess.run(
            [*argv, "-t", "t", "-m", "m"], check=False, capture_output=True, text=True, timeout=10
        )
    finally:
        broker.stop()
    assert done.returncode != 0
    assert "not authorised" in done.stderr.lower()


def test_start_mosquitto_on_a_taken_port_fails_with_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ServerStartError, match="mosquitto exited with code") as caught:
            start_mosquitto(tmp_path, port=port)
    assert caught.value.port_clash is True
    assert "Address already in use" in str(caught.value)


def test_start_mosquitto_retries_once_on_a_new_port_when_its_free_port_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, servers.free_port()])
        monkeypatch.setattr(servers, "free_port", lambda: next(ports))
        broker = start_mosquitto(tmp_path)
    try:
        assert broker.server.port != taken
        assert broker.server.log_path.read_text().count("Address already in use") == 1
    finally:
        broker.stop()


def test_a_missing_binary_names_the_debian_package_to_install() -> None:
    with pytest.raises(ServerStartError, match=r"apt-get install hazgw-nothing"):
        require_binary("hazgw-no-such-server", "hazgw-nothing")


def test_influxdb1_returns_a_written_point_with_its_nanosecond_timestamp_through_influxql(
    influxdb1: InfluxDB1Server,
) -> None:
    db = unique("smoke")
    influxdb1.create_database(db)
    influxdb1.write(db, ["gas,sensor=s1 ppm=12.5 1700000000123456789"])
    result = influxdb1.query("SELECT ppm FROM gas WHERE sensor = 's1'", db=db)
    series = result["results"][0]["series"]
    assert series == [
        {"name": "gas", "columns": ["time", "ppm"], "values": [[1700000000123456789, 12.5]]}
    ]


def test_influxdb1_helpers_raise_on_errors_instead_of_returning_them(
    influxdb1: InfluxDB1Server,
) -> None:
    db = unique("errors")
    influxdb1.create_database(db)
    with pytest.raises(ServerRequestError, match="database not found"):
        influxdb1.query("SELECT * FROM gas", db=unique("absent"))
    with pytest.raises(ServerRequestError, match=r"HTTP 404 .*database not found"):
        influxdb1.write(unique("absent"), ["gas ppm=1 1"])
    with pytest.raises(ServerRequestError, match=r"HTTP 400 .*unable to parse"):
        influxdb1.write(db, ["not line protocol"])


def test_victoriametrics_accepts_the_influxdb_v2_write_api_and_exports_the_series(
    victoriametrics: VictoriaMetricsServer,
) -> None:
    measurement = unique("smoke")
    victoriametrics.write_v2([f"{measurement},sensor=s1 ppm=12.5 1700000000123456789"])
    victoriametrics.force_flush()
    exported = victoriametrics.export(f'{{__name__="{measurement}_ppm"}}')
    assert exported == [
        {
            "metric": {"__name__": f"{measurement}_ppm", "sensor": "s1"},
            "values": [12.5],
            "timestamps": [1700000000123],  # milliseconds: the nanoseconds are truncated
        }
    ]
