"""Dedup and grouping: the stages between the engine and the channels, pure and clock-free.

The rule, per group key (drill, zone, kind, urgent, escalation step, recipients):
- the first notification of an urgent key (a fire, a level-2 gas alarm) is sent at once and opens
  a window of `window_s`; a non-urgent one is held `wait_s` to collect its siblings;
- whatever arrives while a window is open is held; when the window ends, the held ones go as one
  grouped message and a new window opens; a window that ends with nothing held closes, so the
  next notification of that key is again "the first";
- a drill and a real alarm never share a message (drill is part of the key);
- the same (hazard, step, round, repeat, recipients) submitted twice is sent once (dedup).
A flood of N alarms in one zone over T seconds thus becomes about 1 + T / window_s messages,
while a different zone or kind has its own windows and is never delayed by the flood.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from alerting.notify import Notification

GroupKey = tuple[bool, str, str, bool, int, tuple[str, ...]]
_PLURAL = {
    "fire": "fire alarms",
    "gas": "gas alarms",
    "heat": "high temperature alarms",
    "fault": "detector faults",
}


def group_key(n: Notification) -> GroupKey:
    # Without a zone, a notification groups only with its own hazard's.
    return (n.drill, n.zone or n.number, n.kind, n.urgent, n.step, n.recipients)


def merge(parts: Iterable[Notification], recipients: tuple[str, ...] | None = None) -> Notification:
    """One notification standing for `parts` (same key): the part itself when there is one.

    A hazard present twice keeps its latest notification, at its first position.
    """
    latest: dict[str, Notification] = {}
    for part in parts:
        for m in part.members:
            latest[m.number] = m
    members = tuple(latest.values())
    first = members[0]
    who = first.recipients if recipients is None else recipients
    if len(members) == 1:
        return first if who == first.recipients else replace(first, recipients=who)
    what = _PLURAL.get(first.kind, f"{first.kind} alarms")
    where = f"zone {first.zone}" if first.zone else first.number
    return Notification(
        number=first.number,
        title=f"{len(members)} {what} in {where}",
        kind=first.kind,
        level=max(m.level for m in members),
        step=first.step,
        step_name=first.step_name,
        recipients=who,
        repeat=0,
        ts_ns=max(m.ts_ns for m in members),
        reason=f"{len(members)} hazards grouped",
        drill=first.drill,
        round=first.round,
        zone=first.zone,
        group=members,
    )


class Dedup:
    """Remembers the last `size` deliveries asked for; the oldest are forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[object, ...], None] = OrderedDict()

    def seen(self, n: Notification) -> bool:
        """True if this notification was submitted before; remembers it otherwise."""
        key = (n.number, n.step, n.round, n.repeat, n.recipients, n.drill)
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return False


@dataclass
class _Window:
    flush_at: float  # monotonic seconds
    held: list[Notification]


class Grouper:
    """Holds notifications per group key; time comes in as monotonic seconds."""

    def __init__(self, window_s: float, wait_s: float) -> None:
        self.window_s = window_s
        self.wait_s = wait_s
        self._windows: dict[GroupKey, _Window] = {}

    def add(self, n: Notification, now: float) -> Notification | None:
        """The message to send at once, or None if `n` is held for its group."""
        key = group_key(n)
        window = self._windows.get(key)
        if window is not None:
            window.held.append(n)
            return None
        if n.urgent or self.wait_s == 0:
            self._windows[key] = _Window(now + self.window_s, [])
            return n
        self._windows[key] = _Window(now + self.wait_s, [n])
        return None

    def due(self, now: float) -> list[Notification]:
        """Messages whose window ended by `now`; their windows restart, or close if empty."""
        out: list[Notification] = []
        for key, window in list(self._windows.items()):
            if window.flush_at > now:
                continue
            if window.held:
                out.append(merge(window.held))
                self._windows[key] = _Window(now + self.window_s, [])
            else:
                del self._windows[key]
        return out

    def next_due(self) -> float | None:
        return min((w.flush_at for w in self._windows.values()), default=None)

    def flush(self) -> list[Notification]:
        """Everything held, at once (shutdown): nothing is left behind."""
        out = [merge(w.held) for w in self._windows.values() if w.held]
        self._windows.clear()
        return out

    @property
    def held(self) -> int:
        return sum(len(w.held) for w in self._windows.values())
