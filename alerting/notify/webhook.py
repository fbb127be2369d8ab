"""Webhook: the notification as JSON in a POST, signed so the receiver can trust it.

Headers:
  X-Hazgw-Timestamp  Unix seconds when this attempt was signed
  X-Hazgw-Signature  "sha256=" + hex HMAC-SHA256(secret, "<timestamp>.<body>")
  X-Hazgw-Delivery   the same id on every retry of one message: the receiver drops repeats
A receiver recomputes the HMAC over the raw body, compares in constant time, and refuses a
timestamp older than a few minutes: a captured request cannot be replayed later (`verify`).
Answers: 2xx delivered; 408, 425, 429 and 5xx retryable (Retry-After honoured); any other status
is a configuration error (wrong URL, refused key) and is not retried. Network errors are retryable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerting.notify import Notification, NotifyError, payload
from gateway.clock import NS_PER_S, Clock

RETRYABLE_STATUS = frozenset({408, 425, 429})
SCHEMA = "hazgw.notification/1"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def verify(
    secret: bytes, body: bytes, *, timestamp: str, signature: str, now_s: float, tolerance_s: float
) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature, compared safely."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now_s - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def delivery_id(n: Notification) -> str:
    """Stable across retries of one message, different for every other message."""
    parts = [n.recipients, n.drill] + [(m.number, m.step, m.round, m.repeat) for m in n.members]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class WebhookNotifier:
    def __init__(
        self,
        *,
        name: str = "webhook",
        url: str,
        secret: str,
        clock: Clock,
        headers: dict[str, str] | None = None,
        contacts: dict[str, dict[str, str]] | None = None,
        timeout_s: float = 10.0,
        verify_tls: bool = True,
        proxy: str | None = None,
        site: str = "",
        gateway: str = "",
    ) -> None:
        self.name, self.url, self.clock = name, url, clock
        self._secret = secret.encode()
        self._headers = dict(headers or {})
        self._contacts = contacts or {}
        self.ident = {"site": site, "gateway": gateway}
        parts = urlsplit(url)
        self.where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # no query: it may hold a key
        self._client_args: dict[str, Any] = {
            "timeout": timeout_s, "verify": verify_tls, "proxy": proxy, "trust_env": False,
        }  # fmt: skip
        self._client: httpx.AsyncClient | None = None

    def body(self, n: Notification) -> bytes:
        people = [self._contacts.get(r, {"id": r}) for r in n.recipients]
        doc = payload(n, schema=SCHEMA, id=delivery_id(n), people=people, **self.ident)
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    async def send(self, notification: Notification) -> None:
        body = self.body(notification)
        ts = self.clock.wall_ns() // NS_PER_S
        headers = {
            **self._headers,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "hazard-gateway",
            "X-Hazgw-Timestamp": str(ts),
            "X-Hazgw-Signature": sign(self._secret, ts, body),
            "X-Hazgw-Delivery": delivery_id(notification),
        }
        if self._client is None:
            self._client = httpx.AsyncClient(**self._client_args)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise NotifyError(f"webhook {self.where}: timed out", retryable=True) from None
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
            raise NotifyError(f"webhook {self.where}: {kind}: {exc}", retryable=True) from None
        _check(response, self.where, self.clock.wall_ns() / NS_PER_S)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _check(response: httpx.Response, where: str, now_s: float) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    text = f"webhook {where}: HTTP {status} {response.reason_phrase}"
    if status in RETRYABLE_STATUS or status >= 500:
        after = _retry_after(response.headers.get("Retry-After"), now_s)
        raise NotifyError(text, retryable=True, retry_after=after)
    raise NotifyError(text, retryable=False)


def _retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_s)
