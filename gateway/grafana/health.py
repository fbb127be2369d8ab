"""Device health: which detectors report, how often, with what quality, which are in fault; each
driver's bus or connection (up or down, devices not answering, decode and bus errors); and the
gateway's own health (engine queue, outbox backlog, delivery to InfluxDB, drops, restarts).

Left out until the gateway writes it (docs/schema.md has no such field): battery level (a
`battery` field, %, on the reading measurements or a `device_health` measurement with tags site,
gateway, zone, device). A panel that queries nothing is worse than no panel.
"""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

from gateway.grafana.drivers import driver_panels
from gateway.grafana.influxql import FROM_READINGS, alarm_annotation, dashboard, where
from gateway.grafana.model import (
    RED,
    YELLOW,
    Json,
    Panel,
    Query,
    state_timeline,
    thresholds,
    timeseries,
)
from gateway.grafana.overview import QUALITY_MAP, STATE_MAP, last_readings

FAULTS = "\"kind\" = 'fault'"
_GATEWAY = where(zone=False, device=False)
_PER_GATEWAY = 'GROUP BY time($__interval), "gateway" fill(none)'


def detector_panels() -> list[Panel]:
    rate = timeseries(
        "Readings per interval",
        [
            Query(
                f'SELECT count("value") FROM {FROM_READINGS}{where()} '
                'GROUP BY time($__interval), "device" fill(0)',
                alias="$tag_device",
            )
        ],
        description="How many readings each detector delivered per interval: a drop to zero "
        "is a silent detector (the stale fault follows after its stale_after_s).",
        unit="short",
        min_=0.0,
        legend_calcs=("min", "mean"),
    )
    quality = state_timeline(
        "Reading quality",
        [
            Query(
                f'SELECT max("quality") FROM {FROM_READINGS}{where()} '
                'GROUP BY time($__interval), "device" fill(none)',
                alias="$tag_device",
            )
        ],
        description="Worst quality per interval: good, uncertain (warming up), bad (sensor "
        "lost, over range), test (a person is testing the detector).",
        mappings=[QUALITY_MAP],
        steps=thresholds((1, YELLOW), (2, RED), (3, "blue")),
        w=12,
    )
    faults = state_timeline(
        "Detector faults",
        [
            Query(
                f'SELECT last("state") FROM "alarm_event"'
                f"{where(FAULTS)} "
                'GROUP BY time($__interval), "device", "condition" fill(previous)',
                alias="$tag_device $tag_condition",
            )
        ],
        description="Fault alarm states (stale: silent; stuck: value frozen) over time.",
        mappings=[STATE_MAP],
        w=12,
    )
    return [last_readings(), rate, quality, faults]


def gateway_panels() -> list[Panel]:
    queue = timeseries(
        "Engine queue",
        [
            Query(
                f'SELECT max("queue_depth") FROM "gateway_health"{_GATEWAY} {_PER_GATEWAY}',
                alias="$tag_gateway depth",
            ),
            Query(
                f'SELECT non_negative_difference(last("queue_full_waits")) FROM "gateway_health"'
                f"{_GATEWAY} {_PER_GATEWAY}",
                alias="$tag_gateway waits for room",
            ),
        ],
        description="Reading batches waiting for the engine, and how often a driver had to "
        "wait for room (the queue is bounded; waiting is counted, never silent).",
        unit="short",
        min_=0.0,
    )
    outbox = timeseries(
        "Outbox backlog",
        [
            Query(
                f'SELECT last("outbox_events") AS "events", last("outbox_telemetry") AS '
                f'"telemetry" FROM "gateway_health"{_GATEWAY} {_PER_GATEWAY}',
                alias="$tag_gateway $col",
            )
        ],
        description="Alarm and ledger events, and readings, waiting to reach InfluxDB. Grows "
        "while InfluxDB or the network is down; the safety path does not wait for it.",
        unit="short",
        min_=0.0,
    )
    losses = timeseries(
        "Dropped readings and driver restarts",
        [
            Query(
                f'SELECT non_negative_difference(last("outbox_dropped_overflow")) AS "full", '
                f'non_negative_difference(last("outbox_dropped_expired")) AS "too old", '
                f'non_negative_difference(last("outbox_dropped_purged")) AS "purged", '
                f'non_negative_difference(last("outbox_rejected")) AS "rejected", '
                f'non_negative_difference(last("readings_lost")) AS "lost, disk full", '
                f'non_negative_difference(last("driver_restarts")) AS "driver restarts" '
                f'FROM "gateway_health"{_GATEWAY} {_PER_GATEWAY}',
                alias="$tag_gateway $col",
            )
        ],
        description="Readings dropped per interval by reason: the outbox bound was reached "
        "(oldest first), older than influxdb.max_age_s, purged by a person, refused by the "
        "server as malformed, or not taken at all (disk full); and driver restarts. Alarms and "
        "ledger events are never dropped. All should stay at zero.",
        unit="short",
        min_=0.0,
        steps=thresholds((1, RED)),
        threshold_style="dashed",
        bars=True,
    )
    delivery = timeseries(
        "Delivery to InfluxDB",
        [
            Query(
                f'SELECT max("outbox_oldest_age_s") AS "oldest unsent", '
                f'max("forwarder_last_success_age_s") AS "since last delivery" '
                f'FROM "gateway_health"{_GATEWAY} {_PER_GATEWAY}',
                alias="$tag_gateway $col",
            )
        ],
        description="How far behind InfluxDB is (age of the oldest line not yet sent) and the "
        "time since the last successful write (-1 before the first). Growing while InfluxDB "
        "or the network is down; past influxdb.max_age_s readings are dropped as too old.",
        unit="s",
        min_=0.0,
        steps=thresholds((300, YELLOW), (3600, RED)),
        threshold_style="dashed",
    )
    throughput = timeseries(
        "Readings stored per minute",
        [
            Query(
                f'SELECT non_negative_derivative(last("readings"), 1m) FROM "gateway_health"'
                f"{_GATEWAY} {_PER_GATEWAY}",
                alias="$tag_gateway",
            )
        ],
        description="Readings the engine stored per minute (from the readings counter).",
        unit="short",
        min_=0.0,
        interval="2m",
    )
    return [queue, outbox, losses, delivery, throughput]


def board() -> Json:
    return dashboard(
        "hazgw-health",
        "Device health",
        "Detectors: last reading, delivery rate, quality and faults. Drivers: bus and "
        "connection state, devices not answering, decode and bus errors. Gateway: engine "
        "queue, outbox backlog, delivery to InfluxDB, drops and restarts. Battery levels are "
        "not written by the gateway yet.",
        [*detector_panels(), *driver_panels(), *gateway_panels()],
        annotations=[alarm_annotation("Detector faults", ["fault"], YELLOW)],
    )
