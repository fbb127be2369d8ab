"""The log channel: every notification goes to the daemon's log (journald under systemd).

It is the channel of last resort, so it cannot fail; it is always on.
"""

from __future__ import annotations

import logging

from alerting.notify import Notification

log = logging.getLogger("hazgw.notify")


class LogNotifier:
    name = "log"

    def __init__(self, name: str = "log") -> None:
        self.name = name

    async def send(self, notification: Notification) -> None:
        level = logging.CRITICAL if notification.kind in ("fire", "gas") else logging.WARNING
        log.log(level, "NOTIFY %s", notification.text)


class RecordingNotifier:
    """Keeps every notification in order: the demo's terminal view reads it, and so do tests."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)
