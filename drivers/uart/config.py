"""The `uart` driver's settings: one serial port with one frame-speaking sensor module."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class UartDriverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["uart"]
    id: Id
    port: str = Field(min_length=1)  # /dev/ttyAMA0, /dev/ttyUSB0 or a /dev/serial/by-id/ symlink
    baudrate: int = Field(default=9600, gt=0)  # Winsen and MH-Z19 modules: 9600 8N1
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    # active: the module uploads a frame by itself (ZE-series default, about once a second);
    # qa: the gateway asks every poll_interval_s (question-and-answer mode; MH-Z19 needs it).
    mode: Literal["active", "qa"] = "active"
    poll_interval_s: float = Field(default=5.0, gt=0)  # qa: time between questions
    reply_timeout_s: float = Field(default=0.5, gt=0, le=10)  # qa: wait for the answer
    switch_to_qa: bool = True  # qa: send the ZE-series "question mode" command after opening
    # No good frame for this long while the port is fine: the sensor's devices are failing.
    failing_after_s: float = Field(default=30.0, gt=0)
    reopen_max_s: float = Field(default=30.0, gt=0)  # backoff cap while the port is gone
