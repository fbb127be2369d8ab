"""Register-map profiles: what a kind of Modbus device exposes, written once as YAML under the
profiles directory (config/profiles/<name>.yaml) and shared by every device of that kind.

Register numbers are protocol addresses (0-based). Manuals often print base-1 "4xxxx"/"3xxxx"
numbers: holding register 40001 is function 3, register 0; input register 30002 is function 4,
register 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml.comments import CommentedMap

from gateway.errors import ConfigError, ConfigIssue
from gateway.yamldoc import DocumentTooLargeError, line_of, load, plain, read_text

# A checkout (or an editable install) reads config/profiles; a wheel carries a copy of it inside
# the package (pyproject.toml force-include), so an installed gateway finds its profiles too.
_CHECKOUT_PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
_PACKAGED_PROFILES = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILES_DIR = _CHECKOUT_PROFILES if _CHECKOUT_PROFILES.is_dir() else _PACKAGED_PROFILES
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
DataType = Literal["int16", "uint16", "int32", "uint32", "float32"]
Order = Literal["big", "little"]
Function = Literal[3, 4]  # 3 holding registers, 4 input registers
Register = int
WIDTH: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}


class _Strict(BaseModel):
    # `register` is the YAML key; the attribute is `number` (BaseModel has a `register`).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PointSpec(_Strict):
    """One value of the device (a register or register pair, or one bit of a register)."""

    function: Function = 3
    number: Register = Field(alias="register", ge=0, le=65535)
    type: DataType = "uint16"
    byte_order: Order = "big"  # the two bytes inside each register
    word_order: Order = "big"  # the two registers of a 32-bit value: big = high word first
    scale: float = 1.0  # value = raw * scale / 10**decimals + offset
    offset: float = 0.0
    decimals_register: Register | None = Field(default=None, ge=0, le=65535)  # same function
    bit: int | None = Field(default=None, ge=0, le=15)  # the value is this bit (0 or 1)
    use_status: bool = True  # the profile's status register decides this value's quality

    @model_validator(mode="after")
    def _bit_needs_16_bits(self) -> PointSpec:
        if self.bit is not None and WIDTH[self.type] != 1:
            raise ValueError("bit: a bit is taken from a 16-bit register (int16 or uint16)")
        return self

    @property
    def width(self) -> int:
        return WIDTH[self.type]


class StatusBits(_Strict):
    """Bit numbers (0 = least significant) of the conditions a device reports."""

    warmup: int | None = Field(default=None, ge=0, le=15)  # value not yet trustworthy
    low_alarm: int | None = Field(default=None, ge=0, le=15)  # the device's own alarms
    high_alarm: int | None = Field(default=None, ge=0, le=15)
    over_range: int | None = Field(default=None, ge=0, le=15)  # value beyond the range
    sensor_lost: int | None = Field(default=None, ge=0, le=15)  # head missing or broken


class StatusSpec(_Strict):
    function: Function = 3
    number: Register = Field(alias="register", ge=0, le=65535)
    bits: StatusBits


class Profile(_Strict):
    description: str = ""
    # Registers between two needed ranges that may be read too, to save a request. Only raise
    # it for devices that answer unmapped registers instead of an exception.
    merge_gap: int = Field(default=0, ge=0, le=32)
    status: StatusSpec | None = None
    points: dict[str, PointSpec] = Field(min_length=1)


def profile_path(name: str, directory: Path) -> Path:
    if not PROFILE_NAME.match(name):
        raise ConfigError([ConfigIssue(str(directory), "profile", None, f"bad name {name!r}")])
    return directory / f"{name}.yaml"


def load_profile(name: str, directory: Path = DEFAULT_PROFILES_DIR) -> Profile:
    """Read and check one profile; a bad file raises ConfigError naming file, key and line."""
    path = profile_path(name, directory)
    text = read_text(path)
    return parse_profile(text, str(path))


def parse_profile(text: str, file: str) -> Profile:
    root = load(text, file)
    if not isinstance(root, CommentedMap):
        raise ConfigError([ConfigIssue(file, "", 1, "a profile must be a YAML mapping")])
    try:
        return Profile.model_validate(plain(root))
    except DocumentTooLargeError as exc:
        raise ConfigError([ConfigIssue(file, "", None, str(exc))]) from exc
    except ValidationError as exc:
        raise ConfigError(_issues(exc, file, root)) from exc


def _issues(err: ValidationError, file: str, root: CommentedMap) -> list[ConfigIssue]:
    issues = []
    for e in err.errors():
        loc = tuple(e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        key, _, text = msg.partition(": ")
        if text and key.isidentifier() and key not in {str(p) for p in loc}:
            loc, msg = (*loc, key), text  # a model validator names its own key
        dotted = ".".join(str(p) for p in loc)
        issues.append(ConfigIssue(file, dotted, line_of(root, loc), msg))
    return list(dict.fromkeys(issues))
