"""InfluxDB line protocol: escaping and formatting (accepted by InfluxDB 1.x, 2.x, 3.x and
VictoriaMetrics alike, so the outbox stores lines and any sink can send them)."""

from __future__ import annotations

from collections.abc import Mapping

_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.replace("\\", "\\\\").translate(_KEY_ESCAPES)


def escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").translate(_MEASUREMENT_ESCAPES)


def field_value(value: float | int | bool | str) -> str:
    """Format a field value with its line-protocol type marker."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def series_prefix(measurement: str, tags: Mapping[str, str]) -> str:
    """`measurement,tag=value,...`: tags sorted by key, as InfluxDB prefers; empty ones omitted."""
    parts = [escape_measurement(measurement)]
    parts += [f"{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v != ""]
    return ",".join(parts)


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | bool | str],
    ts_ns: int,
) -> str:
    """One complete line; fields are required by the protocol."""
    if not fields:
        raise ValueError("a line needs at least one field")
    body = ",".join(f"{escape_key(k)}={field_value(v)}" for k, v in fields.items())
    return f"{series_prefix(measurement, tags)} {body} {ts_ns}"
