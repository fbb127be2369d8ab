"""A real Gateway on the demo config (real time, tmp state) with its HTTP API on a free port,
run on an event loop in a background thread so tests can speak plain HTTP to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.api.config import ApiConfig, ApiToken, Role, hash_token
from gateway.api.server import ApiServer
from gateway.app import Gateway
from gateway.clock import SystemClock
from gateway.demo import demo_config

# person, role, token: only the hashes go into the config
PEOPLE = {
    "viewer": ("zhang.jun", Role.VIEWER, "viewer-token-1"),
    "duty": ("wang.wei", Role.DUTY_OFFICER, "duty-token-2"),
    "safety": ("li.na", Role.SAFETY_OFFICER, "safety-token-3"),
    "admin": ("safety.office", Role.ADMIN, "admin-token-4"),
}


def api_config(max_failed: int = 1000) -> ApiConfig:
    tokens = [ApiToken(person=p, role=r, token_sha256=hash_token(t)) for p, r, t in PEOPLE.values()]
    return ApiConfig(enabled=True, port=0, tokens=tokens, max_failed_per_minute=max_failed)


@dataclass
class Running:
    url: str
    gateway: Gateway

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {PEOPLE[who][2]}"}


@contextmanager
def running_gateway(state: Path, cfg: ApiConfig) -> Iterator[Running]:
    gw = Gateway(demo_config(state), clock=SystemClock(), notifiers=[])
    loop = asyncio.new_event_loop()
    port: asyncio.Future[int] = loop.create_future()

    async def main() -> None:
        server = ApiServer(gw, cfg)
        run = asyncio.create_task(gw.run())
        port.set_result(await server.start())
        try:
            await run
        finally:
            await server.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    bound = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(port), 30), loop)
    running = Running(f"http://127.0.0.1:{bound.result(30)}", gw)
    _wait_ready(running.url)
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(gw.stop)
        thread.join(60)
        loop.close()


def _wait_ready(url: str) -> None:
    for _ in range(300):  # readiness is polled, not timed: the first engine step
        if httpx.get(f"{url}/ready").status_code == 200:
            return
        threading.Event().wait(0.1)
    raise AssertionError("the gateway never became ready")
