"""`hazgw config show`: the configuration the daemon would run with, every default filled in,
as YAML or JSON, secrets masked at their keys, and printed so it loads back into the same model.
(That no secret value is ever printed: tests/security/test_config_secrets.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.cli.common import DEFAULT_CONFIG
from gateway.config import MASK, DetectionConfig, load_config
from tests.security.site import Key, get, put, read_yaml, secrets_of, site_doc, write_yaml

runner = CliRunner()


def show(config: Path, *extra: str) -> Any:
    result = runner.invoke(app, ["config", "show", "-c", str(config), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in extra else read_yaml(result.stdout)


def masked_paths(node: Any, path: Key = ()) -> set[Key]:
    if isinstance(node, dict):
        return set().union(*(masked_paths(v, (*path, k)) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(masked_paths(v, (*path, i)) for i, v in enumerate(node)))
    return {path} if node == MASK else set()


@pytest.fixture(params=[1, 2], ids=["influx1", "influx2"])
def influx_version(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def site(tmp_path: Path, influx_version: int) -> Path:
    doc = site_doc(Path("state"), influx_version)  # relative: the loader resolves it
    return write_yaml(doc, tmp_path / "site.yaml")


@pytest.mark.parametrize("fmt", [(), ("--json",)], ids=["yaml", "json"])
def test_every_secret_is_masked_at_its_own_key_and_nothing_else_is(
    site: Path, influx_version: int, fmt: tuple[str, ...]
) -> None:
    shown = show(site, *fmt)
    assert masked_paths(shown) == {s.path for s in secrets_of(influx_version)}


def test_yaml_and_json_show_the_same_configuration(site: Path) -> None:
    assert show(site) == show(site, "--json")


def test_show_fills_in_defaults_and_resolves_paths_as_the_daemon_does(
    site: Path, tmp_path: Path
) -> None:
    shown = show(site)
    assert shown["state_dir"] == str(tmp_path / "state")  # relative to the file, made absolute
    assert "detection" not in read_yaml(site.read_text())
    assert shown["detection"]["ring_size"] == DetectionConfig.model_fields["ring_size"].default
    assert shown["escalation"]["start_level"] == {"fire": 1, "gas_level2": 1}
    assert shown["devices"][0]["class"] == "temperature"  # keys as the file spells them
    assert shown["site"]["name"] == "测试厂区"


def test_a_secret_left_unset_shows_as_null_under_its_key(tmp_path: Path) -> None:
    doc = site_doc(tmp_path / "state", 1)
    del doc["commands"]["password"], doc["notify"]["channels"][1]["password"]
    shown = show(write_yaml(doc, tmp_path / "site.yaml"))
    assert shown["commands"]["password"] is None
    assert shown["notify"]["channels"][1]["password"] is None
    assert shown["drivers"][1]["password"] == MASK  # the others are still set


@pytest.mark.parametrize("fmt", [(), ("--json",)], ids=["yaml", "json"])
def test_the_printed_config_with_its_secrets_put_back_loads_into_the_same_model(
    site: Path, influx_version: int, tmp_path: Path, fmt: tuple[str, ...]
) -> None:
    shown = show(site, *fmt)
    for secret in secrets_of(influx_version):
        assert get(shown, secret.path) == MASK
        put(shown, secret.path, secret.value)
    again = write_yaml(shown, tmp_path / "again.yaml")
    assert load_config(again) == load_config(site)


def test_without_config_option_show_reads_the_default_config() -> None:
    if DEFAULT_CONFIG.exists():
        pytest.skip(f"{DEFAULT_CONFIG} exists on this machine")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert f"{DEFAULT_CONFIG}: <root>: cannot read" in result.output


def test_the_shipped_example_is_shown_with_its_secrets_masked() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
    shown = show(example)
    assert shown["drivers"][2]["password"] == MASK  # "change-me" in the file
    assert shown["influxdb"]["password"] is None
