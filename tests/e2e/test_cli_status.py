"""`hazgw status` asks the running daemon: 0 healthy, 3 degraded, 1 when it cannot ask."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.api.config import hash_token
from gateway.cli import app
from tests.e2e.test_daemon_process import DEVICES, config_text, start

TOKEN = "viewer-token-for-the-status-test"
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def daemon(tmp_path: Path, extra: str) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "site.yaml"
    api = (
        f"api: {{enabled: true, port: {port}, tokens: "
        f"[{{person: p1, role: viewer, token_sha256: {hash_token(TOKEN)}}}]}}\n"
    )
    config.write_text(config_text(tmp_path / "state", list(DEVICES)) + api + extra)
    proc: subprocess.Popen[str] = start(config, {})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the daemon's API did not come up"
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


@pytest.fixture
def healthy(tmp_path: Path) -> Iterator[str]:
    yield from daemon(tmp_path, "")


@pytest.fixture
def without_influxdb(tmp_path: Path) -> Iterator[str]:
    """InfluxDB configured on a port where nothing listens: the forwarder backs off."""
    influx = f"influxdb: {{version: 1, url: 'http://127.0.0.1:{free_port()}', database: x}}\n"
    yield from daemon(tmp_path, influx)


def test_a_healthy_gateway_exits_0_and_lists_its_drivers(healthy: str) -> None:
    result = runner.invoke(app, ["status", "--url", healthy, "--token", TOKEN, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["status"] == "healthy"
    assert [(d["id"], d["connected"]) for d in doc["drivers"]] == [("sim", True)]
    assert doc["duty_officer"] == []  # this config has no duty roster


def test_a_gateway_that_cannot_reach_influxdb_is_degraded_and_exits_3(
    without_influxdb: str,
) -> None:
    deadline = time.monotonic() + 20
    while True:  # the forwarder notices on its first attempt
        result = runner.invoke(app, ["status", "--url", without_influxdb, "--token", TOKEN])
        if result.exit_code == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert result.exit_code == 3, result.output
    assert "InfluxDB forwarder is backing_off" in result.output


def test_a_gateway_that_cannot_be_reached_exits_1_and_says_what_to_check() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["status", "--url", url, "--token", TOKEN])
    assert result.exit_code == 1
    assert "cannot reach the gateway" in result.output
    assert "systemctl status hazard-gateway" in result.output


def test_a_wrong_token_is_refused_with_a_hint(healthy: str) -> None:
    result = runner.invoke(app, ["status", "--url", healthy, "--token", "nope"])
    assert result.exit_code == 1
    assert "refused the token (401)" in result.output
