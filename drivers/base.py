"""What every driver offers the daemon.

A driver is an async context manager (it owns its bus or connection) whose `batches()` yields
columnar reading batches until it is cancelled. Bus trouble is raised as gateway.errors.DriverError;
the supervisor in the daemon restarts the driver with backoff.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from gateway.model import ReadingBatch


@dataclass(frozen=True, slots=True)
class Binding:
    """One configured sensor as a driver sees it: where to read it, and its row in the batch."""

    index: int  # the sensor index to put in ReadingBatch.sensor
    device: str  # the device id from the config
    sensor_class: str  # gateway.model.SensorClass value
    channel: str = ""  # sim: the scenario signal
    address: int | None = None  # bus address (Modbus slave id)
    profile: str = ""  # register map or frame profile name (config/profiles/<name>.yaml)
    point: str = ""  # which value of the profile or payload (e.g. "temperature", "gas")
    topic: str = ""  # MQTT topic (or topic filter) the value arrives on


@dataclass(slots=True)
class DriverStatus:
    """What a driver knows about its bus, read by the daemon every tick.

    `connected` False means the bus or connection itself is down: one bus fault, and the
    devices behind it are not reported one by one. `failing` lists devices that stopped
    answering while the bus is up (comm loss). `errors` counts problems by reason
    (crc, timeout, exception, malformed_json, unknown_topic, ...), never resets.
    """

    connected: bool = False
    failing: set[str] = field(default_factory=set)
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str = ""


class Driver(Protocol):
    name: str
    produced: int  # readings yielded since start, for health and tests
    status: DriverStatus

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def batches(self) -> AsyncIterator[ReadingBatch]: ...
