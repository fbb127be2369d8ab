"""The device registry: configured devices in service, each given a fixed sensor index.

The index is the row of the sensor in every columnar array (reading batches, detection state).
A reload builds a new registry; `mapping_from` tells which rows survive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alerting.presets import Preset, resolve
from drivers.base import Binding
from gateway.config import DeviceConfig, HazgwConfig
from gateway.lineproto import series_prefix
from gateway.model import Identity, SensorClass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sensor:
    index: int
    device: str
    name: str
    zone: str
    zone_name: str
    location: str
    sensor_class: SensorClass
    driver: str
    channel: str
    preset: Preset
    address: int | None = None
    profile: str = ""
    point: str = ""
    topic: str = ""

    @property
    def place(self) -> str:
        """Where a person finds it: zone name and the device's own location."""
        return " / ".join(p for p in (self.zone_name, self.location) if p)


def _preset_for(device: DeviceConfig) -> Preset:
    """The class preset (or the variant the device names) with the device's own settings; the
    engine lays the site and zone overrides under these (alerting.presets.resolve)."""
    layer = device.thresholds.model_dump(exclude_none=True)
    preset, _problems = resolve(device.sensor_class, [layer])
    return preset  # problems stop the engine's start (gateway.engine.preset_issues)


class Registry:
    def __init__(self, sensors: list[Sensor]) -> None:
        self.sensors = sensors
        self.by_device = {s.device: s for s in sensors}

    @classmethod
    def from_config(cls, cfg: HazgwConfig) -> Registry:
        zones = {z.id: z.name for z in cfg.zones}
        sensors: list[Sensor] = []
        for dev in cfg.devices:
            if not dev.enabled:
                log.warning(
                    "device %s is out of service (enabled: false): no alarms from it", dev.id
                )
                continue
            sensors.append(
                Sensor(
                    index=len(sensors),
                    device=dev.id,
                    name=dev.name or dev.id,
                    zone=dev.zone,
                    zone_name=zones[dev.zone],
                    location=dev.location,
                    sensor_class=dev.sensor_class,
                    driver=dev.driver,
                    channel=dev.channel,
                    preset=_preset_for(dev),
                    address=dev.address,
                    profile=dev.profile,
                    point=dev.point,
                    topic=dev.topic,
                )
            )
        return cls(sensors)

    def __len__(self) -> int:
        return len(self.sensors)

    def presets(self) -> list[Preset]:
        return [s.preset for s in self.sensors]

    def of_driver(self, driver: str) -> list[Sensor]:
        return [s for s in self.sensors if s.driver == driver]

    def bindings(self, driver: str) -> list[Binding]:
        """What a driver needs to know of its sensors (drivers never see the config)."""
        return [
            Binding(
                s.index, s.device, s.sensor_class.value, s.channel, s.address, s.profile,
                s.point, s.topic,
            )
            for s in self.of_driver(driver)
        ]  # fmt: skip

    def series_prefixes(self, ident: Identity) -> list[str]:
        """Line-protocol series per sensor: measurement = sensor class, tags locate it."""
        return [
            series_prefix(
                s.sensor_class.value,
                {
                    "site": ident.site,
                    "gateway": ident.gateway,
                    "zone": s.zone,
                    "device": s.device,
                    "sensor_class": s.sensor_class.value,
                },
            )
            for s in self.sensors
        ]

    def mapping_from(self, old: Registry) -> dict[int, int]:
        """New index -> old index for devices present in both (a reload keeps their history)."""
        return {
            s.index: old.by_device[s.device].index
            for s in self.sensors
            if s.device in old.by_device and old.by_device[s.device].sensor_class == s.sensor_class
        }
