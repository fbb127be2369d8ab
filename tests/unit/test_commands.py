"""MQTT commands, judged before anything touches the ledger: which messages become actions
attributed to the topic's person, and which are refused, with what cause and reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.api.config import Role
from gateway.commands.config import CommandsConfig, commands_problems
from gateway.commands.parse import Authority, Cause, Command, Note, Refusal, parse_command

AUTHORITY = Authority(
    frozenset({"wang.wei", "li.na", "zhang.jun"}),
    {"li.na": Role.SAFETY_OFFICER, "zhang.jun": Role.VIEWER},
)
N = "YH-2026-plant-a-gw01-0001"


def judge(person: str, doc: object) -> Command | Refusal:
    return parse_command(person, json.dumps(doc).encode(), AUTHORITY)


@pytest.mark.parametrize(
    ("person", "doc", "action"),
    [("wang.wei", {"action": "ack", "number": N}, "acknowledge"),
     ("wang.wei", {"action": "acknowledge", "number": N, "reason": "on my way"}, "acknowledge"),
     ("wang.wei", {"action": "note", "number": N, "text": "valve closed"}, "note"),
     ("li.na", {"action": "close", "number": N, "reason": "fixed"}, "close"),
     ("li.na", {"action": "assign", "number": N, "responsible": "wang.wei"}, "assign"),
     ("li.na", {"action": "request_review", "number": N, "reason": "done"}, "request-review"),
     ("li.na", {"action": "verify", "number": N, "opinion": "ok"}, "verify")],
)  # fmt: skip
def test_an_accepted_command_is_attributed_to_the_topics_person(
    person: str, doc: dict[str, str], action: str
) -> None:
    cmd = judge(person, doc | {"id": "c-1"})
    assert isinstance(cmd, Command)
    assert (cmd.person, cmd.action, cmd.number, cmd.id) == (person, action, N, "c-1")


def test_the_fields_reach_the_action() -> None:
    cmd = judge("wang.wei", {"action": "note", "number": f"  {N} ", "text": "valve closed"})
    assert isinstance(cmd, Command)
    assert cmd.number == N
    assert cmd.body == Note(text="valve closed")


@pytest.mark.parametrize(
    ("person", "payload", "cause", "says"),
    [("wang.wei", b"not json", Cause.MALFORMED, "not JSON"),
     ("wang.wei", b"\xff\xfe", Cause.MALFORMED, "not JSON"),
     ("wang.wei", b"[1, 2]", Cause.MALFORMED, "JSON object"),
     ("wang.wei", b'{"number": "%s"}' % N.encode(), Cause.MALFORMED, "action"),
     ("wang.wei", b'{"action": 7, "number": "x"}', Cause.MALFORMED, "action"),
     ("wang.wei", b'{"action": "ack"}', Cause.MALFORMED, "number"),
     ("wang.wei", b'{"action": "ack", "number": "  "}', Cause.MALFORMED, "number"),
     ("wang.wei", b'{"action": "ack", "number": 12}', Cause.MALFORMED, "number"),
     ("wang.wei", b'{"action": "ack", "number": "n", "id": 5}', Cause.MALFORMED, "id"),
     ("wang.wei", b'{"action": "ack", "number": "n", "colour": "red"}', Cause.MALFORMED,
      "colour"),
     ("wang.wei", b'{"action": "note", "number": "n"}', Cause.MALFORMED, "text"),
     ("wang.wei", b'{"action": "explode", "number": "n"}', Cause.UNKNOWN_ACTION, "actions: "),
     ("kitchen-plug", b'{"action": "ack", "number": "n"}', Cause.UNKNOWN_PERSON, "people"),
     ("wang.wei", b'{"action": "close", "number": "n", "reason": "x"}', Cause.NOT_ALLOWED,
      "needs safety_officer"),
     ("zhang.jun", b'{"action": "ack", "number": "n"}', Cause.NOT_ALLOWED,
      "viewer; acknowledge needs duty_officer"),
     ("li.na", b'{"action": "close", "number": "n"}', Cause.MALFORMED, "reason")],
)  # fmt: skip
def test_a_refusal_names_its_cause_and_reason(
    person: str, payload: bytes, cause: Cause, says: str
) -> None:
    refusal = parse_command(person, payload, AUTHORITY)
    assert isinstance(refusal, Refusal)
    assert refusal.cause is cause
    assert says in refusal.error


def test_a_refusal_carries_the_number_and_id_it_could_read() -> None:
    refusal = judge("wang.wei", {"action": "close", "number": N, "id": "c-9", "reason": "x"})
    assert refusal == Refusal(Cause.NOT_ALLOWED, "wang.wei is duty_officer; close needs "
                              "safety_officer", N, "c-9")  # fmt: skip


def test_an_oversized_command_is_refused_before_it_is_parsed() -> None:
    big = json.dumps({"action": "note", "number": N, "text": "x" * 2000}).encode()
    refusal = parse_command("wang.wei", big, AUTHORITY, max_bytes=1000)
    assert isinstance(refusal, Refusal)
    assert "longer than 1000 bytes" in refusal.error


def test_deeply_nested_json_is_a_refusal_not_a_crash() -> None:
    refusal = parse_command("wang.wei", b"[" * 100_000, AUTHORITY)
    assert isinstance(refusal, Refusal)
    assert refusal.cause is Cause.MALFORMED


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(person=st.text(max_size=20), payload=st.binary(max_size=200))
def test_garbage_bytes_are_refused_never_raised(person: str, payload: bytes) -> None:
    verdict = parse_command(person, payload, AUTHORITY)
    assert isinstance(verdict, Refusal)
    assert verdict.error


@settings(max_examples=300, deadline=None)
@given(
    doc=st.dictionaries(
        st.sampled_from(["action", "number", "id", "reason", "text", "responsible", "x"]),
        JSONISH,
        max_size=5,
    )
)
def test_any_json_object_is_either_a_command_or_a_counted_refusal(doc: dict[str, object]) -> None:
    verdict = judge("li.na", doc)
    if isinstance(verdict, Command):  # then it really was well formed
        assert isinstance(doc.get("action"), str)
        assert isinstance(doc.get("number"), str)
        assert verdict.person == "li.na"
    else:
        assert verdict.cause in set(Cause)
        assert verdict.error


def test_commands_are_off_unless_enabled_and_default_to_the_site_topics() -> None:
    cfg = CommandsConfig()
    assert cfg.enabled is False
    assert cfg.prefix("plant-a", "gw01") == "hazgw/plant-a/gw01"
    with_password = CommandsConfig.model_validate({"username": "hazgw", "password": "s3cr3t"})
    assert "s3cr3t" not in repr(with_password)


@pytest.mark.parametrize(
    ("fields", "says"),
    [({"topic_prefix": "hazgw/#"}, "wildcards"), ({"topic_prefix": "/hazgw"}, "leading"),
     ({"topic_prefix": "hazgw/{zone}"}, "{site}"), ({"password": "x"}, "username"),
     ({"roles": {"li.na": "boss"}}, "roles"), ({"colour": "red"}, "colour")],
)  # fmt: skip
def test_a_bad_commands_section_is_refused(fields: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says.replace("{", r"\{").replace("}", r"\}")):
        CommandsConfig.model_validate(fields)


def test_roles_must_name_the_sites_people() -> None:
    cfg = CommandsConfig(roles={"li.na": Role.SAFETY_OFFICER, "nobody": Role.ADMIN})
    assert list(commands_problems(cfg, ["li.na", "wang.wei"])) == [
        "@commands.roles.nobody: 'nobody' is not in people"
    ]
