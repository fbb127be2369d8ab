"""Configuration: YAML read into pydantic models, and the one loader the daemon and the CLI share.

Unknown keys are refused. Every error names the file, the dotted key path, the line and the
reason, so a technician can fix the file without reading code. Every secret is a `SecretStr`:
it never appears in a repr, an error or `hazgw config show` (see `redacted`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretBytes,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import to_jsonable_python
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from alerting.notify.config import NotifyConfig, apprise_url_problems
from alerting.roster import RESPONSIBLE, Override, Roster, Shift, parse_days, parse_time
from drivers.modbus.config import ModbusRtuDriverConfig
from drivers.mqtt.config import MqttDriverConfig
from drivers.uart.config import UartDriverConfig
from gateway.api.config import ApiConfig
from gateway.commands.config import CommandsConfig, commands_problems
from gateway.errors import ConfigError, ConfigIssue
from gateway.model import SensorClass
from gateway.yamldoc import DocumentTooLargeError, line_of, load, plain, read_text

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# Ledger numbers read prefix-year-site-gateway-n: a gateway id without '-' keeps them unambiguous.
GatewayId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.]{0,31}$")]
MASK = "********"  # what `hazgw config show` prints for a secret that is set


def _no_credentials(url: str) -> str:
    if "@" in urlsplit(url).netloc:
        raise ValueError("no credentials in the URL: put them in username/password or token")
    return url


# A URL shown as it is (logs, `hazgw config show`): credentials in it would leak.
CredentialFreeUrl = Annotated[str, AfterValidator(_no_credentials)]


class Strict(BaseModel):
    # hide_input_in_errors: the outermost model decides, and a rejected value may be a secret.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )


class SiteConfig(Strict):
    id: Id
    name: str = ""
    # IANA zone of the site: roster shifts, report periods and the year in ledger numbers
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _known_zone(self) -> SiteConfig:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f".timezone: unknown time zone {self.timezone!r} (e.g. Asia/Shanghai)"
            ) from None
        return self


class GatewayIdConfig(Strict):
    id: GatewayId
    name: str = ""


class PersonConfig(Strict):
    id: Id
    name: str
    role: str = ""
    phone: str = ""  # SMS/voice gateways: apprise URL templates use {phone}
    email: str = ""  # mail: apprise URL templates use {email}
    notify_urls: list[SecretStr] = []  # this person's own apprise URLs (tokens: never logged)

    @model_validator(mode="after")
    def _notify_urls_valid(self) -> PersonConfig:
        problems = apprise_url_problems(self.notify_urls, ".notify_urls")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ZoneConfig(Strict):
    id: Id
    name: str
    owner: Id  # the responsible person (grid management: no area without an owner)
    department: str = ""


PresetName = Literal["heat_a1", "co_en50291", "smoke_battery", "temperature_battery"]


class DoseBand(Strict):
    """One band of a time-weighted CO rule: alarm after `minutes` at or above `ppm`."""

    ppm: float = Field(gt=0)
    minutes: float = Field(gt=0)


class Thresholds(Strict):
    """Set points; any left out come from the layer below: device > zone > site > the sensor
    class's preset (alerting/presets.py)."""

    preset: PresetName | None = None  # a named variant of the class preset
    level1: float | None = None
    level2: float | None = None
    high_high: float | None = None
    low: float | None = None
    low_low: float | None = None
    deadband: float | None = Field(default=None, ge=0)
    on_delay_s: float | None = Field(default=None, ge=0)
    off_delay_s: float | None = Field(default=None, ge=0)
    rate_of_rise_per_min: float | None = Field(default=None, gt=0)
    level1_when_rising: float | None = None
    rising_per_min: float | None = Field(default=None, gt=0)
    stale_after_s: float | None = Field(default=None, gt=0)
    stuck_after_s: float | None = Field(default=None, gt=0)
    noise_floor: float | None = Field(default=None, ge=0)
    range_min: float | None = None
    range_max: float | None = None
    warmup_max_s: float | None = Field(default=None, gt=0)
    co_dose: list[DoseBand] | None = Field(default=None, max_length=3)

    @model_validator(mode="after")
    def _levels_ordered(self) -> Thresholds:
        order = ("low_low", "low", "level1", "level2", "high_high")
        given = [(k, getattr(self, k)) for k in order if getattr(self, k) is not None]
        for i in range(1, len(given)):
            (lo_key, lo), (hi_key, hi) = given[i - 1], given[i]
            if hi < lo:
                raise ValueError(f".{hi_key}: {hi_key} ({hi}) is below {lo_key} ({lo})")
        lo_r, hi_r = self.range_min, self.range_max
        if lo_r is not None and hi_r is not None and lo_r >= hi_r:
            raise ValueError(f".range_max: range_max ({hi_r}) is not above range_min ({lo_r})")
        return self


class SimDriverConfig(Strict):
    type: Literal["sim"]
    id: Id
    scenario: Literal["facility"] = "facility"
    seed: int = 42
    period_s: float = Field(default=5.0, gt=0)


DriverConfig = Annotated[
    SimDriverConfig | ModbusRtuDriverConfig | UartDriverConfig | MqttDriverConfig,
    Field(discriminator="type"),
]


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
    # Maintenance (gateway/maintenance.py); None = the class default (gas/CO test 90 d,
    # calibrate 365 d; smoke/heat test 365 d, no calibration). `hazgw commission` sets last_tested.
    last_tested: date | None = None
    test_every_days: int | None = Field(default=None, ge=1)
    last_calibrated: date | None = None
    calibrate_every_days: int | None = Field(default=None, ge=1)


class CorroborationConfig(Strict):
    """Smoke together with a temperature rise in one zone confirms a fire: its priority rises."""

    enabled: bool = False
    rise_per_min: float = Field(default=3.0, gt=0)  # a temperature rise (°C/min) that confirms
    start_level_bump: int = Field(default=1, ge=0)  # escalation starts this many rungs higher


class AlarmHealthConfig(Strict):
    """Alarm system health limits (ISA-18.2 / EEMUA 191)."""

    window_s: float = Field(default=600.0, gt=0)
    flood_count: int = Field(default=10, ge=1)
    chatter_count: int = Field(default=3, ge=2)
    chatter_window_s: float = Field(default=60.0, gt=0)
    stale_after_s: float = Field(default=86_400.0, gt=0)


class DetectionConfig(Strict):
    tick_s: float = Field(default=1.0, gt=0)
    ring_size: int = Field(default=64, ge=8, le=4096)
    rate_window_s: float = Field(default=60.0, gt=0)
    # Overrides by sensor class for the whole site, and per zone; a device's own win over both.
    site: dict[SensorClass, Thresholds] = {}
    zones: dict[Id, dict[SensorClass, Thresholds]] = {}
    bus_fault_after_s: float = Field(default=30.0, ge=0)
    shelve_max_s: float = Field(default=8 * 3600.0, gt=0)
    corroboration: CorroborationConfig = CorroborationConfig()
    health: AlarmHealthConfig = AlarmHealthConfig()


class EscalationLevelConfig(Strict):
    name: str
    recipients: list[Id] = Field(min_length=1)
    delay_s: float = Field(default=0.0, ge=0)


StartKey = Literal["fire", "gas_level1", "gas_level2", "heat", "fault"]
# Where escalation starts, by alarm kind: level-2 gas and fire skip the first rung.
DEFAULT_START_LEVEL: dict[StartKey, int] = {"fire": 1, "gas_level2": 1}

# --- duty roster (值班表) and escalation policies -----------------------------------------------


class ShiftConfig(Strict):
    """`person` holds `role` on `days` from `start` to `end`, site time. An end at or before the
    start runs past midnight; start == end is a 24-hour shift."""

    role: Id  # duty_officer, leader_on_duty, or any role name escalation levels use
    person: Id
    days: list[str] = ["daily"]  # mon..sun, weekdays, weekend, daily
    start: str = "00:00"
    end: str = "24:00"

    @model_validator(mode="after")
    def _parses(self) -> ShiftConfig:
        parse_days(self.days)  # ValueError names the bad day or time
        parse_time(self.start)
        parse_time(self.end)
        return self


class OverrideConfig(Strict):
    """A dated exception (holiday, swap); it wins over the weekly shifts of its role."""

    role: Id
    person: Id
    start: datetime  # site time unless it carries an offset
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> OverrideConfig:
        if self.end <= self.start:
            raise ValueError(".end: is not after start")
        return self


class RosterConfig(Strict):
    shifts: list[ShiftConfig] = []
    overrides: list[OverrideConfig] = []
    fallback: list[Id] = []  # told when a role resolves to nobody (never silence)


def _start_levels_within(start_level: dict[StartKey, int], levels: int) -> None:
    for key, level in start_level.items():
        if not 0 <= level < levels:
            raise ValueError(f".start_level.{key}: {level} names no level (0..{levels - 1})")


class PolicyConfig(Strict):
    """A ladder for some alarm kinds and grades (empty: any); the first policy that matches wins,
    else escalation.levels."""

    kinds: list[Literal["fire", "gas", "heat", "fault"]] = []
    grades: list[Literal["general", "major"]] = []
    levels: list[EscalationLevelConfig] = Field(min_length=1)
    repeat_s: float | None = Field(default=None, gt=0)
    start_level: dict[StartKey, int] = {}  # empty: escalation.start_level (clamped)

    @model_validator(mode="after")
    def _start_levels_exist(self) -> PolicyConfig:
        _start_levels_within(self.start_level, len(self.levels))
        return self


class DeadlineEscalationConfig(Strict):
    """Overdue rectifications: level 0 when the deadline passes, then each level after its delay,
    until verified; every step marks the entry as supervised (督办)."""

    levels: list[EscalationLevelConfig] = Field(min_length=1)
    repeat_s: float | None = Field(default=None, gt=0)


class EscalationConfig(Strict):
    levels: list[EscalationLevelConfig] = Field(min_length=1)
    repeat_s: float | None = Field(default=None, gt=0)
    start_level: dict[StartKey, int] = DEFAULT_START_LEVEL
    policies: list[PolicyConfig] = []  # per alarm kind and grade; the first match wins
    deadlines: DeadlineEscalationConfig | None = None  # overdue rectifications; None: off

    @model_validator(mode="after")
    def _start_levels_exist(self) -> EscalationConfig:
        if self.start_level == DEFAULT_START_LEVEL:
            # The defaults, left out or written out (`hazgw config show` prints them), are
            # clamped to the chain at use.
            return self
        for key, level in self.start_level.items():
            if not 0 <= level < len(self.levels):
                raise ValueError(
                    f".start_level.{key}: {level} names no level (0..{len(self.levels) - 1})"
                )
        return self


class LedgerConfig(Strict):
    prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,8}$")] = "YH"
    major_kinds: list[Literal["fire", "gas", "heat", "fault"]] = ["fire"]


class OutboxConfig(Strict):
    max_telemetry_mb: float = Field(default=256.0, gt=0)


class InfluxV1Config(Strict):
    version: Literal[1]
    url: CredentialFreeUrl
    database: str
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    gzip: bool = False
    timeout_s: float = Field(default=10.0, gt=0)
    # Telemetry acquired longer ago than this is dropped unsent (counted as expired): set it to
    # the retention policy's duration. Events are always sent. None: keep until sent.
    max_age_s: float | None = Field(default=None, gt=0)


class InfluxV2Config(Strict):
    version: Literal[2]
    url: CredentialFreeUrl
    org: str
    bucket: str
    token: SecretStr
    gzip: bool = False
    timeout_s: float = Field(default=10.0, gt=0)
    max_age_s: float | None = Field(default=None, gt=0)  # as for version 1: the bucket's retention


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
    roster: RosterConfig = RosterConfig()
    notify: NotifyConfig = NotifyConfig()
    ledger: LedgerConfig = LedgerConfig()
    outbox: OutboxConfig = OutboxConfig()
    commands: CommandsConfig = CommandsConfig()  # people's ledger commands over MQTT
    api: ApiConfig = ApiConfig()
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
    mqtt = {d.id for d in cfg.drivers if d.type == "mqtt"}
    for i, d in enumerate(cfg.devices):
        if d.driver in mqtt and not (d.topic and d.point):
            yield f"@devices[{i}].topic: a device on an MQTT driver needs topic and point"
    yield from _recipient_problems(cfg, people)
    yield from commands_problems(cfg.commands, people)
    for i, t in enumerate(cfg.api.tokens):
        if t.person not in people:
            yield f"@api.tokens[{i}].person: {t.person!r} is not in people"
    from gateway.engine_setup import preset_issues  # noqa: PLC0415 (it imports this module)

    yield from preset_issues(cfg)


def roster_from(cfg: HazgwConfig) -> Roster:
    tz = ZoneInfo(cfg.site.timezone)
    shifts = tuple(
        Shift(s.role, s.person, parse_days(s.days), parse_time(s.start), parse_time(s.end))
        for s in cfg.roster.shifts
    )
    overrides = tuple(
        Override(o.role, o.person, _aware(o.start, tz), _aware(o.end, tz))
        for o in cfg.roster.overrides
    )
    return Roster(shifts, tz=tz, overrides=overrides, fallback=tuple(cfg.roster.fallback))


def _aware(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _recipient_problems(cfg: HazgwConfig, people: set[str]) -> Iterator[str]:
    """Recipients are people or roster roles; every role a ladder uses is held around the clock."""
    roles = {s.role for s in cfg.roster.shifts} | {o.role for o in cfg.roster.overrides}
    for clash in sorted(people & (roles | {RESPONSIBLE})):
        yield f"@people: {clash!r} is a role name; give the person another id"
    esc = cfg.escalation
    ladders = [("escalation.levels", esc.levels)]
    ladders += [(f"escalation.policies[{k}].levels", p.levels) for k, p in enumerate(esc.policies)]
    if esc.deadlines is not None:
        ladders.append(("escalation.deadlines.levels", esc.deadlines.levels))
    used: set[str] = set()
    for where, levels in ladders:
        for i, lvl in enumerate(levels):
            for j, r in enumerate(lvl.recipients):
                if r in roles or r == RESPONSIBLE:
                    used.add(r)
                elif r not in people:
                    yield f"@{where}[{i}].recipients[{j}]: {r!r} is neither in people nor a role"
    named = [("shifts", s.person) for s in cfg.roster.shifts]
    named += [("overrides", o.person) for o in cfg.roster.overrides]
    named += [("fallback", f) for f in cfg.roster.fallback]
    for section, person in named:
        if person not in people:
            yield f"@roster.{section}: {person!r} is not in people"
    roster = roster_from(cfg)
    for role in sorted(used & roles):
        for gap in roster.gaps(role):
            yield f"@roster.shifts: nobody is {role} {gap} (24-hour duty)"


def redacted(model: BaseModel) -> dict[str, Any]:
    """`model` as JSON-ready data, keys as the file spells them, every secret replaced by MASK.

    Driven by type, not by key names: a secret field added later is masked as soon as it is
    typed SecretStr (tests/security/test_config_secrets.py holds every secret-looking key to it).
    """
    return cast(dict[str, Any], to_jsonable_python(_masked(model.model_dump(by_alias=True))))


def _masked(value: object) -> object:
    """A python-mode dump keeps secrets as SecretStr objects: swap each for MASK."""
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


# --- loading -------------------------------------------------------------------------------


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
                issues.append(ConfigIssue(file, _dotted(path), line_of(root, path), text))
            else:
                issues.append(ConfigIssue(file, _dotted(loc), line_of(root, loc), piece))
    return issues


def _without_tags(root: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the tags discriminated unions add to a location ('sim', 1...): they are no YAML keys."""
    out: list[int | str] = []
    node = root
    for part in loc:
        if isinstance(node, CommentedMap) and part not in node:
            if str(part) in {str(node.get(k)) for k in ("type", "version", "family")}:
                continue
            node = None
        elif isinstance(node, CommentedMap | CommentedSeq):
            node = node[part] if isinstance(node, CommentedMap) or isinstance(part, int) else None
        out.append(part)
    return tuple(out)


def parse_config(text: str, file: str) -> HazgwConfig:
    """Parse YAML text; raise ConfigError naming file, key, line and reason."""
    root = load(text, file)
    if not isinstance(root, CommentedMap):
        raise ConfigError([ConfigIssue(file, "", 1, "the file must be a YAML mapping")])
    try:
        return HazgwConfig.model_validate(plain(root))
    except DocumentTooLargeError as exc:
        raise ConfigError([ConfigIssue(file, "", None, str(exc))]) from exc
    except ValidationError as exc:
        issues = list(dict.fromkeys(_issues_from(exc, file, root)))  # unions repeat errors
        raise ConfigError(issues) from exc


def load_config(path: Path) -> HazgwConfig:
    """The one loader: the daemon, `hazgw config check` and the CLI all call this."""
    text = read_text(path)
    cfg = parse_config(text, str(path))
    if not cfg.state_dir.is_absolute():
        # Relative state directories are relative to the config file, not to the cwd.
        cfg = cfg.model_copy(update={"state_dir": (path.parent / cfg.state_dir).resolve()})
    return _resolve_profiles_dirs(cfg, path.parent)


def _resolve_profiles_dirs(cfg: HazgwConfig, base: Path) -> HazgwConfig:
    """A relative Modbus profiles_dir is relative to the config file, like state_dir."""
    drivers = [
        d.model_copy(update={"profiles_dir": (base / d.profiles_dir).resolve()})
        if isinstance(d, ModbusRtuDriverConfig)
        and d.profiles_dir is not None
        and not d.profiles_dir.is_absolute()
        else d
        for d in cfg.drivers
    ]
    return cfg.model_copy(update={"drivers": drivers})
