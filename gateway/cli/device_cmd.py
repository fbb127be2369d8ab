"""`hazgw device`: add, list, show, edit, remove, enable, disable, read and scan detectors.

Edits go through gateway.provision: the whole file is checked with the daemon's loader before it
is replaced, comments are kept, and the running daemon is told to reload. Exit codes: 0 ok,
1 error, 2 the configuration was refused (the file is unchanged).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from ruamel.yaml.comments import CommentedMap

from alerting.ledger import Ledger
from alerting.presets import Preset, resolve
from alerting.vocabulary import Grade, Kind, Source
from gateway import provision
from gateway.cli.common import DEFAULT_CONFIG, err, fail
from gateway.cli.device_live import read_once, scan_command
from gateway.cli.discover import discover
from gateway.cli.shelve_cmd import shelve, unshelve
from gateway.config import DeviceConfig, HazgwConfig, Thresholds, load_config
from gateway.errors import ConfigError, LedgerError
from gateway.provision import ProvisionError

app = typer.Typer(help="Detectors: provision, inspect and read them.", no_args_is_help=True)
app.command("scan")(scan_command)
app.command("discover")(discover)
app.command("shelve")(shelve)
app.command("unshelve")(unshelve)
out = Console(soft_wrap=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="the YAML config to edit")]
PidFile = Annotated[
    Path | None,
    typer.Option(help="the daemon's pid file (default: state_dir/hazgw.pid) for the reload"),
]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
DeviceId = Annotated[str, typer.Argument(help="the device id")]
Opt = Annotated[str | None, typer.Option()]


# --- shared helpers -------------------------------------------------------------------------


def _refused(path: Path, exc: ConfigError) -> NoReturn:
    for issue in provision.issues_for(path, exc):
        err.print(f"[bold red]config error:[/] {issue}", highlight=False, soft_wrap=True)
    fail(f"refused: {path} is unchanged", "fix the values above and run the command again", 2)


def _load(config: Path) -> HazgwConfig:
    if not config.exists():
        fail(f"no config at {config}", "pass --config FILE")
    try:
        return load_config(config)
    except ConfigError as exc:
        _refused(config, exc)


def _device(cfg: HazgwConfig, device_id: str) -> DeviceConfig:
    dev = next((d for d in cfg.devices if d.id == device_id), None)
    if dev is None:
        fail(f"no device {device_id!r} in the config", "list them with: hazgw device list")
    return dev


def _edit(
    config: Path, edit: Callable[[CommentedMap], None], pid_file: Path | None, done: str
) -> HazgwConfig:
    """Apply one edit; refuse (exit 2) what the daemon would refuse; then tell the daemon."""
    if not config.exists():
        fail(f"no config at {config}", "pass --config FILE")
    try:
        written = provision.apply(config, edit)
    except ConfigError as exc:
        _refused(config, exc)
    except ProvisionError as exc:
        fail(str(exc), "list the devices with: hazgw device list")
    if not written.changed:
        out.print(f"{done} (no change: {config} already says so)", highlight=False)
        return written.cfg
    out.print(f"[green]ok[/] {done}; {config} updated", highlight=False)
    reload = provision.reload_daemon(written.cfg.state_dir, pid_file)
    out.print(reload.message, highlight=False)
    return written.cfg


def _confirm(yes: bool, question: str) -> None:
    if not yes and not typer.confirm(question):
        fail("nothing changed", "answer y, or pass --yes")


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, ensure_ascii=False))


# --- add / edit / remove ------------------------------------------------------------------


@app.command("add")
def add(  # noqa: PLR0917 - typer maps each parameter to one option
    device_id: DeviceId,
    driver: Annotated[str, typer.Option(help="a drivers[].id")],
    zone: Annotated[str, typer.Option(help="a zones[].id")],
    sensor_class: Annotated[
        str, typer.Option("--class", help="smoke | combustible_gas | co | temperature")
    ],
    profile: Opt = None,
    address: Annotated[int | None, typer.Option(help="Modbus slave id")] = None,
    point: Opt = None,
    topic: Opt = None,
    channel: Opt = None,
    location: Opt = None,
    name: Opt = None,
    level1: Annotated[float | None, typer.Option(help="level-1 alarm set point")] = None,
    level2: Annotated[float | None, typer.Option(help="level-2 alarm set point")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    pid_file: PidFile = None,
) -> None:
    """Add a device; the daemon's loader checks the whole file before it is written."""
    thresholds = {k: v for k, v in (("level1", level1), ("level2", level2)) if v is not None}
    fields: dict[str, Any] = {
        "id": device_id, "name": name, "driver": driver, "zone": zone, "class": sensor_class,
        "location": location, "channel": channel, "address": address, "profile": profile,
        "point": point, "topic": topic, "thresholds": CommentedMap(thresholds),
    }  # fmt: skip
    _edit(config, lambda root: provision.add_device(root, fields), pid_file, f"added {device_id}")


@app.command("edit")
def edit(
    device_id: DeviceId,
    assignments: Annotated[
        list[str],
        typer.Option("--set", help="key=value, dotted for nested keys: thresholds.level1=30"),
    ],
    config: ConfigOpt = DEFAULT_CONFIG,
    pid_file: PidFile = None,
) -> None:
    """Change keys of a device (values are read as YAML: 30, null, true, "text")."""
    pairs = []
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r} is not key=value", "e.g. --set thresholds.level1=30")
        if key.strip() == "id":
            fail("the id cannot be edited", "remove the device and add it under the new id")
        pairs.append((key.strip(), provision.parse_value(value)))

    def change(root: CommentedMap) -> None:
        entry = provision.find_device(root, device_id)
        for key, value in pairs:
            provision.set_dotted(entry, key, value)

    _edit(config, change, pid_file, f"edited {device_id}")


@app.command("remove")
def remove(
    device_id: DeviceId, yes: Yes = False, config: ConfigOpt = DEFAULT_CONFIG,
    pid_file: PidFile = None,
) -> None:  # fmt: skip
    """Remove a device from the config (its ledger history stays)."""
    _device(_load(config), device_id)
    _confirm(yes, f"Remove {device_id}? It will no longer be watched.")
    _edit(config, lambda root: provision.remove_device(root, device_id), pid_file,
          f"removed {device_id}")  # fmt: skip


# --- in and out of service ------------------------------------------------------------------

OOS_TITLE = "detector {} out of service"


@app.command("disable")
def disable(  # noqa: PLR0917 - typer maps each parameter to one option
    device_id: DeviceId,
    reason: Annotated[str, typer.Option(help="why it is out of service")],
    owner: Annotated[str, typer.Option(help="who brings it back (a people id)")],
    yes: Yes = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    pid_file: PidFile = None,
) -> None:
    """Take a device out of service: no alarms from it (a coverage gap, recorded in the ledger)."""
    cfg = _load(config)
    dev = _device(cfg, device_id)
    if not reason.strip():
        fail("--reason is empty", "say why, e.g. --reason 'sensor head replaced'")
    if owner not in {p.id for p in cfg.people}:
        fail(f"--owner {owner!r} is not in people", "name a people id from the config")
    _confirm(yes, f"Take {device_id} out of service? Nothing it senses will alarm.")
    day = time.strftime("%Y-%m-%d")
    note = f"{provision.OUT_OF_SERVICE_MARK} since {day}: {reason.strip()} (owner {owner})"
    _edit(config, lambda root: provision.set_enabled(provision.find_device(root, device_id),
          False, note), pid_file, f"{device_id} is out of service")  # fmt: skip
    _audit(cfg, lambda ledger: _register_gap(ledger, dev, reason.strip(), owner, cfg))


@app.command("enable")
def enable(
    device_id: DeviceId, config: ConfigOpt = DEFAULT_CONFIG, pid_file: PidFile = None
) -> None:
    """Put a device back in service."""
    cfg = _load(config)
    _device(cfg, device_id)
    _edit(config, lambda root: provision.set_enabled(provision.find_device(root, device_id),
          True), pid_file, f"{device_id} is in service")  # fmt: skip
    _audit(cfg, lambda ledger: _note_back(ledger, device_id))


def _audit(cfg: HazgwConfig, record: Callable[[Ledger], str]) -> None:
    path = cfg.state_dir / "ledger.sqlite"
    if not path.exists():
        out.print(f"no ledger at {path}: nothing recorded there", highlight=False)
        return
    try:
        ledger = Ledger.open_existing(path)
    except LedgerError as exc:
        err.print(f"[yellow]warning:[/] not recorded in the ledger: {exc}", highlight=False)
        return
    try:
        out.print(record(ledger), highlight=False)
    except LedgerError as exc:
        err.print(f"[yellow]warning:[/] not recorded in the ledger: {exc}", highlight=False)
    finally:
        ledger.close_db()


def _register_gap(
    ledger: Ledger, dev: DeviceConfig, reason: str, owner: str, cfg: HazgwConfig
) -> str:
    zone = next(z for z in cfg.zones if z.id == dev.zone)
    place = " / ".join(p for p in (zone.name, dev.location) if p)
    hazard = ledger.register_finding(
        title=OOS_TITLE.format(dev.id), kind=Kind.FAULT, grade=Grade.GENERAL,
        source=Source.SELF_INSPECTION, location=place,
        zone=dev.zone, found_by=owner, ts_ns=time.time_ns(), description=reason,
        responsible=owner,
    )  # fmt: skip
    return f"ledger: {hazard.number} {hazard.title} (responsible {owner})"


def _note_back(ledger: Ledger, device_id: str) -> str:
    title = OOS_TITLE.format(device_id)
    numbers = [h.number for h in ledger.open_hazards() if h.title == title]
    for number in numbers:
        ledger.note(number, text=f"{device_id} back in service", by="hazgw-cli",
                    ts_ns=time.time_ns())  # fmt: skip
    if not numbers:
        return "ledger: no open out-of-service entry for it"
    return f"ledger: noted on {', '.join(numbers)}; verify and close it there"


# --- list / show ----------------------------------------------------------------------------


def _summary(dev: DeviceConfig) -> dict[str, Any]:
    where = dev.topic or (f"address {dev.address}" if dev.address is not None else dev.channel)
    return {
        "id": dev.id, "name": dev.name or dev.id, "zone": dev.zone,
        "class": dev.sensor_class.value, "driver": dev.driver, "address": dev.address,
        "topic": dev.topic, "channel": dev.channel, "profile": dev.profile, "point": dev.point,
        "where": where, "enabled": dev.enabled,
    }  # fmt: skip


@app.command("list")
def list_cmd(as_json: AsJson = False, config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """The configured devices: zone, class, driver, address or topic, in service or not."""
    cfg = _load(config)
    rows = [_summary(d) for d in cfg.devices]
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} devices in {config}")
    for col in ("id", "zone", "class", "driver", "address / topic", "enabled"):
        table.add_column(col)
    for r in rows:
        state = "yes" if r["enabled"] else "[red]OUT OF SERVICE[/]"
        table.add_row(r["id"], r["zone"], r["class"], r["driver"], str(r["where"]), state)
    out.print(table)


def effective_preset(cfg: HazgwConfig, dev: DeviceConfig) -> Preset:
    """The set points the engine uses: class preset < site < zone < device (as the engine)."""
    cls, det = dev.sensor_class, cfg.detection

    def layer(t: Thresholds | None) -> dict[str, Any]:
        return {} if t is None else t.model_dump(exclude_none=True)

    zone = det.zones.get(dev.zone, {}).get(cls)
    return resolve(cls, [layer(det.site.get(cls)), layer(zone), layer(dev.thresholds)])[0]


def _number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None  # off / never
    if isinstance(v, tuple):
        return [_number(x) for x in v]
    return v


def set_points(preset: Preset) -> dict[str, Any]:
    names = [n for n in preset.__dataclass_fields__ if n not in {"basis", "name", "overridden"}]
    return {n: _number(getattr(preset, n)) for n in names}


@app.command("show")
def show(device_id: DeviceId, as_json: AsJson = False, config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """One device with its effective set points (the preset with site, zone and own overrides)."""
    cfg = _load(config)
    dev = _device(cfg, device_id)
    preset = effective_preset(cfg, dev)
    data = _summary(dev) | {
        "location": dev.location,
        "preset": preset.name or dev.sensor_class.value,
        "basis": preset.basis,
        "overridden": sorted(preset.overridden),
        "set_points": set_points(preset),
    }
    if as_json:
        _print_json(data)
        return
    for key in ("id", "name", "zone", "class", "driver", "where", "location", "enabled"):
        out.print(f"{key:>9}: {data[key]}", highlight=False)
    out.print(f"set points (preset {data['preset']}; basis: {preset.basis}):", highlight=False)
    for key, value in data["set_points"].items():
        mark = "  [bold]*[/] overridden" if key in preset.overridden else ""
        shown = "off" if value is None else value
        out.print(f"  {key:>22}: {shown}{mark}", highlight=False)


# --- live reading ---------------------------------------------------------------------------


@app.command("read")
def read(
    device_id: DeviceId,
    trace: Annotated[bool, typer.Option(help="show raw request/response frames (hex)")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="give up after seconds")] = 5.0,
    as_json: AsJson = False,
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """One live reading through the real driver (the daemon must not hold the port)."""
    cfg = _load(config)
    dev = _device(cfg, device_id)
    result = asyncio.run(read_once(cfg, dev, timeout_s=timeout, trace=trace))
    if as_json:
        _print_json(result.as_dict())
    else:
        for direction, frame in result.frames:
            out.print(f"{direction} {frame.hex(' ')}", highlight=False)
        if result.value is not None:
            out.print(f"{device_id}: {result.value:g} quality {result.quality}", highlight=False)
    if result.problem:
        fail(result.problem, result.hint)
