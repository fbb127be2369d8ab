"""Tokens are stored hashed: the config refuses a plain token and accepts only its SHA-256."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError

from gateway.api.config import ApiConfig, ApiToken, Role, hash_token, new_token


def test_a_new_token_is_handed_out_once_and_only_its_hash_is_kept() -> None:
    token, digest = new_token()
    assert digest == hashlib.sha256(token.encode()).hexdigest() == hash_token(token)
    assert (
        token
        not in ApiToken(person="li.na", role=Role.ADMIN, token_sha256=digest).model_dump_json()
    )


def test_a_plain_token_in_the_config_is_refused() -> None:
    with pytest.raises(ValidationError, match="SHA-256"):
        ApiToken(person="li.na", role=Role.ADMIN, token_sha256="my-secret-token")


def test_the_api_listens_on_localhost_unless_told_otherwise() -> None:
    assert ApiConfig().host == "127.0.0.1"
    assert ApiConfig().enabled is False
