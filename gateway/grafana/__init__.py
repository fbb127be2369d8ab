"""Grafana boards as code: Python builds the dashboard JSON and the provisioning files.

`boards()` returns every dashboard; `files()` renders what `hazgw grafana export DIR` writes
(dashboards/*.json and provisioning/**.yaml, the layout of deploy/grafana/); `push` uploads the
boards and the datasource through Grafana's HTTP API. The boards query InfluxDB with raw InfluxQL
and name only what docs/schema.md lists (checked by the tests).
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.grafana import alarm_health, hazards, health, ledger, overview
from gateway.grafana.model import Json
from gateway.grafana.provisioning import (
    DASHBOARDS_PATH,
    DatasourceSettings,
    dashboard_provider_yaml,
    datasource_yaml,
)


def boards() -> dict[str, Json]:
    """File stem -> dashboard JSON, in the order a facility manager reads them."""
    return {
        "overview": overview.board(),
        "gas": hazards.gas_board(),
        "fire": hazards.fire_board(),
        "device-health": health.board(),
        "ledger": ledger.board(),
        "alarm-health": alarm_health.board(),
    }


def render_board(board: Json) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def files(
    dashboards_path: str = DASHBOARDS_PATH, datasource: DatasourceSettings | None = None
) -> dict[str, str]:
    """Relative path -> text of everything `export` writes."""
    out = {f"dashboards/{stem}.json": render_board(b) for stem, b in boards().items()}
    out["provisioning/dashboards/hazard-gateway.yaml"] = dashboard_provider_yaml(dashboards_path)
    out["provisioning/datasources/hazard-gateway.yaml"] = datasource_yaml(
        datasource or DatasourceSettings()
    )
    return out


def export(
    directory: Path,
    dashboards_path: str = DASHBOARDS_PATH,
    datasource: DatasourceSettings | None = None,
) -> list[Path]:
    """Write the boards and provisioning under `directory`; return the paths written."""
    written = []
    for rel, text in files(dashboards_path, datasource).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


__all__ = ["DatasourceSettings", "boards", "export", "files", "render_board"]
