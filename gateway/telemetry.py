"""What the gateway writes to InfluxDB, as line protocol (the schema is docs/schema.md).

readings       measurement = sensor class; tags site, gateway, zone, device, sensor_class;
               fields value (float), quality (int: 0 good, 1 uncertain, 2 bad)
alarm_event    every alarm state transition; tags site, gateway, zone, device, sensor_class,
               condition, kind; fields state, previous, event, hazard (strings), value (float)
ledger_event   every ledger event; tags site, gateway, type; fields seq (int), number, actor,
               reason, payload (JSON string)
gateway_health tags site, gateway; fields of counters and depths
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from alerting.alarms import Transition
from alerting.health import AlarmKpi
from alerting.ledger import LedgerEvent
from alerting.rules import Condition, meaning
from drivers.base import Driver
from gateway.lineproto import line
from gateway.model import Identity, ReadingBatch
from gateway.registry import Registry


def reading_lines(batch: ReadingBatch, prefixes: list[str]) -> tuple[list[str], list[int]]:
    """(lines, acquisition timestamps); the series prefixes are built once per registry."""
    sensors, values = batch.sensor.tolist(), batch.value.tolist()
    stamps, quality = batch.ts_ns.tolist(), batch.quality.tolist()
    lines = [
        f"{prefixes[s]} value={v!r},quality={q}i {t}"
        if math.isfinite(v)
        else f"{prefixes[s]} quality={q}i {t}"  # no value to write: InfluxDB refuses nan
        for s, v, q, t in zip(sensors, values, quality, stamps, strict=True)
    ]
    return lines, stamps


def transition_line(tr: Transition, registry: Registry, ident: Identity, hazard: str | None) -> str:
    sensor = registry.by_device.get(tr.key.device)
    tags = {"site": ident.site, "gateway": ident.gateway, "device": tr.key.device}
    tags["condition"] = tr.key.condition
    if sensor is not None:
        tags |= {"zone": sensor.zone, "sensor_class": sensor.sensor_class.value}
        tags["kind"] = meaning(sensor.sensor_class, Condition(tr.key.condition)).kind
    fields: dict[str, float | int | str | bool] = {
        "state": tr.after.value,
        "previous": tr.before.value,
        "event": tr.event.value,
        "hazard": hazard or "",
    }
    if tr.value is not None:
        fields["value"] = tr.value
    return line("alarm_event", tags, fields, tr.ts_ns)


def ledger_line(e: LedgerEvent, ident: Identity) -> str:
    tags = {"site": ident.site, "gateway": ident.gateway, "type": e.type}
    fields: dict[str, float | int | str | bool] = {
        "seq": e.seq,
        "number": e.number or "",
        "actor": e.actor,
        "reason": e.reason,
        "payload": json.dumps(e.payload, ensure_ascii=False, sort_keys=True),
    }
    return line("ledger_event", tags, fields, ledger_time(e))


def ledger_time(e: LedgerEvent) -> int:
    """The event's time with its sequence number in the nanosecond digits.

    Several events of one type can share a nanosecond (one tick escalates many hazards); InfluxDB
    keeps one point per series and time, so without this the later event would overwrite the
    earlier. Sub-microsecond digits of a wall-clock time carry no meaning.
    """
    return e.ts_ns - e.ts_ns % 1000 + e.seq % 1000


def kpi_line(ident: Identity, kpi: AlarmKpi, ts_ns: int) -> str:
    """alarm_kpi: alarm system health (ISA-18.2 / EEMUA 191)."""
    return line("alarm_kpi", {"site": ident.site, "gateway": ident.gateway}, kpi.fields(), ts_ns)


def driver_line(ident: Identity, driver: str, kind: str, d: Driver, ts_ns: int) -> str:
    """driver_health: what a driver knows of its bus (connected, failing devices, errors)."""
    tags = {"site": ident.site, "gateway": ident.gateway, "driver": driver, "type": kind}
    fields: dict[str, float | int | str | bool] = {
        "connected": d.status.connected,
        "failing": len(d.status.failing),
        "produced": d.produced,
        "errors": sum(d.status.errors.values()),
        "error_counts": json.dumps(dict(sorted(d.status.errors.items()))),
        "last_error": d.status.last_error,
    }
    return line("driver_health", tags, fields, ts_ns)


def health_line(ident: Identity, fields: Mapping[str, int | float | str], ts_ns: int) -> str:
    return line("gateway_health", {"site": ident.site, "gateway": ident.gateway}, fields, ts_ns)
