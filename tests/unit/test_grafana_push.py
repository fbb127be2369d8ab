"""`hazgw grafana push` and `export`.

Grafana cannot be installed or run here, so a small HTTP server in this test stands in for it:
it answers the few endpoints push uses the way Grafana's HTTP API documents them and records
every request (method, path, headers, body) for the assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli.grafana_cmd import app
from gateway.grafana import boards, files
from gateway.grafana.model import DATASOURCE_UID
from gateway.grafana.provisioning import DatasourceSettings
from gateway.grafana.push import GrafanaError, push

TOKEN = "glsa_test_token"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGrafana:
    """State of the stand-in: what exists, what was asked, and a forced failure status."""

    url: str = ""
    folders: set[str] = field(default_factory=set)
    datasources: set[str] = field(default_factory=set)
    requests: list[Seen] = field(default_factory=list)
    fail_with: int | None = None

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if self.fail_with is not None:
            return self.fail_with, {"message": "Invalid API key"}
        routes = (
            ("/api/folders", self._folders),
            ("/api/datasources", self._datasources),
            ("/api/dashboards/db", self._dashboards),
        )
        for prefix, route in routes:
            if path.startswith(prefix):
                return route(method, path, body)
        return 404, {"message": f"no route {method} {path}"}

    def _folders(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST":
            self.folders.add(body["uid"])
            return 200, {"uid": body["uid"], "title": body["title"]}
        uid = path.rsplit("/", 1)[1]
        return (200, {"uid": uid}) if uid in self.folders else (404, {"message": "not found"})

    def _datasources(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST":
            self.datasources.add(body["uid"])
            return 200, {"message": "Datasource added"}
        if method == "PUT":
            return 200, {"message": "Datasource updated"}
        uid = path.rsplit("/", 1)[1]
        return (200, {"uid": uid}) if uid in self.datasources else (404, {"message": "not found"})

    def _dashboards(self, _method: str, _path: str, body: Any) -> tuple[int, Any]:
        uid = body["dashboard"]["uid"]
        return 200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x", "version": 1}


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            state.requests.append(Seen(self.command, self.path, dict(self.headers), body))
            status, reply = state.answer(self.command, self.path, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve  # noqa: N815 - http.server's naming

        def log_message(self, *_args: object) -> None:
            return None

    return Handler


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_push_creates_the_folder_and_datasource_then_overwrites_every_board(
    grafana: FakeGrafana,
) -> None:
    settings = DatasourceSettings("http://influxdb:8086", "hazgw", "influx-token")
    report = push(grafana.url, TOKEN, boards(), datasource=settings)

    assert report.folder_created
    assert report.datasource == "created"
    calls = [(r.method, r.path) for r in grafana.requests]
    assert calls[:4] == [
        ("GET", "/api/folders/hazard-gateway"),
        ("POST", "/api/folders"),
        ("GET", f"/api/datasources/uid/{DATASOURCE_UID}"),
        ("POST", "/api/datasources"),
    ]
    posts = [r for r in grafana.requests if r.path == "/api/dashboards/db"]
    assert [p.method for p in posts] == ["POST"] * len(boards())
    assert {p.body["dashboard"]["uid"] for p in posts} == {b["uid"] for b in boards().values()}
    for p in posts:
        assert p.body["overwrite"] is True
        assert p.body["folderUid"] == "hazard-gateway"
        assert p.body["dashboard"]["id"] is None
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in grafana.requests)
    datasource = grafana.requests[3].body
    assert datasource["type"] == "influxdb"
    assert datasource["jsonData"]["dbName"] == "hazgw"
    assert datasource["secureJsonData"]["httpHeaderValue1"] == "Token influx-token"
    assert report.dashboards[0] == f"{grafana.url}/d/hazgw-overview/x"


def test_a_second_push_updates_what_exists(grafana: FakeGrafana) -> None:
    settings = DatasourceSettings("http://influxdb:8086", "hazgw", "t")
    push(grafana.url, TOKEN, boards(), datasource=settings)
    grafana.requests.clear()
    report = push(grafana.url, TOKEN, boards(), datasource=settings)
    assert not report.folder_created
    assert report.datasource == "updated"
    assert ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}") in [
        (r.method, r.path) for r in grafana.requests
    ]
    assert not any(r.path == "/api/folders" for r in grafana.requests)


def test_without_influx_settings_the_datasource_is_left_alone(grafana: FakeGrafana) -> None:
    push(grafana.url, TOKEN, boards())
    assert not any("datasources" in r.path for r in grafana.requests)


def test_a_refused_token_is_an_error_that_says_why(grafana: FakeGrafana) -> None:
    grafana.fail_with = 401
    with pytest.raises(GrafanaError, match=r"HTTP 401: Invalid API key"):
        push(grafana.url, "wrong", boards())


def test_an_unreachable_grafana_is_an_error(grafana: FakeGrafana) -> None:
    closed = grafana.url.rsplit(":", 1)[0] + ":1"
    with pytest.raises(GrafanaError, match="GET"):
        push(closed, TOKEN, boards())


def test_the_push_command_reports_each_board(grafana: FakeGrafana) -> None:
    result = CliRunner().invoke(
        app,
        ["push", "--url", grafana.url, "--folder", "safety", "--influx-url", "http://i:8086"],
        env={"GRAFANA_TOKEN": TOKEN, "HAZGW_INFLUX_TOKEN": "tok"},
    )
    assert result.exit_code == 0, result.output
    assert f"ok {len(boards())} boards in folder safety" in result.output
    assert grafana.requests[0].path == "/api/folders/safety"
    assert grafana.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_push_command_fails_with_exit_code_1_on_a_refusal(grafana: FakeGrafana) -> None:
    grafana.fail_with = 403
    result = CliRunner().invoke(app, ["push", "--url", grafana.url, "--token", "t"])
    assert result.exit_code == 1
    assert "HTTP 403" in result.output


def test_the_export_command_writes_boards_and_provisioning(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--dashboards-path", "/srv/b"])
    assert result.exit_code == 0, result.output
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(files())
    provider = (tmp_path / "provisioning/dashboards/hazard-gateway.yaml").read_text()
    assert 'path: "/srv/b"' in provider
    overview = json.loads((tmp_path / "dashboards/overview.json").read_text())
    assert overview["uid"] == "hazgw-overview"
