"""Local annunciation over MQTT: a siren controller, relay box or PLC subscribes on the site broker.

Topics (under the configured prefix, e.g. hazgw/plant-a/gw01):
  annunciation/<zone>  retained, QoS 1: the zone's current state, {"active": true, "state":
                       "alarm"|"drill", "urgent", "kinds", "hazards", ...} or {"active": false}.
                       Retained because a controller that reconnects (power cut, broker restart)
                       must see at once whether its siren should sound, not wait for the next alarm.
  notifications        QoS 1, not retained: every notification as JSON (displays, loggers). Not
                       retained, so a reconnecting subscriber is not shown an old alarm as new.
  status               retained "online"; "offline" on a clean stop, and as the last will when
                       the gateway dies: a controller can show "gateway lost", not trust silence.
QoS 1 (at least once): a repeated state is harmless; a lost one could leave a siren quiet.
A publish counts as delivered when the broker acknowledged it (PUBACK).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from typing import Any

import aiomqtt

from alerting.notify import Notification, NotifyError, payload
from gateway.clock import Clock

NOT_AUTHORISED = frozenset({4, 5, 134, 135})  # bad credentials / not authorised: retry is useless


class MqttNotifier:
    def __init__(
        self,
        *,
        name: str = "mqtt",
        host: str,
        port: int,
        prefix: str,
        client_id: str,
        clock: Clock,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        qos: int = 1,
        keepalive_s: int = 30,
        timeout_s: float = 5.0,
        site: str = "",
        gateway: str = "",
    ) -> None:
        self.name, self.host, self.port, self.prefix = name, host, port, prefix
        self.client_id, self.clock, self.qos = client_id, clock, qos
        self.username, self.password, self.tls_context = username, password, tls_context
        self.keepalive_s, self.timeout_s = keepalive_s, timeout_s
        self.ident = {"site": site, "gateway": gateway}
        self._client: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()
        self._zones: dict[str, dict[str, Notification]] = {}  # zone -> active hazards by number

    def zone_topic(self, zone: str) -> str:
        return f"{self.prefix}/annunciation/{zone or '_site'}"

    @property
    def event_topic(self) -> str:
        return f"{self.prefix}/notifications"

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/status"

    async def send(self, notification: Notification) -> None:
        zone = notification.zone
        active = dict(self._zones.get(zone, {}))
        active.update({m.number: m for m in notification.members})
        event = payload(notification, **self.ident)
        await self._publish(
            [
                (self.event_topic, event, False),
                (self.zone_topic(zone), self._state(zone, active), True),
            ]
        )
        self._zones[zone] = active  # only once the broker has it: a retry rebuilds the same

    async def silence(self, zone: str) -> None:
        off = {"active": False, "zone": zone, "ts_ns": self.clock.wall_ns(), **self.ident}
        await self._publish([(self.zone_topic(zone), off, True)])
        self._zones.pop(zone, None)

    def _state(self, zone: str, active: dict[str, Notification]) -> dict[str, Any]:
        members = list(active.values())
        real = [m for m in members if not m.drill]
        return {
            "active": True,
            "state": "alarm" if real else "drill",
            "drill": not real,  # any real alarm in the zone outranks a drill
            "zone": zone,
            "urgent": any(m.urgent for m in real or members),
            "kinds": sorted({m.kind for m in real or members}),
            "level": max(m.level for m in real or members),
            "count": len(members),
            "hazards": [
                {
                    "number": m.number,
                    "title": m.title,
                    "kind": m.kind,
                    "level": m.level,
                    "drill": m.drill,
                    "location": m.location,
                    "device": m.device,
                }
                for m in members
            ],
            "ts_ns": max(m.ts_ns for m in members),
            **self.ident,
        }

    async def _publish(self, messages: list[tuple[str, dict[str, Any], bool]]) -> None:
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout_s):
                    client = await self._connected()
                    for topic, body, retain in messages:
                        data = json.dumps(body, ensure_ascii=False).encode()
                        await client.publish(topic, data, qos=self.qos, retain=retain)
            except aiomqtt.MqttCodeError as exc:
                await self._drop()
                retry = exc.rc not in NOT_AUTHORISED if isinstance(exc.rc, int) else True
                raise NotifyError(f"mqtt {self.host}:{self.port}: {exc}", retryable=retry) from None
            except (aiomqtt.MqttError, OSError) as exc:
                await self._drop()
                raise NotifyError(f"mqtt {self.host}:{self.port}: {exc}", retryable=True) from None
            except TimeoutError:
                await self._drop()
                raise NotifyError(
                    f"mqtt {self.host}:{self.port}: no answer within {self.timeout_s:g} s",
                    retryable=True,
                ) from None

    async def _connected(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        will = aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True)
        client = aiomqtt.Client(
            self.host, self.port, identifier=self.client_id, username=self.username,
            password=self.password, tls_context=self.tls_context, will=will,
            keepalive=self.keepalive_s, timeout=self.timeout_s, clean_session=True,
        )  # fmt: skip
        await client.__aenter__()
        self._client = client
        await client.publish(self.status_topic, b"online", qos=1, retain=True)
        # The broker may have lost its retained states (restarted without persistence).
        for zone, active in self._zones.items():
            data = json.dumps(self._state(zone, active), ensure_ascii=False).encode()
            await client.publish(self.zone_topic(zone), data, qos=self.qos, retain=True)
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Say "offline" (a clean stop sends no last will) and disconnect."""
        async with self._lock:
            client = self._client
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    async with asyncio.timeout(self.timeout_s):
                        await client.publish(self.status_topic, b"offline", qos=1, retain=True)
            await self._drop()
