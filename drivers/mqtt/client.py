"""One MQTT connection through gmqtt, with every gmqtt and ssl exception translated here.

gmqtt was chosen by measurement (design.md "Measured here": the fastest Python subscriber at
QoS 1, about 0.7 of mosquitto_sub; paho-mqtt callbacks a third of that, aiomqtt an eighth).
gmqtt keeps the session: connect, TLS, auth, subscribe, keepalive. Two things are ours:
- its reconnect loop is switched off: the driver reconnects with exponential backoff and
  re-subscribes, and treats a deaf connection the same way;
- incoming PUBLISH packets take a short path (`_publish`): topic and payload are sliced out
  and handed to the driver, and the PUBACKs of one socket read go out in one write after the
  messages were decoded. gmqtt's own path costs a syscall per PUBACK plus per-message
  introspection, which halved the ingest rate (bench/mqtt_ingest.py).

Sessions are persistent (MQTT 5, clean start off, a session expiry), subscriptions QoS 1 with
retain handling 1: a resumed session does not replay every retained message, a new one does.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import gmqtt  # type: ignore[import-untyped]
from gmqtt.mqtt.constants import MQTTv50  # type: ignore[import-untyped]

from drivers.mqtt.codec import MALFORMED_PACKET
from drivers.mqtt.config import MqttDriverConfig, MqttTlsConfig
from gateway.errors import DriverError

log = logging.getLogger("drivers.mqtt")
# gmqtt logs every connection, loss and refusal, up to ERROR, each time; the driver reports them
# once per edge itself. Lower these loggers' levels to see gmqtt's own account.
GMQTT_LOG = logging.getLogger("drivers.mqtt.gmqtt")
GMQTT_LOG.setLevel(logging.CRITICAL)
logging.getLogger("gmqtt").setLevel(logging.ERROR)  # its module loggers (socket chatter)

OnMessage = Callable[[str | bytes, bytes], None]  # (topic, or its bytes if not UTF-8; payload)
OnProblem = Callable[[str, str], None]  # (reason, detail)
SUBACK_TIMEOUT_S = 10.0
PUBACK = b"\x40\x02"  # PUBACK, remaining length 2: success without properties (MQTT 5 too)


class LinkError(DriverError):
    """The broker could not be reached or refused us; `reason` is the status.errors key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, retryable=True)
        self.reason = reason


class _Client(gmqtt.Client):  # type: ignore[misc]
    async def reconnect(self, delay: bool = False) -> None:
        """The driver's loop reconnects (with backoff and a fresh client); gmqtt's must not."""


def tls_context(tls: MqttTlsConfig) -> ssl.SSLContext:
    """Certificate and host name verification always on; a client certificate when given."""
    ctx = ssl.create_default_context(cafile=None if tls.ca_file is None else str(tls.ca_file))
    if tls.cert_file is not None and tls.key_file is not None:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    return ctx


class Link:
    """One connection attempt and its life: open, subscribe, deliver, lose or close."""

    def __init__(self, cfg: MqttDriverConfig, on_message: OnMessage, on_problem: OnProblem) -> None:
        self.cfg = cfg
        self.lost = asyncio.Event()
        self.session_present = False
        self._on_message, self._on_problem = on_message, on_problem
        self._subacks: dict[int, asyncio.Future[tuple[int, ...]]] = {}
        self._acks: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._v5 = True
        client = _Client(
            cfg.client_id,
            clean_session=False,
            session_expiry_interval=cfg.session_expiry_s,
            logger=GMQTT_LOG,
        )
        handler = client._package_handler
        self._gmqtt_publish = handler._handle_publish_packet  # QoS 2, never granted to us
        handler._handle_publish_packet = self._publish
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        if cfg.username is not None:
            secret = None if cfg.password is None else cfg.password.get_secret_value()
            client.set_auth_credentials(cfg.username, secret)
        self._client = client

    async def open(self) -> None:
        """Connect and wait for the CONNACK; raise LinkError with the reason on failure."""
        cfg = self.cfg
        try:
            context: ssl.SSLContext | bool = False if cfg.tls is None else tls_context(cfg.tls)
        except OSError as exc:  # a missing or unreadable CA, certificate or key (SSLError too)
            raise LinkError("tls", f"TLS files unusable: {exc}") from exc
        try:
            async with asyncio.timeout(cfg.connect_timeout_s):
                await self._client.connect(
                    cfg.host, cfg.port, ssl=context, keepalive=cfg.keepalive_s, version=MQTTv50
                )
        except gmqtt.MQTTConnectError as exc:
            raise LinkError("refused", f"broker refused the connection: {exc}") from exc
        except ssl.SSLError as exc:
            raise LinkError("tls", f"TLS failed: {exc}") from exc
        except TimeoutError as exc:
            raise LinkError("timeout", f"no CONNACK within {cfg.connect_timeout_s:g} s") from exc
        except OSError as exc:  # refused, unreachable, DNS
            raise LinkError("connect", f"cannot connect to {cfg.host}:{cfg.port}: {exc}") from exc

    async def subscribe(self, filters: Sequence[str]) -> None:
        """Subscribe all filters at QoS 1 in one packet; raise if the broker refuses any."""
        subs = [gmqtt.Subscription(f, qos=1, retain_handling_options=1) for f in filters]
        waiter: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        try:
            self._subacks[self._client.subscribe(subs)] = waiter
            async with asyncio.timeout(SUBACK_TIMEOUT_S):
                granted = await waiter
        except TimeoutError as exc:
            raise LinkError("timeout", "no SUBACK") from exc
        except (OSError, AttributeError) as exc:  # the connection vanished underneath
            raise LinkError("lost", f"lost while subscribing: {exc}") from exc
        refused = [f for f, qos in zip(filters, granted, strict=False) if qos >= 0x80]
        if refused or len(granted) != len(filters):
            raise LinkError("subscribe_refused", f"broker refused subscriptions {refused}")

    def pause_reading(self) -> None:
        """Stop reading the socket: the broker keeps what we have not read (TCP backpressure)."""
        transport = self._transport()
        if transport is not None and transport.is_reading():
            transport.pause_reading()

    def resume_reading(self) -> None:
        transport = self._transport()
        if transport is not None and not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()

    @property
    def paused(self) -> bool:
        transport = self._transport()
        return transport is not None and not transport.is_reading()

    async def close(self) -> None:
        """Say goodbye (the session stays on the broker) and drop the socket."""
        self.lost.set()
        try:
            if self._client.is_connected:
                async with asyncio.timeout(2.0):
                    await self._client.disconnect()
        except (OSError, TimeoutError, AttributeError) as exc:
            log.debug("mqtt %s: closing: %s", self.cfg.id, exc)
        transport = self._transport()  # a half-open attempt (no CONNACK) still holds a socket
        if transport is not None and not transport.is_closing():
            transport.close()

    def _publish(self, cmd: int, raw: bytes) -> None:
        """An incoming PUBLISH: slice out topic and payload, deliver, queue the PUBACK."""
        qos = (cmd >> 1) & 3
        if qos == 2:
            self._gmqtt_publish(cmd, raw)
            return
        parts = split_publish(raw, qos, self._v5)
        if parts is None:
            self._on_problem(MALFORMED_PACKET, f"PUBLISH of {len(raw)} bytes")
            return
        topic, mid, payload = parts
        self._on_message(_topic(topic), payload)
        if qos:
            self._acks.append(mid)
            if len(self._acks) == 1:
                self._loop.call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        acks, self._acks = self._acks, []
        connection = getattr(self._client, "_connection", None)
        if acks and connection is not None and not connection.is_closing():
            connection.send_package(PUBACK + PUBACK.join(acks))

    def _transport(self) -> asyncio.Transport | None:
        # gmqtt has no public handle on its socket; pausing it is the only way to push back.
        connection = getattr(self._client, "_connection", None)
        transport = getattr(connection, "_transport", None)
        return transport if isinstance(transport, asyncio.Transport) else None

    def _on_connect(self, _client: Any, flags: int, _rc: int, _props: Any) -> None:
        self.session_present = bool(flags)
        self._v5 = self._client._connection_state.protocol_version >= MQTTv50

    def _on_disconnect(self, _client: Any, _packet: Any, _exc: Any = None) -> None:
        self.lost.set()

    def _on_subscribe(self, _client: Any, mid: int, granted: tuple[int, ...], _props: Any) -> None:
        waiter = self._subacks.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(tuple(granted))


def split_publish(raw: bytes, qos: int, v5: bool) -> tuple[bytes, bytes, bytes] | None:
    """(topic, packet id, payload) of a PUBLISH packet's variable part; None if malformed."""
    size = len(raw)
    if size < 2:
        return None
    topic_end = 2 + ((raw[0] << 8) | raw[1])
    end = topic_end + 2 if qos else topic_end
    if v5:  # most PUBLISH packets carry an empty property block: one zero byte
        end = end + 1 if end < size and raw[end] == 0 else _skip_properties(raw, end)
    if end > size or topic_end == 2:  # truncated, or a topic alias (we allow none)
        return None
    return raw[2:topic_end], raw[topic_end:end][:2] if qos else b"", raw[end:]


def _topic(raw: bytes) -> str | bytes:
    """The topic as text, or its bytes when it is not UTF-8 (the driver counts bad_topic)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _skip_properties(raw: bytes, pos: int) -> int:
    """The position after an MQTT 5 property block (a variable byte integer length first)."""
    length, shift = 0, 0
    for i in range(pos, min(pos + 4, len(raw))):
        length |= (raw[i] & 0x7F) << shift
        shift += 7
        if not raw[i] & 0x80:
            return i + 1 + length
    return len(raw) + 1  # malformed: runs past the packet
