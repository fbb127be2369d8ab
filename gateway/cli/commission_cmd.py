"""`hazgw commission`: fire a test alarm end to end and record it as commissioning evidence.

    hazgw commission DEVICE [DEVICE ...] [--channel NAME ...] [--timeout S] [--by PERSON]
    hazgw commission --all                  a pass/fail table over every device in service
    hazgw commission --due [--json]         detector tests and calibrations due or overdue

Runs in this process on the site's real ledger and channels (gateway/commission.py). A device
that passes has its `last_tested` moved to today in the config file (comments kept), when the
config has that field. Exit codes: 0 all passed (or nothing overdue with --due), 1 a device
failed (or a task is overdue), 2 the configuration was refused.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway import maintenance
from gateway.cli.common import DEFAULT_CONFIG, config_error, fail
from gateway.clock import SystemClock
from gateway.commission import CommissionError, DeviceResult, Session
from gateway.config import HazgwConfig, load_config
from gateway.errors import ConfigError
from gateway.maintenance import DueState, Task
from gateway.provision import ProvisionError

out = Console(soft_wrap=True)


def commission(  # noqa: PLR0917 - typer maps each parameter to one option
    devices: Annotated[list[str] | None, typer.Argument(help="device ids")] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="the YAML config")] = (
        DEFAULT_CONFIG
    ),
    all_devices: Annotated[bool, typer.Option("--all", help="every device in service")] = False,
    channel: Annotated[
        list[str] | None, typer.Option(help="only this notify channel (repeatable)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds each channel has to deliver")] = 30.0,
    by: Annotated[str | None, typer.Option(help="who commissions (default: login)")] = None,
    due: Annotated[bool, typer.Option("--due", help="list tests/calibrations due")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Fire a test alarm through detection, ledger (test state), every channel and an
    acknowledgement; record the result in the ledger."""
    cfg = _load(config)
    if due:
        _show_due(cfg, as_json)
    ids = [d.id for d in cfg.devices if d.enabled] if all_devices else list(devices or [])
    if not ids:
        fail("name a device, or pass --all", "list them with: hazgw device list")
    who = by or getpass.getuser()
    session = Session(cfg, SystemClock(), by=who, channels=channel or [], timeout_s=timeout)
    try:
        results = asyncio.run(session.run(ids))
    except CommissionError as exc:
        fail(str(exc), "check the names with: hazgw device list / hazgw config check")
    _show(results, as_json)
    _move_last_tested(config, results, cfg, as_json)
    raise typer.Exit(0 if all(r.passed for r in results) else 1)


def _load(config: Path) -> HazgwConfig:
    if not config.exists():
        fail(f"no config at {config}", "pass --config FILE")
    try:
        return load_config(config)
    except ConfigError as exc:
        config_error(exc)


def _show(results: list[DeviceResult], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
        return
    table = Table(title="Commissioning")
    for col in ("device", "result", "detected", "channels", "ledger"):
        table.add_column(col, overflow="fold")
    for r in results:
        verdict = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
        chans = ", ".join(
            f"{c.channel} {'ok' if c.ok else 'FAILED'}" + (" (skipped)" if c.skipped else "")
            for c in r.channels
        )  # fmt: skip
        table.add_row(r.device, verdict, ", ".join(r.detected) or "-", chans or "-",
                      r.number or "-")  # fmt: skip
    out.print(table)
    failed = [r for r in results if not r.passed]
    for r in failed:  # whole lines, never folded into a table cell: they say what to fix
        for problem in r.problems:
            out.print(f"[bold red]FAIL[/] {r.device}: {problem}", highlight=False)
    if failed:
        out.print(
            f"[bold red]{len(failed)} of {len(results)} failed[/]: fix what the problems name "
            "(a channel down: is its server running and reachable?), then commission again",
            highlight=False,
        )


def _move_last_tested(
    config: Path, results: list[DeviceResult], cfg: HazgwConfig, quiet: bool
) -> None:
    passed = [r.device for r in results if r.passed]
    if not passed:
        return
    day = maintenance.site_today(cfg, results[0].ts_ns)
    try:
        written = maintenance.record_done(config, passed, Task.TEST, day)
    except (ConfigError, ProvisionError) as exc:
        fail(f"commissioned, but last_tested was not written: {exc}", f"edit {config} by hand")
    if written is not None and not quiet:
        out.print(f"last_tested = {day} written for {', '.join(passed)} in {config}")


def _show_due(cfg: HazgwConfig, as_json: bool) -> None:
    today = maintenance.site_today(cfg, SystemClock().wall_ns())
    rows = maintenance.schedule(cfg.devices, today)
    if as_json:
        print(json.dumps([d.to_json() for d in rows], ensure_ascii=False, indent=2))
    else:
        table = Table(title=f"Detector tests and calibrations, {today}")
        for col in ("device", "zone", "task", "last", "every", "due", "state"):
            table.add_column(col)
        colour = {DueState.OVERDUE: "bold red", DueState.DUE_SOON: "yellow"}
        for d in rows:
            state = d.state.value.replace("_", " ")
            if d.state in colour:
                state = f"[{colour[d.state]}]{state}[/]"
            table.add_row(d.device, d.zone, d.task.value, str(d.last or "-"),
                          f"{d.every_days} d", str(d.due_on or "-"), state)  # fmt: skip
        out.print(table)
    raise typer.Exit(1 if any(d.state is DueState.OVERDUE for d in rows) else 0)
