"""`hazgw grafana`: write the boards and provisioning files, or upload them to a Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.cli.common import fail
from gateway.grafana import boards, export
from gateway.grafana.provisioning import DASHBOARDS_PATH, FOLDER, DatasourceSettings
from gateway.grafana.push import GrafanaError, push

app = typer.Typer(help="Grafana boards as code: export or push them.", no_args_is_help=True)
out = Console()


@app.command("export")
def export_cmd(
    directory: Annotated[Path, typer.Argument(help="where to write dashboards/ and provisioning/")],
    dashboards_path: Annotated[
        str, typer.Option(help="where Grafana will read the boards (the provider's path)")
    ] = DASHBOARDS_PATH,
) -> None:
    """Write dashboards/*.json and provisioning/{dashboards,datasources}/*.yaml under DIRECTORY."""
    written = export(directory, dashboards_path)
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    out.print(
        f"[green]ok[/] {len(written)} files; point Grafana's provisioning at "
        f"{directory / 'provisioning'} and set HAZGW_INFLUX_URL, HAZGW_INFLUX_DATABASE, "
        "HAZGW_INFLUX_TOKEN in its environment.",
        highlight=False,
    )


@app.command("push")
def push_cmd(  # noqa: PLR0917 - typer maps each parameter to one command-line option
    url: Annotated[str, typer.Option(help="Grafana's base URL, e.g. http://grafana:3000")],
    token: Annotated[
        str,
        typer.Option(envvar="GRAFANA_TOKEN", help="a service account token (or env GRAFANA_TOKEN)"),
    ],
    folder: Annotated[str, typer.Option(help="folder uid and title for the boards")] = FOLDER,
    influx_url: Annotated[
        str | None,
        typer.Option(
            help="also create or update the InfluxDB datasource with this URL "
            "(token from env HAZGW_INFLUX_TOKEN)"
        ),
    ] = None,
    influx_database: Annotated[
        str, typer.Option(help="InfluxQL database (2.x: the bucket's DBRP database)")
    ] = "hazgw",
    influx_user: Annotated[str, typer.Option(help="InfluxDB 1.x user")] = "",
    influx_password: Annotated[
        str, typer.Option(envvar="HAZGW_INFLUX_PASSWORD", help="InfluxDB 1.x password")
    ] = "",
    influx_token: Annotated[
        str, typer.Option(envvar="HAZGW_INFLUX_TOKEN", help="InfluxDB 2.x/3.x token")
    ] = "",
) -> None:
    """Upload every board (overwriting by uid) and, with --influx-url, the datasource."""
    settings = None
    if influx_url:
        settings = DatasourceSettings(
            influx_url, influx_database, influx_token, influx_user, influx_password
        )
    try:
        report = push(url, token, boards(), folder=folder, datasource=settings)
    except GrafanaError as exc:
        fail(str(exc), "check --url, the token's permissions (Editor or Admin) and the folder")
    if report.folder_created:
        out.print(f"created folder {folder}", highlight=False)
    if report.datasource:
        out.print(f"datasource {report.datasource}", highlight=False)
    for board_url in report.dashboards:
        out.print(f"pushed {board_url}", highlight=False)
    out.print(f"[green]ok[/] {len(report.dashboards)} boards in folder {folder}", highlight=False)
