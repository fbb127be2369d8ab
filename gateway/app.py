"""The composition root: one asyncio process that wires drivers, the engine, the outbox, the
forwarder and the notifiers, and runs them as named tasks in one TaskGroup.

Blocking work (SQLite, fsync) runs on a single worker thread, in order, so the engine's state and
both databases are only ever touched by that thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from alerting.health import AlarmKpi
from alerting.ledger import Kind, Ledger
from alerting.notify import Notifier
from alerting.notify.build import build_pipeline
from alerting.notify.delivery import ledger_recorder
from alerting.notify.pipeline import NotifyPipeline
from drivers.base import Driver
from gateway import maintenance
from gateway.clock import Clock, sleep_unless
from gateway.config import DriverConfig, HazgwConfig, load_config
from gateway.driver_factory import make_driver
from gateway.engine import Engine, StepResult
from gateway.errors import ConfigError, DriverError, LedgerStorageError
from gateway.forwarder import Forwarder
from gateway.influx import InfluxV1Sink, Sink
from gateway.ledger_export import export_missed
from gateway.model import Identity, ReadingBatch
from gateway.outbox import Lane, Outbox, OutboxError
from gateway.registry import Registry
from gateway.sdnotify import SystemdNotifier
from gateway.telemetry import (
    driver_line,
    health_line,
    kpi_line,
    ledger_line,
    reading_lines,
    transition_line,
)
from gateway.wake import WAKE_GAP_S, CrossingWatch

if TYPE_CHECKING:
    from gateway.commands.service import CommandService

log = logging.getLogger(__name__)
T = TypeVar("T")
QUEUE_BATCHES = 256  # bounded: a stalled engine pushes back on the drivers instead of eating RAM
HEALTH_EVERY_S = 60.0


@dataclass
class Counters:
    readings: int = 0
    steps: int = 0
    notifications: int = 0
    queue_full_waits: int = 0
    driver_restarts: int = 0
    readings_lost: int = 0  # the outbox could not take them (disk full)


def make_sink(cfg: HazgwConfig) -> Sink | None:
    i = cfg.influxdb
    if i is None:
        return None
    if i.version == 1:
        return InfluxV1Sink(
            i.url, i.database, retention_policy=i.retention_policy, username=i.username,
            password=i.password, gzip=i.gzip, timeout_s=i.timeout_s,
        )  # fmt: skip
    from gateway.influx2 import InfluxV2Sink  # noqa: PLC0415 (15 MB of client, only when used)

    return InfluxV2Sink(i.url, i.token, i.org, i.bucket, gzip=i.gzip, timeout_s=i.timeout_s)


def _cancel(tasks: dict[str, asyncio.Task[None]], name: str) -> None:
    task = tasks.pop(name, None)
    if task is not None:
        task.cancel()


def _zones_needing_attention(ledger: Ledger | None) -> set[str]:
    """Zones with an open hazard nobody has acknowledged: their sirens stay on."""
    if ledger is None:
        return set()
    return ledger.unacknowledged_zones()


class Gateway:
    def __init__(
        self,
        cfg: HazgwConfig,
        *,
        clock: Clock,
        notifiers: Sequence[Notifier],
        config_path: Path | None = None,
        on_step: Callable[[StepResult, Engine, int], None] | None = None,  # on the worker thread
        systemd: SystemdNotifier | None = None,
    ) -> None:
        self.cfg, self.clock, self.notifiers = cfg, clock, list(notifiers)
        self.config_path, self.on_step = config_path, on_step
        self.systemd = systemd or SystemdNotifier(None)
        self.ident = Identity(cfg.site.id, cfg.gateway.id)
        self.counters = Counters()
        self.stopping = asyncio.Event()
        self._wake = asyncio.Event()  # a crossing (gateway/wake.py) or the stop: step now
        self._crossings: CrossingWatch | None = None
        self._reload = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hazgw-db")
        self._queue: asyncio.Queue[ReadingBatch] = asyncio.Queue(QUEUE_BATCHES)
        self._spill: list[ReadingBatch] = []
        self._driver_tasks: dict[str, asyncio.Task[None]] = {}
        self._drivers: dict[str, Driver] = {}
        self.engine: Engine | None = None
        self.outbox: Outbox | None = None
        self.ledger: Ledger | None = None
        self.forwarder: Forwarder | None = None
        self.commands: CommandService | None = None  # people's commands over MQTT, when enabled
        self.notify: NotifyPipeline
        self._alarming: set[str] = set()
        self._last_kpi: AlarmKpi | None = None
        self._alarming_before: set[str] = set()
        self._outbox_failing = False

    # --- control from outside (signals, the demo, tests) -----------------------------------

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload = True

    async def run_db(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn)

    async def acknowledge(self, number: str, *, by: str, reason: str = "") -> None:
        engine = self._engine()
        now = self.clock.wall_ns()
        result = await self.run_db(
            lambda: self._store(
                engine.acknowledge(number, by=by, now_ns=now, reason=reason), [], now
            )
        )
        await self._dispatch(result)

    async def start_drill(
        self, *, title: str, kind: Kind, level: int, by: str, zone: str | None = None
    ) -> None:
        """An emergency drill through the real chain (HTTP/MQTT command handlers call this)."""
        engine, now = self._engine(), self.clock.wall_ns()
        result = await self.run_db(
            lambda: self._store(
                engine.start_drill(
                    title=title, kind=kind, level=level, by=by, now_ns=now, zone=zone
                ), [], now,
            )
        )  # fmt: skip
        await self._dispatch(result)

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`; then drain what is in flight into the outbox and close."""
        start_ns = self.clock.wall_ns()
        self._start_ns = start_ns
        await self.run_db(lambda: self._open(start_ns))
        # `hazgw device add/edit/remove` signal the running daemon to reload through this file.
        pid_path = self.cfg.state_dir / "hazgw.pid"
        pid_path.write_text(f"{os.getpid()}\n", encoding="ascii")
        assert self.ledger is not None
        self.notify = build_pipeline(
            self.cfg.notify, people=self.cfg.people,
            record=ledger_recorder(self.ledger, self.run_db), clock=self.clock,
            site=self.ident.site, gateway=self.ident.gateway, extra=self.notifiers,
        )  # fmt: skip
        sink = make_sink(self.cfg)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for dcfg in self.cfg.drivers:
                    self._start_driver(dcfg)
                engine_task = tg.create_task(self._engine_loop(), name="engine")
                fwd = self._start_forwarder(sink)
                side = self._start_side_tasks(tg, fwd)
                self.systemd.ready()
                log.info(
                    "hazgw ready: site %s gateway %s, %d sensors, state in %s",
                    self.ident.site, self.ident.gateway, len(self._engine().registry),
                    self.cfg.state_dir,
                )  # fmt: skip
                await self.stopping.wait()
                self.systemd.stopping()
                _cancel(side, "commands")  # no new actions from people while draining
                await self._stop_drivers()
                await engine_task
                await self._tick()  # what the drivers delivered before stopping, to the outbox
                await self.notify.drain(timeout_s=10.0)
                _cancel(side, "notify")
                if fwd is not None:
                    _cancel(side, "forwarder")
                    await fwd.drain(timeout_s=5.0)
                for task in side.values():
                    task.cancel()
        finally:
            pid_path.unlink(missing_ok=True)
            await self.run_db(self._close)
            self._worker.shutdown(wait=True)
            if sink is not None:
                sink.close()
        c = self.counters
        log.info(
            "stopped cleanly: %d readings stored, %d steps, %d notifications",
            c.readings, c.steps, c.notifications,
        )  # fmt: skip

    def _open(self, start_ns: int) -> None:
        state = self.cfg.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(
            state / "ledger.sqlite", self.ident, prefix=self.cfg.ledger.prefix,
            tz=ZoneInfo(self.cfg.site.timezone),  # report periods, roster, the year in numbers
        )  # fmt: skip
        check = self.ledger.verify()
        if not check.ok:  # keep protecting people; the broken file is evidence for an audit
            log.critical(
                "ledger chain broken at event %s: %s", check.first_broken_seq, check.reason
            )
        self.outbox, _moved_aside = Outbox.open_or_recover(
            state / "outbox.sqlite",
            now_ns=start_ns,
            max_telemetry_bytes=int(self.cfg.outbox.max_telemetry_mb * 2**20),
        )
        registry = Registry.from_config(self.cfg)
        self.engine = Engine(self.cfg, registry, self.ledger, start_ns=start_ns)
        self._prefixes = registry.series_prefixes(self.ident)
        self._alarming = _zones_needing_attention(self.ledger)  # then after each ledger change
        self._export_missed()

    def _export_missed(self) -> None:
        """Ledger events the outbox never took (worker thread); the outbox failing is counted
        by the next step's write."""
        ledger, outbox = self.ledger, self.outbox
        assert ledger is not None
        assert outbox is not None
        try:
            export_missed(ledger, outbox, self.ident)
        except OutboxError as exc:
            log.error("ledger events not handed to the outbox yet: %s", exc)

    def _close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
        if self.engine is not None and len(self.engine.backlog):
            log.error(
                "stopping with %d record(s) the ledger could not take (its disk full): they are "
                "lost from the ledger; the notifications they belong to were sent",
                len(self.engine.backlog),
            )
        if self.ledger is not None:
            self.ledger.close_db()

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the gateway is not running")
        return self.engine

    def _start_side_tasks(
        self, tg: asyncio.TaskGroup, fwd: Forwarder | None
    ) -> dict[str, asyncio.Task[None]]:
        """Everything beside drivers and engine, by name, so a stop can end them in order."""
        side = {
            "notify": tg.create_task(self.notify.run(), name="notify"),
            "watchdog": tg.create_task(self._watchdog(), name="watchdog"),
        }
        if fwd is not None:
            side["forwarder"] = tg.create_task(fwd.run(), name="forwarder")
        if self.cfg.api.enabled:
            side["api"] = tg.create_task(self._serve_api(), name="api")
        if self.cfg.commands.enabled:
            side["commands"] = tg.create_task(self._serve_commands(), name="commands")
        return side

    async def _serve_commands(self) -> None:
        # Imported here: the command service imports this module for the Gateway type.
        from gateway.commands.service import CommandService  # noqa: PLC0415

        self.commands = CommandService(self, self.cfg.commands)
        await self.commands.run()

    async def _serve_api(self) -> None:
        # Imported here: the API module imports this one for the Gateway type.
        from gateway.api.server import serve  # noqa: PLC0415

        await serve(self, self.cfg.api)

    def _start_forwarder(self, sink: Sink | None) -> Forwarder | None:
        if sink is None or self.outbox is None or self.cfg.influxdb is None:
            return None
        self.forwarder = Forwarder(
            self.outbox, sink, run_db=self.run_db, clock=self.clock,
            max_age_s=self.cfg.influxdb.max_age_s,
        )  # fmt: skip
        return self.forwarder

    # --- drivers ---------------------------------------------------------------------------

    def _start_driver(self, dcfg: DriverConfig) -> None:
        task = self._tg.create_task(self._supervise(dcfg), name=f"driver:{dcfg.id}")
        self._driver_tasks[dcfg.id] = task

    async def _supervise(self, dcfg: DriverConfig) -> None:
        """Keep one driver running: restart it with backoff, log on failure and on recovery."""
        backoff = 1.0
        while True:
            driver = make_driver(dcfg, self._engine().registry, self.clock, self._start_ns)
            self._drivers[dcfg.id] = driver
            try:
                async with driver:
                    async for batch in driver.batches():
                        await self._enqueue(batch)
                        backoff = 1.0
            except DriverError as exc:
                log.warning("driver %s failed: %s; restarting in %.0f s", dcfg.id, exc, backoff)
            except Exception:
                log.exception("driver %s crashed; restarting in %.0f s", dcfg.id, backoff)
            self.counters.driver_restarts += 1
            await self.clock.sleep(backoff)
            backoff = min(backoff * 2, 60.0)

    async def _stop_drivers(self) -> None:
        for task in self._driver_tasks.values():
            task.cancel()
        await asyncio.gather(*self._driver_tasks.values(), return_exceptions=True)
        self._driver_tasks.clear()

    async def _enqueue(self, batch: ReadingBatch) -> None:
        if self._crossings is not None and self._crossings.crossed(batch):
            self._wake.set()
        if self._queue.full():
            self.counters.queue_full_waits += 1
        try:
            await self._queue.put(batch)
        except asyncio.CancelledError:
            self._spill.append(batch)  # stopping while the queue was full: not lost
            raise

    # --- the engine ------------------------------------------------------------------------

    async def _engine_loop(self) -> None:
        tick = self.cfg.detection.tick_s
        last_health = last_step = self.clock.monotonic()
        next_at = last_health + tick
        last_day = None
        self._crossings = CrossingWatch(self._engine().presets)
        while not self.stopping.is_set():
            # Ticks on a fixed beat, not a pause after each one; a set point crossed steps at
            # once, between beats. After an overrun the beat restarts from now (no burst).
            await sleep_unless(self.clock, self._wake, next_at - self.clock.monotonic())
            self._wake.clear()
            now = self.clock.monotonic()
            if now >= next_at:
                next_at = max(next_at + tick, now)
            elif now - last_step < WAKE_GAP_S:  # woken again right after a step: space them
                await sleep_unless(self.clock, self.stopping, WAKE_GAP_S - (now - last_step))
            last_step = self.clock.monotonic()
            if self._reload:
                await self._do_reload()
            await self._tick()
            if self.clock.monotonic() - last_health >= HEALTH_EVERY_S:
                last_health = self.clock.monotonic()
                await self._write_health()
            today = maintenance.site_today(self.cfg, self.clock.wall_ns())
            if today != last_day:
                last_day = today
                await self._check_maintenance()

    async def _check_maintenance(self) -> None:
        """Once a day: overdue detector tests and calibrations become ledger entries."""
        ledger, now = self.ledger, self.clock.wall_ns()
        actor = f"gateway:{self.ident.gateway}/maintenance"
        assert ledger is not None
        try:
            made = await self.run_db(
                lambda: maintenance.check_site(ledger, self.cfg, now, actor=actor)
            )
        except LedgerStorageError as exc:  # the ledger's disk is full: tomorrow's check retries
            log.error("maintenance check not recorded: %s", exc)
            return
        for h in made:
            log.warning("overdue: %s (%s)", h.title, h.number)

    async def _tick(self) -> None:
        batches, self._spill = self._spill, []
        while not self._queue.empty():
            batches.append(self._queue.get_nowait())
        engine, now = self._engine(), self.clock.wall_ns()
        mono = round(self.clock.monotonic() * 1e9)
        statuses = {name: d.status for name, d in self._drivers.items()}
        result = await self.run_db(
            lambda: self._store(engine.step(batches, now, statuses, mono), batches, now)
        )
        self.counters.steps += 1
        self.counters.readings += sum(len(b) for b in batches)
        await self._dispatch(result)

    def _store(self, result: StepResult, batches: list[ReadingBatch], now_ns: int) -> StepResult:
        """Write a step's output to the outbox (worker thread): events first, then readings."""
        outbox = self.outbox
        assert outbox is not None
        registry = self._engine().registry
        events = [transition_line(tr, registry, self.ident, hz) for tr, hz in result.transitions]
        stamps = [tr.ts_ns for tr, _ in result.transitions]
        events += [ledger_line(e, self.ident) for e in result.ledger_events]
        stamps += [e.ts_ns for e in result.ledger_events]
        try:
            if events:
                seq = result.ledger_events[-1].seq if result.ledger_events else None
                outbox.append(Lane.EVENTS, events, stamps, ledger_seq=seq)
            if result.kpi is not None and result.kpi != self._last_kpi:
                outbox.append(Lane.TELEMETRY, [kpi_line(self.ident, result.kpi, now_ns)], [now_ns])
                self._last_kpi = result.kpi
            for batch in batches:
                lines, ts = reading_lines(batch, self._prefixes)
                if lines:
                    outbox.append(Lane.TELEMETRY, lines, ts)
            self._outbox_ok()
        except OutboxError as exc:
            # The ledger already holds every alarm and event: a full disk must not stop the
            # safety path. Telemetry of this step is lost and counted.
            self._outbox_failed(exc, sum(len(b) for b in batches))
        if self.on_step is not None:
            self.on_step(result, self._engine(), now_ns)
        if result.ledger_events:  # the zones change only with the ledger: not every tick
            self._alarming = _zones_needing_attention(self.ledger)
        return result

    def _outbox_failed(self, exc: OutboxError, readings: int) -> None:
        self.counters.readings_lost += readings
        if not self._outbox_failing:
            log.error("outbox write failed, telemetry is being lost (alarms are not): %s", exc)
        self._outbox_failing = True

    def _outbox_ok(self) -> None:
        if self._outbox_failing:
            log.warning("outbox writable again; %d readings were lost", self.counters.readings_lost)
            self._outbox_failing = False
            self._export_missed()  # the events of the steps it could not take

    async def _dispatch(self, result: StepResult) -> None:
        """Hand notifications to the pipeline (never blocks); silence zones now all acknowledged."""
        for note in result.notifications:
            self.counters.notifications += 1
            self.notify.submit(note)
        for zone in sorted(self._alarming_before - self._alarming):
            self.notify.silence(zone)
        self._alarming_before = self._alarming

    async def _do_reload(self) -> None:
        """SIGHUP: re-read the device list; a bad file is refused and the old list kept."""
        self._reload = False
        self.systemd.reloading()
        try:
            path = self.config_path
            if path is None:
                raise ConfigError([])
            cfg = await self.run_db(lambda: load_config(path))
        except ConfigError as exc:
            log.error("reload refused, keeping the running device list:\n%s", exc)
            self.systemd.ready()
            return
        # Queued batches carry the old sensor indices: stop the drivers, step them in, then swap.
        await self._stop_drivers()
        await self._tick()
        registry = Registry.from_config(cfg)
        engine, now = self._engine(), self.clock.wall_ns()
        engine.cfg = engine.cfg.model_copy(update={"detection": cfg.detection})
        await self.run_db(lambda: engine.reload(registry, now))
        self._prefixes = registry.series_prefixes(self.ident)
        self._crossings = CrossingWatch(engine.presets)  # new indices and set points
        self.cfg = self.cfg.model_copy(update={"devices": cfg.devices, "drivers": cfg.drivers})
        for dcfg in cfg.drivers:
            self._start_driver(dcfg)
        log.info("reloaded: %d sensors", len(registry))
        self.systemd.ready()

    async def _write_health(self) -> None:
        outbox, now, c = self.outbox, self.clock.wall_ns(), self.counters
        assert outbox is not None

        # Read on the loop thread: the clock belongs to the event loop, the drivers run on it.
        forwarder = self.forwarder.health_fields() if self.forwarder is not None else {}
        types = {d.id: d.type for d in self.cfg.drivers}
        drivers = [
            driver_line(self.ident, name, types.get(name, ""), d, now)
            for name, d in self._drivers.items()
        ]

        def work() -> None:
            fields: dict[str, int | float | str] = {
                "readings": c.readings, "steps": c.steps, "notifications": c.notifications,
                "queue_depth": self._queue.qsize(), "queue_full_waits": c.queue_full_waits,
                "driver_restarts": c.driver_restarts, "readings_lost": c.readings_lost,
                "alarms_annunciated": len(self._engine().alarms.annunciated()),
                "ledger_backlog": len(self._engine().backlog),
            }  # fmt: skip
            fields |= outbox.stats().health_fields(now)
            fields |= forwarder
            lines = [health_line(self.ident, fields, now), *drivers]
            try:
                outbox.append(Lane.TELEMETRY, lines, [now] * len(lines))
            except OutboxError as exc:
                self._outbox_failed(exc, 0)

        await self.run_db(work)

    async def _watchdog(self) -> None:
        """Feed systemd's watchdog only while the engine keeps stepping."""
        interval = self.systemd.watchdog_interval_s
        if interval is None:
            return
        seen = -1
        while True:
            await asyncio.sleep(interval)
            if self.counters.steps != seen:
                seen = self.counters.steps
                self.systemd.watchdog()
            else:
                log.error("engine made no progress for %.0f s: not feeding the watchdog", interval)
