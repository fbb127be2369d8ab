"""`hazgw device discover`: listen on a broker and propose detectors from what it carries.

Families, with the device topic and point the MQTT driver expects (drivers/mqtt/*.py):
  Zigbee2MQTT  zigbee2mqtt/<name> state JSON      topic zigbee2mqtt/<name>, point = state key
               zigbee2mqtt/bridge/devices (retained): each device's exposed properties
  Tasmota      tele/<topic>/SENSOR JSON           topic tele/<topic>, point <sensor>.<field>
  ESPHome      <prefix>/(binary_)sensor/<n>/state topic <prefix>, point <n>
  Homie 5      <domain>/5/<device>/<node>/<prop>  topic <domain>/5/<device>, point <node>/<prop>
A key is proposed when its name says what it measures (smoke, gas, co, temperature). Alarm
flags (booleans) of gas and CO detectors get set points of 0.5 (the detector decided).
Proposals are printed; with --add they are added through gateway.provision (the daemon's loader
checks them, the file keeps its comments, the daemon is told to reload).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import aiomqtt
import typer
from rich.console import Console
from rich.table import Table

from gateway import provision
from gateway.cli.common import DEFAULT_CONFIG, err, fail
from gateway.config import HazgwConfig, load_config
from gateway.errors import ConfigError
from gateway.model import SensorClass
from gateway.provision import ProvisionError

out = Console(soft_wrap=True)
FLAG = {"level1": 0.5, "level2": 0.5, "deadband": 0.0}  # an alarm flag: 1 = the detector alarms
SHORT = {SensorClass.SMOKE: "smoke", SensorClass.COMBUSTIBLE_GAS: "gas", SensorClass.CO: "co",
         SensorClass.TEMPERATURE: "temp"}  # fmt: skip
_TOKENS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Proposal:
    id: str
    sensor_class: SensorClass
    family: str
    topic: str
    point: str
    flag: bool = False  # a boolean alarm flag (set points 0.5)
    known: str = ""  # the configured device that already reads this topic and point

    def fields(self, driver: str, zone: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id, "driver": driver, "zone": zone, "class": self.sensor_class.value,
            "topic": self.topic, "point": self.point,
        }  # fmt: skip
        if self.flag and self.sensor_class is not SensorClass.SMOKE:
            entry["thresholds"] = dict(FLAG)
        return entry

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "class": self.sensor_class.value, "family": self.family,
                "topic": self.topic, "point": self.point, "flag": self.flag,
                "known": self.known or None}  # fmt: skip


def classify(name: str) -> SensorClass | None:
    """What a key measures, from its name alone (None: not a detector value we take)."""
    words = [w for w in _TOKENS.split(name.lower()) if w]
    joined = "_".join(words)
    if "smoke" in words or joined.startswith("smoke"):
        return SensorClass.SMOKE
    if "co" in words or "carbon_monoxide" in joined or "mq7" in words:
        return SensorClass.CO
    if any(w in ("gas", "lel", "methane", "ch4", "lpg") for w in words) or joined == "gas_density":
        return SensorClass.COMBUSTIBLE_GAS
    if any(w in ("temperature", "temp") for w in words):
        return SensorClass.TEMPERATURE
    return None


@dataclass
class Found:
    """Candidate points per (family, topic): point -> (class, is a flag)."""

    points: dict[tuple[str, str], dict[str, tuple[SensorClass, bool]]] = field(default_factory=dict)

    def add(self, family: str, topic: str, point: str, value: object, name: str = "") -> None:
        """`name`: what to classify by when it is not the point (Tasmota's field)."""
        cls = classify(name or point)
        if cls is None or point.rsplit("/", maxsplit=1)[-1] in ("test", "test_point"):
            return
        flag = isinstance(value, bool) or value in ("ON", "OFF", "true", "false")
        self.points.setdefault((family, topic), {})[point] = (cls, flag)


def _z2m_state(found: Found, base: str, name: str, payload: bytes) -> None:
    try:
        doc = json.loads(payload)
    except ValueError:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(value, bool | int | float):
                found.add("zigbee2mqtt", f"{base}/{name}", key, value)


def _z2m_devices(found: Found, base: str, payload: bytes) -> None:
    """bridge/devices: each device's exposes (binary = a flag, numeric = a value)."""
    try:
        devices = json.loads(payload)
    except ValueError:
        return
    for dev in devices if isinstance(devices, list) else []:
        name = dev.get("friendly_name") if isinstance(dev, dict) else None
        exposes = (dev.get("definition") or {}).get("exposes", []) if name else []
        for feature in _features(exposes):
            prop, kind = feature.get("property"), feature.get("type")
            if isinstance(prop, str) and kind in ("binary", "numeric"):
                found.add("zigbee2mqtt", f"{base}/{name}", prop, kind == "binary" or 0.0)


def _features(exposes: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for e in exposes:
        if isinstance(e, dict):
            yield e
            yield from _features(e.get("features", []))


def _tasmota(found: Found, topic: str, payload: bytes) -> None:
    try:
        doc = json.loads(payload)
    except ValueError:
        return
    device = topic.removesuffix("/SENSOR")
    for sensor, value in doc.items() if isinstance(doc, dict) else []:
        if isinstance(value, dict):  # {"DS18B20-1": {"Temperature": 21.5}}: by field, else sensor
            for key, v in value.items():
                if isinstance(v, int | float) and key not in ("DewPoint", "HeatIndex"):
                    name = key if classify(key) else sensor
                    found.add("tasmota", device, f"{sensor}.{key}", v, name)
        elif isinstance(value, int | float):
            found.add("tasmota", device, sensor, value)


def route(found: Found, topic: str, payload: bytes, z2m_base: str = "zigbee2mqtt") -> None:
    """One message from the broker into the candidates (unknown shapes are ignored)."""
    parts = topic.split("/")
    if topic == f"{z2m_base}/bridge/devices":
        _z2m_devices(found, z2m_base, payload)
    elif topic.startswith(f"{z2m_base}/") and parts[1] != "bridge":
        name = topic[len(z2m_base) + 1 :]
        if not name.endswith(("/availability", "/set", "/get")):
            _z2m_state(found, z2m_base, name, payload)
    elif len(parts) >= 3 and parts[0] == "tele" and parts[-1] == "SENSOR":
        _tasmota(found, topic, payload)
    elif len(parts) >= 4 and parts[-1] == "state" and parts[-3] in ("sensor", "binary_sensor"):
        found.add("esphome", "/".join(parts[:-3]), parts[-2], payload.decode(errors="replace"))
    elif len(parts) == 5 and parts[1] == "5" and not any(p.startswith("$") for p in parts):
        found.add("homie", "/".join(parts[:3]), f"{parts[3]}/{parts[4]}", payload.decode())


def proposals(found: Found, cfg: HazgwConfig | None) -> list[Proposal]:
    """One proposal per point; ids unique against each other and the config."""
    known = {(d.topic, d.point): d.id for d in cfg.devices} if cfg else {}
    taken = {d.id for d in cfg.devices} if cfg else set()
    out_: list[Proposal] = []
    for (family, topic), points in sorted(found.points.items()):
        measured = {c for c, flag in points.values() if not flag}
        for point, (cls, flag) in sorted(points.items()):
            if flag and cls in measured:  # "gas": false beside "gas_density": the value wins
                continue
            have = known.get((topic, point), "")
            pid = have or _unique(_slug(topic, family, cls), taken)
            out_.append(Proposal(pid, cls, family, topic, point, flag, have))
    return out_


def _slug(topic: str, family: str, cls: SensorClass) -> str:
    levels = topic.split("/")
    skip = min({"homie": 2}.get(family, 1), len(levels) - 1)  # drop zigbee2mqtt/, tele/...
    base = "-".join(levels[skip:])
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-.").lower() or "device"
    short = SHORT[cls]
    return base if base.endswith(short) else f"{base}-{short}"


def _unique(base: str, taken: set[str]) -> str:
    pid, n = base[:60], 2
    while pid in taken:
        pid, n = f"{base[:57]}-{n}", n + 1
    taken.add(pid)
    return pid


async def listen(
    host: str, port: int, seconds: float, *, username: str | None = None,
    password: str | None = None, z2m_base: str = "zigbee2mqtt",
) -> Found:  # fmt: skip
    """Everything the broker delivers on `#` for `seconds` (retained messages come first)."""
    found = Found()
    async with aiomqtt.Client(host, port, username=username, password=password) as client:
        await client.subscribe("#", qos=0)
        try:
            async with asyncio.timeout(seconds):
                async for message in client.messages:
                    if isinstance(message.payload, bytes | bytearray):
                        route(found, str(message.topic), bytes(message.payload), z2m_base)
        except TimeoutError:
            pass
    return found


def _broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 1883
    if not port.isdigit():
        fail(f"--broker {text!r}: the port is not a number", "e.g. --broker 192.168.1.5:1883")
    return host, int(port)


def discover(  # noqa: PLR0917 - typer maps each parameter to one option
    broker: Annotated[str, typer.Option(help="HOST[:PORT] of the MQTT broker")],
    seconds: Annotated[float, typer.Option(help="how long to listen")] = 10.0,
    username: Annotated[str | None, typer.Option()] = None,
    password: Annotated[str | None, typer.Option()] = None,
    z2m_base: Annotated[str, typer.Option(help="Zigbee2MQTT's base topic")] = "zigbee2mqtt",
    add: Annotated[bool, typer.Option("--add", help="add the new proposals")] = False,
    driver: Annotated[str | None, typer.Option(help="with --add: an mqtt drivers[].id")] = None,
    zone: Annotated[str | None, typer.Option(help="with --add: a zones[].id")] = None,
    config: Annotated[Path, typer.Option("--config", "-c")] = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Listen on a broker and propose devices from Zigbee2MQTT, Tasmota, ESPHome and Homie."""
    if add and not (driver and zone):
        fail("--add needs --driver and --zone", "e.g. --add --driver broker --zone kitchen")
    cfg = _config(config, required=add)
    host, port = _broker(broker)
    try:
        found = asyncio.run(
            listen(host, port, seconds, username=username, password=password, z2m_base=z2m_base)
        )
    except aiomqtt.MqttError as exc:
        fail(f"cannot listen on {host}:{port}: {exc}", "check --broker, --username, --password")
    props = proposals(found, cfg)
    _show(props, as_json)
    if add and driver and zone:
        _add(config, [p for p in props if not p.known], driver, zone, quiet=as_json)


def _config(config: Path, *, required: bool) -> HazgwConfig | None:
    if not config.exists():
        if required:
            fail(f"no config at {config}", "pass --config FILE")
        return None
    try:
        return load_config(config)
    except ConfigError as exc:
        if required:
            fail(f"{config} does not load: {exc}", "hazgw config check FILE")
        return None


def _show(props: list[Proposal], as_json: bool) -> None:
    if as_json:
        print(json.dumps([p.to_json() for p in props], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(props)} proposed device(s)")
    for col in ("id", "class", "family", "topic", "point", "note"):
        table.add_column(col, overflow="fold")
    for p in props:
        note = f"configured as {p.known}" if p.known else ("alarm flag" if p.flag else "")
        table.add_row(p.id, p.sensor_class.value, p.family, p.topic, p.point, note)
    out.print(table)
    if not props:
        out.print("nothing recognised: are the devices publishing? try a longer --seconds")


def _add(config: Path, props: list[Proposal], driver: str, zone: str, *, quiet: bool) -> None:
    if not props:
        err.print("nothing new to add")
        return

    def edit(root: Any) -> None:
        for p in props:
            provision.add_device(root, p.fields(driver, zone))

    try:
        written = provision.apply(config, edit)
    except ConfigError as exc:
        for issue in provision.issues_for(config, exc):
            err.print(f"[bold red]config error:[/] {issue}", highlight=False, soft_wrap=True)
        fail(f"refused: {config} is unchanged", "check --driver (an mqtt driver) and --zone", 2)
    except ProvisionError as exc:
        fail(str(exc))
    reload = provision.reload_daemon(written.cfg.state_dir)
    if not quiet:
        out.print(f"[green]ok[/] added {', '.join(p.id for p in props)} to {config}")
        out.print(reload.message, highlight=False)
