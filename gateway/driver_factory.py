"""Building drivers from their config: `type` selects the package (sim <-> drivers/sim/,
modbus_rtu <-> drivers/modbus/, uart <-> drivers/uart/, mqtt <-> drivers/mqtt/).

Its own module so the daemon, `hazgw config check` and the provisioning commands share it
without importing the daemon.
"""

from __future__ import annotations

from drivers.base import Driver
from drivers.modbus.config import ModbusRtuDriverConfig
from drivers.modbus.driver import ModbusRtuDriver
from drivers.mqtt.config import MqttDriverConfig
from drivers.mqtt.driver import MqttDriver
from drivers.sim.driver import SimDriver
from drivers.sim.scenario import CHANNELS
from drivers.uart.config import UartDriverConfig
from drivers.uart.driver import UartDriver
from gateway.clock import Clock, SystemClock
from gateway.config import DriverConfig, HazgwConfig
from gateway.errors import ConfigError, ConfigIssue
from gateway.registry import Registry


def make_driver(dcfg: DriverConfig, registry: Registry, clock: Clock, start_ns: int) -> Driver:
    """config `type` -> driver package (sim <-> drivers/sim/, modbus_rtu <-> drivers/modbus/,
    uart <-> drivers/uart/). Raises ConfigError for a bad profile or binding; opens nothing."""
    bindings = registry.bindings(dcfg.id)
    if isinstance(dcfg, ModbusRtuDriverConfig):
        return ModbusRtuDriver(dcfg, bindings, clock=clock)
    if isinstance(dcfg, UartDriverConfig):
        return UartDriver(dcfg, bindings, clock=clock)
    if isinstance(dcfg, MqttDriverConfig):
        return MqttDriver(dcfg, bindings, clock=clock)
    sensors = [(b.index, b.channel or b.device) for b in bindings]
    unknown = [(b.device, ch) for b, (_, ch) in zip(bindings, sensors, strict=True)
               if ch not in CHANNELS]  # fmt: skip
    if unknown:  # a config error, never a crash of `config check` or of start-up
        raise ConfigError([
            ConfigIssue("config", f"devices[{dev}].channel", None,
                        f"{ch!r} is no sim channel; known: {', '.join(sorted(CHANNELS))}")
            for dev, ch in unknown
        ])  # fmt: skip
    return SimDriver(
        dcfg.id, sensors, clock=clock, start_ns=start_ns, seed=dcfg.seed, period_s=dcfg.period_s
    )


def check_drivers(cfg: HazgwConfig) -> None:
    """Build every driver once without opening anything: a bad profile or binding stops
    start-up (and `hazgw config check`) with a ConfigError instead of a crash loop later."""
    registry = Registry.from_config(cfg)
    for dcfg in cfg.drivers:
        make_driver(dcfg, registry, SystemClock(), 0)
