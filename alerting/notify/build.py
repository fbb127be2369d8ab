"""From configuration to a running pipeline: the one place that knows every channel type.

The daemon calls `build_pipeline` (or `build_channels` to add notifiers of its own). Channel
libraries (aiomqtt, httpx, apprise, pyserial) are imported only for the channels configured.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping, Sequence

from alerting.notify import Contact, Notifier
from alerting.notify.config import (
    AppriseChannelConfig,
    ChannelConfig,
    LogChannelConfig,
    MqttChannelConfig,
    NotifyConfig,
    SerialRelayChannelConfig,
    WebhookChannelConfig,
)
from alerting.notify.delivery import Channel, ChannelPolicy, RecordDelivery
from alerting.notify.log import LogNotifier
from alerting.notify.pipeline import NotifyPipeline
from gateway.clock import Clock


def contacts_from(people: Iterable[object]) -> dict[str, Contact]:
    """Contacts from config people (id, name, role, phone; email and notify_urls if present)."""
    out: dict[str, Contact] = {}
    for p in people:
        urls = tuple(_secret(u) for u in getattr(p, "notify_urls", ()) or ())
        pid = str(getattr(p, "id", ""))
        out[pid] = Contact(
            pid, str(getattr(p, "name", "")), str(getattr(p, "role", "")),
            str(getattr(p, "phone", "") or ""), str(getattr(p, "email", "") or ""), urls,
        )  # fmt: skip
    return out


def _secret(value: object) -> str:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if callable(get) else str(value)


def policy_of(cfg: ChannelConfig) -> ChannelPolicy:
    per_recipient = isinstance(cfg, AppriseChannelConfig) and cfg.per_recipient
    return ChannelPolicy(
        local=cfg.local, kinds=frozenset(cfg.kinds), retry=cfg.retry, timeout_s=cfg.timeout_s,
        max_in_flight=cfg.max_in_flight, per_recipient=per_recipient,
    )  # fmt: skip


def notifier_of(
    cfg: ChannelConfig, *, contacts: Mapping[str, Contact], clock: Clock, site: str, gateway: str
) -> Notifier:
    name = cfg.channel_name
    if isinstance(cfg, LogChannelConfig):
        notifier = LogNotifier()
        notifier.name = name
        return notifier
    if isinstance(cfg, MqttChannelConfig):
        return _mqtt(cfg, clock=clock, site=site, gateway=gateway)
    if isinstance(cfg, SerialRelayChannelConfig):
        from alerting.notify.serial_relay import SerialRelayNotifier  # noqa: PLC0415

        return SerialRelayNotifier(
            name=name, port=cfg.port, baudrate=cfg.baudrate, parity=cfg.parity,
            stopbits=cfg.stopbits, device_id=cfg.device_id, coil=cfg.coil,
            zone_coils=cfg.zone_coils, drill_coil=cfg.drill_coil, timeout_s=cfg.timeout_s,
        )  # fmt: skip
    if isinstance(cfg, WebhookChannelConfig):
        from alerting.notify.webhook import WebhookNotifier  # noqa: PLC0415

        return WebhookNotifier(
            name=name, url=cfg.url, secret=cfg.secret.get_secret_value(), clock=clock,
            headers={k: v.get_secret_value() for k, v in cfg.headers.items()},
            contacts={k: c.public() for k, c in contacts.items()}, timeout_s=cfg.timeout_s,
            verify_tls=cfg.verify_tls, proxy=cfg.proxy, site=site, gateway=gateway,
        )  # fmt: skip
    from alerting.notify.apprise_channel import AppriseNotifier  # noqa: PLC0415

    return AppriseNotifier(
        name=name, urls=[u.get_secret_value() for u in cfg.urls], people=contacts,
        per_recipient=cfg.per_recipient, people_urls=cfg.people_urls,
    )  # fmt: skip


def _mqtt(cfg: MqttChannelConfig, *, clock: Clock, site: str, gateway: str) -> Notifier:
    from alerting.notify.mqtt import MqttNotifier  # noqa: PLC0415

    tls = ssl.create_default_context(cafile=cfg.ca_file) if cfg.tls else None
    return MqttNotifier(
        name=cfg.channel_name, host=cfg.host, port=cfg.port,
        prefix=cfg.topic_prefix.format(site=site, gateway=gateway),
        client_id=cfg.client_id or f"hazgw-notify-{site}-{gateway}", clock=clock,
        username=cfg.username,
        password=cfg.password.get_secret_value() if cfg.password else None,
        tls_context=tls, qos=cfg.qos, keepalive_s=cfg.keepalive_s, timeout_s=cfg.timeout_s,
        site=site, gateway=gateway,
    )  # fmt: skip


def build_channels(
    configs: Sequence[ChannelConfig],
    *,
    people: Iterable[object],
    clock: Clock,
    site: str,
    gateway: str,
) -> list[Channel]:
    contacts = contacts_from(people)
    return [
        Channel(
            notifier_of(c, contacts=contacts, clock=clock, site=site, gateway=gateway),
            policy_of(c),
        )
        for c in configs
    ]


def build_pipeline(
    cfg: NotifyConfig,
    *,
    people: Iterable[object],
    record: RecordDelivery,
    clock: Clock,
    site: str,
    gateway: str,
    extra: Sequence[Notifier] = (),
) -> NotifyPipeline:
    """The pipeline for `cfg.notify`; `extra` notifiers (the demo's recorder) run as local ones."""
    channels = build_channels(cfg.channels, people=people, clock=clock, site=site, gateway=gateway)
    channels += [Channel(n, ChannelPolicy(local=True, max_in_flight=1)) for n in extra]
    return NotifyPipeline(
        channels, record=record, clock=clock, actor=f"gateway:{gateway}/notify",
        grouping=cfg.grouping,
    )  # fmt: skip
