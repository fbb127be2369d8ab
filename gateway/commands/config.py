"""`commands:` in the config: the broker session the gateway reads people's commands from.

Topics, under `topic_prefix` ({site} and {gateway} filled in):
  <prefix>/command/<person>        a person publishes JSON commands here (QoS 1)
  <prefix>/command/<person>/reply  the gateway's answer to each command
The broker must authenticate every client and let each user write only its own command topic
and read only its own reply topic (deploy/mosquitto/acl): the <person> segment is who acts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from drivers.mqtt.config import MqttTlsConfig
from gateway.api.config import Role


class CommandsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8883, ge=1, le=65535)
    username: str | None = None  # the gateway's own broker identity
    password: SecretStr | None = None  # never logged, never shown in repr
    tls: MqttTlsConfig | None = None  # None: plain TCP (only on a loopback broker)
    client_id: str = ""  # default hazgw-commands-<site>-<gateway>; keys the persistent session
    topic_prefix: str = "hazgw/{site}/{gateway}"
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    # What each person may do, as for the HTTP API: duty_officer acknowledges and notes;
    # safety_officer also assigns, rectifies, requests review, verifies and closes.
    roles: dict[str, Role] = {}
    default_role: Role = Role.DUTY_OFFICER  # people not listed in roles
    max_payload_bytes: int = Field(default=16_384, ge=256, le=262_144)

    @field_validator("topic_prefix")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not v or any(c in v for c in "#+\0") or v.startswith("/") or v.endswith("/"):
            raise ValueError("a topic prefix without wildcards and leading or trailing '/'")
        try:
            v.format(site="s", gateway="g")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {site} and {gateway} may be filled in") from None
        return v

    @model_validator(mode="after")
    def _password_with_user(self) -> CommandsConfig:
        if self.password is not None and self.username is None:
            raise ValueError(".username: a password needs a username")
        return self

    def prefix(self, site: str, gateway: str) -> str:
        return self.topic_prefix.format(site=site, gateway=gateway)


def commands_problems(cfg: CommandsConfig, people: Iterable[str]) -> Iterator[str]:
    """Cross-checks for HazgwConfig: every person given a role is one of the site's people."""
    known = set(people)
    for person in sorted(set(cfg.roles) - known):
        yield f"@commands.roles.{person}: {person!r} is not in people"
