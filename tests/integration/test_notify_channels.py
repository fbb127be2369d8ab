"""Each channel against a real far end: an HTTP server that checks signatures, the Mosquitto
fixture, apprise posting to that HTTP server, and a relay module played on a pty."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
import pytest

from alerting.notify import Contact, NotifyError
from alerting.notify.apprise_channel import AppriseNotifier
from alerting.notify.mqtt import MqttNotifier
from alerting.notify.serial_relay import SerialRelayNotifier, with_crc, write_coil_frame
from alerting.notify.webhook import WebhookNotifier, verify
from gateway.clock import SystemClock
from tests.conftest import PtyPair
from tests.integration.servers import MosquittoServer, free_port, start_mosquitto
from tests.unit.test_notify_grouping import note

T = TypeVar("T")
SECRET = "a-shared-secret-of-32-characters"
WAIT_S = 10.0  # an upper bound for things that happen in milliseconds; never a timing claim


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # the HMAC signature verified against SECRET with a fresh timestamp

    @property
    def doc(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST and verifies its signature.

    `status` is what it answers; while `hang` is set it holds requests without answering.
    """

    port: int = 0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.arrived.set()
                if receiver.hang.is_set():
                    receiver.release.wait(30)
                signed = verify(
                    SECRET.encode(), body, timestamp=self.headers.get("X-Hazgw-Timestamp", ""),
                    signature=self.headers.get("X-Hazgw-Signature", ""), now_s=time.time(),
                    tolerance_s=300,
                )  # fmt: skip
                headers = dict(self.headers.items())
                receiver.received.append(Received(self.path, headers, body, signed))
                self.send_response(receiver.status)
                for k, v in receiver.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._server = server
        serve = lambda: server.serve_forever(poll_interval=0.02)  # noqa: E731  (quick shutdown)
        threading.Thread(target=serve, name="receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for something that happens in milliseconds."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT_S} s: {what}")
        await asyncio.sleep(0.01)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


# --- webhook ---------------------------------------------------------------------------------


def webhook(url: str, *, timeout_s: float = 2.0, **kw: Any) -> WebhookNotifier:
    contacts = {"wang.wei": Contact("wang.wei", "Wang Wei", phone="+86 138").public()}
    return WebhookNotifier(url=url, secret=SECRET, clock=SystemClock(), contacts=contacts,
                           site="plant-a", gateway="gw01", timeout_s=timeout_s, **kw)  # fmt: skip


def test_webhook_posts_signed_json_that_the_receiver_verifies(receiver: Receiver) -> None:
    hook = webhook(receiver.url(), headers={"X-Api-Key": "k"})

    async def main() -> None:
        await hook.send(note(1))
        await hook.send(note(2, drill=True))
        await hook.aclose()

    run(main())
    real, drill = receiver.received
    assert real.signed
    assert drill.signed
    assert real.headers["X-Api-Key"] == "k"
    assert real.headers["X-Hazgw-Delivery"] != drill.headers["X-Hazgw-Delivery"]
    doc = real.doc
    assert doc["schema"] == "hazgw.notification/1"
    assert (doc["drill"], doc["site"], doc["gateway"], doc["zone"]) == (
        False, "plant-a", "gw01", "kitchen",
    )  # fmt: skip
    assert doc["hazards"][0]["number"] == note(1).number
    assert doc["people"] == [
        {"id": "wang.wei", "name": "Wang Wei", "role": "", "phone": "+86 138", "email": ""}
    ]
    assert drill.doc["drill"] is True
    assert drill.doc["text"].startswith("[DRILL - NOT A REAL ALARM]")


@pytest.mark.parametrize(
    ("status", "retryable", "retry_after"),
    [(400, False, None), (401, False, None), (404, False, None), (429, True, 7.0),
     (500, True, None), (503, True, 7.0)],
)  # fmt: skip
def test_webhook_status_says_whether_a_retry_can_help(
    receiver: Receiver, status: int, retryable: bool, retry_after: float | None
) -> None:
    receiver.status = status
    if retry_after is not None:
        receiver.headers["Retry-After"] = "7"
    with pytest.raises(NotifyError, match=f"HTTP {status}") as err:
        run(webhook(receiver.url()).send(note(1)))
    assert err.value.retryable is retryable
    assert err.value.retry_after == retry_after


def test_webhook_to_a_closed_port_is_retryable_and_names_no_query_secret() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?key=SeCrEt"
    with pytest.raises(NotifyError) as err:
        run(webhook(url).send(note(1)))
    assert err.value.retryable
    assert "SeCrEt" not in str(err.value)


def test_webhook_that_hangs_times_out_retryable(receiver: Receiver) -> None:
    receiver.hang.set()
    with pytest.raises(NotifyError, match="timed out") as err:
        run(webhook(receiver.url(), timeout_s=0.3).send(note(1)))
    assert err.value.retryable


# --- mqtt --------------------------------------------------------------------------------------


def annunciator(server: MosquittoServer, prefix: str) -> MqttNotifier:
    return MqttNotifier(host=server.host, port=server.port, prefix=prefix,
                        client_id=f"test-{prefix}", clock=SystemClock(), timeout_s=2,
                        site="plant-a", gateway="gw01")  # fmt: skip


async def snapshot(server: MosquittoServer, prefix: str, expect: int) -> dict[str, Any]:
    """What a controller that connects now sees: the retained messages under `prefix`."""
    seen: dict[str, Any] = {}
    async with aiomqtt.Client(server.host, server.port) as sub:
        await sub.subscribe(f"{prefix}/#", qos=1)
        async with asyncio.timeout(WAIT_S):
            async for msg in sub.messages:
                raw = bytes(msg.payload) if isinstance(msg.payload, bytes | bytearray) else b""
                text = raw.decode()
                seen[str(msg.topic)] = json.loads(text) if text.startswith("{") else text
                if len(seen) >= expect:
                    return seen
    return seen


def test_mqtt_publishes_the_event_and_a_retained_zone_state_a_reconnecting_siren_sees(
    mosquitto: MosquittoServer,
) -> None:
    prefix = "t1/plant-a/gw01"

    async def main() -> None:
        live: list[tuple[str, Any, int]] = []
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sub:
            await sub.subscribe(f"{prefix}/#", qos=1)
            m = annunciator(mosquitto, prefix)
            await m.send(note(1, kind="gas", level=2))
            async with asyncio.timeout(WAIT_S):
                async for msg in sub.messages:
                    live.append((str(msg.topic), msg.payload, msg.qos))
                    if len(live) == 3:
                        break
        assert {t for t, _, _ in live} == {
            f"{prefix}/status", f"{prefix}/notifications", f"{prefix}/annunciation/kitchen",
        }  # fmt: skip
        assert all(qos == 1 for _, _, qos in live)
        later = await snapshot(mosquitto, prefix, expect=2)  # retained only: status + zone
        assert later[f"{prefix}/status"] == "online"
        zone = later[f"{prefix}/annunciation/kitchen"]
        assert (zone["active"], zone["state"], zone["urgent"], zone["kinds"]) == (
            True, "alarm", True, ["gas"],
        )  # fmt: skip
        assert f"{prefix}/notifications" not in later  # events are not retained
        await m.silence("kitchen")
        after = await snapshot(mosquitto, prefix, expect=2)
        assert after[f"{prefix}/annunciation/kitchen"]["active"] is False
        await m.aclose()
        gone = await snapshot(mosquitto, prefix, expect=2)
        assert gone[f"{prefix}/status"] == "offline"

    run(main())


def test_mqtt_drill_state_is_marked(mosquitto: MosquittoServer) -> None:
    prefix = "t2/plant-a/gw01"

    async def main() -> None:
        m = annunciator(mosquitto, prefix)
        await m.send(note(1, drill=True))
        zone = (await snapshot(mosquitto, prefix, expect=2))[f"{prefix}/annunciation/kitchen"]
        assert (zone["state"], zone["drill"]) == ("drill", True)
        await m.aclose()

    run(main())


def test_mqtt_broker_down_is_retryable_and_recovers_when_it_is_back(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path)
    server, prefix = broker.server, "t3/plant-a/gw01"

    async def main() -> None:
        m = annunciator(server, prefix)
        await m.send(note(1))
        broker.stop()
        with pytest.raises(NotifyError, match=r"mqtt 127\.0\.0\.1") as err:
            await m.send(note(2))
        assert err.value.retryable
        again = start_mosquitto(tmp_path, port=server.port)
        try:
            await m.send(note(2))
            zone = (await snapshot(server, prefix, expect=2))[f"{prefix}/annunciation/kitchen"]
            assert [h["number"] for h in zone["hazards"]] == [note(1).number, note(2).number]
            await m.aclose()
        finally:
            again.stop()

    try:
        run(main())
    finally:
        broker.stop()


# --- serial relay on a pty ----------------------------------------------------------------------


class RelayModule:
    """Plays a Modbus relay module on the pty's master side: answers each request as told."""

    def __init__(self, pty: PtyPair, answer: Callable[[bytes], bytes] = lambda req: req):
        self.pty, self.answer = pty, answer
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="relay", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            request = self.pty.read_master(8, timeout_s=0.05)
            if len(request) == 8:
                self.requests.append(request)
                os.write(self.pty.master_fd, self.answer(request))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def relay(pty: PtyPair, **kw: Any) -> SerialRelayNotifier:
    return SerialRelayNotifier(port=pty.slave_path, device_id=1, coil=0, timeout_s=0.3, **kw)


def test_relay_switches_the_zone_coil_on_and_off_and_the_drill_coil_for_drills(
    pty_pair: PtyPair,
) -> None:
    module = RelayModule(pty_pair)
    r = relay(pty_pair, zone_coils={"store": 1}, drill_coil=2)

    async def main() -> None:
        await r.send(note(1, zone="kitchen"))
        await r.send(note(2, zone="lab"))  # shares coil 0 with the kitchen
        await r.send(note(3, zone="store"))
        await r.send(note(4, zone="store", drill=True))
        await r.silence("kitchen")  # coil 0 stays on: the lab still sounds
        await r.silence("lab")
        await r.silence("store")  # its own coil and the drill coil
        await r.aclose()

    run(main())
    module.stop()
    assert module.requests == [
        write_coil_frame(1, 0, True), write_coil_frame(1, 0, True), write_coil_frame(1, 1, True),
        write_coil_frame(1, 2, True),
        write_coil_frame(1, 0, False),  # the lab: the last zone on coil 0
        write_coil_frame(1, 1, False), write_coil_frame(1, 2, False),  # the store
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (lambda req: with_crc(bytes((1, 0x85, 2))), False),  # illegal coil address
        (lambda req: with_crc(bytes((1, 0x85, 6))), True),  # busy
        (lambda req: req[:-1] + bytes((req[-1] ^ 1,)), True),  # garbled CRC
        (lambda req: b"", True),  # silent module
    ],
    ids=["illegal-address", "busy", "bad-crc", "no-answer"],
)
def test_relay_failures_say_whether_a_retry_can_help(
    pty_pair: PtyPair, answer: Callable[[bytes], bytes], retryable: bool
) -> None:
    module = RelayModule(pty_pair, answer)
    r = relay(pty_pair)
    with pytest.raises(NotifyError) as err:
        run(r.send(note(1)))
    run(r.aclose())
    module.stop()
    assert err.value.retryable is retryable


def test_relay_on_a_missing_port_is_retryable() -> None:
    r = SerialRelayNotifier(port="/dev/does-not-exist", timeout_s=0.1)
    with pytest.raises(NotifyError) as err:
        run(r.send(note(1)))
    assert err.value.retryable


# --- apprise -----------------------------------------------------------------------------------


def test_apprise_delivers_group_and_per_person_messages_to_a_local_json_target(
    receiver: Receiver,
) -> None:
    base = f"json://127.0.0.1:{receiver.port}"
    group = AppriseNotifier(name="chat", urls=[f"{base}/group"])
    people = {"li.na": Contact("li.na", "Li Na", phone="+86 139 0000 0002")}
    person = AppriseNotifier(name="sms", urls=[f"{base}/sms/{{phone}}"], people=people,
                             per_recipient=True)  # fmt: skip

    async def main() -> None:
        await group.send(note(1, drill=True))
        await person.send(note(2, kind="gas", level=2, recipients=("li.na",)))

    run(main())
    chat, sms = receiver.received
    assert chat.path == "/group"
    assert chat.doc["title"].startswith("[DRILL] ")
    assert chat.doc["message"].startswith("[DRILL - NOT A REAL ALARM]")
    assert sms.path == "/sms/+8613900000002"
    assert sms.doc["type"] == "failure"  # urgent: a level-2 gas alarm
    assert note(2).number in sms.doc["message"]


def test_apprise_retry_sends_only_to_the_targets_that_failed(receiver: Receiver) -> None:
    later = free_port()
    ap = AppriseNotifier(
        urls=[f"json://127.0.0.1:{receiver.port}/a", f"json://127.0.0.1:{later}/b"]
    )
    message = note(1)
    with pytest.raises(NotifyError, match="1/2 failed") as err:
        run(ap.send(message))
    assert err.value.retryable
    second = Receiver(port=later).start()
    try:
        run(ap.send(message))
    finally:
        second.stop()
    assert [r.path for r in receiver.received] == ["/a"]  # not sent twice
    assert [r.path for r in second.received] == ["/b"]
