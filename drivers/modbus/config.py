"""The `modbus_rtu` driver's settings: one RS-485 bus (one serial port, one master)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class ModbusRtuDriverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["modbus_rtu"]
    id: Id
    port: str = Field(min_length=1)  # /dev/ttyUSB0, or better a /dev/serial/by-id/... symlink
    # Line settings are per bus: every slave on one RS-485 pair must use the same ones.
    baudrate: int = Field(default=9600, gt=0)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    poll_interval_s: float = Field(default=5.0, gt=0)  # one read cycle over all slaves
    # Time a slave has to answer, on top of the wire time of the request and the reply.
    request_timeout_s: float = Field(default=0.5, gt=0, le=10)
    # Silence between frames; null = 3.5 characters at the baud rate (1.75 ms above 19200).
    inter_frame_gap_s: float | None = Field(default=None, ge=0, le=1)
    max_registers_per_read: int = Field(default=125, ge=1, le=125)  # Modbus allows 125
    # A slave failing this many cycles in a row is quarantined: its devices are reported
    # failing and it is only probed again after a backoff doubling up to quarantine_max_s.
    failures_before_quarantine: int = Field(default=3, ge=1)
    quarantine_max_s: float = Field(default=300.0, gt=0)
    reopen_max_s: float = Field(default=30.0, gt=0)  # backoff cap while the port is gone
    profiles_dir: Path | None = None  # null = config/profiles of the installation
