"""The shipped broker config (deploy/mosquitto/) starts the real Mosquitto and enforces what it
promises: TLS only, no anonymous clients, and a device identity publishes only its own topics.

The config is used as shipped except for what cannot be the same here: its paths move from the
container's /mosquitto/ to a temporary directory, the TLS listener binds a free loopback port,
and `user root` keeps a root-run broker from dropping to the `mosquitto` user. Certificates and
the password file are made in the test with openssl and mosquitto_passwd.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.servers import (
    HOST,
    ServerProcess,
    _tcp_accepts,
    free_port,
    launch,
    require_binary,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
USERS = {"hazgw": "gw-secret", "kitchen-plug": "plug-secret", "zigbee2mqtt": "z2m-secret"}


@dataclass(frozen=True)
class Broker:
    port: int
    dir: Path
    process: ServerProcess

    def client(self, tool: str, *args: str, user: str | None = None) -> list[str]:
        argv = [tool, "-h", HOST, "-p", str(self.port), "--cafile", str(self.dir / "ca.crt")]
        if user is not None:
            argv += ["-u", user, "-P", USERS[user]]
        return [*argv, *args]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(d: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=hazgw test CA", cwd=d)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=broker",
             cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
             cwd=d)  # fmt: skip


def shipped_config(d: Path, port: int) -> str:
    text = (DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")
    text = text.replace("/mosquitto/config/", f"{d}/").replace("/mosquitto/certs/", f"{d}/")
    text = text.replace("/mosquitto/data/", f"{d}/data/")
    text, n = re.subn(r"^listener 8883$", f"listener {port} {HOST}", text, flags=re.M)
    assert n == 1, "the shipped config has one TLS listener on 8883"
    settings = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert not any(" /mosquitto/" in ln for ln in settings), "a path was not moved"
    return text + "user root\n"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    d = tmp_path_factory.mktemp("prod-mosquitto")
    (d / "data").mkdir()
    make_certificates(d)
    (d / "acl").write_text((DEPLOY / "acl").read_text(encoding="utf-8"))
    passwd = require_binary("mosquitto_passwd", "mosquitto")
    (d / "passwd").touch()
    for user, password in USERS.items():
        subprocess.run([passwd, "-b", str(d / "passwd"), user, password], check=True)
    port = free_port()
    (d / "mosquitto.conf").write_text(shipped_config(d, port))
    binary = require_binary("mosquitto", "mosquitto")
    stdbuf = require_binary("stdbuf", "coreutils")
    log = d / "mosquitto.log"

    def ready() -> bool:
        return log.exists() and b" running" in log.read_bytes() and _tcp_accepts(HOST, port)

    process = launch("mosquitto", [stdbuf, "-oL", binary, "-c", str(d / "mosquitto.conf")],
                     log, ready)  # fmt: skip
    try:
        yield Broker(port, d, process)
    finally:
        process.stop()


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)


def publish(broker: Broker, user: str | None, topic: str, message: str) -> bool:
    """Accepted? QoS 1 over MQTT 5: the broker answers a refused publish with reason code 135
    in its PUBACK, which mosquitto_pub reports as "Publish 1 failed: Not authorized"."""
    argv = broker.client("mosquitto_pub", "-V", "mqttv5", "-q", "1", "-r", "-t", topic,
                         "-m", message, user=user)  # fmt: skip
    result = run(argv)
    return result.returncode == 0 and "not authorized" not in result.stderr.lower()


def retained(broker: Broker, topic: str) -> str:
    """The retained message on `topic`, read by the gateway's identity ('' when none)."""
    argv = broker.client("mosquitto_sub", "-t", topic, "-C", "1", "--retained-only",
                         "-W", "2", user="hazgw")  # fmt: skip
    return run(argv).stdout.strip()


def test_an_anonymous_client_is_refused(broker: Broker) -> None:
    result = run(broker.client("mosquitto_pub", "-t", "tele/x/SENSOR", "-m", "1"))
    assert result.returncode != 0
    assert "not authori" in result.stderr.lower()


def test_a_wrong_password_is_refused(broker: Broker) -> None:
    argv = broker.client("mosquitto_pub", "-t", "tele/kitchen-plug/SENSOR", "-m", "1")
    result = run([*argv, "-u", "kitchen-plug", "-P", "guess"])
    assert result.returncode != 0
    assert "not authori" in result.stderr.lower()


def test_plain_mqtt_without_tls_gets_no_session(broker: Broker) -> None:
    argv = ["mosquitto_pub", "-h", HOST, "-p", str(broker.port), "-u", "hazgw", "-P",
            USERS["hazgw"], "-t", "hazgw/x", "-m", "1"]  # fmt: skip
    assert run(argv).returncode != 0


def test_a_device_publishes_its_own_topics_and_no_one_elses(broker: Broker) -> None:
    own = "tele/kitchen-plug/SENSOR"
    other = "tele/store-plug/SENSOR"
    assert publish(broker, "kitchen-plug", own, '{"ANALOG":{"MQ2_0":12.5}}')
    assert not publish(broker, "kitchen-plug", other, '{"ANALOG":{"MQ2_0":99}}')
    assert not publish(broker, "kitchen-plug", "zigbee2mqtt/kitchen/gas_1", "{}")
    assert retained(broker, own) == '{"ANALOG":{"MQ2_0":12.5}}'
    assert retained(broker, other) == ""


def test_the_gateway_reads_devices_but_cannot_impersonate_them(broker: Broker) -> None:
    assert publish(broker, "zigbee2mqtt", "zigbee2mqtt/kitchen/gas_1", '{"gas":false}')
    assert not publish(broker, "hazgw", "zigbee2mqtt/kitchen/gas_1", '{"gas":true}')
    assert retained(broker, "zigbee2mqtt/kitchen/gas_1") == '{"gas":false}'
    assert publish(broker, "hazgw", "hazgw/gw01/status", "online")


def test_the_queue_limits_are_raised_above_mosquittos_default() -> None:
    text = (DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")
    queued = int(re.search(r"^max_queued_messages (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert queued >= 100_000  # the default of 1000 loses bursts (domain.md section 6)
    assert re.search(r"^persistence true$", text, re.M)
