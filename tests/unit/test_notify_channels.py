"""The channels' pure parts: relay Modbus frames, webhook signing, apprise targets, payloads."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from alerting.notify import DRILL_PREFIX, Contact, NotifyError
from alerting.notify.apprise_channel import REDACT, AppriseNotifier, body_of, title_of
from alerting.notify.grouping import merge
from alerting.notify.mqtt import MqttNotifier
from alerting.notify.serial_relay import check_answer, crc16, with_crc, write_coil_frame
from alerting.notify.webhook import _retry_after, delivery_id, sign, verify
from gateway.clock import SystemClock
from tests.unit.test_notify_grouping import note

# --- serial relay: Modbus RTU function 05 -----------------------------------------------------


def test_crc16_matches_the_modbus_reference_frame() -> None:
    # "write coil 0 on at device 1" as printed in relay module manuals: 01 05 00 00 FF 00 8C 3A
    assert write_coil_frame(1, 0, True) == bytes.fromhex("01050000FF008C3A")
    assert write_coil_frame(1, 0, False) == bytes.fromhex("010500000000CDCA")
    assert crc16(bytes.fromhex("01050000FF008C3A")) == 0  # a frame with its CRC checks to 0


def test_coil_address_and_device_id_go_big_endian_into_the_frame() -> None:
    frame = write_coil_frame(17, 0x0102, True)
    assert frame[:6] == bytes((17, 5, 1, 2, 0xFF, 0))


@pytest.mark.parametrize(
    ("answer", "retryable", "text"),
    [
        (b"", True, "no answer"),
        (bytes.fromhex("01050000FF00"), True, "bad answer"),  # cut short
        (bytes.fromhex("01050000FF008C3B"), True, "bad answer"),  # CRC flipped
        (with_crc(bytes((1, 0x85, 2))), False, "illegal coil address"),
        (with_crc(bytes((1, 0x85, 1))), False, "illegal function"),
        (with_crc(bytes((1, 0x85, 6))), True, "device busy"),
        (with_crc(bytes((1, 0x85, 4))), True, "device failure"),
    ],
)
def test_a_relay_answer_other_than_the_echo_is_an_error_that_says_if_retry_helps(
    answer: bytes, retryable: bool, text: str
) -> None:
    request = write_coil_frame(1, 0, True)
    with pytest.raises(NotifyError, match=text) as err:
        check_answer(request, answer, "relay")
    assert err.value.retryable is retryable


def test_the_echo_confirms_the_write() -> None:
    request = write_coil_frame(1, 3, False)
    check_answer(request, request, "relay")


# --- webhook: signature, replay window, delivery id --------------------------------------------


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_fresh_timestamp() -> None:
    body, ts = b'{"drill":false}', 1_700_000_000
    sig = sign(b"k" * 16, ts, body)
    assert sig.startswith("sha256=")
    ok: dict[str, Any] = {
        "timestamp": str(ts), "signature": sig, "now_s": ts + 10, "tolerance_s": 300,
    }  # fmt: skip
    assert verify(b"k" * 16, body, **ok)
    assert not verify(b"x" * 16, body, **ok)
    assert not verify(b"k" * 16, body + b" ", **ok)
    assert not verify(b"k" * 16, body, **{**ok, "timestamp": str(ts + 1)})
    assert not verify(b"k" * 16, body, **{**ok, "now_s": ts + 301})  # a replay, too late
    assert not verify(b"k" * 16, body, **{**ok, "timestamp": "soon"})


def test_the_delivery_id_is_stable_per_message_and_differs_between_messages() -> None:
    assert delivery_id(note(1)) == delivery_id(note(1))
    assert delivery_id(note(1)) != delivery_id(note(1, repeat=1))
    assert delivery_id(note(1)) != delivery_id(note(1, drill=True))
    assert delivery_id(merge([note(1), note(2)])) != delivery_id(note(1))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("30", 30.0), ("-5", 0.0), ("soon", None),
     ("Tue, 14 Nov 2023 22:14:20 GMT", 20.0)],
)  # fmt: skip
def test_retry_after_reads_seconds_or_an_http_date(header: str | None, seconds: float) -> None:
    assert _retry_after(header, now_s=1_700_000_040) == seconds


# --- apprise: targets per person, titles and bodies -------------------------------------------

PEOPLE = {
    "li.na": Contact("li.na", "Li Na", phone="+86 139-0000 0002", email="li.na@example.com",
                     notify_urls=("tgram://bot/li",)),
    "wang.wei": Contact("wang.wei", "Wang Wei", phone="+86 138 0000 0001"),
}  # fmt: skip


def test_group_urls_go_to_every_notification_unchanged() -> None:
    ap = AppriseNotifier(urls=["json://h/a", "json://h/b"], people=PEOPLE)
    assert ap.targets(note(1, recipients=("li.na", "wang.wei"))) == ["json://h/a", "json://h/b"]


def test_templates_are_filled_per_person_and_skipped_when_the_field_is_missing() -> None:
    ap = AppriseNotifier(
        urls=["json://h/sms/{phone}", "mailto://u:p@h?to={email}"], people=PEOPLE,
        per_recipient=True, people_urls=True,
    )  # fmt: skip
    assert ap.targets(note(1, recipients=("li.na",))) == [
        "json://h/sms/+8613900000002", "mailto://u:p@h?to=li.na@example.com", "tgram://bot/li",
    ]  # fmt: skip
    assert ap.targets(note(1, recipients=("wang.wei",))) == ["json://h/sms/+8613800000001"]
    assert ap.targets(note(1, recipients=("nobody",))) == []


def test_a_person_without_any_address_is_a_non_retryable_failure() -> None:
    ap = AppriseNotifier(urls=["mailto://u:p@h?to={email}"], people=PEOPLE, per_recipient=True)
    with pytest.raises(NotifyError, match=r"no address for wang\.wei") as err:
        asyncio.run(ap.send(note(1, recipients=("wang.wei",))))
    assert not err.value.retryable


def test_drill_title_and_body_say_so() -> None:
    drill = note(1, drill=True)
    assert title_of(drill).startswith("[DRILL] ")
    assert body_of(drill).startswith(DRILL_PREFIX)
    assert body_of(drill).endswith(DRILL_PREFIX.strip())
    assert "[DRILL" not in title_of(note(1)) + body_of(note(1))


def test_a_grouped_body_lists_the_hazards_with_their_places() -> None:
    body = body_of(merge([note(1), note(2)]))
    assert "- YH-2026-a-gw01-0001 fire 1: fire level 1 @ room 1" in body
    assert "- YH-2026-a-gw01-0002 fire 2" in body


def test_apprise_log_lines_have_url_tokens_masked(caplog: pytest.LogCaptureFixture) -> None:
    AppriseNotifier(urls=["tgram://123456789:SeCrEtToKeN/55"])
    with caplog.at_level(logging.WARNING, logger="apprise"):
        logging.getLogger("apprise").warning("bad token %s", "SeCrEtToKeN")
    assert "SeCrEtToKeN" not in caplog.text
    assert "****" in caplog.text
    assert "SeCrEtToKeN" in REDACT.secrets


# --- mqtt: the retained zone state -------------------------------------------------------------


def test_the_zone_state_is_real_when_any_hazard_is_real_and_drill_only_otherwise() -> None:
    m = MqttNotifier(host="h", port=1, prefix="p", client_id="c", clock=SystemClock())
    drill_only = m._state("kitchen", {"a": note(1, drill=True)})
    assert (drill_only["state"], drill_only["drill"]) == ("drill", True)
    mixed = m._state(
        "kitchen", {"a": note(1, drill=True), "b": note(2, kind="gas", level=1, drill=False)}
    )
    assert (mixed["state"], mixed["drill"], mixed["kinds"], mixed["urgent"]) == (
        "alarm", False, ["gas"], False,
    )  # fmt: skip
    assert mixed["count"] == 2
    assert m.zone_topic("") == "p/annunciation/_site"
