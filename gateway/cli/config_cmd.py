"""`hazgw config check FILE` and `hazgw config show`: the daemon's own loader, run on demand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from ruamel.yaml import YAML

from gateway.cli.common import DEFAULT_CONFIG, config_error
from gateway.config import load_config, redacted
from gateway.driver_factory import check_drivers
from gateway.errors import ConfigError

app = typer.Typer(help="Check and show configuration files.", no_args_is_help=True)


@app.command("check")
def check(file: Annotated[Path, typer.Argument(help="the YAML config to check")]) -> None:
    """Load FILE exactly as `hazgw run` would; name every problem with its key and line."""
    try:
        cfg = load_config(file)
        check_drivers(cfg)
    except ConfigError as exc:
        config_error(exc)
    Console(soft_wrap=True).print(
        f"[green]ok[/] {file}: site {cfg.site.id}, gateway {cfg.gateway.id}, "
        f"{len(cfg.devices)} devices in {len(cfg.zones)} zones, state in {cfg.state_dir}",
        highlight=False,
    )


@app.command("show")
def show(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="the YAML config to show")
    ] = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML")] = False,
) -> None:
    """Print the configuration `hazgw run` would use, every default filled in; secrets masked."""
    try:
        doc = redacted(load_config(config))
    except ConfigError as exc:
        config_error(exc)
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096  # a long path or URL stays on one line
    # The model's order, not sorted keys (ruamel annotates the attribute as None).
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.dump(doc, sys.stdout)
