"""Alarm-system health (ISA-18.2 / EEMUA 191).

The rates, floods and counts come from `alarm_kpi`, which the gateway computes over a sliding
10-minute window and writes when it changes: new alarms per 10 minutes against the 1 and 2 per
10 minutes guidance, floods (more than 10), chattering and stale alarms, and the alarms that
cannot annunciate (shelved, suppressed, out of service, in test). Which points chatter or come
most often, which stand, and every point's states come from `alarm_event`; there the windows are
fixed buckets (1 m), so a burst that straddles two counts half in each: those panels can
understate, never overstate, chatter.
"""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

from gateway.grafana.influxql import alarm_annotation, dashboard, latest_site_totals, where
from gateway.grafana.model import (
    GREEN,
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
    value_map,
)
from gateway.grafana.overview import STATE_MAP, active_alarms

ACCEPTABLE, MANAGEABLE, FLOOD = 1, 2, 10  # new alarms per 10 minutes (EEMUA 191)
CHATTER = 3  # activations of one alarm point within 60 s
ORANGE = "orange"
_ACTIVATIONS = where(""""event" = 'activate'""")
_KPI = where(zone=False, device=False)
_PER_GATEWAY = 'GROUP BY time($__interval), "gateway" fill(previous)'
# Dashed lines at the guidance: about 1 acceptable, 2 the manageable maximum, more than 10 a flood.
_GUIDANCE = thresholds((ACCEPTABLE, GREEN), (MANAGEABLE, YELLOW), (FLOOD + 1, RED))
_RATE_STEPS = thresholds((MANAGEABLE, YELLOW), (MANAGEABLE + 1, ORANGE), (FLOOD + 1, RED))
FLOOD_MAP = value_map({"false": ("no flood", GREEN), "true": ("flood", RED)})
GAPS = {"shelved": "shelved", "suppressed": "suppressed", "out_of_service": "out of service"}
GAPS |= {"in_test": "in test"}
_LAST_GAPS = ", ".join(f'last("{f}") AS "{label}"' for f, label in GAPS.items())


def rate_panels() -> list[Panel]:
    per_10m = timeseries(
        "Alarms per 10 minutes",
        [
            Query(
                f'SELECT last("alarms_per_window") FROM "alarm_kpi"{_KPI} {_PER_GATEWAY}',
                alias="$tag_gateway",
            )
        ],
        description=f"New alarms annunciated in the last 10 minutes (a sliding window kept by "
        f"the gateway). Dashed lines: about {ACCEPTABLE} per 10 minutes is acceptable, "
        f"{MANAGEABLE} the manageable maximum; more than {FLOOD} is a flood (EEMUA 191).",
        unit="short",
        decimals=0,
        color="thresholds",
        min_=0.0,
        steps=_GUIDANCE,
        threshold_style="dashed",
        steps_after=True,
        w=16,
    )
    worst = stat(
        "Worst 10 minutes",
        [
            Query(
                f'SELECT max("alarms_per_window") FROM "alarm_kpi"{_KPI} GROUP BY "gateway"',
                alias="$tag_gateway",
            )
        ],
        description=f"The most new alarms within any 10 minutes of the range; red = flood "
        f"(more than {FLOOD}).",
        steps=_RATE_STEPS,
        display_name="worst 10 min ${__field.labels.gateway}",
        w=8,
        h=8,
    )
    return [per_10m, worst, *flood_panels()]


def flood_panels() -> list[Panel]:
    flood = state_timeline(
        "Alarm flood",
        [
            Query(
                f'SELECT last("flood") FROM "alarm_kpi"{_KPI} {_PER_GATEWAY}',
                alias="$tag_gateway",
            )
        ],
        description=f"Red while more than {FLOOD} new alarms came within 10 minutes: the "
        "people on duty cannot keep up, look for the first alarm of the flood.",
        mappings=[FLOOD_MAP],
        w=16,
        h=5,
    )
    episodes = stat(
        "Flood episodes",
        [
            Query(
                'SELECT sum("new") FROM (SELECT non_negative_difference("floods") AS "new" '
                f'FROM "alarm_kpi"{_KPI} GROUP BY "gateway")'
            )
        ],
        description="Floods that started in the range (from the gateways' flood counters).",
        steps=thresholds((1, RED)),
        display_name="floods",
        w=8,
        h=5,
    )
    return [flood, episodes]


def count_panels() -> list[Panel]:
    burden = timeseries(
        "Unacknowledged, chattering and stale alarms",
        [
            Query(
                'SELECT last("annunciated") AS "annunciated", last("unacknowledged") AS '
                '"unacknowledged", last("chattering") AS "chattering", last("stale") AS "stale" '
                f'FROM "alarm_kpi"{_KPI} {_PER_GATEWAY}',
                alias="$tag_gateway $col",
            )
        ],
        description=f"Alarms annunciated and those waiting for an acknowledgement; alarms "
        f"annunciated {CHATTER} or more times within a minute (chattering: tune deadband or "
        "delays); alarms standing longer than 24 h (stale). Chattering and stale should be 0.",
        unit="short",
        decimals=0,
        min_=0.0,
        steps_after=True,
    )
    gaps = timeseries(
        "Shelved, suppressed, out of service, in test",
        [
            Query(
                f'SELECT {_LAST_GAPS} FROM "alarm_kpi"{_KPI} {_PER_GATEWAY}',
                alias="$tag_gateway $col",
            )
        ],
        description="Alarms that cannot annunciate: shelved by a person, suppressed by design "
        "(bus down, device not answering), out of service, under test.",
        unit="short",
        decimals=0,
        min_=0.0,
        steps_after=True,
    )
    now = stat(
        "Cannot annunciate now",
        [Query(latest_site_totals("alarm_kpi", GAPS))],
        description="Each gateway's latest count, summed over the site: every one is a gap in "
        "coverage someone should know about.",
        steps=thresholds((1, YELLOW)),
        w=24,
        h=4,
    )
    return [burden, gaps, now]


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
        [*rate_panels(), *count_panels(), *point_panels()],
        annotations=[alarm_annotation("Alarm transitions", ["fire", "gas", "heat", "fault"], RED)],
        time_from="now-24h",
        refresh="1m",
    )
