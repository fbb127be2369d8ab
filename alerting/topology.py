"""Parents and children: site -> gateway -> bus (a driver's bus or broker connection) -> device ->
zone, and what a failed parent does to its children.

A flood caused by one root cause is a defect (EEMUA 191, ISA-18.2): while a bus is down, its
devices' link faults (silent, not answering) are suppressed by design and the bus raises one
fault of its own, after `fault_after_s` so a driver's normal reconnect does not alarm. A device
that stops answering while its bus is up is one comm-loss fault, which in turn suppresses the
same device's "silent" fault. When the bus comes back, its devices' silence is counted afresh:
those that really stay silent (or keep failing) raise their own faults then.

Zones group devices for the fire rules (smoke and heat confirming each other in one room).
The site and the gateway are the roots: a dead gateway can only be seen from outside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gateway.model import BoolArray, IntArray


@dataclass(frozen=True, slots=True)
class Link:
    """What a driver says about its bus: up or not, and the devices it cannot reach."""

    connected: bool
    failing: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkState:
    down: dict[str, bool]  # bus fault present (held down for fault_after_s), per driver
    suppressed: BoolArray  # per sensor: its bus is down now, link faults suppressed
    comm_loss: BoolArray  # per sensor: bus up, device not answering
    recovered: IntArray  # sensors whose bus came back in this step


class Topology:
    """The tree for a fixed sensor list (index = sensor index)."""

    def __init__(
        self,
        drivers: Sequence[str],
        devices: Sequence[str],
        zones: Sequence[str],
        *,
        fault_after_s: float = 30.0,
    ) -> None:
        self.devices = list(devices)
        self.fault_after_ns = fault_after_s * 1e9
        self.buses = sorted(set(drivers))
        by_driver = np.array(drivers, dtype=object)
        self.children = {b: np.flatnonzero(by_driver == b) for b in self.buses}
        self.zone_ids = sorted(set(zones))
        self.zone_of = np.array([self.zone_ids.index(z) for z in zones], dtype=np.int64)
        self._down_since: dict[str, int] = {}  # driver -> ns, while down

    def update(self, links: Mapping[str, Link], now_ns: int) -> LinkState:
        """Bring the tree to what the drivers say now. A driver that says nothing (not started
        yet) counts as up: no information is not a fault."""
        n = len(self.devices)
        suppressed, comm_loss = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        down, recovered = {}, []
        for bus in self.buses:
            link = links.get(bus, Link(True))
            kids = self.children[bus]
            if not link.connected:
                since = self._down_since.setdefault(bus, now_ns)
                down[bus] = now_ns - since >= self.fault_after_ns
                suppressed[kids] = True
                continue
            down[bus] = False
            if self._down_since.pop(bus, None) is not None:
                recovered.append(kids)
            if link.failing:
                comm_loss[kids] = [self.devices[k] in link.failing for k in kids.tolist()]
        rec = np.concatenate(recovered) if recovered else np.zeros(0, dtype=np.int64)
        return LinkState(down, suppressed, comm_loss, rec)

    def zones_with(self, mask: BoolArray) -> BoolArray:
        """Per zone (in `zone_ids` order): does any sensor in it have `mask` set?"""
        return np.bincount(self.zone_of[mask], minlength=len(self.zone_ids)) > 0

    def bus_size(self, bus: str) -> int:
        return len(self.children.get(bus, ()))
