"""`hazgw config check FILE`: the daemon's own loader, run on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.cli.common import config_error
from gateway.config import load_config
from gateway.driver_factory import check_drivers
from gateway.errors import ConfigError

app = typer.Typer(help="Check configuration files.", no_args_is_help=True)


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
