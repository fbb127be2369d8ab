"""The MQTT driver's configuration (`type: mqtt`), imported into gateway.config's driver union.

One driver is one broker session and one fault domain: when its broker (or a Zigbee2MQTT bridge
behind it) is down, the devices bound to it are one fault, not a flood. Give bridges that should
fail independently their own driver entry (and client id).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DriverId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# The persistent session is keyed by the client id: keep it stable and unique on the broker.
ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
PathStep = str | int  # a JSON object key or a list index


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_topic_filter(value: str) -> str:
    """An MQTT topic filter: '+' fills a whole level, '#' only as the whole last level."""
    if not value or len(value.encode()) > 65535 or "\x00" in value:
        raise ValueError(f"{value!r} is not an MQTT topic filter")
    levels = value.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"{value!r}: '#' must be the whole last level")
        if "+" in level and level != "+":
            raise ValueError(f"{value!r}: '+' must fill a whole level")
    return value


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def compile_path(path: str) -> tuple[PathStep, ...]:
    """`$.data.ch4`, `data.ch4` or `data.values[0]` -> ('data', 'ch4') / ('data', 'values', 0)."""
    text = path.removeprefix("$").removeprefix(".")
    steps: list[PathStep] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "." and steps and pos + 1 < len(text):
            pos += 1
        match = _STEP.match(text, pos)
        if match is None:
            raise ValueError(f"{path!r} is not a JSON path like $.data.ch4 or data.values[0]")
        steps.append(match[1] if match[1] is not None else int(match[2]))
        pos = match.end()
    if not steps:
        raise ValueError(f"{path!r} names no field")
    return tuple(steps)


class MqttTlsConfig(_Strict):
    """TLS towards the broker; the server certificate and host name are always verified."""

    ca_file: Path | None = None  # None: the system's trusted CAs
    cert_file: Path | None = None  # client certificate, when the broker asks for one
    key_file: Path | None = None  # its private key (PEM); required with cert_file

    @model_validator(mode="after")
    def _key_with_cert(self) -> MqttTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(".key_file: cert_file and key_file go together")
        return self


class _Subscription(_Strict):
    topic: str

    @field_validator("topic")
    @classmethod
    def _valid_filter(cls, value: str) -> str:
        return check_topic_filter(value)


class Zigbee2MqttSubscription(_Subscription):
    family: Literal["zigbee2mqtt"]
    topic: str = "zigbee2mqtt/#"
    base_topic: str = "zigbee2mqtt"  # Zigbee2MQTT's mqtt.base_topic
    # An alarm-flag point also reads true when one of these keys is true. Heiman gas detectors
    # raise the IAS "Alarm2" bit and show "gas": false in a real alarm (domain.md section 5).
    alarm_aliases: dict[str, list[str]] = {"gas": ["alarm_2"]}


class TasmotaSubscription(_Subscription):
    family: Literal["tasmota"]
    topic: str = "tele/#"


class EsphomeSubscription(_Subscription):
    family: Literal["esphome"]
    test_point: str = "test"  # a binary sensor by this name puts the node's readings in test


class HomieSubscription(_Subscription):
    family: Literal["homie"]
    topic: str = "homie/5/#"
    test_point: str = "test"  # a boolean property <node>/<test_point> puts the device in test


class ShellySubscription(_Subscription):
    family: Literal["shelly"]
    topic: str = "shellies/#"


class JsonSubscription(_Subscription):
    """Any JSON payload: the device is the message's topic, each point has a path."""

    family: Literal["json"]
    fields: dict[str, str] = Field(min_length=1)  # point -> path, e.g. gas: $.data.ch4
    test_path: str | None = None  # a true value here puts the reading in test
    time_path: str | None = None  # the device's own timestamp (epoch number), when trusted
    time_unit: Literal["s", "ms", "us", "ns"] = "s"

    @model_validator(mode="after")
    def _paths_compile(self) -> JsonSubscription:
        problems = []
        named: list[tuple[str, str | None]] = [("fields." + k, p) for k, p in self.fields.items()]
        named += [("test_path", self.test_path), ("time_path", self.time_path)]
        for key, path in named:
            if path is not None:
                try:
                    compile_path(path)
                except ValueError as exc:
                    problems.append(f".{key}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


SubscriptionConfig = Annotated[
    Zigbee2MqttSubscription
    | TasmotaSubscription
    | EsphomeSubscription
    | HomieSubscription
    | ShellySubscription
    | JsonSubscription,
    Field(discriminator="family"),
]


class MqttDriverConfig(_Strict):
    type: Literal["mqtt"]
    id: DriverId
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: ClientId
    username: str | None = None
    password: SecretStr | None = Field(default=None, repr=False)
    tls: MqttTlsConfig | None = None
    keepalive_s: int = Field(default=30, ge=5, le=65535)
    session_expiry_s: int = Field(default=7 * 86400, ge=60, le=0xFFFFFFFF)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    # Nothing at all delivered for this long on a live connection = deaf: rebuild it. Set it
    # above the slowest device's reporting period; null turns the watchdog off.
    expected_cadence_s: float | None = Field(default=900.0, gt=0)
    max_payload_bytes: int = Field(default=65536, ge=16)
    max_time_skew_s: float = Field(default=300.0, gt=0)
    batch_max_readings: int = Field(default=4096, ge=1)
    flush_interval_s: float = Field(default=0.005, gt=0, le=1.0)
    max_pending_readings: int = Field(default=200_000, ge=1)
    subscriptions: list[SubscriptionConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> MqttDriverConfig:
        problems = []
        if self.password is not None and self.username is None:
            problems.append(".username: a password needs a username")
        if self.reconnect_max_s < self.reconnect_min_s:
            problems.append(".reconnect_max_s: below reconnect_min_s")
        if self.max_pending_readings < self.batch_max_readings:
            problems.append(".max_pending_readings: below batch_max_readings")
        if problems:
            raise ValueError("; ".join(problems))
        return self
