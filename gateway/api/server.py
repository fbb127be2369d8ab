"""The aiohttp server the daemon runs as one more task: routes, the token check and the JSON
error bodies. Every refusal is a 4xx with `{"error": why}` and changes nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from gateway.api import ledger_api, metrics, views
from gateway.api.auth import Authenticator, Caller, Denied
from gateway.api.config import ApiConfig, Role
from gateway.api.openapi import document
from gateway.app import Gateway
from gateway.errors import ConfigError, ConfigIssue

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GW = web.AppKey("gateway", Gateway)
AUTH = web.AppKey("auth", Authenticator)
STALL_S = 10.0  # /ready fails when the engine made no step for this long (and 3 ticks)


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Denied as exc:
        retry = {"Retry-After": str(exc.retry_after_s)} if exc.status == 429 else None
        challenge = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.reason, retry or challenge)
    except ledger_api.Refused as exc:
        return _error(exc.status, exc.reason)
    except web.HTTPException as exc:  # aiohttp's own 404/405/413: JSON like the rest
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _error(exc.status, exc.reason, allow)
    except RuntimeError as exc:  # the gateway is starting or stopping
        if "not running" not in str(exc):
            raise
        return _error(503, "the gateway is not running yet")


def caller(request: web.Request, needed: Role) -> Caller:
    address = request.remote or "unknown"
    who = request.app[AUTH].caller(request.headers.get("Authorization"), address)
    if not who.may(needed):
        raise ledger_api.Refused(
            403, f"{who.person} is {who.role.value}; this needs {needed.value}"
        )
    return who


async def body_of(request: web.Request, model: type[ledger_api.Body]) -> ledger_api.Body:
    raw = await request.read()
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise ledger_api.Refused(400, "the body is not JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        why = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise ledger_api.Refused(422, why) from None


def _json(doc: object, status: int = 200) -> web.Response:
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False)
    return web.Response(text=text, status=status, content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return _json({"status": "alive"})


class Readiness:
    """Ready while the engine keeps stepping (seen from the API's own polls)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw, self.steps, self.since = gw, -1, gw.clock.monotonic()

    async def __call__(self, request: web.Request) -> web.Response:
        gw, now = self.gw, self.gw.clock.monotonic()
        if gw.counters.steps != self.steps:
            self.steps, self.since = gw.counters.steps, now
        limit = max(STALL_S, 3 * gw.cfg.detection.tick_s)
        if gw.engine is None or gw.counters.steps == 0:
            return _json({"ready": False, "reason": "the engine has not stepped yet"}, 503)
        if gw.stopping.is_set() or now - self.since > limit:
            why = "stopping" if gw.stopping.is_set() else f"no engine step for {limit:.0f} s"
            return _json({"ready": False, "reason": why}, 503)
        return _json({"ready": True, "steps": gw.counters.steps})


async def prometheus(request: web.Request) -> web.Response:
    snap = await views.snapshot(request.app[GW])
    headers = {"Content-Type": metrics.CONTENT_TYPE}
    return web.Response(body=metrics.render(snap).encode(), headers=headers)


async def status(request: web.Request) -> web.Response:
    caller(request, Role.VIEWER)
    return _json(views.status_doc(await views.snapshot(request.app[GW])))


async def alarms(request: web.Request) -> web.Response:
    caller(request, Role.VIEWER)
    return _json(await views.alarms(request.app[GW]))


async def sensors(request: web.Request) -> web.Response:
    caller(request, Role.VIEWER)
    return _json(await views.sensors(request.app[GW]))


async def ledger_list(request: web.Request) -> web.Response:
    caller(request, Role.VIEWER)
    return _json(await ledger_api.read_all(request.app[GW]))


async def ledger_show(request: web.Request) -> web.Response:
    caller(request, Role.VIEWER)
    return _json(await ledger_api.read_one(request.app[GW], request.match_info["number"]))


async def ledger_register(request: web.Request) -> web.Response:
    who = caller(request, Role.SAFETY_OFFICER)
    body = await body_of(request, ledger_api.Register)
    assert isinstance(body, ledger_api.Register)
    return _json(await ledger_api.register(request.app[GW], who.person, body), 201)


async def ledger_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    spec = ledger_api.ACTIONS.get(action)
    if spec is None:
        known = ", ".join(ledger_api.ACTIONS)
        raise ledger_api.Refused(404, f"no action {action!r}; actions: {known}")
    who = caller(request, spec.role)
    body = await body_of(request, spec.body)
    number = request.match_info["number"]
    return _json(await ledger_api.act(request.app[GW], action, number, who.person, body))


async def openapi(request: web.Request) -> web.Response:
    return _json(document())


def make_app(gw: Gateway, cfg: ApiConfig) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=64 * 1024)
    app[GW] = gw
    app[AUTH] = Authenticator(list(cfg.tokens), cfg.max_failed_per_minute, gw.clock.monotonic)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", Readiness(gw).__call__)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/status", status)
    app.router.add_get("/alarms", alarms)
    app.router.add_get("/sensors", sensors)
    app.router.add_get("/ledger", ledger_list)
    app.router.add_post("/ledger", ledger_register)
    app.router.add_get("/ledger/{number}", ledger_show)
    app.router.add_post("/ledger/{number}/{action}", ledger_action)
    return app


def check_people(gw: Gateway, cfg: ApiConfig) -> None:
    """Every token names one of the site's people: actions are attributed to them."""
    people = {p.id for p in gw.cfg.people}
    issues = [
        ConfigIssue("config", f"api.tokens[{i}].person", None, f"{t.person!r} is not in people")
        for i, t in enumerate(cfg.tokens)
        if t.person not in people
    ]
    if issues:
        raise ConfigError(issues)


class ApiServer:
    def __init__(self, gw: Gateway, cfg: ApiConfig) -> None:
        check_people(gw, cfg)
        self.cfg = cfg
        self._runner = web.AppRunner(make_app(gw, cfg), access_log=None)

    async def start(self) -> int:
        """Bind and listen; the port bound (the configured one, or a free one for port 0)."""
        await self._runner.setup()
        await web.TCPSite(self._runner, self.cfg.host, self.cfg.port).start()
        address = self._runner.addresses[0]
        log.info("HTTP API on http://%s:%d", self.cfg.host, address[1])
        return int(address[1])

    async def stop(self) -> None:
        await self._runner.cleanup()


async def serve(gw: Gateway, cfg: ApiConfig) -> None:
    """The daemon's `api` task: serve until the gateway stops (or the task is cancelled)."""
    if not cfg.enabled:
        return
    server = ApiServer(gw, cfg)
    await server.start()
    try:
        await gw.stopping.wait()
    finally:
        await server.stop()
