"""The config loader refuses bad files with a message naming the key and the line."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from gateway.config import HazgwConfig, load_config, parse_config
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
site: {id: s1}
gateway: {id: gw1}
people:
  - {id: p1, name: Person One}
zones:
  - {id: z1, name: Zone One, owner: p1}
drivers:
  - {type: sim, id: sim}
devices:
  - id: d1
    driver: sim
    zone: z1
    class: co
    thresholds: {level1: 30, level2: 60}
  - id: d2
    driver: sim
    zone: z1
    class: smoke
escalation:
  levels:
    - {name: duty, recipients: [p1]}
"""


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "site.yaml")
    return info.value


def test_a_good_file_loads_with_presets_left_to_the_classes() -> None:
    cfg = parse_config(GOOD, "site.yaml")
    assert [d.id for d in cfg.devices] == ["d1", "d2"]
    assert cfg.devices[0].thresholds.level2 == 60
    assert cfg.devices[1].thresholds.level1 is None


def test_a_typo_in_a_key_is_refused_naming_the_key_and_its_line() -> None:
    err = refused(GOOD.replace("class: smoke", "clas: smoke"))
    assert any(i.key == "devices[1].clas" and i.line == 18 for i in err.issues), err
    assert "site.yaml:18: devices[1].clas: Extra inputs are not permitted" in str(err)


def test_a_wrong_type_is_refused_naming_the_key() -> None:
    err = refused(GOOD.replace("level1: 30", "level1: high"))
    assert [i.key for i in err.issues] == ["devices[0].thresholds.level1"]
    assert err.issues[0].line == 14
    assert "valid number" in err.issues[0].message


def test_an_unknown_sensor_class_is_refused_listing_the_known_ones() -> None:
    err = refused(GOOD.replace("class: co", "class: methane"))
    assert err.issues[0].key == "devices[0].class"
    assert "combustible_gas" in err.issues[0].message


def test_a_duplicate_device_id_is_refused_at_the_second_occurrence() -> None:
    err = refused(GOOD.replace("id: d2", "id: d1"))
    assert [(i.key, i.line) for i in err.issues] == [("devices[1].id", 15)]
    assert "duplicate id 'd1'" in err.issues[0].message


def test_level2_below_level1_is_refused_naming_level2() -> None:
    err = refused(GOOD.replace("level2: 60", "level2: 20"))
    assert [(i.key, i.line) for i in err.issues] == [("devices[0].thresholds.level2", 14)]
    assert "level2 (20.0) is below level1 (30.0)" in err.issues[0].message


def test_references_to_unknown_zones_drivers_and_people_are_refused() -> None:
    text = GOOD.replace("zone: z1\n    class: smoke", "zone: nowhere\n    class: smoke")
    text = text.replace("recipients: [p1]", "recipients: [ghost]")
    keys = {i.key for i in refused(text).issues}
    assert keys == {"devices[1].zone", "escalation.levels[0].recipients[0]"}


def test_broken_yaml_is_refused_with_its_line() -> None:
    err = refused(GOOD + "  - {name: broken\n")
    assert err.issues[0].line is not None
    assert "not valid YAML" in err.issues[0].message


def test_a_start_level_beyond_the_chain_is_refused() -> None:
    err = refused(GOOD + "  start_level: {fire: 3}\n")
    assert err.issues[0].key == "escalation.start_level.fire"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_a_relative_state_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "site.yaml"
    path.parent.mkdir()
    path.write_text(GOOD + "state_dir: ./state\n")
    assert load_config(path).state_dir == tmp_path / "conf" / "state"


@pytest.mark.parametrize("name", ["example.yaml", "demo.yaml"])
def test_the_shipped_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "config" / name)
    assert isinstance(cfg, HazgwConfig)


def test_the_example_documents_every_option() -> None:
    """Each field of every config model appears as a key in config/example.yaml."""
    text = (ROOT / "config" / "example.yaml").read_text()
    missing = [name for name in _all_field_names(HazgwConfig) if f"{name}:" not in text]
    assert missing == []


def _all_field_names(model: type) -> set[str]:
    names: set[str] = set()
    stack: list[object] = [model]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for name, field in tp.model_fields.items():
                names.add(field.alias or name)
                stack.append(field.annotation)
        else:
            stack.extend(get_args(tp))
    return names
