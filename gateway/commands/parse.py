"""A command's payload to an action, or to a refusal with its cause. Pure: no broker, no ledger.

A command is one JSON object: {"action": "ack", "number": "YH-...", "id": "...", ...fields of
the action}. The fields are the HTTP API's request bodies (gateway/api/ledger_api.py), checked by
the same models, so both ways in accept and refuse the same things.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field, ValidationError

from gateway.api.config import RANK, Role
from gateway.api.ledger_api import ACTIONS, Body

MAX_NUMBER = 64
MAX_ID = 128


class Note(Body):
    text: str = Field(min_length=1, max_length=2000)


# action -> (request body, the least role that may do it); "ack" is short for "acknowledge".
SPECS: dict[str, tuple[type[Body], Role]] = {
    name: (spec.body, spec.role) for name, spec in ACTIONS.items()
} | {"note": (Note, Role.DUTY_OFFICER)}
ALIASES = {"ack": "acknowledge", "request_review": "request-review"}


class Cause(StrEnum):
    """Why a command was refused; each is counted and logged once."""

    MALFORMED = "malformed"  # not JSON, not an object, a field of the wrong type or missing
    UNKNOWN_ACTION = "unknown_action"
    UNKNOWN_PERSON = "unknown_person"  # an authenticated broker user who is not in people
    NOT_ALLOWED = "not_allowed"  # the person's role may not do this action
    UNKNOWN_NUMBER = "unknown_number"
    REFUSED = "refused"  # the ledger refused the move (closed, already acknowledged, ...)
    FAILED = "failed"  # the gateway could not do it now (stopping, a bug): never silent


@dataclass(frozen=True)
class Command:
    person: str
    action: str  # canonical: a key of SPECS
    number: str
    body: Body
    id: str | None = None  # echoed in the reply, so a client can match answers to commands


@dataclass(frozen=True)
class Refusal:
    cause: Cause
    error: str
    number: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Authority:
    """Who may command: the site's people, each with a role (else the default role)."""

    people: frozenset[str]
    roles: Mapping[str, Role]
    default_role: Role = Role.DUTY_OFFICER

    def role_of(self, person: str) -> Role | None:
        if person not in self.people:
            return None
        return self.roles.get(person, self.default_role)


class _Refuse(Exception):  # noqa: N818 - a refusal, caught in parse_command
    def __init__(self, cause: Cause, error: str) -> None:
        super().__init__(error)
        self.cause, self.error = cause, error


def parse_command(
    person: str, payload: bytes, authority: Authority, *, max_bytes: int = 16_384
) -> Command | Refusal:
    """Judge one message published on `<prefix>/command/<person>`."""
    ident: str | None = None
    number: str | None = None
    try:
        doc = _json_object(payload, max_bytes)
        ident = _ident(doc.pop("id", None))
        role = authority.role_of(person)
        if role is None:
            raise _Refuse(Cause.UNKNOWN_PERSON, f"{person!r} is not one of the site's people")
        action = _action(doc.pop("action", None))
        number = _number(doc.pop("number", None))
        model, needed = SPECS[action]
        if RANK[role] < RANK[needed]:
            why = f"{person} is {role.value}; {action} needs {needed.value}"
            raise _Refuse(Cause.NOT_ALLOWED, why)
        try:
            body = model.model_validate(doc)
        except ValidationError as exc:
            raise _Refuse(Cause.MALFORMED, _first_error(exc)) from None
    except _Refuse as refused:
        return Refusal(refused.cause, refused.error, number, ident)
    return Command(person, action, number, body, ident)


def _json_object(payload: bytes, max_bytes: int) -> dict[str, object]:
    if len(payload) > max_bytes:
        raise _Refuse(Cause.MALFORMED, f"the command is longer than {max_bytes} bytes")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refuse(Cause.MALFORMED, "the command is not JSON (UTF-8)") from None
    if not isinstance(doc, dict):
        raise _Refuse(Cause.MALFORMED, "the command must be a JSON object")
    return doc


def _ident(value: object) -> str | None:
    if value is None or (isinstance(value, str) and len(value) <= MAX_ID):
        return value
    raise _Refuse(Cause.MALFORMED, f"id: a string of at most {MAX_ID} characters")


def _action(value: object) -> str:
    if not isinstance(value, str):
        raise _Refuse(Cause.MALFORMED, "action: missing or not a string")
    action = ALIASES.get(value, value)
    if action not in SPECS:
        known = ", ".join(sorted([*SPECS, *ALIASES]))
        raise _Refuse(Cause.UNKNOWN_ACTION, f"no action {value[:64]!r}; actions: {known}")
    return action


def _number(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_NUMBER:
        raise _Refuse(Cause.MALFORMED, "number: the ledger number as a string")
    return value.strip()


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "command"
    return f"{where}: {e['msg']}"
