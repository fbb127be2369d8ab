"""Site overview: zones coloured by their worst latest alarm state, active alarms, detectors in
fault, and when each detector last reported."""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

from gateway.grafana.influxql import (
    FROM_READINGS,
    alarm_annotation,
    dashboard,
    latest_alarm_states,
    latest_site_totals,
    where,
)
from gateway.grafana.model import (
    BLUE,
    GREEN,
    RED,
    YELLOW,
    Json,
    Panel,
    Query,
    override,
    stat,
    table,
    thresholds,
    transform,
    value_map,
)

# Zone severity: 2 an alarm (fire, gas, heat) is annunciated, 1 a detector fault is active or an
# alarm point is shelved, suppressed, out of service or in test (a coverage gap, not a fire), 0
# every alarm point of the zone is normal. Each branch yields a constant per zone
# (count * 0 + k) and the outer max() picks the worst; all three read alarm_event, so InfluxDB
# merges them into one series per zone.
_POINTS = '"zone", "device", "condition"'
_KINDS = '"zone", "device", "condition", "kind"'
_NOT_FAULT = "\"kind\" != 'fault'"
_REGISTERED = "\"type\" = 'registered'"
_NOT_NORMAL = "WHERE \"state\" != 'normal'"
_GAP = "/^(shelved|suppressed|out_of_service|test|test_active)$/"  # overlays: no alarm, a gap
_ANNUNCIATED = f'WHERE "state" != \'normal\' AND "state" !~ {_GAP}'
_FAULT_OR_GAP = f'WHERE ("kind" = \'fault\' AND "state" != \'normal\') OR "state" =~ {_GAP}'
ZONE_SEVERITY = (
    'SELECT max("severity") FROM '
    f'(SELECT count("state") * 0 + 2 AS "severity" FROM '
    f'{latest_alarm_states(_NOT_FAULT, _POINTS, device=False)} {_ANNUNCIATED} GROUP BY "zone"), '
    f'(SELECT count("state") * 0 + 1 AS "severity" FROM '
    f'{latest_alarm_states("", _KINDS, device=False)} {_FAULT_OR_GAP} GROUP BY "zone"), '
    f'(SELECT count("state") * 0 AS "severity" FROM "alarm_event"'
    f'{where(device=False, time=False)} GROUP BY "zone") '
    'GROUP BY "zone"'
)

SEVERITY_MAP = value_map({"0": ("normal", GREEN), "1": ("fault", YELLOW), "2": ("alarm", RED)})
STATE_MAP = value_map(
    {
        "normal": ("normal", GREEN),
        "unacknowledged": ("active, not acknowledged", RED),
        "acknowledged": ("active, acknowledged", RED),
        "rtn_unacknowledged": ("back to normal, not acknowledged", YELLOW),
        "latched_unacknowledged": ("latched, not acknowledged", RED),
        "latched": ("latched, needs reset", RED),
        "shelved": ("shelved", BLUE),
        "suppressed": ("suppressed (bus down)", YELLOW),
        "out_of_service": ("out of service", YELLOW),
        "test": ("in test", BLUE),
        "test_active": ("in test, condition present", BLUE),
    }
)
QUALITY_MAP = value_map(
    {"0": ("good", GREEN), "1": ("uncertain", YELLOW), "2": ("bad", RED), "3": ("test", BLUE)}
)
_ALARM_COLUMNS = '"zone", "device", "condition", "kind"'


def active_alarms(kind_filter: str) -> Query:
    """Alarm points whose latest state is not normal, with the time of that state."""
    return Query(
        f'SELECT "state", "hazard" FROM {latest_alarm_states(kind_filter, _ALARM_COLUMNS)} '
        f"{_NOT_NORMAL} GROUP BY {_ALARM_COLUMNS}",
        fmt="table",
    )


def _since_column() -> Json:
    return override("byName", "Time", displayName="since", unit="dateTimeAsIso")


def panels() -> list[Panel]:
    zones = stat(
        "Zones",
        [Query(ZONE_SEVERITY, alias="$tag_zone")],
        description="Each zone's worst latest alarm state: red while a fire, gas or heat alarm "
        "is not back to normal (latched alarms stay red until reset), yellow while a detector "
        "is in fault or an alarm is shelved, suppressed, out of service or in test, green "
        "when all its alarm points are normal. A zone appears from its "
        "first alarm transition; 'Last reading per detector' lists every zone.",
        steps=thresholds((1, YELLOW), (2, RED)),
        mappings=[SEVERITY_MAP],
        display_name="${__field.labels.zone}",
        w=12,
        h=6,
    )
    annunciated = stat(
        "Alarms annunciated",
        [
            Query(
                f'SELECT last("alarms_annunciated") FROM "gateway_health"'
                f'{where(zone=False, device=False)} GROUP BY "gateway"',
                alias="$tag_gateway",
            )
        ],
        description="Alarms not in the normal state, as each gateway last reported (every 60 s).",
        steps=thresholds((1, RED)),
        display_name="${__field.labels.gateway}",
        w=3,
        h=6,
    )
    registered = stat(
        "Hazards registered",
        [
            Query(
                f'SELECT count("seq") FROM "ledger_event"'
                f"{where(_REGISTERED, zone=False, device=False)}"
            )
        ],
        description="New hazard ledger entries in the selected time range.",
        steps=thresholds((1, YELLOW)),
        display_name="registered",
        w=3,
        h=6,
    )
    alarms = table(
        "Active alarms",
        [active_alarms("\"kind\" != 'fault'")],
        description="Fire, gas and heat alarm points not back to normal, newest state first.",
        mappings=[STATE_MAP],
        overrides=[
            _since_column(),
            override("byName", "state", **{"custom.cellOptions": {"type": "color-background"}}),
        ],
    )
    faults = table(
        "Detectors in fault or out of service",
        [active_alarms("\"kind\" = 'fault'")],
        description="Detectors that cannot be trusted: silent (stale), frozen (stuck), not "
        "answering, out of service (condition 'service') or under test. A blind detector is "
        "itself a hazard and has a ledger entry.",
        mappings=[STATE_MAP],
        overrides=[
            _since_column(),
            override("byName", "state", **{"custom.cellOptions": {"type": "color-background"}}),
        ],
    )
    return [zones, annunciated, registered, *coverage_gaps(), alarms, faults, last_readings()]


def coverage_gaps() -> list[Panel]:
    """Alarms that could not annunciate now, from each gateway's latest `alarm_kpi`."""
    out_of_service = stat(
        "Out of service",
        [Query(latest_site_totals("alarm_kpi", {"out_of_service": "out of service"}))],
        description="Alarms held out of service by a person (a detector's own 'service' marker "
        "included): coverage gaps, each with a reason and an owner in the ledger.",
        steps=thresholds((1, YELLOW)),
        display_name="out of service",
        w=3,
        h=6,
    )
    suppressed = stat(
        "Suppressed",
        [Query(latest_site_totals("alarm_kpi", {"suppressed": "suppressed"}))],
        description="Alarms suppressed by design because their bus is down or their device "
        "does not answer: the bus or device fault stands for them.",
        steps=thresholds((1, YELLOW)),
        display_name="suppressed",
        w=3,
        h=6,
    )
    return [out_of_service, suppressed]


def last_readings() -> Panel:
    query = Query(
        f'SELECT last("value") AS "value", "quality" FROM {FROM_READINGS}{where()} '
        'GROUP BY "zone", "device"',
        fmt="table",
    )
    return table(
        "Last reading per detector",
        [query],
        description="When each detector last reported (a silent detector falls behind), its "
        "value in its class's unit and its quality (0 good, 1 uncertain, 2 bad, 3 test).",
        overrides=[
            override("byName", "Time", displayName="last reading", unit="dateTimeFromNow"),
            override("byName", "quality", mappings=[QUALITY_MAP]),
        ],
        transformations=[transform("merge")],
        w=24,
        h=10,
    )


def board() -> Json:
    return dashboard(
        "hazgw-overview",
        "Site overview",
        "Zones at a glance (GB 15322.1 colours: normal green, fault yellow, alarm red), the "
        "alarms and faults that need someone, and which detectors are reporting.",
        panels(),
        annotations=[alarm_annotation("Alarm transitions", ["fire", "gas", "heat", "fault"], RED)],
        refresh="10s",
    )
