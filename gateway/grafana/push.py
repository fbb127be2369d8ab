"""Upload the boards (and optionally the datasource) through Grafana's HTTP API.

Plain urllib3 (already in the daemon's environment through influxdb-client): grafana-client is
kept out on purpose, it replaces urllib3 for the whole interpreter (design.md). Requests:
  GET  /api/folders/{uid}          404 -> POST /api/folders           the boards' folder
  GET  /api/datasources/uid/{uid}  404 -> POST /api/datasources, else PUT /api/datasources/uid/{uid}
  POST /api/dashboards/db          {"dashboard", "folderUid", "overwrite": true, "message"}
Authentication: a service account token, sent as `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3

from gateway.errors import HazgwError
from gateway.grafana.model import Json
from gateway.grafana.provisioning import FOLDER, DatasourceSettings, datasource_json

TIMEOUT_S = 15.0


class GrafanaError(HazgwError):
    """Grafana refused a request or could not be reached; the message says which and why."""


@dataclass
class PushReport:
    folder_created: bool = False
    datasource: str = ""  # "created", "updated" or "" when not pushed
    dashboards: list[str] = field(default_factory=list)  # URLs Grafana reported


class GrafanaClient:
    def __init__(self, url: str, token: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self.base = url.rstrip("/")
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout_s), retries=False)

    def request(
        self, method: str, path: str, body: Json | None = None, *, ok_404: bool = False
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        try:
            resp = self.http.request(method, self.base + path, body=data, headers=self.headers)
        except urllib3.exceptions.HTTPError as exc:
            raise GrafanaError(f"{method} {self.base}{path}: {exc}") from exc
        payload = _decode(resp.data)
        if resp.status == 404 and ok_404:
            return resp.status, payload
        if resp.status >= 400:
            message = payload.get("message") if isinstance(payload, Mapping) else payload
            raise GrafanaError(f"{method} {path}: HTTP {resp.status}: {message}")
        return resp.status, payload

    def close(self) -> None:
        self.http.clear()


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return data.decode(errors="replace")


def ensure_folder(client: GrafanaClient, uid: str, title: str) -> bool:
    """True when the folder had to be created."""
    status, _ = client.request("GET", f"/api/folders/{uid}", ok_404=True)
    if status != 404:
        return False
    client.request("POST", "/api/folders", {"uid": uid, "title": title})
    return True


def put_datasource(client: GrafanaClient, settings: DatasourceSettings) -> str:
    body = datasource_json(settings)
    path = f"/api/datasources/uid/{body['uid']}"
    status, _ = client.request("GET", path, ok_404=True)
    if status == 404:
        client.request("POST", "/api/datasources", body)
        return "created"
    client.request("PUT", path, body)
    return "updated"


def put_dashboard(client: GrafanaClient, board: Json, folder_uid: str) -> str:
    body = {
        "dashboard": {**board, "id": None},  # match by uid, never by a numeric id
        "folderUid": folder_uid,
        "overwrite": True,
        "message": "hazgw grafana push",
    }
    _, reply = client.request("POST", "/api/dashboards/db", body)
    url = reply.get("url", "") if isinstance(reply, Mapping) else ""
    return client.base + url if url else str(board["uid"])


def push(
    url: str,
    token: str,
    boards: Mapping[str, Json],
    *,
    folder: str = FOLDER,
    datasource: DatasourceSettings | None = None,
) -> PushReport:
    """Folder first, then the datasource the boards query, then every board (overwriting)."""
    client = GrafanaClient(url, token)
    report = PushReport()
    try:
        report.folder_created = ensure_folder(client, folder, folder)
        if datasource is not None:
            report.datasource = put_datasource(client, datasource)
        for board in boards.values():
            report.dashboards.append(put_dashboard(client, board, folder))
    finally:
        client.close()
    return report
