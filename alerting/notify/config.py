"""Notification channels and grouping: pydantic models; unknown keys are refused.

`type` selects the channel module: log, mqtt, serial_relay, webhook, apprise. Secrets (passwords,
the webhook key, apprise URLs, which carry tokens) are `SecretStr`: they never appear in a repr,
a log line or a config error. Importing this module imports no channel library; apprise is
imported only to check apprise URLs when such a channel is configured.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Kind = Literal["fire", "gas", "heat", "fault"]
ALL_KINDS: tuple[Kind, ...] = ("fire", "gas", "heat", "fault")
ChannelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
ZoneId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Coil = Annotated[int, Field(ge=0, le=0xFFFF)]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
PERSON_FIELDS = frozenset({"id", "phone", "email"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class RetryConfig(Strict):
    """Exponential backoff with jitter for failures that a retry can help."""

    initial_s: float = Field(default=1.0, gt=0)  # the first wait
    max_s: float = Field(default=60.0, gt=0)  # waits grow by `multiplier` up to this
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.5, ge=0, le=1)  # each wait is drawn from [w*(1-jitter), w]
    give_up_after_s: float | None = Field(default=3600.0, gt=0)  # null: retry until delivered

    @model_validator(mode="after")
    def _ordered(self) -> RetryConfig:
        if self.max_s < self.initial_s:
            raise ValueError(f".max_s: {self.max_s} is below initial_s ({self.initial_s})")
        return self


LOCAL_RETRY = RetryConfig(initial_s=0.5, max_s=5.0, give_up_after_s=None)


class _Channel(Strict):
    name: ChannelName | None = None  # what the ledger records; defaults to the type
    kinds: list[Kind] = list(ALL_KINDS)  # alarm kinds this channel carries
    timeout_s: float = Field(default=10.0, gt=0)  # one attempt, connection included
    retry: RetryConfig = RetryConfig()
    max_in_flight: int = Field(default=4, ge=1, le=64)  # deliveries in progress at once

    @property
    def channel_name(self) -> str:
        return self.name or str(getattr(self, "type", "channel"))


class LogChannelConfig(_Channel):
    type: Literal["log"]
    local: bool = True
    retry: RetryConfig = LOCAL_RETRY


class MqttChannelConfig(_Channel):
    """Local annunciation: a siren controller, relay box or PLC subscribes on the site broker.

    Topics under `topic_prefix` ({site} and {gateway} are filled in):
      <prefix>/annunciation/<zone>  retained JSON state of the zone: active, drill, kind, hazards
      <prefix>/notifications        every notification as JSON, not retained
      <prefix>/status               retained "online"; "offline" on shutdown or as last will
    """

    type: Literal["mqtt"]
    local: bool = True  # the site's own broker; set false for a broker across the WAN
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None  # TLS: trust this CA instead of the system store
    client_id: str = ""  # default hazgw-notify-<site>-<gateway>
    topic_prefix: str = "hazgw/{site}/{gateway}"
    qos: Literal[1, 2] = 1
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    timeout_s: float = Field(default=5.0, gt=0)
    max_in_flight: int = Field(default=1, ge=1, le=1)  # in order: the zone state stays right
    retry: RetryConfig = LOCAL_RETRY

    @field_validator("topic_prefix")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not v or any(c in v for c in "#+\0") or v.startswith("/") or v.endswith("/"):
            raise ValueError("a topic prefix without wildcards and leading or trailing '/'")
        return v


class SerialRelayChannelConfig(_Channel):
    """A relay module or PLC on RS-485 switched by Modbus RTU "write single coil" (FC05)."""

    type: Literal["serial_relay"]
    local: bool = True
    port: str  # e.g. /dev/ttyUSB0
    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    device_id: int = Field(default=1, ge=1, le=247)  # the module's Modbus address
    coil: Coil = 0  # the siren relay for every zone not in zone_coils (0-based)
    zone_coils: dict[ZoneId, Coil] = {}  # a zone's own relay
    drill_coil: Coil | None = None  # drills switch this one (a DRILL lamp/tone) instead
    kinds: list[Kind] = ["fire", "gas", "heat"]  # a detector fault is no reason for a siren
    timeout_s: float = Field(default=1.0, gt=0)
    max_in_flight: int = Field(default=1, ge=1, le=1)  # one master on the bus
    retry: RetryConfig = LOCAL_RETRY


WEBHOOK_SECRET_MIN = 16  # HMAC keys shorter than this are guessable


class WebhookChannelConfig(_Channel):
    """JSON POST signed with HMAC-SHA256 over "<timestamp>.<body>" (see webhook.py)."""

    type: Literal["webhook"]
    local: bool = False
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    secret: SecretStr  # shared with the receiver
    headers: dict[str, SecretStr] = {}  # extra headers, e.g. an API key
    verify_tls: bool = True
    proxy: str | None = None  # the environment's proxy settings are ignored

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, v: SecretStr) -> SecretStr:
        n = len(v.get_secret_value())
        if n < WEBHOOK_SECRET_MIN:  # said in characters, never quoting the secret
            raise ValueError(
                f"the secret must be at least {WEBHOOK_SECRET_MIN} characters, not {n}"
            )
        return v

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, v: str) -> str:
        if "@" in v.split("/")[2]:
            raise ValueError("no credentials in the URL: put them in `headers` or `secret`")
        return v


class AppriseChannelConfig(_Channel):
    """Apprise URLs: email, SMS gateways, DingTalk, WeCom, Feishu, Telegram and the rest.

    A URL with {phone}, {email} or {id} is filled in per recipient from people[]; such a
    channel (or one with `people_urls`) sends one message per recipient and records each one.
    A URL without placeholders is a group target (a chat robot): one message per notification.
    """

    type: Literal["apprise"]
    local: bool = False
    urls: list[SecretStr] = []
    people_urls: bool = False  # also each recipient's own `notify_urls` from people[]
    timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _urls_valid(self) -> AppriseChannelConfig:
        if not self.urls and not self.people_urls:
            raise ValueError(".urls: give at least one URL, or set people_urls")
        kinds = {bool(PLACEHOLDER.search(u.get_secret_value())) for u in self.urls}
        if len(kinds) > 1:
            raise ValueError(".urls: mix of per-person and group URLs: use two channels")
        if self.people_urls and kinds == {False}:
            raise ValueError(".urls: group URLs with people_urls: use two channels")
        problems = apprise_url_problems(self.urls, ".urls")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def per_recipient(self) -> bool:
        return self.people_urls or any(PLACEHOLDER.search(u.get_secret_value()) for u in self.urls)


def apprise_url_problems(urls: list[SecretStr], key: str) -> list[str]:
    """Config issues ("<key>[i]: why") for apprise URLs, e.g. a person's notify_urls."""
    return [f"{key}[{i}]: {p}" for i, u in enumerate(urls) if (p := _bad_url(u))]


def _bad_url(url: SecretStr) -> str | None:
    """Why apprise cannot use this URL, without quoting it (it may hold a token)."""
    text = url.get_secret_value()
    unknown = set(PLACEHOLDER.findall(text)) - PERSON_FIELDS
    if unknown:
        return f"unknown placeholder(s) {sorted(unknown)}, use {sorted(PERSON_FIELDS)}"
    import apprise  # noqa: PLC0415  (only sites with an apprise channel need it)

    sample = PLACEHOLDER.sub(lambda m: {"phone": "10000000000", "email": "a@example.com"}.get(
        m.group(1), "someone"), text)  # fmt: skip
    quiet = logging.getLogger("apprise")
    was, quiet.disabled = quiet.disabled, True  # apprise logs the token of a URL it refuses
    try:
        accepted = apprise.Apprise().add(sample)
    finally:
        quiet.disabled = was
    if not accepted:
        scheme = text.split("://", 1)[0] if "://" in text else "?"
        return f"apprise does not accept this URL (scheme {scheme!r})"
    return None


ChannelConfig = Annotated[
    LogChannelConfig
    | MqttChannelConfig
    | SerialRelayChannelConfig
    | WebhookChannelConfig
    | AppriseChannelConfig,
    Field(discriminator="type"),
]


class GroupingConfig(Strict):
    """How a flood becomes a few messages (see pipeline.py for the rule)."""

    window_s: float = Field(default=10.0, gt=0)  # after a message, hold the rest this long
    wait_s: float = Field(default=5.0, ge=0)  # a non-urgent first one waits this long for more
    dedup_entries: int = Field(default=10_000, ge=100)  # (hazard, step) pairs remembered

    @field_validator("window_s", "wait_s")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number of seconds")
        return v


class NotifyConfig(Strict):
    channels: list[ChannelConfig] = [LogChannelConfig(type="log")]
    grouping: GroupingConfig = GroupingConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> NotifyConfig:
        names = [c.channel_name for c in self.channels]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            i = names.index(dups[0], names.index(dups[0]) + 1)
            raise ValueError(f".channels[{i}].name: duplicate channel name {dups[0]!r}")
        return self
