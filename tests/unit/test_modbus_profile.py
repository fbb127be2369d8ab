"""Register-map profiles: the shipped ones load; a bad one is refused naming file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.modbus.config import ModbusRtuDriverConfig
from drivers.modbus.profile import DEFAULT_PROFILES_DIR, load_profile, parse_profile
from gateway.errors import ConfigError

GOOD = """\
description: test device
status:
  register: 0
  bits: {warmup: 0, sensor_lost: 4}
points:
  gas:
    register: 1
    decimals_register: 2
  temperature:
    function: 4
    register: 0x10
    type: float32
    word_order: little
"""


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_profile(text, "dev.yaml")
    return info.value


@pytest.mark.parametrize("path", sorted(DEFAULT_PROFILES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_profile_loads(path: Path) -> None:
    profile = load_profile(path.stem)
    assert profile.points


def test_the_shipped_profiles_are_the_ones_the_issue_asks_for() -> None:
    xy, gas = load_profile("xy-md02"), load_profile("gas-transmitter")
    assert set(xy.points) >= {"temperature", "humidity"}
    assert xy.points["temperature"].type == "int16"  # below 0 °C the register is negative
    assert gas.status is not None
    assert gas.points["gas"].decimals_register is not None
    assert gas.status.bits.sensor_lost is not None
    assert gas.status.bits.warmup is not None


def test_a_good_profile_reads_registers_in_hex_or_decimal() -> None:
    profile = parse_profile(GOOD, "dev.yaml")
    assert profile.points["temperature"].number == 16
    assert profile.points["temperature"].width == 2
    assert profile.points["gas"].function == 3  # holding registers unless told


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "message"),
    [
        ("    decimals_register: 2", "    decimal_register: 2", "points.gas.decimal_register",
         8, "Extra inputs are not permitted"),
        ("    type: float32", "    type: float64", "points.temperature.type", 12,
         "Input should be"),
        ("    function: 4", "    function: 6", "points.temperature.function", 10,
         "Input should be"),
        ("  register: 0\n", "  register: 70000\n", "status.register", 3, "less than or equal"),
        ("sensor_lost: 4}", "sensor_lost: 16}", "status.bits.sensor_lost", 4, "less than or equal"),
        ("    word_order: little", "    bit: 3", "points.temperature.bit", 13,
         "a bit is taken from a 16-bit register"),
    ],
)  # fmt: skip
def test_a_mistake_is_refused_naming_file_key_and_line(
    old: str, new: str, key: str, line: int, message: str
) -> None:
    assert old in GOOD
    err = refused(GOOD.replace(old, new))
    assert [(i.file, i.key, i.line) for i in err.issues] == [("dev.yaml", key, line)], err
    assert message in err.issues[0].message


def test_a_profile_without_points_is_refused() -> None:
    err = refused("description: nothing\npoints: {}\n")
    assert [(i.key, i.line) for i in err.issues] == [("points", 2)]


def test_text_that_is_not_yaml_is_refused_with_its_line() -> None:
    err = refused("points:\n  gas: {register: 1\n")
    assert err.issues[0].line == 3
    assert "not valid YAML" in err.issues[0].message


def test_a_list_is_not_a_profile() -> None:
    assert "mapping" in str(refused("- 1\n- 2\n"))


def test_a_missing_profile_names_the_file_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: <root>: cannot read"):
        load_profile("nope", tmp_path)


@pytest.mark.parametrize("name", ["../etc/passwd", "A", "", "x/y"])
def test_a_profile_name_cannot_leave_the_profiles_directory(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bad name"):
        load_profile(name, tmp_path)


def test_the_driver_config_refuses_unknown_keys_and_has_bus_defaults() -> None:
    cfg = ModbusRtuDriverConfig.model_validate(
        {"type": "modbus_rtu", "id": "rs485-1", "port": "/dev/ttyUSB0"}
    )
    assert (cfg.baudrate, cfg.parity, cfg.stopbits, cfg.bytesize) == (9600, "N", 1, 8)
    assert cfg.inter_frame_gap_s is None  # derived from the baud rate
    with pytest.raises(ValueError, match="Extra inputs"):
        ModbusRtuDriverConfig.model_validate(
            {"type": "modbus_rtu", "id": "b", "port": "/dev/x", "slave": 1}
        )
