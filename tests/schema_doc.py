"""docs/schema.md read as data, and line protocol split into its parts, for the schema checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gateway.model import SensorClass

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


@dataclass
class Measurement:
    tags: dict[str, str] = field(default_factory=dict)  # name -> type
    fields: dict[str, str] = field(default_factory=dict)


def load_schema(path: Path = SCHEMA) -> dict[str, Measurement]:
    schema: dict[str, Measurement] = {}
    current: list[Measurement] = []
    for row in path.read_text(encoding="utf-8").splitlines():
        if row.startswith("### "):
            names = re.findall(r"`([^`]+)`", row)
            current = [schema.setdefault(n, Measurement()) for n in names]
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if current and len(cells) == 4 and cells[0] in ("tag", "field"):
            for m in current:
                (m.tags if cells[0] == "tag" else m.fields)[cells[1]] = cells[2]
    return schema


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside backslash escapes and double quotes."""
    parts: list[str] = []
    buf, quoted, escaped = "", False, False
    for ch in text:
        if escaped:
            buf, escaped = buf + ch, False
        elif ch == "\\":
            buf, escaped = buf + ch, True
        elif ch == '"':
            buf, quoted = buf + ch, not quoted
        elif ch == sep and not quoted:
            parts, buf = [*parts, buf], ""
        else:
            buf += ch
    return [*parts, buf]


@dataclass(frozen=True)
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, str]  # raw field values as written
    ts_ns: int


def parse_line(line: str) -> Point:
    head, body, ts = _split(line, " ")
    measurement, *tag_parts = _split(head, ",")
    tags = dict(p.split("=", 1) for p in tag_parts)
    fields = dict(p.split("=", 1) for p in _split(body, ","))
    return Point(measurement, tags, fields, int(ts))


def field_type(raw: str) -> str:
    if raw.startswith('"'):
        return "string"
    if raw.endswith("i"):
        return "integer"
    if raw in ("true", "false"):
        return "boolean"
    return "float"


def is_reading(line: str) -> bool:
    """A sensor reading (measurement = a sensor class), not health or KPI telemetry."""
    return line.split(",", 1)[0] in {c.value for c in SensorClass}
