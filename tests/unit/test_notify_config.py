"""Channel configuration: every type parses, unknown keys and bad values are refused, secrets hide.

EXAMPLE is the `notify:` section proposed for config/example.yaml; it is parsed here so the
snippet handed to the lead cannot rot before it lands there.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from alerting.notify.build import build_channels, contacts_from
from alerting.notify.config import (
    AppriseChannelConfig,
    MqttChannelConfig,
    NotifyConfig,
    SerialRelayChannelConfig,
    WebhookChannelConfig,
)
from gateway.clock import SystemClock

EXAMPLE = """\
notify:
  # How a flood becomes a few messages. The first fire or level-2 gas alarm of a zone is always
  # sent at once; what follows in the same zone, kind and escalation step within window_s is
  # sent as one grouped message. Other notifications wait wait_s for siblings first.
  grouping:
    window_s: 10              # seconds a group collects after a message went out
    wait_s: 5                 # a non-urgent first notification waits this long (0 = never)
    dedup_entries: 10000      # (hazard, step) pairs remembered to drop repeated submissions
  # Local channels (local: true) are served first and never wait for remote ones: with the WAN
  # down the siren still sounds. Every attempt is recorded in the ledger under the channel name.
  channels:
    - type: log               # the daemon's log (journald); always worth keeping
    - type: mqtt              # local annunciation on the site broker (siren controller, PLC)
      name: siren-mqtt        # optional: the name the ledger records (default: the type)
      host: 127.0.0.1
      port: 1883
      username: null          # optional broker login
      password: null          # secret: never logged
      tls: false
      ca_file: null           # TLS: trust this CA file instead of the system store
      client_id: ""           # default hazgw-notify-<site>-<gateway>
      topic_prefix: "hazgw/{site}/{gateway}"  # + annunciation/<zone> (retained), notifications,
                                              #   status (retained online/offline, last will)
      qos: 1                  # 1 or 2
      keepalive_s: 30
      timeout_s: 5            # one attempt, connecting included
      kinds: [fire, gas, heat, fault]  # alarm kinds carried (all by default)
      retry: {initial_s: 0.5, max_s: 5, multiplier: 2, jitter: 0.5, give_up_after_s: null}
    - type: serial_relay      # a siren relay (RS-485 module or PLC): Modbus RTU coil write (FC05)
      port: /dev/ttyUSB0
      baudrate: 9600
      parity: N               # N | E | O
      stopbits: 1
      device_id: 1            # the module's Modbus address (1-247)
      coil: 0                 # the siren relay for zones not listed below (0-based)
      zone_coils: {store: 1}  # a zone's own relay
      drill_coil: 2           # optional: drills switch this (a DRILL lamp/tone) instead
      kinds: [fire, gas, heat]  # default: a detector fault sounds no siren
      timeout_s: 1
    - type: webhook           # JSON POST, HMAC-SHA256 signed (X-Hazgw-Signature/-Timestamp)
      url: https://dispatch.example.com/hazgw
      secret: "change-me-to-32-random-characters"  # shared with the receiver; secret
      headers: {}             # extra headers (secret values), e.g. {X-Api-Key: "..."}
      verify_tls: true
      proxy: null             # e.g. http://proxy:3128; environment proxies are ignored
      timeout_s: 10
      max_in_flight: 4        # deliveries in progress at once
      retry:                  # exponential backoff with jitter, for retryable failures only
        initial_s: 1          # first wait
        max_s: 60             # the cap
        multiplier: 2
        jitter: 0.5           # each wait drawn from [w * (1 - jitter), w]
        give_up_after_s: 3600  # null = until delivered; escalation goes on regardless
    - type: apprise           # group targets: one message per notification to each URL
      name: duty-chat
      urls: ["dingtalk://TOKEN/", "wecombot://BOTKEY"]   # secrets: they carry tokens
      timeout_s: 30
    - type: apprise           # per person: URLs filled from people[] ({phone}, {email}, {id})
      name: people
      urls: ["mailtos://user:pass@smtp.example.com?to={email}"]
      people_urls: true       # also each recipient's own notify_urls from people[]
"""


def parsed() -> NotifyConfig:
    doc: Any = YAML(typ="safe").load(EXAMPLE)
    return NotifyConfig.model_validate(doc["notify"])


def test_the_example_section_parses_with_every_channel_type() -> None:
    cfg = parsed()
    assert [c.type for c in cfg.channels] == [
        "log", "mqtt", "serial_relay", "webhook", "apprise", "apprise",
    ]  # fmt: skip
    assert [c.channel_name for c in cfg.channels] == [
        "log", "siren-mqtt", "serial_relay", "webhook", "duty-chat", "people",
    ]  # fmt: skip
    assert cfg.grouping.window_s == 10


def test_channels_are_built_from_the_example_without_connecting() -> None:
    people = [type("P", (), {"id": "wang.wei", "name": "Wang Wei", "phone": "+86 138"})()]
    channels = build_channels(
        parsed().channels, people=people, clock=SystemClock(), site="a", gateway="gw01"
    )
    assert [(c.name, c.policy.local) for c in channels] == [
        ("log", True), ("siren-mqtt", True), ("serial_relay", True), ("webhook", False),
        ("duty-chat", False), ("people", False),
    ]  # fmt: skip
    assert [c.policy.per_recipient for c in channels][-2:] == [False, True]
    assert channels[2].policy.kinds == {"fire", "gas", "heat"}


def test_the_default_is_the_log_channel() -> None:
    assert [c.type for c in NotifyConfig().channels] == ["log"]


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "sms"}, "does not match any of the expected tags"),
        ({"type": "log", "colour": "red"}, "Extra inputs are not permitted"),
        ({"type": "mqtt", "topic_prefix": "hazgw/#"}, "without wildcards"),
        ({"type": "serial_relay"}, "Field required"),
        ({"type": "serial_relay", "port": "/dev/x", "device_id": 0}, "greater than or equal"),
        ({"type": "serial_relay", "port": "/dev/x", "max_in_flight": 2}, "less than or equal"),
        ({"type": "webhook", "url": "ftp://x", "secret": "k" * 16}, "should match pattern"),
        ({"type": "webhook", "url": "https://x", "secret": "short"}, "at least 16"),
        ({"type": "webhook", "url": "https://u:p@x/h", "secret": "k" * 16}, "no credentials"),
        ({"type": "apprise"}, "give at least one URL"),
        ({"type": "apprise", "urls": ["nosuchscheme://x"]}, "apprise does not accept"),
        ({"type": "apprise", "urls": ["json://h/{phone}", "json://h/"]}, "use two channels"),
        ({"type": "apprise", "urls": ["json://h/{mobile}"]}, "unknown placeholder"),
        ({"type": "log", "retry": {"initial_s": 10, "max_s": 1}}, "below initial_s"),
    ],
)
def test_bad_channels_are_refused_with_a_reason(channel: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NotifyConfig.model_validate({"channels": [channel]})


def test_channel_names_must_be_unique() -> None:
    with pytest.raises(ValidationError, match=r"channels\[1\].name: duplicate channel name 'log'"):
        NotifyConfig.model_validate({"channels": [{"type": "log"}, {"type": "log"}]})


def test_secrets_never_show_in_a_repr_or_a_validation_error() -> None:
    hook = WebhookChannelConfig.model_validate(
        {"type": "webhook", "url": "https://x/h", "secret": "s3cr3t-s3cr3t-s3cr3t",
         "headers": {"X-Api-Key": "k3y-k3y"}}
    )  # fmt: skip
    mqtt = MqttChannelConfig.model_validate({"type": "mqtt", "password": "pa55w0rd"})
    app = AppriseChannelConfig.model_validate({"type": "apprise", "urls": ["tgram://123:ABC/4"]})
    for text in (repr(hook), str(hook), repr(mqtt), repr(app), repr(parsed())):
        for secret in ("s3cr3t", "k3y-k3y", "pa55w0rd", "123:ABC", "TOKEN", "user:pass"):
            assert secret not in text
    with pytest.raises(ValidationError) as err:
        AppriseChannelConfig.model_validate({"type": "apprise", "urls": ["bogus://T0KEN"]})
    assert "T0KEN" not in str(err.value)


def test_relay_defaults_keep_faults_off_the_siren() -> None:
    relay = SerialRelayChannelConfig.model_validate({"type": "serial_relay", "port": "/dev/x"})
    assert relay.kinds == ["fire", "gas", "heat"]
    assert relay.local


def test_contacts_take_email_and_notify_urls_when_people_have_them() -> None:
    class Person:
        id, name, role, phone = "li.na", "Li Na", "safety officer", "+86 139-0000 0002"
        email = "li.na@example.com"
        notify_urls = ("tgram://bot/chat",)

    class OldPerson:  # today's PersonConfig: no email, no notify_urls
        id, name, role, phone = "wang.wei", "Wang Wei", "", ""

    contacts = contacts_from([Person(), OldPerson()])
    assert contacts["li.na"].value("phone") == "+8613900000002"
    assert contacts["li.na"].value("email") == "li.na@example.com"
    assert contacts["li.na"].notify_urls == ("tgram://bot/chat",)
    assert "tgram" not in repr(contacts["li.na"])
    assert contacts["wang.wei"].value("email") == ""
