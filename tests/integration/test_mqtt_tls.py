"""TLS with a client certificate and a password: the right credentials get a session, a wrong
password is refused with the reason in the status and retried only at the backoff's pace, and an
untrusted server certificate (or a missing CA file) is a TLS failure."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.base import Binding
from drivers.mqtt.driver import MqttDriver
from gateway.clock import SystemClock
from tests.integration.mqtt_support import Collector, config, publish, until
from tests.integration.servers import MosquittoServer, start_mosquitto

USER, PASSWORD = "gw01", "correct-horse-42"
SUB = [{"family": "json", "topic": "secure/#", "fields": {"co": "co"}}]
BINDING = [Binding(0, "co-1", "co", point="co", topic="secure/co-1")]
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    ca: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # trusted by nobody here


def openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", *EC, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)  # fmt: skip


def make_leaf(d: Path, name: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions + "\n")
    openssl("req", *EC, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
            cwd=d)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other")
    make_leaf(d, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    make_leaf(d, "client", "extendedKeyUsage=clientAuth")
    return Pki(d / "ca.crt", d / "client.crt", d / "client.key", d / "other.crt")


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[MosquittoServer]:
    d = tmp_path_factory.mktemp("secure-mosquitto")
    passwords = d / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True)
    pki_dir = pki.ca.parent
    running = start_mosquitto(d, [
        f"cafile {pki.ca}", f"certfile {pki_dir / 'server.crt'}",
        f"keyfile {pki_dir / 'server.key'}", "require_certificate true",
        f"password_file {passwords}", "allow_anonymous false",
    ])  # fmt: skip
    yield running.server
    running.stop()


class RecordingClock(SystemClock):
    """Records each backoff the driver asks for and waits only a little of it (no test waits
    out a real backoff; the recorded delays are what is checked)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(min(seconds, 0.02))


def tls_options(pki: Pki, **changes: Any) -> dict[str, Any]:
    tls = {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert),
           "key_file": str(pki.client_key)} | changes  # fmt: skip
    return {"tls": tls, "username": USER, "password": PASSWORD}


def test_right_credentials_over_tls_get_a_session_and_readings(
    secure_broker: MosquittoServer, pki: Pki
) -> None:
    cfg = config(secure_broker, SUB, **tls_options(pki))
    driver = MqttDriver(cfg, BINDING, clock=SystemClock())
    pub_options = ["--cafile", str(pki.ca), "--cert", str(pki.client_cert),
                   "--key", str(pki.client_key), "-u", USER, "-P", PASSWORD]  # fmt: skip

    async def scenario() -> Collector:
        async with driver:
            collector = Collector(driver)
            task = collector.start()
            await until(lambda: driver.status.connected, "connected over TLS")
            await publish(secure_broker, "secure/co-1", '{"co": 42}', options=pub_options)
            await until(lambda: bool(collector.rows), "a reading over TLS")
            task.cancel()
            return collector

    assert asyncio.run(scenario()).of(0) == [(42.0, 0)]
    assert dict(driver.status.errors) == {}


def test_a_wrong_password_is_refused_and_retried_at_the_backoffs_pace(
    secure_broker: MosquittoServer, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    options = tls_options(pki) | {"password": "wrong-password-99"}
    cfg = config(secure_broker, SUB, reconnect_min_s=0.2, reconnect_max_s=1.6, **options)
    clock = RecordingClock()
    driver = MqttDriver(cfg, BINDING, clock=clock)

    async def scenario() -> None:
        async with driver:
            await until(lambda: driver.status.errors["refused"] >= 6, "six refusals")
            assert not driver.status.connected

    with caplog.at_level(logging.DEBUG, logger="drivers.mqtt"):
        asyncio.run(scenario())
    refusals = driver.status.errors["refused"]
    assert "refused" in driver.status.last_error
    assert "not authori" in driver.status.last_error.lower()  # the broker's reason, verbatim
    assert refusals - 1 <= len(clock.sleeps) <= refusals  # a backoff after every refusal
    for i, delay in enumerate(clock.sleeps):
        expected = min(1.6, 0.2 * 2**i)
        assert 0.8 * expected <= delay <= 1.2 * expected, clock.sleeps
    assert "wrong-password-99" not in caplog.text
    warnings = [r for r in caplog.records
                if r.name.startswith("drivers.mqtt") and r.levelno >= logging.WARNING]  # fmt: skip
    assert len(warnings) == 1  # the same refusal again is logged at DEBUG only


@pytest.mark.parametrize(
    ("ca", "reason"),
    [("other", "certificate verify failed"), ("missing", "TLS files unusable")],
)
def test_an_untrusted_server_or_missing_ca_file_is_a_tls_failure(
    secure_broker: MosquittoServer, pki: Pki, ca: str, reason: str
) -> None:
    ca_file = pki.other_ca if ca == "other" else pki.ca.parent / "no-such-ca.crt"
    cfg = config(secure_broker, SUB, **tls_options(pki, ca_file=str(ca_file)))
    driver = MqttDriver(cfg, BINDING, clock=RecordingClock())

    async def scenario() -> None:
        async with driver:
            await until(lambda: driver.status.errors["tls"] >= 1, "TLS refusal")

    asyncio.run(scenario())
    assert reason in driver.status.last_error
    assert not driver.status.connected
