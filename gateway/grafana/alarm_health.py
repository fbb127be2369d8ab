"""Alarm-system health (ISA-18.2 / EEMUA 191) from `alarm_event`: new alarms per 10 minutes,
the worst 10 minutes (a flood is more than 10), chattering alarm points (3 or more activations
within a minute), the most frequent alarms, standing alarms and every alarm point's states.

Windows are Grafana/InfluxDB fixed buckets (10 m, 1 m), so a burst that straddles two buckets
counts half in each: the panels can understate, never overstate, a flood or chatter.
"""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

from gateway.grafana.influxql import alarm_annotation, dashboard, where
from gateway.grafana.model import (
    RED,
    YELLOW,
    Json,
    Panel,
    Query,
    bargauge,
    override,
    stat,
    state_timeline,
    table,
    thresholds,
    timeseries,
)
from gateway.grafana.overview import STATE_MAP, active_alarms

ACCEPTABLE, MANAGEABLE, FLOOD = 1, 2, 10  # new alarms per 10 minutes (EEMUA 191)
CHATTER = 3  # activations of one alarm point within 60 s
ORANGE = "orange"
_ACTIVATIONS = where(""""event" = 'activate'""")
_RATE_STEPS = thresholds((MANAGEABLE, YELLOW), (MANAGEABLE + 1, ORANGE), (FLOOD + 1, RED))


def rate_panels() -> list[Panel]:
    per_10m = timeseries(
        "New alarms per 10 minutes",
        [
            Query(
                f'SELECT count("state") FROM "alarm_event"{_ACTIVATIONS} '
                "GROUP BY time(10m) fill(0)",
                alias="new alarms",
            )
        ],
        description=f"About {ACCEPTABLE} per 10 minutes is acceptable, {MANAGEABLE} the "
        f"manageable maximum; more than {FLOOD} is a flood (EEMUA 191).",
        unit="short",
        bars=True,
        color="thresholds",
        min_=0.0,
        steps=_RATE_STEPS,
        threshold_style="dashed",
        w=16,
    )
    worst = stat(
        "Worst 10 minutes",
        [
            Query(
                'SELECT max("n") FROM (SELECT count("state") AS "n" FROM "alarm_event"'
                f"{_ACTIVATIONS} GROUP BY time(10m))"
            )
        ],
        description=f"The most new alarms in any 10-minute bucket of the range; red = flood "
        f"(more than {FLOOD}).",
        steps=_RATE_STEPS,
        display_name="new alarms in the worst 10 min",
        w=8,
        h=8,
    )
    return [per_10m, worst]


def point_panels() -> list[Panel]:
    chatter = bargauge(
        "Chattering",
        [
            Query(
                'SELECT max("n") FROM (SELECT count("state") AS "n" FROM "alarm_event"'
                f'{_ACTIVATIONS} GROUP BY time(1m), "device", "condition") '
                'GROUP BY "device", "condition"',
                alias="$tag_device $tag_condition",
            )
        ],
        description=f"Most activations of each alarm point within one minute; {CHATTER} or "
        "more is chattering (tune its deadband or delays).",
        unit="short",
        steps=thresholds((CHATTER, RED)),
        min_=0.0,
        max_=float(CHATTER * 2),
    )
    frequent = bargauge(
        "Most frequent alarms",
        [
            Query(
                f'SELECT count("state") FROM "alarm_event"{_ACTIVATIONS} '
                'GROUP BY "device", "condition"',
                alias="$tag_device $tag_condition",
            )
        ],
        description="Activations per alarm point in the range: the top few usually make most "
        "of the load (bad actors).",
        unit="short",
        steps=thresholds((MANAGEABLE * 3, YELLOW), (FLOOD, RED)),
        min_=0.0,
    )
    standing = table(
        "Standing alarms",
        [active_alarms('"kind" =~ /^(fire|gas|heat|fault)$/')],
        description="Alarm points not back to normal and since when: active for more than "
        "24 h is a stale alarm (EEMUA 191).",
        mappings=[STATE_MAP],
        overrides=[
            override("byName", "Time", displayName="since", unit="dateTimeFromNow"),
            override("byName", "state", **{"custom.cellOptions": {"type": "color-background"}}),
        ],
        w=24,
    )
    states = state_timeline(
        "Alarm states",
        [
            Query(
                f'SELECT last("state") FROM "alarm_event"{where()} '
                'GROUP BY time($__interval), "device", "condition" fill(previous)',
                alias="$tag_device $tag_condition",
            )
        ],
        description="Every alarm point's state over time (red active or latched, yellow back "
        "to normal but not acknowledged, green normal).",
        mappings=[STATE_MAP],
        h=10,
    )
    return [chatter, frequent, standing, states]


def board() -> Json:
    return dashboard(
        "hazgw-alarm-health",
        "Alarm system health",
        "Is the alarm system usable by the people on duty? Rates, floods and chattering "
        "against ISA-18.2 / EEMUA 191 benchmarks.",
        [*rate_panels(), *point_panels()],
        annotations=[alarm_annotation("Alarm transitions", ["fire", "gas", "heat", "fault"], RED)],
        time_from="now-24h",
        refresh="1m",
    )
