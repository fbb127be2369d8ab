"""What the command groups share: finding the state directory, printing errors people can act on."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from gateway.config import load_config
from gateway.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/hazard-gateway/config.yaml")
err = Console(stderr=True)


def fail(message: str, hint: str = "", code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    if hint:
        err.print(f"[dim]{hint}[/]", highlight=False)
    raise typer.Exit(code)


def config_error(exc: ConfigError) -> NoReturn:
    for issue in exc.issues:
        err.print(f"[bold red]config error:[/] {issue}", highlight=False, soft_wrap=True)
    fail(
        "the configuration was refused", "fix the keys above, then run: hazgw config check FILE", 2
    )


def state_dir_of(state_dir: Path | None, config: Path | None) -> Path:
    """`--state-dir` wins; else the config's state_dir (given, or the default config file)."""
    if state_dir is not None:
        return state_dir
    path = config or DEFAULT_CONFIG
    if not path.exists():
        fail(
            f"no --state-dir given and no config at {path}", "pass --state-dir DIR or --config FILE"
        )
    try:
        return load_config(path).state_dir
    except ConfigError as exc:
        config_error(exc)
