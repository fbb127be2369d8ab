"""The Modbus RTU driver against a simulated RS-485 bus on a pty: real frames, real CRCs, read
through pyserial. The slaves are pymodbus's codec (drivers/sim/pty_modbus.py), not ours.

Gateway time (poll cycles, quarantine and reopen backoff) runs 20x faster on a LoopClock; wire
timeouts are real. Waits are conditions with a generous guard, never timed assertions.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
from pymodbus.client import ModbusSerialClient
from pymodbus.framer import FramerType

from drivers.base import Binding
from drivers.modbus.config import ModbusRtuDriverConfig
from drivers.modbus.driver import ModbusRtuDriver
from drivers.sim.pty_modbus import PtyModbusSlave
from gateway.clock import LoopClock
from gateway.model import Quality, ReadingBatch

GUARD_S = 15.0  # only against hangs
XY, GAS = 1, 2  # slave addresses
WARMUP, OVER, LOST = 1 << 0, 1 << 3, 1 << 4
BINDINGS = [
    Binding(0, "room-temp", "temperature", address=XY, profile="xy-md02", point="temperature"),
    Binding(1, "room-rh", "temperature", address=XY, profile="xy-md02", point="humidity"),
    Binding(2, "kitchen-gas", "combustible_gas", address=GAS, profile="gas-transmitter",
            point="gas"),
    Binding(3, "kitchen-gas-hi", "smoke", address=GAS, profile="gas-transmitter",
            point="high_alarm"),
]  # fmt: skip


def registers() -> dict[int, dict[tuple[int, int], int]]:
    return {
        XY: {(4, 1): 0xFF9C, (4, 2): 456},  # -10.0 °C, 45.6 %RH
        GAS: {(3, 0): 0, (3, 1): 125, (3, 2): 1, (3, 3): 1000},  # 12.5 %LEL, 1 decimal
    }


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PtyModbusSlave]:
    with PtyModbusSlave(registers(), link=tmp_path / "ttyUSB-rs485") as sim:
        yield sim


def make_driver(port: str, bindings: list[Binding] = BINDINGS, **over: Any) -> ModbusRtuDriver:
    settings: dict[str, Any] = {
        "type": "modbus_rtu", "id": "rs485-1", "port": port, "poll_interval_s": 1.0,
        "request_timeout_s": 0.05, "failures_before_quarantine": 2, "quarantine_max_s": 4.0,
        "reopen_max_s": 2.0,
    } | over  # fmt: skip
    cfg = ModbusRtuDriverConfig.model_validate(settings)
    return ModbusRtuDriver(cfg, bindings, clock=LoopClock(speed=20))


class Running:
    """The driver's batches() consumed by a task, as the daemon does; the test watches."""

    def __init__(self, driver: ModbusRtuDriver) -> None:
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

    def readings(self, sensor: int) -> list[tuple[float, Quality]]:
        return [
            (float(b.value[i]), Quality(int(b.quality[i])))
            for b in self.batches
            for i in range(len(b))
            if b.sensor[i] == sensor
        ]

    def count(self, sensor: int) -> int:
        return len(self.readings(sensor))

    def last(self, sensor: int) -> tuple[float, Quality] | None:
        readings = self.readings(sensor)
        return readings[-1] if readings else None


def run(coro: Any) -> None:
    asyncio.run(coro)


def test_values_from_two_slaves_arrive_decoded_one_request_per_slave_and_cycle(
    bus: PtyModbusSlave,
) -> None:
    async def scenario() -> None:
        async with Running(make_driver(bus.path)) as r:
            await r.until(lambda: r.count(0) >= 3 and r.count(2) >= 3)
            assert r.readings(0)[0] == (-10.0, Quality.GOOD)
            assert r.readings(1)[0] == pytest.approx((45.6, Quality.GOOD))
            assert r.readings(2)[0] == (12.5, Quality.GOOD)
            assert r.readings(3)[0] == (0.0, Quality.GOOD)
            d = r.driver
            assert d.status.connected
            assert not d.status.failing
            assert sum(d.status.errors.values()) == 0, d.status.errors
            # temperature+humidity is one read; status+gas+decimals+alarm bit is one read
            assert [len(p.reads) for p in d.plans] == [1, 1]
            assert d.transactions == bus.requests[XY] + bus.requests[GAS]
            assert abs(bus.requests[XY] - bus.requests[GAS]) <= 1

    run(scenario())


def test_the_devices_status_register_decides_quality_and_bad_is_never_a_value(
    bus: PtyModbusSlave,
) -> None:
    async def scenario() -> None:
        async with Running(make_driver(bus.path)) as r:
            for status, quality in ((WARMUP, Quality.UNCERTAIN), (LOST, Quality.BAD),
                                    (OVER | 1 << 2, Quality.BAD), (0, Quality.GOOD)):  # fmt: skip
                bus.set(GAS, 3, 0, status)
                seen = r.count(2)
                await r.until(lambda n=seen: r.count(2) >= n + 2)  # type: ignore[misc]
                value, got = r.readings(2)[-1]
                assert got is quality
                assert math.isnan(value) if quality is Quality.BAD else value == 12.5
            alarm_bits = [v for v, _ in r.readings(3)]
            assert 1.0 in alarm_bits  # the transmitter's own high alarm came through as a value

    run(scenario())


def test_a_register_the_device_lacks_is_an_exception_counted_not_a_dead_slave(
    bus: PtyModbusSlave,
) -> None:
    extra = Binding(4, "kitchen-gas-range", "combustible_gas", address=GAS,
                    profile="gas-transmitter", point="full_scale")  # fmt: skip
    del bus.registers[GAS][(3, 3)]  # this unit has no full-scale register: exception 2

    async def scenario() -> None:
        async with Running(make_driver(bus.path, [*BINDINGS, extra])) as r:
            await r.until(lambda: r.driver.status.errors["exception"] >= 3 and r.count(0) >= 3)
            d = r.driver
            assert d.device_errors["kitchen-gas"]["exception"] >= 3
            assert d.device_errors["room-temp"]["exception"] == 0
            assert not d.status.failing  # it answers: it is alive
            assert r.count(2) == 0  # its values need the refused read: none is invented

    run(scenario())


def test_a_dead_slave_is_quarantined_probed_with_backoff_and_does_not_stall_the_others(
    bus: PtyModbusSlave,
) -> None:
    async def scenario() -> None:
        async with Running(make_driver(bus.path)) as r:
            await r.until(lambda: r.count(2) >= 1)
            bus.silent.add(GAS)
            await r.until(lambda: r.driver.status.failing == {"kitchen-gas", "kitchen-gas-hi"})
            asked, cycles = bus.requests[GAS], r.count(0)
            await r.until(lambda: r.count(0) >= cycles + 20)  # the live slave keeps flowing
            probes = bus.requests[GAS] - asked
            assert 1 <= probes <= 6, probes  # backoff 1, 2, 4, 4 s over 20 one-second cycles
            assert r.driver.status.connected  # one slave down is not the bus down
            assert r.driver.device_errors["kitchen-gas"]["timeout"] >= 2 + probes - 1
            assert r.driver.device_errors["room-temp"]["timeout"] == 0
            bus.silent.discard(GAS)
            await r.until(lambda: not r.driver.status.failing)
            await r.until(lambda: r.last(2) == (12.5, Quality.GOOD))

    run(scenario())


def test_all_slaves_silent_is_one_bus_fault(bus: PtyModbusSlave) -> None:
    async def scenario() -> None:
        async with Running(make_driver(bus.path)) as r:
            await r.until(lambda: r.count(0) >= 1)
            bus.silent.update({XY, GAS})
            await r.until(lambda: not r.driver.status.connected)
            assert len(r.driver.status.failing) == 4  # known, but the bus fault covers them
            bus.silent.clear()
            await r.until(lambda: r.driver.status.connected and not r.driver.status.failing)

    run(scenario())


def test_damaged_crcs_are_counted_as_crc_errors_and_noise_before_a_reply_costs_nothing(
    bus: PtyModbusSlave,
) -> None:
    async def scenario() -> None:
        async with Running(make_driver(bus.path)) as r:
            await r.until(lambda: r.count(0) >= 1)
            bus.corrupt_crc = 3
            await r.until(lambda: r.driver.status.errors["crc"] >= 3)
            assert r.driver.status.errors["timeout"] == 0  # told apart from silence
            before = r.count(0) + r.count(2)
            bus.noise_before = b"\x00"  # a transceiver glitch at every turnaround
            await r.until(lambda: r.count(0) + r.count(2) >= before + 6)
            assert r.driver.status.errors["crc"] == 3
            assert r.driver.status.errors["garbage"] == 0
            assert not r.driver.status.failing

    run(scenario())


def test_a_slow_slave_times_out_and_its_late_reply_is_not_taken_for_the_next_one(
    bus: PtyModbusSlave,
) -> None:
    # Cycles of 10 s (500 ms real): slave 1 is asked at 0 and times out at ~116 ms; slave 2 is
    # asked at ~120 ms. First slave 2 takes 60 ms and slave 1's reply, 150 ms late, lands inside
    # slave 2's transaction; then slave 1's reply comes 300 ms late, in the idle time before
    # the next cycle, where it is flushed and counted.
    driver = make_driver(
        bus.path, poll_interval_s=10.0, request_timeout_s=0.1, failures_before_quarantine=1000
    )

    async def scenario() -> None:
        async with Running(driver) as r:
            await r.until(lambda: r.count(0) >= 1)
            for delays in ({XY: 0.15, GAS: 0.06}, {XY: 0.3}):
                bus.delay_s = delays
                seen = r.count(2)
                await r.until(lambda n=seen: r.count(2) >= n + 2)  # type: ignore[misc]
            assert r.driver.status.errors["late_reply"] >= 1
            assert r.driver.device_errors["room-temp"]["timeout"] >= 3
            assert r.driver.device_errors["kitchen-gas"]["timeout"] == 0
            assert set(r.readings(2)) == {(12.5, Quality.GOOD)}  # never slave 1's words
            assert set(r.readings(0)) == {(-10.0, Quality.GOOD)}

    run(scenario())


def test_unplugging_the_adapter_is_one_bus_outage_and_the_driver_reopens_by_itself(
    bus: PtyModbusSlave,
) -> None:
    async def scenario() -> None:
        async with Running(make_driver(bus.path)) as r:
            await r.until(lambda: r.count(0) >= 2)
            bus.unplug()  # the by-id symlink and the pty vanish
            await r.until(lambda: not r.driver.status.connected)
            assert r.driver.status.errors["port"] == 1
            assert not r.driver.status.failing  # no device faults: the bus fault says it all
            seen = r.count(0)
            bus.replug()  # the same path, a new pty
            await r.until(lambda: r.driver.status.connected and r.count(0) >= seen + 2)
            assert r.driver.status.errors["port"] == 1

    run(scenario())


def test_an_adapter_missing_at_start_is_waited_for(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB-later"

    async def scenario() -> None:
        async with Running(make_driver(str(link))) as r:
            assert not r.driver.status.connected
            with PtyModbusSlave(registers(), link=link):
                await r.until(lambda: r.count(0) >= 1)
                assert r.driver.status.connected

    run(scenario())


def test_the_simulator_is_real_modbus_pymodbus_own_client_reads_it(bus: PtyModbusSlave) -> None:
    client = ModbusSerialClient(bus.path, framer=FramerType.RTU, baudrate=9600, timeout=1)
    assert client.connect()
    try:
        reply = client.read_input_registers(1, count=2, device_id=XY)
        assert reply.registers == [0xFF9C, 456]
        refused = client.read_holding_registers(10, count=1, device_id=GAS)
        assert refused.isError()
        assert refused.exception_code == 2
    finally:
        client.close()  # type: ignore[no-untyped-call]
