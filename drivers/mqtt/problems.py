"""Counting bad input per reason, and logging it without flooding the journal.

Every problem is counted in `status.errors[reason]`. The first few distinct causes (topics) of a
reason are logged once each; after that a reason is summarised at most once per `every_s`
("1234 more unknown_device in the last 60 s").
"""

from __future__ import annotations

import logging
from collections import Counter

from drivers.base import DriverStatus
from gateway.clock import Clock

log = logging.getLogger("drivers.mqtt")


class Problems:
    def __init__(
        self,
        name: str,
        status: DriverStatus,
        clock: Clock,
        *,
        every_s: float = 60.0,
        causes_logged: int = 20,
    ) -> None:
        self.name, self.status, self.clock = name, status, clock
        self.every_s, self.causes_logged = every_s, causes_logged
        self._seen: dict[str, set[str]] = {}
        self._quiet: Counter[str] = Counter()  # counted but not logged since the last summary
        self._next_summary: dict[str, float] = {}

    def count(self, reason: str, cause: str, detail: str = "") -> None:
        self.status.errors[reason] += 1
        seen = self._seen.setdefault(reason, set())
        if cause not in seen and len(seen) < self.causes_logged:
            seen.add(cause)
            log.warning("mqtt %s: %s on %.120r %s", self.name, reason, cause, detail)
            self._next_summary.setdefault(reason, self.clock.monotonic() + self.every_s)
            return
        self._quiet[reason] += 1
        now = self.clock.monotonic()
        if now >= self._next_summary.get(reason, now):
            log.warning(
                "mqtt %s: %d more %s in the last %.0f s (latest on %.120r %s)",
                self.name, self._quiet[reason], reason, self.every_s, cause, detail,
            )  # fmt: skip
            self._quiet[reason] = 0
            self._next_summary[reason] = now + self.every_s
