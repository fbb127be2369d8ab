"""Small builders for Grafana dashboard JSON (schema version 39, Grafana 11 and later).

Panels are plain JSON dicts shaped as Grafana stores them; the builders fill every option the
published panel schemas require, so a board validates against them (deploy/grafana/schema/) and
reads the same after a round trip through Grafana's editor. Queries are raw InfluxQL: the same
boards run on InfluxDB 1.x, on 2.x through a DBRP mapping and on 3.x.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Json = dict[str, Any]

DATASOURCE_UID = "hazgw-influxdb"
DATASOURCE: Json = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
GRID_WIDTH = 24

# GB 15322.1 detector colours: normal green, fault yellow, alarm red.
GREEN, YELLOW, RED, BLUE, GREY = "green", "yellow", "red", "blue", "text"

Format = Literal["time_series", "table"]


@dataclass(frozen=True)
class Query:
    """One raw InfluxQL query; `alias` names series, e.g. `$tag_device`."""

    text: str
    fmt: Format = "time_series"
    alias: str = ""


def target(query: Query, ref: str) -> Json:
    out: Json = {
        "refId": ref,
        "datasource": DATASOURCE,
        "query": query.text,
        "rawQuery": True,
        "resultFormat": query.fmt,
    }
    if query.alias:
        out["alias"] = query.alias
    return out


def thresholds(*steps: tuple[float, str], base: str = GREEN) -> Json:
    """Absolute thresholds: `base` below the first step, then each step's colour from its value."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}]
        + [{"color": colour, "value": value} for value, colour in steps],
    }


def value_map(mapping: Mapping[str, tuple[str, str]]) -> Json:
    """Value -> (text, colour), e.g. {"1": ("smoke", RED)}."""
    options = {
        value: {"text": text, "color": colour, "index": i}
        for i, (value, (text, colour)) in enumerate(mapping.items())
    }
    return {"type": "value", "options": options}


def override(matcher: str, options: Any, **properties: Any) -> Json:
    """A field override: `matcher` is byName, byRegexp, byFrameRefID ...; properties by id."""
    return {
        "matcher": {"id": matcher, "options": options},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


def transform(kind: str, **options: Any) -> Json:
    return {"id": kind, "options": options}


@dataclass
class Panel:
    """A panel before layout: `body` is its JSON without id and position."""

    body: Json
    w: int = 12
    h: int = 8


def _field_config(
    *,
    unit: str = "none",
    decimals: int | None = None,
    min_: float | None = None,
    max_: float | None = None,
    steps: Json | None = None,
    mappings: Sequence[Json] = (),
    color: str = "palette-classic",
    custom: Json | None = None,
    display_name: str | None = None,
    no_value: str | None = None,
    overrides: Sequence[Json] = (),
) -> Json:
    defaults: Json = {
        "unit": unit,
        "color": {"mode": color},
        "thresholds": steps or thresholds(),
        "mappings": list(mappings),
    }
    for key, value in (
        ("decimals", decimals),
        ("min", min_),
        ("max", max_),
        ("displayName", display_name),
        ("noValue", no_value),
        ("custom", custom),
    ):
        if value is not None:
            defaults[key] = value
    return {"defaults": defaults, "overrides": list(overrides)}


def _body(
    kind: str,
    title: str,
    *,
    description: str,
    queries: Sequence[Query],
    field_config: Json,
    options: Json,
    **extra: Any,
) -> Json:
    """The panel's JSON; `extra` adds top-level keys (transformations, interval ...)."""
    body: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(q, chr(ord("A") + i)) for i, q in enumerate(queries)],
        "fieldConfig": field_config,
        "options": options,
    }
    return body | extra


def _legend(placement: str = "bottom", calcs: Sequence[str] = ()) -> Json:
    mode = "table" if calcs else "list"
    return {"displayMode": mode, "placement": placement, "showLegend": True, "calcs": list(calcs)}


_TOOLTIP: Json = {"mode": "multi", "sort": "desc", "hideZeros": False}


def _reduce(calc: str = "lastNotNull", fields: str = "", values: bool = False) -> Json:
    return {"calcs": [calc], "fields": fields, "values": values}


def timeseries(
    title: str,
    queries: Sequence[Query],
    *,
    description: str,
    unit: str,
    steps: Json | None = None,
    threshold_style: str = "off",
    min_: float | None = None,
    max_: float | None = None,
    decimals: int | None = None,
    bars: bool = False,
    color: str = "palette-classic",
    legend_calcs: Sequence[str] = ("max", "lastNotNull"),
    steps_after: bool = False,
    w: int = 12,
    h: int = 8,
    **extra: Any,
) -> Panel:
    """A time series; `threshold_style` "dashed" or "line+area" draws the set points.

    `steps_after` draws each value flat until the next: right for series written on change.
    """
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "axisPlacement": "auto",
        "thresholdsStyle": {"mode": threshold_style},
    }
    if steps_after:
        custom["lineInterpolation"] = "stepAfter"
    fc = _field_config(
        unit=unit, decimals=decimals, min_=min_, max_=max_, steps=steps, custom=custom, color=color
    )
    options = {"legend": _legend(calcs=legend_calcs), "tooltip": _TOOLTIP}
    return Panel(
        _body(
            "timeseries",
            title,
            description=description,
            queries=queries,
            field_config=fc,
            options=options,
            **extra,
        ),
        w,
        h,
    )


def stat(
    title: str,
    queries: Sequence[Query],
    *,
    description: str,
    unit: str = "none",
    steps: Json | None = None,
    mappings: Sequence[Json] = (),
    display_name: str | None = None,
    calc: str = "lastNotNull",
    fields: str = "",
    text_mode: str = "value_and_name",
    w: int = 6,
    h: int = 6,
    **extra: Any,
) -> Panel:
    """Big numbers (or mapped words) coloured by thresholds, one tile per series."""
    fc = _field_config(
        unit=unit, steps=steps, mappings=mappings, color="thresholds", display_name=display_name
    )
    options: Json = {
        "colorMode": "background",
        "graphMode": "none",
        "justifyMode": "center",
        "orientation": "auto",
        "percentChangeColorMode": "standard",
        "reduceOptions": _reduce(calc, fields),
        "showPercentChange": False,
        "textMode": text_mode,
        "wideLayout": True,
    }
    return Panel(
        _body(
            "stat",
            title,
            description=description,
            queries=queries,
            field_config=fc,
            options=options,
            **extra,
        ),
        w,
        h,
    )


def table(
    title: str,
    queries: Sequence[Query],
    *,
    description: str,
    overrides: Sequence[Json] = (),
    mappings: Sequence[Json] = (),
    unit: str = "none",
    w: int = 12,
    h: int = 8,
    **extra: Any,
) -> Panel:
    custom: Json = {
        "align": "auto",
        "cellOptions": {"type": "auto"},
        "inspect": False,
        "filterable": True,
    }
    fc = _field_config(
        unit=unit, mappings=mappings, custom=custom, color="thresholds", overrides=overrides
    )
    options: Json = {"showHeader": True, "frameIndex": 0, "cellHeight": "sm"}
    return Panel(
        _body(
            "table",
            title,
            description=description,
            queries=queries,
            field_config=fc,
            options=options,
            **extra,
        ),
        w,
        h,
    )


def state_timeline(
    title: str,
    queries: Sequence[Query],
    *,
    description: str,
    mappings: Sequence[Json],
    steps: Json | None = None,
    w: int = 24,
    h: int = 8,
    **extra: Any,
) -> Panel:
    """Bands of colour per series: one row per detector or alarm point."""
    custom: Json = {"fillOpacity": 80, "lineWidth": 0}
    fc = _field_config(mappings=mappings, steps=steps, color="thresholds", custom=custom)
    options: Json = {
        "legend": _legend(),
        "tooltip": _TOOLTIP,
        "rowHeight": 0.9,
        "showValue": "auto",
        "mergeValues": True,
        "alignValue": "left",
    }
    return Panel(
        _body(
            "state-timeline",
            title,
            description=description,
            queries=queries,
            field_config=fc,
            options=options,
            **extra,
        ),
        w,
        h,
    )


def bargauge(
    title: str,
    queries: Sequence[Query],
    *,
    description: str,
    unit: str,
    steps: Json,
    calc: str = "max",
    min_: float | None = None,
    max_: float | None = None,
    w: int = 12,
    h: int = 8,
    **extra: Any,
) -> Panel:
    fc = _field_config(unit=unit, steps=steps, color="thresholds", min_=min_, max_=max_)
    options: Json = {
        "displayMode": "gradient",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False, "calcs": []},
        "maxVizHeight": 300,
        "minVizHeight": 16,
        "minVizWidth": 8,
        "namePlacement": "auto",
        "orientation": "horizontal",
        "reduceOptions": _reduce(calc),
        "showUnfilled": True,
        "sizing": "auto",
        "valueMode": "color",
    }
    return Panel(
        _body(
            "bargauge",
            title,
            description=description,
            queries=queries,
            field_config=fc,
            options=options,
            **extra,
        ),
        w,
        h,
    )


def layout(panels: Iterable[Panel]) -> list[Json]:
    """Flow panels left to right in rows of 24 units; ids in reading order."""
    out: list[Json] = []
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        if x + p.w > GRID_WIDTH:
            x, y, row_h = 0, y + row_h, 0
        out.append({"id": i, "gridPos": {"h": p.h, "w": p.w, "x": x, "y": y}, **p.body})
        x, row_h = x + p.w, max(row_h, p.h)
    return out
