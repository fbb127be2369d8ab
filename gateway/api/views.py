"""What the read endpoints show, built from the running Gateway.

The engine's alarm book and conditions and both databases belong to the SQLite worker thread:
they are read there (`Gateway.run_db`). Driver statuses and counters belong to the event loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from alerting.alarms import Alarm
from alerting.vocabulary import iso_utc
from gateway.app import Gateway
from gateway.config import roster_from
from gateway.outbox import OutboxStats

Doc = dict[str, Any]
HEALTHY_FORWARDER = ("idle", "sending")


def alarm_doc(alarm: Alarm) -> Doc:
    value = alarm.value if alarm.value is not None and math.isfinite(alarm.value) else None
    return {
        "device": alarm.key.device, "condition": alarm.key.condition, "state": alarm.state.value,
        "active": alarm.active, "since": iso_utc(alarm.since_ns), "value": value,
        "hazard": alarm.hazard,
    }  # fmt: skip


async def alarms(gw: Gateway) -> list[Doc]:
    engine = gw._engine()
    return await gw.run_db(lambda: [alarm_doc(a) for a in engine.alarms.annunciated()])


async def sensors(gw: Gateway) -> list[Doc]:
    engine = gw._engine()

    def work() -> list[Doc]:
        c = engine.conditions
        shown: dict[str, list[Doc]] = {}
        for a in engine.alarms:
            shown.setdefault(a.key.device, []).append(
                {"condition": a.key.condition, "state": a.state.value}
            )
        docs = []
        for s in engine.registry.sensors:
            raw = None if c is None else float(c.value[s.index])
            states = [x for x in shown.get(s.device, []) if x["state"] != "normal"]
            docs.append({
                "device": s.device, "name": s.name, "zone": s.zone, "location": s.location,
                "class": s.sensor_class.value, "driver": s.driver,
                "value": raw if raw is not None and math.isfinite(raw) else None,
                "stale": bool(c is not None and c.stale[s.index]),
                "state": "alarm" if states else "normal", "alarms": states,
            })  # fmt: skip
        return docs

    return await gw.run_db(work)


def drivers(gw: Gateway) -> list[Doc]:
    types = {d.id: d.type for d in gw.cfg.drivers}
    return [
        {
            "id": name,
            "type": types.get(name, ""),
            "connected": d.status.connected,
            "failing": sorted(d.status.failing),
            "errors": dict(d.status.errors),
            "last_error": d.status.last_error,
        }
        for name, d in sorted(gw._drivers.items())
    ]


@dataclass(frozen=True)
class Snapshot:
    """Everything /metrics and /status show, read once."""

    counters: Doc
    drivers: list[Doc]
    forwarder: Doc | None
    outbox: OutboxStats
    alarms: list[Doc]
    duty_officer: list[str]
    now_ns: int


async def snapshot(gw: Gateway) -> Snapshot:
    engine, outbox, now = gw._engine(), gw.outbox, gw.clock.wall_ns()
    assert outbox is not None  # set before the engine
    fwd = gw.forwarder.health_fields() if gw.forwarder is not None else None
    c = gw.counters
    counters: Doc = {
        "readings": c.readings, "steps": c.steps, "notifications": c.notifications,
        "queue_depth": gw._queue.qsize(), "queue_full_waits": c.queue_full_waits,
        "driver_restarts": c.driver_restarts, "readings_lost": c.readings_lost,
        "outbox_failing": gw._outbox_failing,
    }  # fmt: skip
    stats, shown = await gw.run_db(
        lambda: (outbox.stats(), [alarm_doc(a) for a in engine.alarms.annunciated()])
    )
    duty = list(roster_from(gw.cfg).duty_officer(now))
    return Snapshot(counters, drivers(gw), fwd, stats, shown, duty, now)


def problems(snap: Snapshot) -> list[str]:
    """Why the gateway is degraded (empty: healthy). Alarms are the site's state, not the
    gateway's: they are reported but do not make the gateway degraded."""
    out = []
    for d in snap.drivers:
        if not d["connected"]:
            out.append(f"driver {d['id']} is not connected: {d['last_error'] or 'no reason yet'}")
        if d["failing"]:
            out.append(f"driver {d['id']}: devices not answering: {', '.join(d['failing'])}")
    if snap.forwarder is not None and snap.forwarder["forwarder_state"] not in HEALTHY_FORWARDER:
        out.append(f"InfluxDB forwarder is {snap.forwarder['forwarder_state']}")
    if snap.counters["outbox_failing"]:
        out.append("the outbox cannot be written: telemetry is being lost (check the disk)")
    return out


def status_doc(snap: Snapshot) -> Doc:
    o, issues = snap.outbox, problems(snap)
    return {
        "status": "degraded" if issues else "healthy", "problems": issues,
        "at": iso_utc(snap.now_ns), "drivers": snap.drivers, "forwarder": snap.forwarder,
        "outbox": {
            "events": o.events, "telemetry": o.telemetry, "dropped": o.dropped_telemetry,
            "rejected": o.rejected, "oldest_age_s": round(o.oldest_age_s(snap.now_ns), 3),
        },
        "counters": snap.counters, "alarms": snap.alarms,
        "duty_officer": snap.duty_officer,
    }  # fmt: skip
