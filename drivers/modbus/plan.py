"""Which requests one poll cycle sends: pure planning from the bindings and their profiles.

Per slave, the registers its points need (values, decimal points, status) are grouped by
function code and merged into as few reads as the Modbus limit (125 registers) and the
profile's `merge_gap` allow: contiguous registers always travel in one request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from drivers.base import Binding
from drivers.modbus.decode import needed_registers
from drivers.modbus.profile import PointSpec, Profile, StatusSpec
from gateway.errors import ConfigError, ConfigIssue


@dataclass(frozen=True, slots=True)
class ReadOp:
    slave: int
    function: int
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class BoundPoint:
    """One configured sensor: its batch row, its device and how to decode it."""

    index: int
    device: str
    point: PointSpec
    status: StatusSpec | None


@dataclass(frozen=True, slots=True)
class SlavePlan:
    slave: int
    reads: tuple[ReadOp, ...]
    points: tuple[BoundPoint, ...]

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.device for p in self.points))


def merge_ranges(registers: Iterable[int], max_gap: int, max_count: int) -> list[tuple[int, int]]:
    """(start, count) ranges covering `registers`; ranges bridge gaps up to `max_gap`."""
    ranges: list[tuple[int, int]] = []
    for reg in sorted(set(registers)):
        if ranges:
            start, count = ranges[-1]
            end = start + count  # one past the last register of the open range
            if reg - end <= max_gap and reg - start < max_count:
                ranges[-1] = (start, reg - start + 1)
                continue
        ranges.append((reg, 1))
    return ranges


def plan_reads(
    points_by_slave: Mapping[int, Sequence[BoundPoint]],
    profiles_by_slave: Mapping[int, Profile],
    max_count: int,
) -> tuple[SlavePlan, ...]:
    """One SlavePlan per slave, in address order, with the merged reads it needs."""
    plans = []
    for slave in sorted(points_by_slave):
        points = tuple(points_by_slave[slave])
        by_function: dict[int, set[int]] = {}
        for p in points:
            for function, reg in needed_registers(p.point, p.status):
                by_function.setdefault(function, set()).add(reg)
        gap = profiles_by_slave[slave].merge_gap
        reads = tuple(
            ReadOp(slave, function, start, count)
            for function in sorted(by_function)
            for start, count in merge_ranges(by_function[function], gap, max_count)
        )
        plans.append(SlavePlan(slave, reads, points))
    return tuple(plans)


def bind_points(
    bindings: Sequence[Binding], profiles: Mapping[str, Profile], where: str
) -> tuple[dict[int, list[BoundPoint]], dict[int, Profile]]:
    """Resolve each binding's slave address, profile and point; every problem is reported."""
    issues: list[ConfigIssue] = []
    points: dict[int, list[BoundPoint]] = {}
    chosen: dict[int, tuple[str, Profile]] = {}
    for b in bindings:
        key = f"devices.{b.device}"
        resolved = _resolve(b, profiles)
        if isinstance(resolved, str):
            issues.append(ConfigIssue(where, key, None, resolved))
            continue
        slave, spec = resolved
        name, profile = chosen.setdefault(slave, (b.profile, profiles[b.profile]))
        if name != b.profile:
            problem = (
                f"profile: slave {slave} already uses profile {name!r}: one slave, one profile"
            )
            issues.append(ConfigIssue(where, key, None, problem))
            continue
        points.setdefault(slave, []).append(BoundPoint(b.index, b.device, spec, profile.status))
    if issues:
        raise ConfigError(issues)
    return points, {slave: profile for slave, (_, profile) in chosen.items()}


def _resolve(b: Binding, profiles: Mapping[str, Profile]) -> tuple[int, PointSpec] | str:
    """(slave address, point) of a binding, or what is wrong with it."""
    if b.address is None or not 1 <= b.address <= 247:
        return f"address: a Modbus slave address 1-247 is required (got {b.address})"
    profile = profiles.get(b.profile)
    if profile is None:
        return f"profile: {b.profile!r} is not a known profile"
    name = b.point or (next(iter(profile.points)) if len(profile.points) == 1 else "")
    if name not in profile.points:
        known = ", ".join(profile.points)
        return f"point: {b.point!r} is not a point of profile {b.profile!r} ({known})"
    return b.address, profile.points[name]
