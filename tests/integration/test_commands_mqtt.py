"""People's ledger commands over MQTT, end to end: the shipped broker config (TLS, password
file, deploy/mosquitto/acl) on a real Mosquitto, a real Gateway on the demo config running the
scenario 120 times faster than real time, and people publishing commands as themselves.

What is proved: an acknowledgement published by the duty officer stops the escalation of a
hazard the gateway raised itself; the broker refuses a person who writes another person's
command topic, so nothing happens in the ledger; unknown people, numbers and actions, garbage and
forbidden actions get a refusal on the sender's reply topic and the service keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
import pytest
from pydantic import SecretStr

from alerting.records import Hazard
from drivers.mqtt.config import MqttTlsConfig
from gateway.api.config import Role
from gateway.app import Gateway
from gateway.clock import LoopClock
from gateway.commands.config import CommandsConfig
from gateway.commands.service import CommandService
from gateway.demo import demo_config
from tests.integration.servers import HOST, _tcp_accepts, free_port, launch, require_binary
from tests.integration.test_deploy_mosquitto import DEPLOY, make_certificates, shipped_config

T = TypeVar("T")
USERS = {"hazgw": "gw-secret", "wang.wei": "ww-secret", "li.na": "ln-secret",
         "zhang.jun": "zj-secret", "kitchen-plug": "plug-secret"}  # fmt: skip
PREFIX = "hazgw/demo/gw01"  # the demo config's site and gateway
SPEED = 120.0  # scenario seconds per real second: the kitchen gas alarm comes after ~3 s
WAIT_S = 30.0  # an upper bound for anything awaited below; never a timing assertion


@dataclass
class Site:
    port: int
    ca: Path
    gw: Gateway
    service: CommandService
    loop: asyncio.AbstractEventLoop

    def db(self, fn: Callable[[], T]) -> T:
        """`fn` on the gateway's database thread, from the test's thread."""
        return asyncio.run_coroutine_threadsafe(self.gw.run_db(fn), self.loop).result(WAIT_S)

    def hazard(self, number: str) -> Hazard:
        ledger = self.gw.ledger
        assert ledger is not None
        return self.db(lambda: ledger.hazard(number))

    def events(self, number: str) -> list[tuple[str, str]]:
        ledger = self.gw.ledger
        assert ledger is not None
        return self.db(lambda: [(e.type, e.actor) for e in ledger.events(number)])

    def scenario_s(self) -> float:
        async def now() -> float:
            return self.gw.clock.monotonic()

        return asyncio.run_coroutine_threadsafe(now(), self.loop).result(WAIT_S)


def _until(what: str, check: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def _broker(d: Path) -> tuple[int, Any]:
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
    log = d / "mosquitto.log"

    def ready() -> bool:
        return log.exists() and b" running" in log.read_bytes() and _tcp_accepts(HOST, port)

    stdbuf = require_binary("stdbuf", "coreutils")  # line-buffered: readiness is in the log
    argv = [stdbuf, "-oL", binary, "-c", str(d / "mosquitto.conf")]
    return port, launch("mosquitto", argv, log, ready)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    d = tmp_path_factory.mktemp("commands")
    port, broker = _broker(d)
    cfg = CommandsConfig(
        enabled=True, host=HOST, port=port, username="hazgw", password=SecretStr(USERS["hazgw"]),
        tls=MqttTlsConfig(ca_file=d / "ca.crt"), roles={"zhang.jun": Role.VIEWER},
    )  # fmt: skip
    gw = Gateway(demo_config(d / "state"), clock=LoopClock(speed=SPEED), notifiers=[])
    service = CommandService(gw, cfg)
    loop = asyncio.new_event_loop()

    async def main() -> None:
        task = asyncio.create_task(service.run())
        try:
            await gw.run()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    running = Site(port, d / "ca.crt", gw, service, loop)
    try:
        _until("the service subscribed", lambda: service.subscribed)
        yield running
    finally:
        loop.call_soon_threadsafe(gw.stop)
        thread.join(60)
        loop.close()
        broker.stop()


async def _exchange(site: Site, user: str, topic_person: str, payload: bytes) -> dict[str, Any]:
    """Publish as `user` on `topic_person`'s command topic; `user`'s next reply."""
    tls = ssl.create_default_context(cafile=str(site.ca))
    async with aiomqtt.Client(HOST, site.port, username=user, password=USERS[user],
                              tls_context=tls) as client:  # fmt: skip
        await client.subscribe(f"{PREFIX}/command/{user}/reply", qos=1)
        await client.publish(f"{PREFIX}/command/{topic_person}", payload, qos=1)
        async with asyncio.timeout(WAIT_S):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                reply: dict[str, Any] = json.loads(message.payload)
                return reply
    raise AssertionError("the reply stream ended")


def command(site: Site, user: str, doc: dict[str, Any] | bytes) -> dict[str, Any]:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return asyncio.run(_exchange(site, user, user, payload))


def publish_as(site: Site, user: str, topic_person: str, doc: dict[str, Any]) -> bool:
    """Accepted by the broker? Over MQTT 5 a refused QoS 1 publish gets reason code 135."""
    argv = ["mosquitto_pub", "-h", HOST, "-p", str(site.port), "--cafile", str(site.ca),
            "-u", user, "-P", USERS[user], "-V", "mqttv5", "-q", "1",
            "-t", f"{PREFIX}/command/{topic_person}", "-m", json.dumps(doc)]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=WAIT_S, check=False)
    return result.returncode == 0 and "not authorized" not in result.stderr.lower()


def first_alarm_hazard(site: Site, device: str | None = None) -> Hazard:
    """The first escalating hazard the gateway raised (from `device`, when given)."""
    ledger = site.gw.ledger
    assert ledger is not None

    def raised() -> Hazard | None:
        found = site.db(lambda: [h for h in ledger.open_hazards() if h.escalating])
        found = [h for h in found if device in (None, h.device)]
        return found[0] if found else None

    return _until(f"the gateway raised a hazard from {device or 'any device'}", raised)


def test_the_duty_officers_ack_stops_the_escalation_of_a_raised_hazard(site: Site) -> None:
    # The frozen corridor thermometer (from 300 s on): a fault that stays, so no level rise
    # re-arms it during the test, as the gas leak's level 2 would (a rise needs a new ack).
    hazard = first_alarm_hazard(site, "corridor-temp-1")
    reply = command(site, "wang.wei", {"action": "ack", "number": hazard.number, "id": "a1",
                                       "reason": "on my way"})  # fmt: skip
    assert reply == {"ok": True, "action": "acknowledge", "number": hazard.number,
                     "status": reply["status"], "id": "a1"}  # fmt: skip
    after = site.hazard(hazard.number)
    assert after.acknowledged_by == "wang.wei"
    assert not after.escalating
    steps_at_ack = [e for e in site.events(hazard.number) if e[0] == "escalation"]
    # Long enough for every rung of the demo ladder (120/180/300 s) and its 600 s repeat.
    acked_at = site.scenario_s()
    _until("700 scenario seconds passed", lambda: site.scenario_s() > acked_at + 700)
    events = site.events(hazard.number)
    assert ("acknowledged", "wang.wei") in events
    assert [e for e in events if e[0] == "escalation"] == steps_at_ack


def test_a_person_cannot_command_as_another(site: Site) -> None:
    hazard = first_alarm_hazard(site)
    before = site.events(hazard.number)
    forged = {"action": "note", "number": hazard.number, "text": "forged"}
    assert not publish_as(site, "zhang.jun", "li.na", forged)
    assert not publish_as(site, "kitchen-plug", "wang.wei", forged)
    # A command through the same broker afterwards: the forged ones never reached the gateway.
    assert (
        command(site, "wang.wei", {"action": "note", "number": "YH-none", "text": "x"})["ok"]
        is False
    )
    assert site.events(hazard.number) == before


def test_a_note_is_written_in_the_senders_name(site: Site) -> None:
    hazard = first_alarm_hazard(site)
    reply = command(site, "li.na", {"action": "note", "number": hazard.number,
                                    "text": "gas valve closed"})  # fmt: skip
    assert reply["ok"] is True
    assert site.events(hazard.number)[-1] == ("note", "li.na")


@pytest.mark.parametrize(
    ("user", "doc", "cause", "says"),
    [("kitchen-plug", {"action": "ack", "number": "{n}"}, "unknown_person", "people"),
     ("wang.wei", {"action": "ack", "number": "YH-2026-demo-gw01-9999"}, "unknown_number",
      "unknown hazard"),
     ("wang.wei", {"action": "explode", "number": "{n}"}, "unknown_action", "no action"),
     ("wang.wei", b"\x00garbage{", "malformed", "not JSON"),
     ("zhang.jun", {"action": "ack", "number": "{n}"}, "not_allowed", "needs duty_officer"),
     ("wang.wei", {"action": "close", "number": "{n}", "reason": "x"}, "not_allowed",
      "needs safety_officer")],
)  # fmt: skip
def test_a_refused_command_is_answered_counted_and_changes_nothing(
    site: Site, user: str, doc: dict[str, str] | bytes, cause: str, says: str
) -> None:
    hazard = first_alarm_hazard(site)
    if isinstance(doc, dict):
        doc = {k: v.replace("{n}", hazard.number) for k, v in doc.items()}
    before, counted = site.events(hazard.number), site.service.counts[cause]
    reply = command(site, user, doc)
    assert reply["ok"] is False
    assert reply["cause"] == cause
    assert says in reply["error"]
    assert site.service.counts[cause] == counted + 1
    assert site.events(hazard.number) == before
