"""The UART driver against a simulated Winsen / MH-Z19-style module on a pty, through pyserial.

Gateway time (questions, silence, reopen backoff) runs 20x faster on a LoopClock; the wait for
a reply's bytes is real. Waits are conditions with a generous guard, never timed assertions.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from drivers.base import Binding
from drivers.sim.pty_uart import PtyUartSensor
from drivers.uart.config import UartDriverConfig
from drivers.uart.driver import UartDriver
from gateway.clock import LoopClock
from gateway.model import Quality, ReadingBatch

GUARD_S = 15.0  # only against hangs
CO = [Binding(0, "kitchen-co", "co", profile="ze07-co")]


@pytest.fixture
def sensor(tmp_path: Path) -> Iterator[PtyUartSensor]:
    with PtyUartSensor("co", counts=37, decimals=1, link=tmp_path / "ttyUSB-co") as sim:
        yield sim


def make_driver(port: str, bindings: list[Binding] = CO, **over: Any) -> UartDriver:
    settings: dict[str, Any] = {
        "type": "uart", "id": "co-1", "port": port, "poll_interval_s": 1.0,
        "reply_timeout_s": 0.1, "failing_after_s": 4.0, "reopen_max_s": 2.0,
    } | over  # fmt: skip
    return UartDriver(UartDriverConfig.model_validate(settings), bindings, clock=LoopClock(20))


class Running:
    """batches() consumed by a task, as the daemon does; the test watches."""

    def __init__(self, driver: UartDriver) -> None:
        self.driver = driver
        self.batches: list[ReadingBatch] = []

    async def __aenter__(self) -> Self:
        await self.driver.__aenter__()
        self._task = asyncio.create_task(self._consume())
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.driver.__aexit__(None, None, None)

    async def _consume(self) -> None:
        async for batch in self.driver.batches():
            self.batches.append(batch)

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD_S):
            while not condition():
                assert not self._task.done(), self._task  # batches() must never end by itself
                await asyncio.sleep(0.005)

    def readings(self, sensor: int = 0) -> list[tuple[float, Quality]]:
        return [
            (float(b.value[i]), Quality(int(b.quality[i])))
            for b in self.batches
            for i in range(len(b))
            if b.sensor[i] == sensor
        ]

    def count(self, sensor: int = 0) -> int:
        return len(self.readings(sensor))


def run(coro: Any) -> None:
    asyncio.run(coro)


def test_active_upload_frames_become_readings(sensor: PtyUartSensor) -> None:
    async def scenario() -> None:
        async with Running(make_driver(sensor.path)) as r:
            await r.until(lambda: r.count() >= 3)
            assert {(round(v, 6), q) for v, q in r.readings()} == {(3.7, Quality.GOOD)}
            assert r.driver.status.connected
            assert sum(r.driver.status.errors.values()) == 0

    run(scenario())


def test_garbage_bad_checksums_short_reads_and_bursts_do_not_cost_a_good_frame(
    sensor: PtyUartSensor,
) -> None:
    async def scenario() -> None:
        async with Running(make_driver(sensor.path)) as r:
            await r.until(lambda: r.count() >= 1)
            sensor.send(b"\x00\x13 line noise \x7f")
            sensor.corrupt = 2
            await r.until(lambda: r.driver.status.errors["checksum"] >= 2)
            sensor.dribble = True  # one byte per write: many short reads per frame
            n = r.count()
            await r.until(lambda: r.count() >= n + 3)
            sensor.dribble, sensor.burst = False, 3  # three frames in one write
            await r.until(lambda: any(len(b) == 3 for b in r.batches))
            errors = r.driver.status.errors
            assert errors["garbage"] >= 1
            assert errors["checksum"] >= 2
            assert r.driver.device_errors["kitchen-co"] == errors
            assert all(v == pytest.approx(3.7) for v, _ in r.readings())
            assert r.driver.parser.frames == r.count()

    run(scenario())


def test_a_reading_over_the_sensors_range_is_bad_never_a_value(sensor: PtyUartSensor) -> None:
    async def scenario() -> None:
        async with Running(make_driver(sensor.path)) as r:
            await r.until(lambda: r.count() >= 1)
            sensor.counts = 6000  # 600.0 ppm on a 500.0 ppm module
            await r.until(lambda: r.readings()[-1][1] is Quality.BAD)
            assert math.isnan(r.readings()[-1][0])

    run(scenario())


def test_question_and_answer_mode_asks_and_reads_the_answer(sensor: PtyUartSensor) -> None:
    async def scenario() -> None:
        async with Running(make_driver(sensor.path, mode="qa")) as r:
            await r.until(lambda: r.count() >= 3)
            assert sensor.mode == "qa"  # the driver switched the module to question mode
            assert sensor.questions >= 3
            assert {(round(v, 6), q) for v, q in r.readings()} == {(3.7, Quality.GOOD)}

    run(scenario())


def test_a_module_that_stops_answering_is_failing_and_recovers(sensor: PtyUartSensor) -> None:
    async def scenario() -> None:
        async with Running(make_driver(sensor.path, mode="qa")) as r:
            await r.until(lambda: r.count() >= 1)
            sensor.quiet = True
            await r.until(lambda: r.driver.status.failing == {"kitchen-co"})
            assert r.driver.status.errors["timeout"] >= 2
            assert r.driver.status.connected  # the port is fine: the module is the problem
            sensor.quiet = False
            await r.until(lambda: not r.driver.status.failing)

    run(scenario())


def test_mh_z19_style_answers_carry_temperature_too(tmp_path: Path) -> None:
    bindings = [
        Binding(0, "co2", "co", profile="mh-z19", point="gas"),
        Binding(1, "co2-temp", "temperature", profile="mh-z19", point="temperature"),
    ]

    async def scenario() -> None:
        with PtyUartSensor("co", mode="qa", counts=415, link=tmp_path / "ttyAMA0") as sim:
            sim.temperature_c = 31
            async with Running(make_driver(sim.path, bindings, mode="qa")) as r:
                await r.until(lambda: r.count(1) >= 1)
                assert r.readings(0)[0] == (415.0, Quality.GOOD)
                assert r.readings(1)[0] == (31.0, Quality.GOOD)

    run(scenario())


@pytest.mark.parametrize("mode", ["active", "qa"])
def test_unplugging_the_sensor_is_a_port_outage_and_the_driver_reopens_by_itself(
    sensor: PtyUartSensor, mode: str
) -> None:
    async def scenario() -> None:
        async with Running(make_driver(sensor.path, mode=mode)) as r:
            await r.until(lambda: r.count() >= 2)
            sensor.unplug()
            await r.until(lambda: not r.driver.status.connected)
            assert r.driver.status.errors["port"] == 1
            seen = r.count()
            sensor.replug()
            await r.until(lambda: r.driver.status.connected and r.count() >= seen + 2)
            assert r.driver.status.errors["port"] == 1
            assert not r.driver.status.failing

    run(scenario())
