"""Generic JSON with a path per point, as the decoder reads it."""

from __future__ import annotations

import pytest

from drivers.mqtt.codec import Decoded, Reject, Result
from drivers.mqtt.config import JsonSubscription
from drivers.mqtt.generic_json import JsonPaths, decode
from gateway.model import Quality

S = 1_000_000_000


def paths(fields: dict[str, str], **options: str) -> JsonPaths:
    sub = JsonSubscription.model_validate(
        {"family": "json", "topic": "plant/#", "fields": fields, **options}
    )
    return JsonPaths.of(sub)


CH4 = paths({"gas": "$.data.ch4", "t": "data.temps[1]"}, test_path="$.test")


def json_(payload: str, p: JsonPaths = CH4) -> Result:
    return decode("plant/kitchen/det1", payload.encode(), p)


def reading(payload: str, p: JsonPaths = CH4) -> Decoded:
    result = json_(payload, p)
    assert isinstance(result, Decoded), result
    return result


def test_each_point_is_read_at_its_path_and_the_device_is_the_topic() -> None:
    result = reading('{"data":{"ch4":12.5,"temps":[20.1,21.5]}}')
    assert result.device == "plant/kitchen/det1"
    assert dict(result.values) == {"gas": 12.5, "t": 21.5}


def test_a_path_that_leads_nowhere_is_skipped() -> None:
    assert dict(reading('{"data":{"ch4":3}}').values) == {"gas": 3.0}


def test_booleans_read_one_and_zero() -> None:
    assert reading('{"data":{"ch4":true}}').values["gas"] == 1.0


def test_a_test_flag_marks_the_reading_test() -> None:
    assert reading('{"data":{"ch4":30},"test":true}').quality == Quality.TEST
    assert reading('{"data":{"ch4":30},"test":false}').quality == Quality.GOOD


@pytest.mark.parametrize(
    ("unit", "raw", "ts_ns"),
    [("s", "1767225600", 1767225600 * S), ("ms", "1767225600123", 1767225600123 * 1_000_000),
     ("s", "1767225600.5", 1767225600 * S + S // 2)],
)  # fmt: skip
def test_the_payload_time_is_read_in_its_unit(unit: str, raw: str, ts_ns: int) -> None:
    p = paths({"gas": "v"}, time_path="ts", time_unit=unit)
    assert reading(f'{{"v":1,"ts":{raw}}}', p).ts_ns == ts_ns


def test_a_message_without_its_time_is_stamped_on_arrival_without_complaint() -> None:
    result = reading('{"v":1}', paths({"gas": "v"}, time_path="ts"))
    assert (result.ts_ns, result.problems) == (None, ())


@pytest.mark.parametrize("raw", ['"yesterday"', "true", "1e30", "null"])
def test_an_unusable_time_is_counted_and_left_to_the_driver(raw: str) -> None:
    result = reading(f'{{"v":1,"ts":{raw}}}', paths({"gas": "v"}, time_path="ts"))
    assert (result.ts_ns, result.problems) == (None, ("bad_value",))


def test_one_bad_field_is_counted_while_the_others_are_used() -> None:
    result = reading('{"data":{"ch4":"high","temps":[1,2]}}')
    assert (dict(result.values), result.problems) == ({"t": 2.0}, ("wrong_type",))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("{", "malformed_json"),
        ('{"data":{"ch4":null}}', "null_value"),
        ('{"data":{"ch4":"12.5"}}', "wrong_type"),
        ('{"data":{"ch4":[1]}}', "wrong_type"),
        ('{"other":1}', "missing_field"),
        ("[1,2,3]", "missing_field"),
        ('"just text"', "missing_field"),
    ],
)
def test_bad_input_is_a_counted_rejection(payload: str, reason: str) -> None:
    result = json_(payload)
    assert isinstance(result, Reject)
    assert result.reason == reason
