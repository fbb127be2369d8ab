"""The HTTP API against a real Gateway on the demo config, over real HTTP on a free port: who may
do what, refusals that change nothing, responses that match the OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from gateway.api.openapi import document
from tests.integration.test_api_support import Running, api_config, running_gateway

DOC = document()
FINDING = {"title": "blocked fire exit", "kind": "fire", "grade": "general",
           "source": "self_inspection", "location": "corridor", "zone": "corridor"}  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_gateway(tmp_path_factory.mktemp("api"), api_config()) as running:
        yield running


def conforms(r: httpx.Response, path: str, method: str = "get") -> Any:
    """The response is one the OpenAPI description allows for this operation and status."""
    op = DOC["paths"][path][method]
    assert str(r.status_code) in op["responses"], (r.status_code, r.text)
    content = op["responses"][str(r.status_code)]["content"]
    if "text/plain" in content:
        return r.text
    schema = content["application/json"]["schema"] | {"components": DOC["components"]}
    body = r.json()
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
    return body


def ledger(api: Running) -> Any:
    return httpx.get(f"{api.url}/ledger", headers=api.auth("viewer")).json()


def register(api: Running) -> str:
    r = httpx.post(f"{api.url}/ledger", json=FINDING, headers=api.auth("safety"))
    return str(conforms(r, "/ledger", "post")["number"])


def test_health_ready_metrics_and_openapi_need_no_token(api: Running) -> None:
    assert conforms(httpx.get(f"{api.url}/health"), "/health") == {"status": "alive"}
    assert conforms(httpx.get(f"{api.url}/ready"), "/ready")["ready"] is True
    text = conforms(httpx.get(f"{api.url}/metrics"), "/metrics")
    assert 'hazgw_driver_connected{driver="sim"} 1' in text
    assert "# TYPE hazgw_readings_total counter" in text
    assert 'hazgw_outbox_dropped_total{reason="overflow"} 0' in text
    assert httpx.get(f"{api.url}/openapi.json").json() == DOC


@pytest.mark.parametrize("path", ["/alarms", "/sensors", "/ledger", "/status"])
def test_reads_need_a_token_and_any_role_may_read(api: Running, path: str) -> None:
    missing = httpx.get(f"{api.url}{path}")
    assert missing.status_code == 401
    assert "token" in conforms(missing, path)["error"]
    bad = httpx.get(f"{api.url}{path}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    for who in ("viewer", "duty", "safety", "admin"):
        conforms(httpx.get(f"{api.url}{path}", headers=api.auth(who)), path)


def test_sensors_show_every_demo_device(api: Running) -> None:
    sensors = httpx.get(f"{api.url}/sensors", headers=api.auth("viewer")).json()
    assert "kitchen-gas-1" in {s["device"] for s in sensors}


def test_the_whole_loop_is_attributed_to_each_tokens_person(api: Running) -> None:
    number = register(api)
    steps = [("duty", "acknowledge", {}), ("safety", "assign", {"responsible": "wang.wei"}),
             ("safety", "rectify", {}), ("safety", "request-review", {"reason": "cleared"}),
             ("admin", "verify", {"opinion": "exit is clear"}),
             ("admin", "close", {"reason": "done"})]  # fmt: skip
    for who, action, body in steps:
        path = f"/ledger/{{number}}/{action}"
        r = httpx.post(f"{api.url}/ledger/{number}/{action}", json=body, headers=api.auth(who))
        conforms(r, path, "post")
    r = httpx.get(f"{api.url}/ledger/{number}", headers=api.auth("viewer"))
    detail = conforms(r, "/ledger/{number}")
    actors = [(e["type"], e["actor"]) for e in detail["history"]]
    assert actors == [("registered", "li.na"), ("acknowledged", "wang.wei"),
                      ("assigned", "li.na"), ("rectifying", "li.na"),
                      ("review_requested", "li.na"), ("reviewed", "safety.office"),
                      ("closed", "safety.office")]  # fmt: skip
    assert detail["status"] == "closed"


@pytest.mark.parametrize(
    ("who", "action", "body"),
    [("viewer", "acknowledge", {}), ("viewer", "assign", {"responsible": "li.na"}),
     ("duty", "assign", {"responsible": "li.na"}), ("duty", "rectify", {}),
     ("duty", "close", {"reason": "x"})],
)  # fmt: skip
def test_roles_are_refused_what_they_may_not_do(
    api: Running, who: str, action: str, body: dict[str, str]
) -> None:
    number = register(api)
    before = ledger(api)
    r = httpx.post(f"{api.url}/ledger/{number}/{action}", json=body, headers=api.auth(who))
    assert r.status_code == 403
    assert "needs" in conforms(r, f"/ledger/{{number}}/{action}", "post")["error"]
    assert ledger(api) == before


def test_no_action_without_a_token(api: Running) -> None:
    number = register(api)
    before = ledger(api)
    r = httpx.post(f"{api.url}/ledger/{number}/acknowledge", json={})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.post(f"{api.url}/ledger", json=FINDING).status_code == 401
    assert (
        httpx.post(f"{api.url}/ledger", json=FINDING, headers=api.auth("duty")).status_code == 403
    )
    assert ledger(api) == before


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [("/ledger", FINDING | {"kind": "flood"}, 422, "kind"),
     ("/ledger", FINDING | {"zone": "roof"}, 422, "zone"),
     ("/ledger", FINDING | {"title": "   "}, 422, "title"),
     ("/ledger", FINDING | {"anonymous": True}, 422, "anonymous"),
     ("/ledger", FINDING | {"extra": 1}, 422, "extra"),
     ("/ledger/{n}/assign", {"responsible": "nobody.here"}, 422, "responsible"),
     ("/ledger/{n}/request-review", {}, 422, "reason"),
     ("/ledger/{n}/verify", {"opinion": "too early"}, 409, "cannot become verified"),
     ("/ledger/{n}/close", {"reason": "x", "disposition": "rectified"}, 409, ""),
     ("/ledger/YH-0000/acknowledge", {}, 404, "unknown"),
     ("/ledger/{n}/explode", {}, 404, "no action")],
)  # fmt: skip
def test_bad_input_gets_a_reason_and_changes_nothing(
    api: Running, path: str, body: dict[str, Any], status: int, says: str
) -> None:
    number = register(api)
    before = ledger(api)
    r = httpx.post(f"{api.url}{path.replace('{n}', number)}", json=body, headers=api.auth("admin"))
    assert r.status_code == status, r.text
    assert says in r.json()["error"]
    assert ledger(api) == before


def test_a_body_that_is_not_json_is_400(api: Running) -> None:
    number = register(api)
    r = httpx.post(
        f"{api.url}/ledger/{number}/acknowledge", content=b"{not json", headers=api.auth("duty")
    )
    assert r.status_code == 400
    assert conforms(r, "/ledger/{number}/acknowledge", "post") == {"error": "the body is not JSON"}


def test_failed_attempts_are_rate_limited_per_address(tmp_path: Path) -> None:
    with running_gateway(tmp_path, api_config(max_failed=3)) as api:
        wrong = {"Authorization": "Bearer guess"}
        codes = [httpx.get(f"{api.url}/alarms", headers=wrong).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        limited = httpx.get(f"{api.url}/alarms", headers=api.auth("viewer"))
        assert limited.status_code == 429  # even the right token: the address is blocked
        assert int(limited.headers["Retry-After"]) >= 1
        assert httpx.get(f"{api.url}/health").status_code == 200
