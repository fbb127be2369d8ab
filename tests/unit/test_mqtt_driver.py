"""The MQTT driver's message path, fed the way its connection feeds it (no broker needed:
routing, quality, availability and counting are pure bookkeeping on `deliver`).
The broker side is covered in tests/integration/test_mqtt_*.py."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pytest

from drivers.base import Binding
from drivers.mqtt.client import Link
from drivers.mqtt.config import MqttDriverConfig
from drivers.mqtt.driver import MqttDriver
from gateway.errors import DriverError
from gateway.model import Quality, ReadingBatch

T0 = 1_800_000_000_000_000_000
S = 1_000_000_000

SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"family": "zigbee2mqtt"},
    {"family": "shelly"},
    {"family": "json", "topic": "plant/#", "fields": {"gas": "ch4"}, "time_path": "ts"},
]
KITCHEN = "zigbee2mqtt/kitchen/gas"
BINDINGS = [
    Binding(0, "kitchen-gas", "combustible_gas", point="gas_density", topic=KITCHEN),
    Binding(1, "kitchen-gas-flag", "smoke", point="gas", topic=KITCHEN),
    Binding(2, "boiler-gas", "co", point="concentration", topic="shellies/boiler"),
    Binding(3, "plant-ch4", "combustible_gas", point="gas", topic="plant/det1"),
]  # fmt: skip


class StepClock:
    """Time stands still unless a test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def wall_ns(self) -> int:
        return T0 + int(self.now * S)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def make_driver(
    bindings: list[Binding] = BINDINGS, clock: StepClock | None = None, **options: Any
) -> MqttDriver:
    cfg = MqttDriverConfig.model_validate(
        {"type": "mqtt", "id": "mq", "client_id": "gw", "subscriptions": SUBSCRIPTIONS} | options
    )
    return MqttDriver(cfg, bindings, clock=clock or StepClock())


def rows(batch: ReadingBatch) -> list[tuple[int, float, int, int]]:
    return list(
        zip(batch.sensor.tolist(), batch.value.tolist(), batch.ts_ns.tolist(),
            batch.quality.tolist(), strict=True)
    )  # fmt: skip


def test_a_message_becomes_one_reading_per_bound_point_stamped_on_arrival() -> None:
    d = make_driver()
    d.deliver("zigbee2mqtt/kitchen/gas", b'{"gas":true,"gas_density":31.5,"linkquality":80}')
    assert rows(d.take()) == [(0, 31.5, T0, Quality.GOOD), (1, 1.0, T0, Quality.GOOD)]
    assert (d.received, d.produced, dict(d.status.errors)) == (1, 2, {})


def test_the_test_flag_makes_every_reading_of_the_message_test() -> None:
    d = make_driver()
    d.deliver("zigbee2mqtt/kitchen/gas", b'{"gas":true,"gas_density":60,"test":true}')
    assert d.take().quality.tolist() == [Quality.TEST, Quality.TEST]


def test_a_sticky_mode_colours_later_readings_of_that_device_only() -> None:
    d = make_driver()
    d.deliver("shellies/boiler/sensor/operation", b"warmup")
    d.deliver("shellies/boiler/sensor/concentration", b"120")
    d.deliver("plant/det1", b'{"ch4":2}')
    d.deliver("shellies/boiler/sensor/gas", b"test")
    d.deliver("shellies/boiler/sensor/concentration", b"900")
    d.deliver("shellies/boiler/sensor/gas", b"none")
    d.deliver("shellies/boiler/sensor/operation", b"normal")
    d.deliver("shellies/boiler/sensor/concentration", b"5")
    got = [(s, v, q) for s, v, _, q in rows(d.take())]
    assert got == [
        (2, 120.0, Quality.UNCERTAIN),  # warming up
        (3, 2.0, Quality.GOOD),  # another device is not affected
        (2, 900.0, Quality.TEST),  # self test: never a real hazard
        (2, 5.0, Quality.GOOD),
    ]


def test_nan_becomes_a_bad_reading_and_is_counted() -> None:
    d = make_driver()
    d.deliver("shellies/boiler/sensor/gas", b"none")
    d.deliver("zigbee2mqtt/kitchen/gas", b'{"gas_density":NaN}')
    (sensor, value, _, quality), = rows(d.take())  # fmt: skip
    assert (sensor, math.isnan(value), quality) == (0, True, Quality.BAD)
    assert d.status.errors["not_finite"] == 1


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("zigbee2mqtt/garage/smoke", b'{"smoke":false}', "unknown_device"),
        ("somewhere/else", b"{}", "unknown_topic"),  # left over from an older subscription
        (b"zigbee2mqtt/\xff", b"{}", "bad_topic"),
        ("zigbee2mqtt/kitchen/gas", b'{"gas_density":' + b"1" * 70000 + b"}", "oversized"),
        ("zigbee2mqtt/kitchen/gas", b"{oops", "malformed_json"),
        ("shellies/boiler/sensor/concentration", b"n/a", "bad_value"),
    ],
)
def test_bad_input_is_counted_by_reason_and_the_driver_carries_on(
    topic: str | bytes, payload: bytes, reason: str
) -> None:
    d = make_driver()
    d.deliver(topic, payload)
    d.deliver("plant/det1", b'{"ch4":4}')
    assert dict(d.status.errors) == {reason: 1}
    assert rows(d.take()) == [(3, 4.0, T0, Quality.GOOD)]


def test_a_trustworthy_payload_time_is_kept_and_an_implausible_one_replaced() -> None:
    d = make_driver()
    d.deliver("plant/det1", b'{"ch4":1,"ts":%d}' % (T0 // S - 10))
    d.deliver("plant/det1", b'{"ch4":2,"ts":%d}' % (T0 // S - 86400))  # a day off: clock unset
    assert [t for _, _, t, _ in rows(d.take())] == [T0 - 10 * S, T0]
    assert d.status.errors["untrusted_time"] == 1


def test_device_availability_moves_its_devices_in_and_out_of_failing() -> None:
    d = make_driver()
    d.deliver("zigbee2mqtt/kitchen/gas/availability", b'{"state":"offline"}')
    assert d.status.failing == {"kitchen-gas", "kitchen-gas-flag"}
    d.deliver("zigbee2mqtt/kitchen/gas/availability", b'{"state":"online"}')
    assert d.status.failing == set()
    d.deliver("shellies/boiler/online", b"false")
    assert d.status.failing == {"boiler-gas"}


def test_an_empty_payload_deletes_a_retained_message_and_says_nothing() -> None:
    d = make_driver()
    d.deliver("zigbee2mqtt/kitchen/gas/availability", b"")
    d.deliver("zigbee2mqtt/kitchen/gas", b"")
    assert (len(d.take()), d.status.failing, dict(d.status.errors)) == (0, set(), {})


def test_availability_of_devices_we_do_not_read_changes_nothing() -> None:
    d = make_driver()
    d.deliver("zigbee2mqtt/garage/lamp/availability", b'{"state":"offline"}')
    assert (d.status.failing, dict(d.status.errors)) == (set(), {})


def test_a_bridge_going_offline_is_one_connection_fault_not_device_faults() -> None:
    d = make_driver()
    d.deliver("zigbee2mqtt/bridge/state", b'{"state":"offline"}')
    d.deliver("zigbee2mqtt/bridge/state", b'{"state":"offline"}')  # retained repeat: no edge
    assert (d.status.connected, d.status.failing) == (False, set())
    assert d.status.errors["bridge_offline"] == 1
    assert "bridge zigbee2mqtt offline" in d.status.last_error


def test_a_binding_without_topic_or_point_is_a_blind_sensor_from_the_start() -> None:
    d = make_driver([Binding(0, "nowhere", "smoke", topic="zigbee2mqtt/x"), *BINDINGS[1:]])
    assert d.status.failing == {"nowhere"}
    d.deliver("zigbee2mqtt/x/availability", b'{"state":"online"}')
    assert d.status.failing == {"nowhere"}


def test_batches_yield_at_once_when_full_and_after_the_flush_interval_otherwise() -> None:
    d = make_driver(batch_max_readings=2, max_pending_readings=10)

    async def scenario() -> list[int]:
        batches = d.batches()
        d.deliver("zigbee2mqtt/kitchen/gas", b'{"gas":false,"gas_density":1}')  # two readings
        first = await anext(batches)
        d.deliver("plant/det1", b'{"ch4":1}')  # one: waits for the flush interval
        second = await anext(batches)
        return [len(first), len(second)]

    assert asyncio.run(scenario()) == [2, 1]
    assert d.produced == 3


def test_bad_input_is_logged_once_per_cause_then_summarised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = StepClock()
    d = make_driver(clock=clock)
    with caplog.at_level(logging.WARNING, logger="drivers.mqtt"):
        for i in range(25):
            d.deliver(f"zigbee2mqtt/unknown/{i}", b'{"smoke":false}')
        for _ in range(100):
            d.deliver("zigbee2mqtt/unknown/0", b'{"smoke":false}')
        clock.now += 61
        d.deliver("zigbee2mqtt/unknown/0", b'{"smoke":false}')
    lines = [r.getMessage() for r in caplog.records]
    assert d.status.errors["unknown_device"] == 126
    assert sum("unknown_device on" in line for line in lines) == 20
    assert lines[-1].startswith("mqtt mq: 106 more unknown_device in the last 60 s")
    assert len(lines) == 21


class SilentLink:
    """Stands in for a live connection (all the watchdog looks at)."""

    def __init__(self, *, paused: bool = False) -> None:
        self.lost = asyncio.Event()
        self.paused = paused  # by the driver, because its consumer fell behind


def test_the_watchdog_calls_a_link_deaf_once_nothing_came_for_the_expected_cadence() -> None:
    clock = StepClock()
    d = make_driver(clock=clock, expected_cadence_s=60)
    assert asyncio.run(d._hold(SilentLink())) == "deaf"  # type: ignore[arg-type]
    assert 60 < clock.now <= 65  # checked every cadence/4, at most every 5 s


def test_the_watchdog_leaves_a_link_alone_while_it_delivers() -> None:
    clock = StepClock()
    d = make_driver(clock=clock, expected_cadence_s=60)
    link = SilentLink()

    async def traffic() -> None:
        while clock.now < 600:  # ten cadences, a message between every two checks
            d.deliver("plant/det1", b'{"ch4":1}')
            await asyncio.sleep(0)
        link.lost.set()

    async def scenario() -> str:
        task = asyncio.create_task(traffic())
        reason = await d._hold(link)  # type: ignore[arg-type]
        await task
        return reason

    assert asyncio.run(scenario()) == "lost"
    assert d.status.errors["deaf"] == 0


def test_a_bug_in_the_connection_loop_reaches_the_supervisor_as_a_driver_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken_open(self: Link) -> None:  # stands in for a bug: nothing real raises this
        raise RuntimeError("bug")

    monkeypatch.setattr(Link, "open", broken_open)
    d = make_driver()

    async def scenario() -> None:
        async with d:
            async for _ in d.batches():
                pass

    with pytest.raises(DriverError, match="connection loop ended: RuntimeError"):
        asyncio.run(scenario())


def test_a_link_paused_by_a_slow_consumer_is_not_deaf() -> None:
    clock = StepClock()
    d = make_driver(clock=clock, expected_cadence_s=60)
    link = SilentLink(paused=True)

    async def scenario() -> str:
        async def lose_it_later() -> None:
            while clock.now < 600:  # noqa: ASYNC110 - let the watchdog run while time passes
                await asyncio.sleep(0)
            link.lost.set()

        task = asyncio.create_task(lose_it_later())
        reason = await d._hold(link)  # type: ignore[arg-type]
        await task
        return reason

    assert asyncio.run(scenario()) == "lost"
