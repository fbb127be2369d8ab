"""Notifications and the channels that carry them.

A notifier sends one notification or raises NotifyError saying whether a retry can help.
One file per channel: log.py (the daemon's log, always on) and, later, MQTT, webhook and apprise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Notification:
    number: str  # the hazard's ledger number
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

    @property
    def text(self) -> str:
        again = f" (reminder {self.repeat})" if self.repeat else ""
        who = ", ".join(self.recipients)
        drill = "[DRILL - NOT A REAL ALARM] " if self.drill else ""
        head = f"{drill}{self.number} {self.title}: {self.reason}"
        return f"{head} -> {self.step_name} [{who}]{again}"


class NotifyError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    name: str

    async def send(self, notification: Notification) -> None: ...
