"""Every InfluxQL query a dashboard sends: panel targets, template variables and annotations.

The checks run each of them against a real InfluxDB and check the names they use against
docs/schema.md; walking the JSON (not the builders) means they check what Grafana receives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from gateway.grafana.model import Json

Origin = Literal["panel", "variable", "annotation"]


@dataclass(frozen=True)
class BoardQuery:
    board: str  # dashboard uid
    origin: Origin
    name: str  # panel title + refId, variable name or annotation name
    text: str
    fmt: str  # time_series or table
    min_interval: str = ""  # the panel's lower bound for $__interval, e.g. "30s"


def _panels(board: Json) -> Iterator[Json]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def queries(board: Json) -> list[BoardQuery]:
    uid = str(board["uid"])
    out: list[BoardQuery] = []
    for panel in _panels(board):
        for t in panel.get("targets", []):
            name = f"{panel['title']} [{t['refId']}]"
            fmt, interval = t["resultFormat"], panel.get("interval", "")
            out.append(BoardQuery(uid, "panel", name, t["query"], fmt, interval))
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            out.append(BoardQuery(uid, "variable", var["name"], var["query"], "table"))
    for ann in board.get("annotations", {}).get("list", []):
        query = ann.get("target", {}).get("query")
        if query is not None:
            out.append(BoardQuery(uid, "annotation", ann["name"], query, "table"))
    return out
