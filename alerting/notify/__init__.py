"""Notifications and the channels that carry them.

A notifier sends one notification or raises NotifyError saying whether a retry can help.
One file per channel: log.py (the daemon's log, always on), mqtt.py (local annunciation topics),
serial_relay.py (a Modbus relay or PLC coil), webhook.py (signed JSON) and apprise_channel.py
(email, SMS gateways, chat robots). pipeline.py groups, fans out, retries and records them.

A grouped notification is an ordinary `Notification` whose `group` lists the notifications it
stands for, so every notifier (and the lead's own) handles single and grouped ones alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

DRILL_PREFIX = "[DRILL - NOT A REAL ALARM] "
LISTED_IN_TEXT = 10  # hazards named in a grouped message's text; the rest are counted


@dataclass(frozen=True, slots=True)
class Notification:
    number: str  # the hazard's ledger number (a group: its first member's)
    title: str
    kind: str  # fire, gas, heat, fault
    level: int  # hazard severity (gas level 1/2)
    step: int  # escalation level index; -1 for "everyone notified so far"
    step_name: str
    recipients: tuple[str, ...]
    repeat: int  # 0 first time, then reminders
    ts_ns: int
    reason: str
    drill: bool = False  # an emergency drill: every channel must say so plainly
    round: int = 0  # escalation round (a level rise starts a new one)
    zone: str = ""  # zone id: groups notifications and picks the annunciation topic/coil
    location: str = ""  # where a person finds it
    device: str = ""
    group: tuple[Notification, ...] = ()  # a grouped message: the notifications it stands for

    @property
    def members(self) -> tuple[Notification, ...]:
        """The notifications this one delivers: itself, or its group."""
        return self.group or (self,)

    @property
    def urgent(self) -> bool:
        """Life safety: a fire or a level-2 gas alarm is never held back to be grouped."""
        return self.kind == "fire" or (self.kind == "gas" and self.level >= 2)

    @property
    def text(self) -> str:
        drill = DRILL_PREFIX if self.drill else ""
        who = ", ".join(self.recipients)
        if self.group:
            numbers = [m.number for m in self.group]
            listed = ", ".join(numbers[:LISTED_IN_TEXT])
            more = (
                f" and {len(numbers) - LISTED_IN_TEXT} more"
                if len(numbers) > LISTED_IN_TEXT
                else ""
            )
            head = f"{drill}{self.title}: {listed}{more}"
            return f"{head} -> {self.step_name} [{who}]"
        again = f" (reminder {self.repeat})" if self.repeat else ""
        head = f"{drill}{self.number} {self.title}: {self.reason}"
        return f"{head} -> {self.step_name} [{who}]{again}"


def payload(n: Notification, **extra: Any) -> dict[str, Any]:
    """The structured form every JSON channel (MQTT, webhook) sends; `drill` is always present."""
    return {
        "drill": n.drill,
        "text": n.text,
        "kind": n.kind,
        "level": n.level,
        "urgent": n.urgent,
        "zone": n.zone,
        "step": n.step,
        "step_name": n.step_name,
        "recipients": list(n.recipients),
        "ts_ns": n.ts_ns,
        "count": len(n.members),
        "hazards": [_hazard(m) for m in n.members],
        **extra,
    }


def _hazard(m: Notification) -> dict[str, Any]:
    return {
        "number": m.number,
        "title": m.title,
        "reason": m.reason,
        "kind": m.kind,
        "level": m.level,
        "location": m.location,
        "device": m.device,
        "round": m.round,
        "repeat": m.repeat,
        "ts_ns": m.ts_ns,
    }


@dataclass(frozen=True)
class Contact:
    """What the channels know of a person (from the config's people[])."""

    id: str
    name: str = ""
    role: str = ""
    phone: str = ""
    email: str = ""
    notify_urls: tuple[str, ...] = field(default=(), repr=False)  # apprise URLs: secrets

    def public(self) -> dict[str, str]:
        """What a webhook receiver may be told (no URLs: they carry tokens)."""
        return {"id": self.id, "name": self.name, "role": self.role, "phone": self.phone,
                "email": self.email}  # fmt: skip

    def value(self, key: str) -> str:
        """A contact field fit for an URL template: {phone}, {email}, {id}; "" if unknown."""
        if key == "phone":  # "+86 138-0000 0001" -> "+8613800000001"
            return re.sub(r"[^\d+]", "", self.phone)
        if key not in ("id", "email"):
            return ""
        return quote(self.id if key == "id" else self.email, safe="@")


class NotifyError(Exception):
    """A delivery failed. `retryable`: can another attempt help (network, 5xx, timeout) or not
    (refused credentials, a bad address); `retry_after`: the earliest retry the far end asked for.
    The message is recorded in the ledger: it names the target without secrets."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Notifier(Protocol):
    name: str

    async def send(self, notification: Notification) -> None: ...
