"""The hazard ledger (隐患台账) from `ledger_event`: open hazards, hazards by grade, when each was
registered, acknowledged and closed (so its age and the time to acknowledge and to close), the
escalations and the audit trail.

What the events do not allow yet: "overdue" needs a rectification deadline, which no event
carries (the gateway must write one, e.g. a `deadline` in a `planned` event's payload and an
`overdue` event when it passes); grade lives only inside the `registered` event's JSON payload,
so it is matched with a regular expression on `payload` (a `grade` tag would be sturdier).
"""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

from gateway.grafana.influxql import alarm_annotation, dashboard, where
from gateway.grafana.model import (
    BLUE,
    RED,
    YELLOW,
    Json,
    Panel,
    Query,
    override,
    stat,
    table,
    thresholds,
    timeseries,
    transform,
)

_SITE = {"zone": False, "device": False}


def _of_type(kind: str, *extra: str, time: bool = True) -> str:
    return where(f""""type" = '{kind}'""", *extra, time=time, **_SITE)


# Open = registered minus closed, over all time (a hazard registered last year and never closed
# is open today). Both subqueries read ledger_event, so InfluxDB sums them as one series.
OPEN_HAZARDS = (
    'SELECT sum("n") FROM '
    f'(SELECT count("seq") AS "n" FROM "ledger_event"{_of_type("registered", time=False)}), '
    f'(SELECT count("seq") * -1 AS "n" FROM "ledger_event"{_of_type("closed", time=False)})'
)


def grade_filter(grade: str) -> str:
    # payload is json.dumps(..., sort_keys=True): `"grade": "major"`; tolerate no space.
    return f'"payload" =~ /"grade": ?"{grade}"/'


def counts() -> list[Panel]:
    open_now = stat(
        "Open hazards",
        [Query(OPEN_HAZARDS)],
        description="Ledger entries registered and not closed (销号), whatever the time range.",
        steps=thresholds((1, YELLOW)),
        display_name="open now",
        w=6,
    )
    by_grade = stat(
        "Registered by grade",
        [
            Query(
                f'SELECT count("seq") AS "一般 general" FROM "ledger_event"'
                f"{_of_type('registered', grade_filter('general'))}"
            ),
            Query(
                f'SELECT count("seq") AS "重大 major" FROM "ledger_event"'
                f"{_of_type('registered', grade_filter('major'))}"
            ),
        ],
        description="Entries registered in the time range, by grade (order No. 16): 重大 "
        "(major) needs stoppage, time or outside help to fix.",
        steps=thresholds((1, YELLOW)),
        w=9,
    )
    people = stat(
        "Acknowledged and closed",
        [
            Query(
                f'SELECT count("seq") AS "acknowledged" FROM "ledger_event"'
                f"{_of_type('acknowledged')}"
            ),
            Query(f'SELECT count("seq") AS "closed" FROM "ledger_event"{_of_type("closed")}'),
        ],
        description="People's actions on the ledger in the time range.",
        steps=thresholds(base=BLUE),
        w=9,
    )
    return [open_now, by_grade, people]


def lifecycle() -> Panel:
    """One row per hazard: the times it was registered, acknowledged and closed.

    The query returns those events; Grafana pivots them (grouping to matrix: row = number,
    column = type, cell = time) and subtracts the times. Transformations run inside Grafana.
    """
    query = Query(
        'SELECT "number", "type" FROM "ledger_event"'
        f"""{where('"type" =~ /^(registered|acknowledged|closed)$/', **_SITE)}""",
        fmt="table",
    )
    steps = [
        transform(
            "groupingToMatrix",
            columnField="type",
            rowField="number",
            valueField="Time",
            emptyValue="null",
        ),
        transform(
            "calculateField",
            mode="binary",
            alias="time to acknowledge",
            binary={"left": "acknowledged", "operator": "-", "right": "registered"},
            replaceFields=False,
        ),
        transform(
            "calculateField",
            mode="binary",
            alias="time to close",
            binary={"left": "closed", "operator": "-", "right": "registered"},
            replaceFields=False,
        ),
    ]
    return table(
        "Hazards: registered, acknowledged, closed",
        [query],
        description="Each entry's registration (its age), acknowledgement and closure, and the "
        "time to acknowledge and to close (rectify). Empty cells: not yet.",
        overrides=[
            override("byName", "registered", unit="dateTimeFromNow"),
            override("byName", "acknowledged", unit="dateTimeAsIso"),
            override("byName", "closed", unit="dateTimeAsIso"),
            override("byName", "time to acknowledge", unit="dtdurationms"),
            override("byName", "time to close", unit="dtdurationms"),
        ],
        transformations=steps,
        w=24,
    )


def activity() -> list[Panel]:
    escalations = timeseries(
        "Escalations",
        [
            Query(
                f'SELECT count("seq") FROM "ledger_event"{_of_type("escalation")} '
                "GROUP BY time($__interval) fill(0)",
                alias="escalations",
            )
        ],
        description="Notifications up the duty chain: each one means a hazard was not "
        "acknowledged in time at the level below.",
        unit="short",
        bars=True,
        min_=0.0,
        steps=thresholds((1, RED)),
        color="thresholds",
        interval="1m",
        w=24,
        h=6,
    )
    trail = table(
        "Ledger events (audit trail)",
        [
            Query(
                'SELECT "seq", "type", "number", "actor", "reason" FROM "ledger_event"'
                f"{where(**_SITE)} ORDER BY time DESC LIMIT 500",
                fmt="table",
            )
        ],
        description="Who did what, when: every ledger event, newest first (the hash chain is "
        "checked on the gateway with `hazgw ledger verify`).",
        overrides=[override("byName", "Time", unit="dateTimeAsIso")],
        w=24,
        h=10,
    )
    return [escalations, trail]


def board() -> Json:
    return dashboard(
        "hazgw-ledger",
        "Hazard ledger",
        "Open hazards, grades, time to acknowledge and to close, escalations and the audit "
        "trail, from the gateway's append-only ledger. Overdue (deadline passed) needs "
        "deadlines, which the ledger does not record yet.",
        [*counts(), lifecycle(), *activity()],
        annotations=[alarm_annotation("Alarm transitions", ["fire", "gas", "heat", "fault"], RED)],
        time_from="now-7d",
        refresh="1m",
    )
