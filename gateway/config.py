"""Configuration: YAML read into pydantic models, and the one loader the daemon and the CLI share.

Unknown keys are refused. Every error names the file, the dotted key path, the line and the
reason, so a technician can fix the file without reading code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from gateway.errors import ConfigError, ConfigIssue
from gateway.model import SensorClass

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# Ledger numbers read prefix-year-site-gateway-n: a gateway id without '-' keeps them unambiguous.
GatewayId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.]{0,31}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SiteConfig(Strict):
    id: Id
    name: str = ""


class GatewayIdConfig(Strict):
    id: GatewayId
    name: str = ""


class PersonConfig(Strict):
    id: Id
    name: str
    role: str = ""
    phone: str = ""


class ZoneConfig(Strict):
    id: Id
    name: str
    owner: Id  # the responsible person (grid management: no area without an owner)
    department: str = ""


class Thresholds(Strict):
    """Set points; any left out come from the sensor class's preset (alerting/presets.py)."""

    level1: float | None = None
    level2: float | None = None
    deadband: float | None = Field(default=None, ge=0)
    rate_of_rise_per_min: float | None = Field(default=None, gt=0)
    stale_after_s: float | None = Field(default=None, gt=0)
    stuck_after_s: float | None = Field(default=None, gt=0)
    noise_floor: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _levels_ordered(self) -> Thresholds:
        if self.level1 is not None and self.level2 is not None and self.level2 < self.level1:
            raise ValueError(f".level2: level2 ({self.level2}) is below level1 ({self.level1})")
        return self


class SimDriverConfig(Strict):
    type: Literal["sim"]
    id: Id
    scenario: Literal["facility"] = "facility"
    seed: int = 42
    period_s: float = Field(default=5.0, gt=0)


DriverConfig = Annotated[SimDriverConfig, Field(discriminator="type")]


class DeviceConfig(Strict):
    id: Id
    name: str = ""
    driver: Id
    zone: Id
    sensor_class: SensorClass = Field(alias="class")
    location: str = ""  # building / floor / room, free text for people
    channel: str = ""  # sim: the scenario signal
    address: int | None = Field(default=None, ge=0, le=255)  # bus address (Modbus slave id)
    profile: str = ""  # register map / frame profile (config/profiles/<name>.yaml)
    point: str = ""  # which value of the profile or payload, e.g. temperature, gas
    topic: str = ""  # MQTT topic the device publishes on
    thresholds: Thresholds = Thresholds()
    enabled: bool = True


class DetectionConfig(Strict):
    tick_s: float = Field(default=1.0, gt=0)
    ring_size: int = Field(default=64, ge=8, le=4096)
    rate_window_s: float = Field(default=60.0, gt=0)


class EscalationLevelConfig(Strict):
    name: str
    recipients: list[Id] = Field(min_length=1)
    delay_s: float = Field(default=0.0, ge=0)


StartKey = Literal["fire", "gas_level1", "gas_level2", "heat", "fault"]


class EscalationConfig(Strict):
    levels: list[EscalationLevelConfig] = Field(min_length=1)
    repeat_s: float | None = Field(default=None, gt=0)
    # Where escalation starts, by alarm kind: level-2 gas and fire skip the first rung.
    start_level: dict[StartKey, int] = {"fire": 1, "gas_level2": 1}

    @model_validator(mode="after")
    def _start_levels_exist(self) -> EscalationConfig:
        if "start_level" not in self.model_fields_set:
            return self  # the defaults are clamped to the chain at use
        for key, level in self.start_level.items():
            if not 0 <= level < len(self.levels):
                raise ValueError(
                    f".start_level.{key}: {level} names no level (0..{len(self.levels) - 1})"
                )
        return self


class LogChannelConfig(Strict):
    type: Literal["log"]


ChannelConfig = Annotated[LogChannelConfig, Field(discriminator="type")]


class NotifyConfig(Strict):
    channels: list[ChannelConfig] = [LogChannelConfig(type="log")]


class LedgerConfig(Strict):
    prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,8}$")] = "YH"
    major_kinds: list[Literal["fire", "gas", "heat", "fault"]] = ["fire"]


class OutboxConfig(Strict):
    max_telemetry_mb: float = Field(default=256.0, gt=0)


class InfluxV1Config(Strict):
    version: Literal[1]
    url: str
    database: str
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = None
    gzip: bool = False
    timeout_s: float = Field(default=10.0, gt=0)


class InfluxV2Config(Strict):
    version: Literal[2]
    url: str
    org: str
    bucket: str
    token: str
    gzip: bool = False
    timeout_s: float = Field(default=10.0, gt=0)


InfluxConfig = Annotated[InfluxV1Config | InfluxV2Config, Field(discriminator="version")]


class HazgwConfig(Strict):
    site: SiteConfig
    gateway: GatewayIdConfig
    state_dir: Path = Path("/var/lib/hazard-gateway")
    people: list[PersonConfig] = Field(min_length=1)
    zones: list[ZoneConfig] = Field(min_length=1)
    drivers: list[DriverConfig] = []
    devices: list[DeviceConfig] = []
    detection: DetectionConfig = DetectionConfig()
    escalation: EscalationConfig
    notify: NotifyConfig = NotifyConfig()
    ledger: LedgerConfig = LedgerConfig()
    outbox: OutboxConfig = OutboxConfig()
    influxdb: InfluxConfig | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _references_resolve(self) -> HazgwConfig:
        problems = list(_cross_check(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _duplicates(ids: list[str]) -> set[str]:
    return {i for i, n in Counter(ids).items() if n > 1}


def _cross_check(cfg: HazgwConfig) -> Iterator[str]:
    """Identity and reference checks pydantic cannot express per field."""
    for section, ids in (
        ("people", [p.id for p in cfg.people]),
        ("zones", [z.id for z in cfg.zones]),
        ("drivers", [d.id for d in cfg.drivers]),
        ("devices", [d.id for d in cfg.devices]),
    ):
        for dup in sorted(_duplicates(ids)):
            yield f"@{section}[{ids.index(dup, ids.index(dup) + 1)}].id: duplicate id {dup!r}"
    people = {p.id for p in cfg.people}
    zones = {z.id for z in cfg.zones}
    drivers = {d.id for d in cfg.drivers}
    for i, z in enumerate(cfg.zones):
        if z.owner not in people:
            yield f"@zones[{i}].owner: {z.owner!r} is not in people"
    for i, d in enumerate(cfg.devices):
        if d.zone not in zones:
            yield f"@devices[{i}].zone: {d.zone!r} is not in zones"
        if d.driver not in drivers:
            yield f"@devices[{i}].driver: {d.driver!r} is not in drivers"
    for i, lvl in enumerate(cfg.escalation.levels):
        for j, r in enumerate(lvl.recipients):
            if r not in people:
                yield f"@escalation.levels[{i}].recipients[{j}]: {r!r} is not in people"


# --- loading -------------------------------------------------------------------------------


def _plain(node: Any) -> Any:
    """ruamel's commented containers to plain dicts and lists (pydantic wants plain data)."""
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    return node


def _line_of(root: Any, path: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest node of `path` that exists in the YAML document."""
    node, line = root, None
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _parse_path(text: str) -> tuple[int | str, ...]:
    """`devices[3].id` -> ('devices', 3, 'id')."""
    parts: list[int | str] = []
    for piece in text.replace("]", "").split("."):
        name, *indices = piece.split("[")
        if name:
            parts.append(name)
        parts += [int(i) for i in indices]
    return tuple(parts)


def _dotted(path: tuple[int | str, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _issues_from(err: ValidationError, file: str, root: Any) -> list[ConfigIssue]:
    issues = []
    for e in err.errors():
        loc = _without_tags(root, tuple(e["loc"]))
        msg = str(e["msg"]).removeprefix("Value error, ")
        for piece in msg.split("; "):
            # Validators name their key: "@a.b: ..." from the root, ".b: ..." below the location.
            if piece.startswith(("@", ".")):
                key, _, text = piece[1:].partition(": ")
                path = _parse_path(key) if piece[0] == "@" else loc + _parse_path(key)
                issues.append(ConfigIssue(file, _dotted(path), _line_of(root, path), text))
            else:
                issues.append(ConfigIssue(file, _dotted(loc), _line_of(root, loc), piece))
    return issues


def _without_tags(root: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the tags discriminated unions add to a location ('sim', 1...): they are no YAML keys."""
    out: list[int | str] = []
    node = root
    for part in loc:
        if isinstance(node, CommentedMap) and part not in node:
            if str(part) in {str(node.get("type")), str(node.get("version"))}:
                continue
            node = None
        elif isinstance(node, CommentedMap | CommentedSeq):
            node = node[part] if isinstance(node, CommentedMap) or isinstance(part, int) else None
        out.append(part)
    return tuple(out)


def parse_config(text: str, file: str) -> HazgwConfig:
    """Parse YAML text; raise ConfigError naming file, key, line and reason."""
    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigIssue(file, "", line, f"not valid YAML: {exc.problem}")]) from exc
    if not isinstance(root, CommentedMap):
        raise ConfigError([ConfigIssue(file, "", 1, "the file must be a YAML mapping")])
    try:
        return HazgwConfig.model_validate(_plain(root))
    except ValidationError as exc:
        issues = list(dict.fromkeys(_issues_from(exc, file, root)))  # unions repeat errors
        raise ConfigError(issues) from exc


def load_config(path: Path) -> HazgwConfig:
    """The one loader: the daemon, `hazgw config check` and the CLI all call this."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), "", None, f"cannot read: {exc}")]) from exc
    cfg = parse_config(text, str(path))
    if not cfg.state_dir.is_absolute():
        # Relative state directories are relative to the config file, not to the cwd.
        cfg = cfg.model_copy(update={"state_dir": (path.parent / cfg.state_dir).resolve()})
    return cfg
