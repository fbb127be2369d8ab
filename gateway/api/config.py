"""`api:` in the config: where the HTTP API listens and whose bearer tokens it accepts.

Tokens are stored only as their SHA-256 (hex): the config file and its backups never hold a
token that works. `hazgw` prints a new token once with `new_token()` and keeps only the hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class Role(StrEnum):
    VIEWER = "viewer"
    DUTY_OFFICER = "duty_officer"
    SAFETY_OFFICER = "safety_officer"
    ADMIN = "admin"


RANK = {Role.VIEWER: 0, Role.DUTY_OFFICER: 1, Role.SAFETY_OFFICER: 2, Role.ADMIN: 3}


def hash_token(token: str) -> str:
    """What goes into `api.tokens[].token_sha256` for a bearer token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random token and its hash: hand out the first, store the second."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiToken(_Strict):
    person: str = Field(min_length=1)  # a people id: the actor of every action with this token
    role: Role
    token_sha256: str

    @field_validator("token_sha256")
    @classmethod
    def _hashed(cls, value: str) -> str:
        digest = value.strip().lower()
        if not _SHA256_HEX.fullmatch(digest):
            raise ValueError(
                "must be the SHA-256 of the token as 64 hex digits, never the token itself"
                " (make one with: python -c 'from gateway.api.config import new_token;"
                " print(new_token())')"
            )
        return digest


class ApiConfig(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"  # localhost only unless the operator opens it on purpose
    port: int = Field(default=8642, ge=0, le=65535)  # 0: any free port (tests)
    tokens: list[ApiToken] = []
    max_failed_per_minute: int = Field(default=10, ge=1)  # per client address, then 429

    @field_validator("tokens")
    @classmethod
    def _distinct(cls, tokens: list[ApiToken]) -> list[ApiToken]:
        hashes = [t.token_sha256 for t in tokens]
        if len(set(hashes)) != len(hashes):
            raise ValueError("two entries share one token hash: give every person their own")
        return tokens
