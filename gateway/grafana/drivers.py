"""Device-health panels for the drivers' buses and connections, from `driver_health` (one point
per driver every 60 s): up or down, devices not answering while the bus is up, and the decode,
CRC, timeout and malformed-payload errors with the latest one in words.

The panels follow the site variable only: a bus serves many zones, so zone and device do not
select drivers. Counters restart at zero with the driver; the rates use non_negative_* so a
restart shows as no errors, never as a negative rate.
"""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

from gateway.grafana.influxql import where
from gateway.grafana.model import (
    GREEN,
    RED,
    YELLOW,
    Panel,
    Query,
    override,
    state_timeline,
    table,
    thresholds,
    timeseries,
    value_map,
)

_SITE = where(zone=False, device=False)
_PER_DRIVER = 'GROUP BY time($__interval), "driver" fill(none)'
_EVERY = "1m"  # drivers report every 60 s: finer buckets would only be empty
CONNECTED_MAP = value_map({"true": ("connected", GREEN), "false": ("down", RED)})


def connection_state() -> Panel:
    return state_timeline(
        "Bus and connection state",
        [
            Query(
                f'SELECT last("connected") FROM "driver_health"{_SITE} '
                'GROUP BY time($__interval), "driver" fill(previous)',
                alias="$tag_driver",
            )
        ],
        description="Each driver's bus (serial port) or broker connection: green up, red down. "
        "While it is down its detectors' alarms are suppressed and one bus_down fault stands "
        "for them.",
        mappings=[CONNECTED_MAP],
        w=12,
        interval=_EVERY,
    )


def failing_devices() -> Panel:
    return timeseries(
        "Devices not answering",
        [
            Query(
                f'SELECT max("failing") FROM "driver_health"{_SITE} {_PER_DRIVER}',
                alias="$tag_driver",
            )
        ],
        description="Devices that stopped answering while their bus is up (comm loss), per "
        "driver: one is a device or its wiring, all of them is the bus.",
        unit="short",
        min_=0.0,
        decimals=0,
        steps=thresholds((1, RED)),
        threshold_style="dashed",
        steps_after=True,
        interval=_EVERY,
    )


def error_panels() -> list[Panel]:
    total = timeseries(
        "Driver errors since start",
        [
            Query(
                f'SELECT last("errors") FROM "driver_health"{_SITE} {_PER_DRIVER}',
                alias="$tag_driver",
            )
        ],
        description="Decode, CRC, timeout, checksum and malformed-payload errors each driver "
        "counted since it started (back to zero after a restart).",
        unit="short",
        min_=0.0,
        decimals=0,
        steps_after=True,
        interval=_EVERY,
    )
    rate = timeseries(
        "Driver errors per minute",
        [
            Query(
                f'SELECT non_negative_derivative(last("errors"), 1m) FROM "driver_health"'
                f"{_SITE} {_PER_DRIVER}",
                alias="$tag_driver",
            )
        ],
        description="New errors per minute: a steady rate is noise or a loose cable on a bus "
        "that still works; a burst often comes before the bus goes down.",
        unit="short",
        min_=0.0,
        steps=thresholds((1, YELLOW), (10, RED)),
        threshold_style="dashed",
        bars=True,
        color="thresholds",
        interval=_EVERY,
    )
    return [total, rate]


def driver_table() -> Panel:
    query = Query(
        f'SELECT last("last_error") AS "last error", "error_counts", "errors", "failing", '
        f'"connected", "produced" FROM "driver_health"{_SITE} GROUP BY "gateway", "driver", "type"',
        fmt="table",
    )
    return table(
        "Drivers and their last error",
        [query],
        description="Every driver's latest report: its last error in words (empty when there "
        "was none), its errors by reason, devices not answering, whether its bus is up and the "
        "readings it delivered since it started.",
        overrides=[
            override("byName", "Time", displayName="reported", unit="dateTimeFromNow"),
            override("byName", "connected", mappings=[CONNECTED_MAP]),
            override(
                "byName",
                "errors",
                thresholds=thresholds((1, YELLOW)),
                **{"custom.cellOptions": {"type": "color-text"}},
            ),
            override(
                "byName",
                "failing",
                thresholds=thresholds((1, RED)),
                **{"custom.cellOptions": {"type": "color-text"}},
            ),
        ],
        w=24,
    )


def driver_panels() -> list[Panel]:
    return [connection_state(), failing_devices(), *error_panels(), driver_table()]
