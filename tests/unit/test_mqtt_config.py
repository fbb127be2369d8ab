"""The MQTT driver's configuration refuses what cannot work, and keeps the password secret."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drivers.mqtt.config import MqttDriverConfig, compile_path
from drivers.mqtt.router import matches

BASE: dict[str, Any] = {
    "type": "mqtt",
    "id": "broker",
    "client_id": "hazgw-plant-a-gw01",
    "subscriptions": [{"family": "zigbee2mqtt"}],
}


def config(**changes: Any) -> MqttDriverConfig:
    return MqttDriverConfig.model_validate(BASE | changes)


def refused(**changes: Any) -> str:
    with pytest.raises(ValidationError) as info:
        config(**changes)
    return str(info.value)


def test_defaults_are_a_persistent_loopback_session_with_a_deaf_watchdog() -> None:
    cfg = config()
    assert (cfg.host, cfg.port, cfg.tls) == ("127.0.0.1", 1883, None)
    assert cfg.session_expiry_s > 0  # clean start off needs a session that outlives a restart
    assert cfg.expected_cadence_s is not None
    sub = cfg.subscriptions[0]
    assert (sub.family, sub.topic) == ("zigbee2mqtt", "zigbee2mqtt/#")


def test_the_password_never_shows_in_repr_str_or_a_dump() -> None:
    cfg = config(username="gw", password="s3cret-pw")
    assert cfg.password is not None
    assert cfg.password.get_secret_value() == "s3cret-pw"
    for text in (repr(cfg), str(cfg), str(cfg.model_dump())):
        assert "s3cret-pw" not in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "x"}, "a password needs a username"),
        ({"tls": {"cert_file": "/c.pem"}}, "cert_file and key_file go together"),
        ({"reconnect_min_s": 10, "reconnect_max_s": 5}, "below reconnect_min_s"),
        ({"subscriptions": []}, "at least 1 item"),
        ({"subscriptions": [{"family": "zwave"}]}, "does not match any of the expected tags"),
        ({"subscriptions": [{"family": "tasmota", "qos": 2}]}, "Extra inputs are not permitted"),
        ({"subscriptions": [{"family": "esphome"}]}, "topic"),  # no default prefix for ESPHome
        ({"subscriptions": [{"family": "json", "topic": "a/#", "fields": {}}]}, "at least 1"),
        ({"client_id": "has space"}, "string should match pattern"),
        ({"expected_cadence_s": 0}, "greater than 0"),
    ],
)
def test_settings_that_cannot_work_are_refused(changes: dict[str, Any], message: str) -> None:
    assert message.lower() in refused(**changes).lower()


@pytest.mark.parametrize("topic", ["a/#/b", "a/b#", "a+/b", "", "a/\x00"])
def test_malformed_topic_filters_are_refused(topic: str) -> None:
    assert "topic" in refused(subscriptions=[{"family": "tasmota", "topic": topic}])


@pytest.mark.parametrize("path", ["", "$", "a..b", "a.", "a[x]", "a[0"])
def test_malformed_json_paths_are_refused_naming_the_field(path: str) -> None:
    sub = {"family": "json", "topic": "a/#", "fields": {"gas": path}}
    assert "fields.gas" in refused(subscriptions=[sub])


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$.data.ch4", ("data", "ch4")),
        ("data.ch4", ("data", "ch4")),
        ("readings[2].value", ("readings", 2, "value")),
        ("$[0]", (0,)),
        ("a b.c-d", ("a b", "c-d")),
    ],
)
def test_json_paths_compile_to_keys_and_indices(path: str, steps: tuple[str | int, ...]) -> None:
    assert compile_path(path) == steps


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("zigbee2mqtt/#", "zigbee2mqtt/kitchen/gas_1", True),
        ("zigbee2mqtt/#", "zigbee2mqtt", True),  # '#' includes the parent level
        ("tele/+/SENSOR", "tele/node/SENSOR", True),
        ("tele/+/SENSOR", "tele/a/b/SENSOR", False),
        ("tele/+/SENSOR", "tele/node/LWT", False),
        ("a/b", "a/b/c", False),
        ("#", "$SYS/broker/uptime", False),  # wildcards never match $ topics at the root
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
    ],
)
def test_topic_filters_match_like_the_broker(topic_filter: str, topic: str, expected: bool) -> None:
    assert matches(topic_filter, topic) is expected
