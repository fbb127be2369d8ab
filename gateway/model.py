"""The shared vocabulary: identities, sensor classes, quality and the columnar reading batch.

Drivers, the pipeline and detection exchange readings as one columnar batch (sensor index, value,
acquisition time, quality) so the hot path never builds a Python object per reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


class Quality(IntEnum):
    """How far a value can be trusted (written as the `quality` field)."""

    GOOD = 0
    UNCERTAIN = 1  # warming up, or a value the device itself flags as doubtful
    BAD = 2  # the device says the value is not a measurement (sensor lost, over range)
    TEST = 3  # a person is testing the detector: never a real hazard


class SensorClass(StrEnum):
    """What a sensor measures; selects presets, units and the InfluxDB measurement."""

    SMOKE = "smoke"  # the detector's own alarm flag: 1 alarm, 0 normal
    COMBUSTIBLE_GAS = "combustible_gas"  # %LEL
    CO = "co"  # ppm
    TEMPERATURE = "temperature"  # °C
    H2S = "h2s"  # ppm
    NH3 = "nh3"  # ppm
    CL2 = "cl2"  # ppm
    H2 = "h2"  # %VOL
    OXYGEN = "oxygen"  # %VOL


UNITS: dict[SensorClass, str] = {
    SensorClass.SMOKE: "alarm flag",
    SensorClass.COMBUSTIBLE_GAS: "%LEL",
    SensorClass.CO: "ppm",
    SensorClass.TEMPERATURE: "°C",
    SensorClass.H2S: "ppm",
    SensorClass.NH3: "ppm",
    SensorClass.CL2: "ppm",
    SensorClass.H2: "%VOL",
    SensorClass.OXYGEN: "%VOL",
}


@dataclass(frozen=True, slots=True)
class Identity:
    """Where a record comes from; every record written anywhere carries both ids."""

    site: str
    gateway: str


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """Readings in columns; row i is sensor[i] = value[i] at ts_ns[i] with quality[i]."""

    sensor: IntArray
    value: FloatArray
    ts_ns: IntArray
    quality: IntArray

    @classmethod
    def of(
        cls,
        sensor: list[int] | IntArray,
        value: list[float] | FloatArray,
        ts_ns: list[int] | IntArray,
        quality: list[int] | IntArray | None = None,
    ) -> ReadingBatch:
        n = len(sensor)
        q = np.zeros(n, dtype=np.int64) if quality is None else np.asarray(quality, np.int64)
        batch = cls(
            np.asarray(sensor, np.int64),
            np.asarray(value, np.float64),
            np.asarray(ts_ns, np.int64),
            q,
        )
        if not (len(batch.value) == len(batch.ts_ns) == len(batch.quality) == n):
            raise ValueError("reading batch columns differ in length")
        return batch

    @classmethod
    def empty(cls) -> ReadingBatch:
        return cls.of([], [], [])

    def __len__(self) -> int:
        return len(self.sensor)

    def select(self, mask: BoolArray) -> ReadingBatch:
        return ReadingBatch(
            self.sensor[mask], self.value[mask], self.ts_ns[mask], self.quality[mask]
        )
