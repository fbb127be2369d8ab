"""InfluxQL pieces the boards share: filters by the template variables, the variables themselves,
alarm-transition annotations, and the dashboard envelope.

Every identifier in a query is double-quoted, so the schema check (tests/unit/test_grafana_*.py)
can tell measurement, tag and field names from keywords and check each against docs/schema.md.
Grafana fills `$timeFilter`, `$__interval` and the variables before the query reaches InfluxDB.
"""

# ruff: noqa: S608 - InfluxQL from this module's constants; Grafana fills the variables

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.grafana.model import DATASOURCE, SCHEMA_VERSION, Json, Panel, layout

READINGS = ("smoke", "combustible_gas", "co", "temperature")  # docs/schema.md reading measurements
FROM_READINGS = ", ".join(f'"{m}"' for m in READINGS)
ALL = ".*"  # the value of "All": a regex that matches every tag value


def where(*extra: str, zone: bool = True, device: bool = True, time: bool = True) -> str:
    """` WHERE ...` restricted to the selected site (always), zone and device (when asked)."""
    parts = ['"site" =~ /^$site$/']
    if zone:
        parts.append('"zone" =~ /^$zone$/')
    if device:
        parts.append('"device" =~ /^$device$/')
    parts += [e for e in extra if e]  # "" = no extra condition
    if time:
        parts.append("$timeFilter")
    return " WHERE " + " AND ".join(parts)


def latest_alarm_states(kind_filter: str, group: str, *, device: bool = True) -> str:
    """Subquery: the last state of every alarm point (zone, device, condition), over all time.

    The latest state does not depend on the dashboard's time range: a fire alarm latched three
    days ago is still latched now.
    """
    return (
        f'(SELECT last("state") AS "state", "hazard" FROM "alarm_event"'
        f"{where(kind_filter, device=device, time=False)} GROUP BY {group})"
    )


def latest_site_totals(measurement: str, fields: Mapping[str, str]) -> str:
    """Field -> label: each gateway's latest value of the field, summed over the site's gateways.

    Over all time, for measurements written only when they change (`alarm_kpi`): the last
    change may lie before the dashboard's range and still be the current value.
    """
    inner = ", ".join(f'last("{f}") AS "{f}"' for f in fields)
    outer = ", ".join(f'sum("{f}") AS "{label}"' for f, label in fields.items())
    return (
        f'SELECT {outer} FROM (SELECT {inner} FROM "{measurement}"'
        f'{where(zone=False, device=False, time=False)} GROUP BY "gateway")'
    )


def variable(name: str, label: str, query: str, description: str) -> Json:
    """A multi-value query variable with "All" = any value (regex `.*`)."""
    return {
        "name": name,
        "label": label,
        "description": description,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "refresh": 1,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ALL,
        "current": {"text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "hide": 0,
    }


VARIABLES: list[Json] = [
    variable(
        "site",
        "Site",
        'SHOW TAG VALUES WITH KEY = "site"',
        "Site ids from the gateways' config (site.id).",
    ),
    variable(
        "zone",
        "Zone",
        'SHOW TAG VALUES WITH KEY = "zone" WHERE "site" =~ /^$site$/',
        "Zones of the selected sites.",
    ),
    variable(
        "device",
        "Device",
        'SHOW TAG VALUES WITH KEY = "device" WHERE "site" =~ /^$site$/ AND "zone" =~ /^$zone$/',
        "Detectors in the selected zones.",
    ),
]

_BUILT_IN: Json = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
    "target": {"limit": 100, "matchAny": False, "tags": [], "type": "dashboard"},
}


def alarm_annotation(name: str, kinds: Sequence[str], colour: str) -> Json:
    """Alarm transitions of `kinds` (fire, gas, heat, fault) as annotations on time series."""
    kinds_re = "|".join(kinds)
    query = (
        'SELECT "state", "event", "previous", "hazard", "device", "condition", "kind" '
        f'FROM "alarm_event"{where(f""""kind" =~ /^({kinds_re})$/""")}'
    )
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "name": name,
        "target": {
            "refId": "Anno",
            "query": query,
            "rawQuery": True,
            "resultFormat": "table",
            "fromAnnotations": True,
            "titleColumn": "event",
            "textColumn": "state",
            "tagsColumn": "device,condition,kind,hazard",
        },
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[Panel],
    *,
    annotations: Sequence[Json] = (),
    time_from: str = "now-6h",
    refresh: str = "30s",
    extra: dict[str, Any] | None = None,
) -> Json:
    board: Json = {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["hazard-gateway"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "refresh": refresh,
        "templating": {"list": VARIABLES},
        "annotations": {"list": [_BUILT_IN, *annotations]},
        "links": [
            {
                "title": "hazard-gateway",
                "type": "dashboards",
                "tags": ["hazard-gateway"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "The other hazard-gateway boards",
            }
        ],
        "panels": layout(panels),
    }
    return board | (extra or {})
