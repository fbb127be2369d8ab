"""Typed reads of event payload fields: a malformed event is refused, never guessed at."""

from __future__ import annotations

from typing import TypeVar

from alerting.records import LedgerEvent
from alerting.vocabulary import Json
from gateway.errors import LedgerError

T = TypeVar("T")


def number(event: LedgerEvent) -> str:
    if event.number is None:
        raise LedgerError(f"event {event.seq} ({event.type}) has no hazard number")
    return event.number


def opt(p: Json, key: str, kind: type[T]) -> T | None:
    value = p.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise LedgerError(f"payload field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def req(p: Json, key: str, kind: type[T]) -> T:
    value = opt(p, key, kind)
    if value is None:
        raise LedgerError(f"payload field {key!r} is missing")
    return value


def opt_float(p: Json, key: str) -> float | None:
    value = p.get(key)
    return float(req(p, key, int)) if isinstance(value, int) else opt(p, key, float)


def strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def string_list(p: Json, key: str, seq: int) -> list[str]:
    value = p.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LedgerError(f"event {seq}: {key} must be a list of strings")
    return value
