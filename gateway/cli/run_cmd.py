"""`hazgw run --config FILE`: the daemon."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from gateway.app import Gateway
from gateway.cli.common import DEFAULT_CONFIG, config_error
from gateway.clock import SystemClock
from gateway.config import load_config
from gateway.driver_factory import check_drivers
from gateway.errors import ConfigError
from gateway.sdnotify import SystemdNotifier


def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="the YAML config")
    ] = DEFAULT_CONFIG,
) -> None:
    """Run the gateway until SIGTERM; SIGHUP reloads the device list."""
    try:
        cfg = load_config(config)
        check_drivers(cfg)
    except ConfigError as exc:
        config_error(exc)
    logging.basicConfig(
        level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(Gateway(
        cfg, clock=SystemClock(), notifiers=[], config_path=config,
        systemd=SystemdNotifier.from_env(),
    )))  # fmt: skip


async def _serve(gateway: Gateway) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, gateway.stop)
    loop.add_signal_handler(signal.SIGINT, gateway.stop)
    loop.add_signal_handler(signal.SIGHUP, gateway.request_reload)
    await gateway.run()
