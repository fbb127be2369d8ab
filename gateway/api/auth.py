"""Bearer tokens to people and roles, and the limit on failed attempts per client address."""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.api.config import RANK, ApiToken, Role, hash_token

WINDOW_S = 60.0


@dataclass(frozen=True)
class Caller:
    person: str
    role: Role

    def may(self, needed: Role) -> bool:
        return RANK[self.role] >= RANK[needed]


class Denied(Exception):  # noqa: N818 - a refusal, not an error
    """Why a request gets no further: 401 (no or wrong token) or 429 (too many failures)."""

    def __init__(self, status: int, reason: str, retry_after_s: int = 0) -> None:
        super().__init__(reason)
        self.status, self.reason, self.retry_after_s = status, reason, retry_after_s


class Authenticator:
    def __init__(
        self, tokens: list[ApiToken], max_failed_per_minute: int, monotonic: Callable[[], float]
    ) -> None:
        self._tokens = tokens
        self._limit = max_failed_per_minute
        self._now = monotonic
        self._failures: dict[str, deque[float]] = {}

    def caller(self, header: str | None, address: str) -> Caller:
        """The person behind `Authorization: Bearer ...`, or Denied. An address over its limit of
        wrong tokens is refused before its token is even looked at: no more guesses."""
        blocked = self._retry_after(address)
        if blocked:
            raise Denied(429, "too many failed attempts from this address; wait", blocked)
        if not header:
            raise Denied(401, "no token: send 'Authorization: Bearer <token>'")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Denied(401, "the Authorization header must be 'Bearer <token>'")
        digest = hash_token(token.strip())
        for entry in self._tokens:  # compare every entry in constant time
            if hmac.compare_digest(entry.token_sha256, digest):
                return Caller(entry.person, entry.role)
        self._failures.setdefault(address, deque(maxlen=self._limit)).append(self._now())
        raise Denied(401, "unknown token")

    def _retry_after(self, address: str) -> int:
        window = self._failures.get(address)
        if window is None:
            return 0
        now = self._now()
        while window and now - window[0] >= WINDOW_S:
            window.popleft()
        if not window:
            del self._failures[address]
            return 0
        if len(window) < self._limit:
            return 0
        return max(1, int(WINDOW_S - (now - window[0]) + 0.999))
