"""/metrics: the gateway's own counters in the Prometheus text format (version 0.0.4)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from gateway.api.views import Snapshot
from gateway.forwarder import ForwarderState
from gateway.outbox import DropReason

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = dict[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, value: float, labels: Labels | None = None) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in (labels or {}).items())
    return f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}"


def _family(
    name: str, kind: str, help_: str, samples: Sequence[tuple[float, Labels | None]]
) -> Iterator[str]:
    yield f"# HELP {name} {help_}"
    yield f"# TYPE {name} {kind}"
    for value, labels in samples:
        yield _sample(name, value, labels)


def render(snap: Snapshot) -> str:
    c, o = snap.counters, snap.outbox
    lines: list[str] = []
    plain = [
        ("hazgw_readings_total", "counter", "Readings stepped into the engine.", c["readings"]),
        ("hazgw_steps_total", "counter", "Engine steps.", c["steps"]),
        ("hazgw_notifications_total", "counter", "Notifications submitted.", c["notifications"]),
        ("hazgw_queue_depth", "gauge", "Reading batches waiting for the engine.", c["queue_depth"]),
        ("hazgw_queue_full_waits_total", "counter", "Drivers held back by a full queue.",
         c["queue_full_waits"]),
        ("hazgw_driver_restarts_total", "counter", "Driver restarts.", c["driver_restarts"]),
        ("hazgw_readings_lost_total", "counter", "Readings the outbox could not take.",
         c["readings_lost"]),
        ("hazgw_outbox_events", "gauge", "Events waiting in the outbox.", o.events),
        ("hazgw_outbox_telemetry", "gauge", "Telemetry lines waiting in the outbox.", o.telemetry),
        ("hazgw_outbox_rejected_total", "counter", "Lines the sink rejected.", o.rejected),
        ("hazgw_outbox_oldest_age_seconds", "gauge", "Age of the oldest waiting line.",
         o.oldest_age_s(snap.now_ns)),
        ("hazgw_alarms_annunciated", "gauge", "Alarms shown now.", len(snap.alarms)),
    ]  # fmt: skip
    for name, kind, help_, value in plain:
        lines += _family(name, kind, help_, [(float(value), None)])
    drops = [(float(getattr(o, f"dropped_{r.value}")), {"reason": r.value}) for r in DropReason]
    lines += _family("hazgw_outbox_dropped_total", "counter", "Telemetry dropped.", drops)
    lines += _forwarder(snap)
    lines += _drivers(snap)
    return "\n".join(lines) + "\n"


def _forwarder(snap: Snapshot) -> Iterator[str]:
    f = snap.forwarder
    if f is None:
        return
    state = [(1.0 if f["forwarder_state"] == s.value else 0.0, {"state": s.value})
             for s in ForwarderState]  # fmt: skip
    yield from _family("hazgw_forwarder_state", "gauge", "The InfluxDB forwarder's state.", state)
    for key in ("sent", "rejected", "expired"):
        yield from _family(
            f"hazgw_forwarder_{key}_total", "counter", f"Lines {key} by the forwarder.",
            [(float(f[f"forwarder_{key}"]), None)],
        )  # fmt: skip
    yield from _family(
        "hazgw_forwarder_failures", "gauge", "Failed sends in a row.",
        [(float(f["forwarder_failures"]), None)],
    )  # fmt: skip


def _drivers(snap: Snapshot) -> Iterator[str]:
    ds = snap.drivers
    yield from _family(
        "hazgw_driver_connected", "gauge", "1 while the driver's bus or connection is up.",
        [(1.0 if d["connected"] else 0.0, {"driver": d["id"]}) for d in ds],
    )  # fmt: skip
    yield from _family(
        "hazgw_driver_failing_devices", "gauge", "Devices not answering on a live bus.",
        [(float(len(d["failing"])), {"driver": d["id"]}) for d in ds],
    )  # fmt: skip
    errors: list[tuple[float, Labels | None]] = [
        (float(n), {"driver": d["id"], "reason": reason})
        for d in ds
        for reason, n in sorted(d["errors"].items())
    ]
    yield from _family("hazgw_driver_errors_total", "counter", "Driver errors by reason.", errors)
