"""`hazgw status`: how the running gateway is doing, from its own HTTP API.

Exit codes: 0 healthy, 3 degraded (a bus down, devices not answering, InfluxDB unreachable, the
outbox not writable), 1 error (the daemon cannot be asked). Active alarms are the site's state,
not the gateway's: they are listed, they do not make the gateway degraded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, config_error, fail
from gateway.config import load_config
from gateway.errors import ConfigError

TOKEN_ENV = "HAZGW_TOKEN"  # noqa: S105 (the name of a variable, not a secret)
out = Console(soft_wrap=True)


def status(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="read the API address from this config")
    ] = DEFAULT_CONFIG,
    url: Annotated[str | None, typer.Option(help="the API, e.g. http://127.0.0.1:8642")] = None,
    token: Annotated[
        str | None, typer.Option(help=f"a viewer token (default: ${TOKEN_ENV})")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Driver and bus health, InfluxDB, outbox, active alarms, who is on duty."""
    doc = _fetch(url or _url_from(config), token or os.environ.get(TOKEN_ENV, ""))
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _show(doc)
    raise typer.Exit(0 if doc["status"] == "healthy" else 3)


def _url_from(config: Path) -> str:
    try:
        api = load_config(config).api
    except ConfigError as exc:
        config_error(exc)
    if not api.enabled:
        fail(f"the API is not enabled in {config}", "set api.enabled: true, or pass --url")
    return f"http://{api.host}:{api.port}"


def _fetch(url: str, token: str) -> dict[str, Any]:
    import httpx  # noqa: PLC0415 (the daemon runs through this CLI and never needs it)

    if not token:
        fail("no token", f"pass --token or set {TOKEN_ENV} (any role can read the status)")
    try:
        r = httpx.get(f"{url}/status", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    except httpx.HTTPError as exc:
        fail(
            f"cannot reach the gateway at {url}: {exc}",
            "is it running? systemctl status hazard-gateway",
        )
    if r.status_code in (401, 403):
        fail(f"the gateway refused the token ({r.status_code})", "ask an admin for a viewer token")
    if r.status_code != 200:
        fail(f"the gateway answered {r.status_code}: {r.text[:200]}")
    doc: dict[str, Any] = r.json()
    return doc


def _show(doc: dict[str, Any]) -> None:
    colour = "green" if doc["status"] == "healthy" else "yellow"
    out.print(f"[bold {colour}]{doc['status']}[/] at {doc['at']}", highlight=False)
    for p in doc["problems"]:
        out.print(f"  [yellow]![/] {p}", highlight=False)
    drivers = Table(title="Drivers")
    for col in ("driver", "connected", "failing", "errors", "last error"):
        drivers.add_column(col)
    for d in doc["drivers"]:
        drivers.add_row(
            d["id"], "yes" if d["connected"] else "[red]no[/]", ", ".join(d["failing"]) or "-",
            ", ".join(f"{k} {v}" for k, v in d["errors"].items()) or "-", d["last_error"] or "-",
        )  # fmt: skip
    out.print(drivers)
    o, fwd = doc["outbox"], doc["forwarder"]
    influx = "not configured" if fwd is None else fwd["forwarder_state"]
    out.print(
        f"InfluxDB: {influx}; outbox: {o['events']} events and {o['telemetry']} readings waiting, "
        f"{o['dropped']} dropped, oldest {o['oldest_age_s']} s",
        highlight=False,
    )
    duty = ", ".join(doc["duty_officer"]) or "nobody (check the roster)"
    out.print(f"On duty: {duty}", highlight=False)
    out.print(f"Active alarms: {len(doc['alarms'])}", highlight=False)
    for a in doc["alarms"]:
        hazard = f" -> {a['hazard']}" if a["hazard"] else ""
        out.print(f"  {a['device']}/{a['condition']}  {a['state']}{hazard}", highlight=False)
