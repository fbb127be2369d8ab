"""A site config holding every kind of secret the config can carry, each a distinctive value.

Built as data and written with a YAML dumper, so each secret's key path is known exactly: the
tests look for the masked marker at these paths and for the values everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Secret:
    path: Key  # where it sits in the file
    value: str  # as written
    telltale: str  # the part of `value` that must never be printed

    @property
    def dotted(self) -> str:
        return dotted(self.path)


def dotted(path: Key) -> str:
    """('notify', 'channels', 2, 'secret') -> notify.channels[2].secret, as config errors say."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _secret(path: Key, value: str, telltale: str = "") -> Secret:
    return Secret(path, value, telltale or value)


COMMON = (
    _secret(("people", 0, "notify_urls", 0), "json://ops:personTok-Qw7Rt2Yp@127.0.0.1:9/p",
            "personTok-Qw7Rt2Yp"),
    _secret(("drivers", 1, "password"), "drvPw-9Q2xLr7Kp"),
    _secret(("notify", "channels", 1, "password"), "notePw-3HsV8mZt"),
    _secret(("notify", "channels", 2, "secret"), "hookSecret-Zr81pLmQx4Tn"),
    _secret(("notify", "channels", 2, "headers", "X-Api-Key"), "hdrKey-Lp4Wc7Ns"),
    _secret(("notify", "channels", 3, "urls", 0), "json://bot:apprTok-K3d9WqJ@127.0.0.1:9/hook",
            "apprTok-K3d9WqJ"),
    _secret(("commands", "password"), "cmdPw-Ty6Rn2UeW"),
)  # fmt: skip
INFLUX = {
    1: _secret(("influxdb", "password"), "inflPw-Vb72nQwE"),
    2: _secret(("influxdb", "token"), "inflTok-Hc5Jm8Rd"),
}


def secrets_of(influx_version: int) -> tuple[Secret, ...]:
    return (*COMMON, INFLUX[influx_version])


def _influx(version: int) -> dict[str, Any]:
    if version == 1:
        return {"version": 1, "url": "http://127.0.0.1:8086", "database": "d", "username": "u"}
    return {"version": 2, "url": "http://127.0.0.1:8086", "org": "o", "bucket": "b"}


def site_doc(state: Path, influx_version: int) -> dict[str, Any]:
    """The config as data, every secret in place; one escalation level, so the default
    start_level (fire: 1) only works clamped, as it does when left out."""
    doc: dict[str, Any] = {
        "site": {"id": "plant-t", "name": "测试厂区", "timezone": "Asia/Shanghai"},
        "gateway": {"id": "gw01"},
        "state_dir": str(state),
        "people": [{"id": "p1", "name": "Wang Wei", "phone": "+86 138 0000 0001",
                    "notify_urls": [None]}],
        "zones": [{"id": "kitchen", "name": "Kitchen", "owner": "p1"}],
        "drivers": [
            {"type": "sim", "id": "sim", "period_s": 0.5},
            {"type": "mqtt", "id": "broker", "client_id": "secret-test", "username": "sensors",
             "password": None,
             "subscriptions": [{"family": "json", "topic": "sensors/+", "fields": {"gas": "$.g"}}]},
        ],
        "devices": [{"id": "kitchen-temp-1", "driver": "sim", "zone": "kitchen",
                     "class": "temperature", "channel": "kitchen_temp",
                     "thresholds": {"level1": 20, "level2": 1000}}],
        "escalation": {"levels": [{"name": "duty", "recipients": ["p1"]}], "repeat_s": 60},
        "notify": {"channels": [
            {"type": "log"},
            {"type": "mqtt", "username": "notifier", "password": None},
            {"type": "webhook", "url": "https://dispatch.example.com/hook", "secret": None,
             "headers": {"X-Api-Key": None}},
            {"type": "apprise", "urls": [None]},
        ]},
        "commands": {"username": "hazgw", "password": None},
        "influxdb": _influx(influx_version),
    }  # fmt: skip
    for secret in secrets_of(influx_version):
        put(doc, secret.path, secret.value)
    return doc


def put(doc: Any, path: Key, value: object) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def get(doc: Any, path: Key) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def write_yaml(doc: dict[str, Any], path: Path) -> Path:
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = True
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(doc, out)
    return path


def read_yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)
