"""Secrets never appear: not in `hazgw config show`, not in a config error, and every key that
looks like a secret is typed as one, so the masking (which goes by type) cannot miss it.

The daemon's logs are searched the same way in tests/integration/test_security_secrets.py.
"""

from __future__ import annotations

import re
import traceback
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, SecretStr, ValidationError
from typer.testing import CliRunner

from alerting.notify.config import WebhookChannelConfig
from gateway.cli import app
from gateway.config import MASK, HazgwConfig, InfluxV1Config, InfluxV2Config, load_config, redacted
from gateway.errors import ConfigError
from tests.security.site import Key, dotted, put, secrets_of, site_doc, write_yaml

runner = CliRunner()

# --- the output of `hazgw config show` ------------------------------------------------------


@pytest.mark.parametrize("fmt", [(), ("--json",)], ids=["yaml", "json"])
@pytest.mark.parametrize("influx_version", [1, 2])
def test_config_show_prints_no_secret_and_a_mask_for_each(
    tmp_path: Path, influx_version: int, fmt: tuple[str, ...]
) -> None:
    config = write_yaml(site_doc(tmp_path / "state", influx_version), tmp_path / "site.yaml")
    result = runner.invoke(app, ["config", "show", "-c", str(config), *fmt])
    assert result.exit_code == 0, result.output
    secrets = secrets_of(influx_version)
    assert [s.dotted for s in secrets if s.telltale in result.output] == []
    assert result.stdout.count(MASK) == len(secrets)


# --- config errors about a secret's key -----------------------------------------------------

# name: (key path, the bad value, the part of it never to be printed, the reason given)
CASES: dict[str, tuple[Key, Any, str, str]] = {
    "webhook secret too short": (
        ("notify", "channels", 2, "secret"), "shortTell-9x", "shortTell", "at least 16"),
    "apprise URL apprise refuses": (
        ("notify", "channels", 3, "urls", 0), "nosuchscheme://bot:badTok-77Hq@host/x",
        "badTok-77Hq", "apprise does not accept"),
    "person's URL with an unknown placeholder": (
        ("people", 0, "notify_urls", 0), "json://ops:{fax}@127.0.0.1/pplTok-Hh3q", "pplTok-Hh3q",
        "unknown placeholder"),
    "credentials in the InfluxDB URL": (
        ("influxdb", "url"), "http://admin:urlPw-4TzQ@127.0.0.1:8086", "urlPw-4TzQ",
        "no credentials"),
    "credentials in the webhook URL": (
        ("notify", "channels", 2, "url"), "https://u:webPw-3Ka9@dispatch.example.com/h",
        "webPw-3Ka9", "no credentials"),
    "InfluxDB password of the wrong type": (
        ("influxdb", "password"), ["listPw-8JdW", 1], "listPw-8JdW", "valid string"),
    "webhook header of the wrong type": (
        ("notify", "channels", 2, "headers", "X-Api-Key"), ["hdrKey-Zz81", 2], "hdrKey-Zz81",
        "valid string"),
    "MQTT password of the wrong type": (
        ("drivers", 1, "password"), {"pw": "mqPw-77Lk"}, "mqPw-77Lk", "valid string"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_an_error_about_a_secret_names_file_key_and_reason_but_not_the_value(
    tmp_path: Path, case: tuple[Key, Any, str, str]
) -> None:
    path, value, telltale, reason = case
    doc = site_doc(tmp_path / "state", 1)
    put(doc, path, value)
    config = write_yaml(doc, tmp_path / "site.yaml")
    key = dotted(path)

    result = runner.invoke(app, ["config", "show", "-c", str(config)])
    assert result.exit_code == 2
    assert re.search(rf"{re.escape(str(config))}:\d+: {re.escape(key)}: .*{reason}", result.output)
    assert telltale not in result.output
    with pytest.raises(ConfigError) as caught:  # nor in a traceback, should one be logged
        load_config(config)
    assert telltale not in "".join(traceback.format_exception(caught.value))


# --- every secret is typed as one -----------------------------------------------------------

SECRET_WORD = re.compile(
    r"(^|_)(password|passwd|passphrase|pwd|secret|token|key|apikey|credential|auth)s?(_|$)"
)
URL_WORD = re.compile(r"(^|_)(url|uri|dsn)s?(_|$)")
NOT_SECRETS = {
    ("ApiToken", "token_sha256"): "the SHA-256 of a random token: the file holds no token "
    "that works (gateway/api/config.py)",
}
# Shown as they are, so each refuses credentials; proven below, one by one.
CREDENTIAL_FREE_URLS = {
    ("InfluxV1Config", "url"): (InfluxV1Config, {"version": 1, "database": "d"}),
    ("InfluxV2Config", "url"): (InfluxV2Config, {"version": 2, "org": "o", "bucket": "b",
                                                 "token": "t"}),
    ("WebhookChannelConfig", "url"): (WebhookChannelConfig, {"type": "webhook",
                                                             "secret": "s" * 16}),
}  # fmt: skip


def leaves(annotation: Any) -> list[Any]:
    """The types a value of `annotation` ends in: Optional, unions, lists and dict values opened."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return leaves(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, tuple, set, frozenset):
        return [leaf for arg in get_args(annotation) for leaf in leaves(arg)]
    if origin is dict:
        return leaves(get_args(annotation)[1])
    return [] if annotation is type(None) or annotation is Ellipsis else [annotation]


def models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root` and every model reachable through its fields."""
    found: list[type[BaseModel]] = []
    todo = [root]
    while todo:
        model = todo.pop()
        if model not in found:
            found.append(model)
            for field in model.model_fields.values():
                todo += [t for t in leaves(field.annotation) if _is_model(t)]
    return found


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def plain_fields(root: type[BaseModel], word: re.Pattern[str]) -> set[tuple[str, str]]:
    """(model, field) whose name matches `word` and that can hold text no mask would hide: a
    str where SecretStr belongs. Models are walked on their own; a flag, a number or a path (to
    a key file) holds no secret."""
    out = set()
    for model in models(root):
        for name, field in model.model_fields.items():
            text = any(k in (str, bytes, Any) for k in leaves(field.annotation))
            if word.search(name) and text:
                out.add((model.__name__, name))
    return out


def test_every_key_that_looks_like_a_secret_is_typed_secret_str() -> None:
    assert plain_fields(HazgwConfig, SECRET_WORD) == set(NOT_SECRETS)


def test_every_plain_url_key_is_one_proven_to_refuse_credentials() -> None:
    assert plain_fields(HazgwConfig, URL_WORD) == set(CREDENTIAL_FREE_URLS)


@pytest.mark.parametrize(
    "model_and_rest", CREDENTIAL_FREE_URLS.values(), ids=[".".join(k) for k in CREDENTIAL_FREE_URLS]
)
def test_a_url_shown_as_it_is_refuses_credentials(
    model_and_rest: tuple[type[BaseModel], dict[str, Any]],
) -> None:
    model, rest = model_and_rest
    model.model_validate({**rest, "url": "https://host.example/x"})  # the rest is valid
    with pytest.raises(ValidationError, match="no credentials"):
        model.model_validate({**rest, "url": "https://user:pw@host.example/x"})


class _Leaky(BaseModel):
    api_token: str
    backup_urls: list[str] = []
    nested: list[dict[str, SecretStr | None]] = []


class _Site(BaseModel):
    leaky: _Leaky | None = None
    tls_key_file: Path | None = None
    token_count: int = 0
    password: Annotated[SecretStr, "a secret"] | None = None


def test_the_walk_finds_a_plain_secret_nested_anywhere() -> None:
    assert plain_fields(_Site, SECRET_WORD) == {("_Leaky", "api_token")}
    assert plain_fields(_Site, URL_WORD) == {("_Leaky", "backup_urls")}


def test_masking_goes_by_type_whatever_the_key_is_called() -> None:
    leaky = _Leaky(api_token="shown", nested=[{"a": SecretStr("hidden-1"), "b": None}])
    assert redacted(_Site(leaky=leaky))["leaky"] == {
        "api_token": "shown",  # what the walk above exists to prevent
        "backup_urls": [],
        "nested": [{"a": MASK, "b": None}],
    }
