"""Per-slave health: consecutive failed cycles, quarantine and its backoff. Pure and clock-free:
callers pass the monotonic time, so the schedule is table-tested without waiting."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SlaveHealth:
    threshold: int  # failed cycles in a row before quarantine
    base_s: float  # first backoff (the poll interval)
    max_s: float
    failures: int = 0
    backoff_s: float = 0.0
    retry_at: float = 0.0

    @property
    def quarantined(self) -> bool:
        return self.failures >= self.threshold

    def due(self, now: float) -> bool:
        """Is this slave polled in the cycle starting at `now`?"""
        return not self.quarantined or now >= self.retry_at

    def failed(self, now: float) -> bool:
        """Record a failed cycle; True when this one put the slave into quarantine."""
        self.failures += 1
        if not self.quarantined:
            return False
        first = self.failures == self.threshold
        self.backoff_s = self.base_s if first else min(self.backoff_s * 2, self.max_s)
        self.retry_at = now + self.backoff_s
        return first

    def succeeded(self) -> bool:
        """Record an answer; True when it ends a quarantine."""
        was = self.quarantined
        self.failures, self.backoff_s, self.retry_at = 0, 0.0, 0.0
        return was
