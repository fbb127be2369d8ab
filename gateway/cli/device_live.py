"""Live bus work for `hazgw device`: one reading through the real driver, and a Modbus scan.

`read_once` builds the device's driver exactly as the daemon does (gateway.app.make_driver) for
a registry holding only that device, runs it until the first batch, and explains failures.
`scan` probes every address and baud rate with small FC03/FC04 reads, with our own RTU codec.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from drivers.base import Driver
from drivers.modbus.driver import ModbusRtuDriver
from drivers.modbus.rtu import (
    ReplyKind,
    frame_gap_seconds,
    parse_reply,
    read_request,
    reply_length,
    wire_seconds,
)
from drivers.serial_link import SerialLink
from gateway.cli.common import fail
from gateway.clock import SystemClock
from gateway.config import DeviceConfig, HazgwConfig
from gateway.driver_factory import make_driver
from gateway.errors import ConfigError, DriverError
from gateway.model import Quality
from gateway.registry import Registry

Frames = list[tuple[str, bytes]]  # ("tx" | "rx", bytes)


class TracingLink(SerialLink):
    """The driver's serial link, recording every frame written and every chunk read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: Frames = []

    def write(self, data: bytes) -> None:
        self.frames.append(("tx", data))
        super().write(data)

    async def read(self, timeout_s: float) -> bytes:
        data = await super().read(timeout_s)
        if data:
            self.frames.append(("rx", data))
        return data


@dataclass
class ReadResult:
    device: str
    value: float | None = None
    quality: str = ""
    frames: Frames = field(default_factory=list)
    problem: str = ""
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        value = None if self.value is None or not math.isfinite(self.value) else self.value
        return {
            "device": self.device, "value": value, "quality": self.quality,
            "frames": [{"dir": d, "hex": f.hex(" ")} for d, f in self.frames],
            "problem": self.problem, "hint": self.hint,
        }  # fmt: skip


HINTS = (  # (words in the driver's last_error, what to do next); the first match wins
    (("lock", "busy", "temporarily unavailable"),
     "the port is in use: is the daemon running? stop it (systemctl stop hazard-gateway)"),
    (("no such file", "errno 2]"),
     "the adapter is not there: check the USB cable and ls /dev/serial/by-id/"),
    (("permission denied",),
     "no access to the port: run as root or add the user to the dialout group"),
    (("timeout",),
     "no answer: wrong address, baud rate or parity, A/B swapped, or no power? "
     "find the slaves with: hazgw device scan --port PORT"),
    (("exception",),
     "the slave refused the read: its profile (registers) does not match the device"),
    (("crc", "garbage"),
     "damaged replies: check baud rate and parity, termination and grounding"),
)  # fmt: skip


def hint_for(error: str) -> str:
    """What to do next, from a driver's last_error."""
    low = error.lower()
    for words, hint in HINTS:
        if any(w in low for w in words):
            return hint
    return "check the wiring and the driver's settings in the config"


def _driver_for(cfg: HazgwConfig, dev: DeviceConfig, trace: bool) -> Driver:
    """The daemon's driver for this one device (in service or not)."""
    one = cfg.model_copy(update={"devices": [dev.model_copy(update={"enabled": True})]})
    dcfg = next(d for d in cfg.drivers if d.id == dev.driver)
    clock = SystemClock()
    driver = make_driver(dcfg, Registry.from_config(one), clock, clock.wall_ns())
    if trace and isinstance(driver, ModbusRtuDriver):
        c = driver.cfg
        driver._link = TracingLink(  # the driver's own link, watched
            c.port, baudrate=c.baudrate, bytesize=c.bytesize, parity=c.parity, stopbits=c.stopbits
        )
    return driver


async def read_once(
    cfg: HazgwConfig, dev: DeviceConfig, *, timeout_s: float, trace: bool
) -> ReadResult:
    result = ReadResult(dev.id)
    try:
        driver = _driver_for(cfg, dev, trace)
    except ConfigError as exc:
        result.problem, result.hint = f"cannot build the driver: {exc}", "hazgw config check FILE"
        return result
    try:
        async with driver:
            batch = await _first_batch(driver, timeout_s)
    except DriverError as exc:
        batch, driver.status.last_error = None, str(exc)
    link = getattr(driver, "_link", None)
    result.frames = list(link.frames) if isinstance(link, TracingLink) else []
    if batch is None:
        error = driver.status.last_error or f"no reading within {timeout_s:g} s"
        result.problem, result.hint = f"{dev.id}: {error}", hint_for(error)
        return result
    result.value, q = batch
    result.quality = Quality(q).name.lower()
    return result


async def _first_batch(driver: Driver, timeout_s: float) -> tuple[float, int] | None:
    """The first reading, or None when the driver reports the bus down or a silent slave."""

    async def first() -> tuple[float, int] | None:
        async for batch in driver.batches():
            return float(batch.value[0]), int(batch.quality[0])
        return None

    async def failed() -> None:
        while not {"port", "timeout"} & driver.status.errors.keys():  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # the driver offers no event for its counters

    tasks = [asyncio.create_task(first()), asyncio.create_task(failed())]
    done, pending = await asyncio.wait(tasks, timeout=timeout_s, return_when="FIRST_COMPLETED")
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if tasks[0] in done:
        return tasks[0].result()
    return None


# --- scan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    baudrate: int
    address: int
    function: int
    register: int
    answer: str  # "registers [..]" or "exception N": either proves a slave is there


async def probe(link: SerialLink, addr: int, fc: int, reg: int, *, baud: int, wait_s: float) -> str:
    """One read of one register; what came back, or "" for silence."""
    link.discard_input()
    link.write(read_request(addr, fc, reg, 1))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wire_seconds(8 + reply_length(1), baud) + wait_s
    buf = b""
    while (remaining := deadline - loop.time()) > 0:
        buf += await link.read(remaining)
        reply = parse_reply(buf, addr, fc, 1)
        if reply.kind is ReplyKind.REGISTERS:
            return f"registers {list(reply.registers)}"
        if reply.kind is ReplyKind.EXCEPTION:
            return f"exception {reply.exception_code}"
    return ""


async def scan(
    port: str, bauds: list[int], addresses: list[int], *, parity: str, timeout_s: float,
    registers: list[int], progress: Progress | None = None,
) -> list[Found]:  # fmt: skip
    found: list[Found] = []
    task = progress.add_task("scan", total=len(bauds) * len(addresses)) if progress else None
    for baud in bauds:
        link = SerialLink(port, baudrate=baud, parity=parity)
        link.open()
        try:
            for addr in addresses:
                if progress is not None and task is not None:
                    progress.update(task, description=f"{baud} baud, address {addr}", advance=1)
                hit = await _probe_address(link, addr, baud, timeout_s, registers)
                if hit is not None:
                    found.append(hit)
        finally:
            link.close()
    return found


async def _probe_address(
    link: SerialLink, addr: int, baud: int, timeout_s: float, registers: list[int]
) -> Found | None:
    for reg in registers:
        for fc in (3, 4):
            answer = await probe(link, addr, fc, reg, baud=baud, wait_s=timeout_s)
            await asyncio.sleep(frame_gap_seconds(baud))
            if answer:
                return Found(baud, addr, fc, reg, answer)
    return None


def parse_ranges(text: str, low: int, high: int, what: str) -> list[int]:
    """ "1-5,9" -> [1, 2, 3, 4, 5, 9] within [low, high]."""
    values: list[int] = []
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            values += range(int(a), int(b or a) + 1)
    except ValueError:
        fail(f"{what} {text!r} is not a list like 1-10,20", f"e.g. {what} 1-247")
    if not values or any(not low <= v <= high for v in values):
        fail(f"{what} {text!r} is outside {low}-{high}", f"e.g. {what} {low}-{high}")
    return list(dict.fromkeys(values))


def scan_command(  # noqa: PLR0917 - typer maps each parameter to one option
    port: Annotated[str, typer.Option(help="the serial port, e.g. /dev/ttyUSB0")],
    baud: Annotated[str, typer.Option(help="baud rates to try, e.g. 9600,19200")] = "9600",
    addresses: Annotated[str, typer.Option(help="slave addresses, e.g. 1-247")] = "1-247",
    parity: Annotated[str, typer.Option(help="N | E | O")] = "N",
    timeout: Annotated[float, typer.Option(min=0.01, help="seconds to wait per probe")] = 0.2,
    registers: Annotated[str, typer.Option(help="registers probed (FC03, then FC04)")] = "0,1",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Find Modbus RTU slaves: a one-register read to every address at every baud rate.

    An exception reply counts: it proves a slave is there. Stop the daemon first (the port is
    opened exclusively)."""
    if parity not in ("N", "E", "O"):
        fail(f"--parity {parity!r} is not N, E or O", "e.g. --parity E")
    bauds = parse_ranges(baud, 300, 4_000_000, "--baud")
    addrs = parse_ranges(addresses, 1, 247, "--addresses")
    regs = parse_ranges(registers, 0, 0xFFFF, "--registers")
    out = Console(soft_wrap=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    progress = Progress(*columns, console=Console(stderr=True), disable=as_json, transient=True)
    try:
        with progress:
            found = asyncio.run(scan(port, bauds, addrs, parity=parity, timeout_s=timeout,
                                     registers=regs, progress=progress))  # fmt: skip
    except DriverError as exc:
        fail(str(exc), hint_for(f"port: {exc}"))
    if as_json:
        out.print_json(json.dumps([f.__dict__ for f in found]))
        return
    for f in found:
        out.print(f"slave {f.address} at {f.baudrate} baud: fc{f.function} register "
                  f"{f.register} -> {f.answer}", highlight=False)  # fmt: skip
    out.print(f"{len(found)} slaves answered on {port}", highlight=False)
