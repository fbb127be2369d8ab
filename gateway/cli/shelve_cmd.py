"""`hazgw device shelve / unshelve`: hold one alarm of one detector back for a while, with a reason.

A shelf is a person's decision and always ends (`detection.shelve_max_s`, 8 h by default). It is a
ledger record (`alarm_shelf`: who, why, until when); the running daemon reads it within a tick,
and a restart keeps it until it expires.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alerting.ledger import Ledger
from alerting.rules import CONDITIONS, Condition
from alerting.vocabulary import iso_utc
from gateway.cli.common import DEFAULT_CONFIG, fail
from gateway.config import HazgwConfig, load_config
from gateway.errors import ConfigError, LedgerError

out = Console(soft_wrap=True)
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="the gateway's config")]
DeviceId = Annotated[str, typer.Argument(help="the device id")]
CondArg = Annotated[str, typer.Argument(help="the alarm: level1, level2, stale, stuck ...")]
By = Annotated[str, typer.Option("--by", help="who does this (a people id)")]


def shelve(  # noqa: PLR0917 - typer maps each parameter to one option
    device_id: DeviceId,
    condition: CondArg,
    by: By,
    reason: Annotated[str, typer.Option(help="why it is held back")],
    minutes: Annotated[float, typer.Option(help="for how long")] = 60.0,
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Shelve one alarm of a detector for a while, with a reason (it always expires)."""
    cfg, key = _checked(config, device_id, condition, by)
    limit_min = cfg.detection.shelve_max_s / 60
    if not 0 < minutes <= limit_min:
        fail(f"--minutes must be more than 0 and at most {limit_min:g}", "shelves always end")
    if not reason.strip():
        fail("--reason is empty", "say why, e.g. --reason 'calibration gas on the head'")
    now = time.time_ns()
    until = now + int(minutes * 60e9)
    _record(cfg, lambda ledger: ledger.record_shelf(
        key, by=by, ts_ns=now, until_ns=until, reason=reason.strip()))  # fmt: skip
    out.print(f"{key} shelved until {iso_utc(until)[:19]}Z: the daemon holds it within a tick")


def unshelve(
    device_id: DeviceId, condition: CondArg, by: By, config: ConfigOpt = DEFAULT_CONFIG
) -> None:
    """Take a shelf off before it expires: the alarm is annunciated if its condition holds."""
    cfg, key = _checked(config, device_id, condition, by)
    _record(cfg, lambda ledger: ledger.record_shelf(key, by=by, ts_ns=time.time_ns()))
    out.print(f"{key} unshelved")


def _checked(config: Path, device_id: str, condition: str, by: str) -> tuple[HazgwConfig, str]:
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        fail(f"{config}: {exc}", "fix it with: hazgw config check")
    if device_id not in {d.id for d in cfg.devices}:
        fail(f"no device {device_id!r} in the config", "list them with: hazgw device list")
    if condition not in {c.value for c in CONDITIONS} or condition == Condition.SERVICE:
        names = ", ".join(c.value for c in CONDITIONS)
        fail(f"no alarm {condition!r} on a detector", f"one of: {names}")
    if by not in {p.id for p in cfg.people}:
        fail(f"--by {by!r} is not in the config's people", "name a people id")
    return cfg, f"{device_id}/{condition}"


def _record(cfg: HazgwConfig, write: Callable[[Ledger], object]) -> None:
    path = cfg.state_dir / "ledger.sqlite"
    if not path.exists():
        fail(f"no ledger at {path}", "start the gateway once (hazgw run) to create it")
    try:
        ledger = Ledger.open_existing(path)
        try:
            write(ledger)
        finally:
            ledger.close_db()
    except LedgerError as exc:
        fail(f"not recorded: {exc}", "nothing changed; try again")
