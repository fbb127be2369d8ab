"""`hazgw`: the command line of technicians and safety officers. One module per command group."""

from __future__ import annotations

import typer

from gateway.cli import (
    commission_cmd,
    config_cmd,
    demo_cmd,
    device_cmd,
    grafana_cmd,
    ledger_cmd,
    outbox_cmd,
    run_cmd,
    status_cmd,
)

app = typer.Typer(
    name="hazgw",
    help="hazard-gateway: gas, smoke and heat sensors to alarms, a hazard ledger and escalation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(run_cmd.run)
app.command("demo")(demo_cmd.demo)
app.command("status")(status_cmd.status)
app.command("commission")(commission_cmd.commission)
app.add_typer(config_cmd.app, name="config")
app.add_typer(ledger_cmd.app, name="ledger")
app.add_typer(device_cmd.app, name="device")
app.add_typer(outbox_cmd.app, name="outbox")
app.add_typer(grafana_cmd.app, name="grafana")


def main() -> None:
    app()
