"""Read planning: contiguous registers of one slave travel in one request, the Modbus limit and
the profile's merge gap are respected, and every binding mistake is named at once."""

from __future__ import annotations

import pytest

from drivers.base import Binding
from drivers.modbus.health import SlaveHealth
from drivers.modbus.plan import ReadOp, bind_points, merge_ranges, plan_reads
from drivers.modbus.profile import Profile, load_profile
from gateway.errors import ConfigError

PROFILES = {"xy-md02": load_profile("xy-md02"), "gas-transmitter": load_profile("gas-transmitter")}


@pytest.mark.parametrize(
    ("registers", "gap", "limit", "ranges"),
    [
        ([], 0, 125, []),
        ([5], 0, 125, [(5, 1)]),
        ([1, 2, 3], 0, 125, [(1, 3)]),
        ([3, 1, 2, 2], 0, 125, [(1, 3)]),  # order and duplicates do not matter
        ([1, 3], 0, 125, [(1, 1), (3, 1)]),  # a hole: two reads unless a gap is allowed
        ([1, 3], 1, 125, [(1, 3)]),
        ([1, 5], 2, 125, [(1, 1), (5, 1)]),
        ([1, 5], 3, 125, [(1, 5)]),
        ([0, 1, 2, 3, 4], 0, 2, [(0, 2), (2, 2), (4, 1)]),  # the per-request limit
        (list(range(300)), 0, 125, [(0, 125), (125, 125), (250, 50)]),
    ],
)
def test_merge_ranges(
    registers: list[int], gap: int, limit: int, ranges: list[tuple[int, int]]
) -> None:
    assert merge_ranges(registers, gap, limit) == ranges


def binding(i: int, address: int | None, profile: str, point: str = "") -> Binding:
    return Binding(i, f"d{i}", "co", address=address, profile=profile, point=point)


def plan(bindings: list[Binding], limit: int = 125) -> list[ReadOp]:
    points, profiles = bind_points(bindings, PROFILES, "drivers.bus")
    return [op for p in plan_reads(points, profiles, limit) for op in p.reads]


@pytest.mark.parametrize(
    ("bindings", "limit", "reads"),
    [
        pytest.param(
            [binding(0, 1, "xy-md02", "temperature"), binding(1, 1, "xy-md02", "humidity")],
            125,
            [ReadOp(1, 4, 1, 2)],
            id="temperature and humidity in one read",
        ),
        pytest.param(
            [binding(0, 1, "xy-md02", "humidity")], 125, [ReadOp(1, 4, 2, 1)], id="only bound ones"
        ),
        pytest.param(
            [binding(0, 2, "gas-transmitter", "gas")],
            125,
            [ReadOp(2, 3, 0, 3)],
            id="status, concentration and decimal point together",
        ),
        pytest.param(
            [
                binding(0, 2, "gas-transmitter", "gas"),
                binding(1, 2, "gas-transmitter", "full_scale"),
            ],
            125,
            [ReadOp(2, 3, 0, 4)],
            id="a second point extends the same read",
        ),
        pytest.param(
            [binding(0, 9, "gas-transmitter", "gas"), binding(1, 3, "xy-md02", "temperature")],
            125,
            [ReadOp(3, 4, 1, 1), ReadOp(9, 3, 0, 3)],
            id="slaves in address order, one plan each",
        ),
        pytest.param(
            [binding(0, 2, "gas-transmitter", "gas")],
            2,
            [ReadOp(2, 3, 0, 2), ReadOp(2, 3, 2, 1)],
            id="the request limit splits a slave's reads",
        ),
    ],
)
def test_plans(bindings: list[Binding], limit: int, reads: list[ReadOp]) -> None:
    assert plan(bindings, limit) == reads


def test_a_profile_with_one_point_needs_no_point_name() -> None:
    one = Profile.model_validate({"points": {"co": {"register": 7}}})
    points, _ = bind_points([binding(0, 5, "one")], {"one": one}, "drivers.bus")
    assert points[5][0].point.number == 7


def test_every_binding_mistake_is_reported_at_once() -> None:
    bad = [
        binding(0, None, "xy-md02", "temperature"),
        binding(1, 248, "xy-md02", "temperature"),
        binding(2, 1, "no-such-profile", "gas"),
        binding(3, 1, "xy-md02", "pressure"),
        binding(4, 2, "xy-md02", "temperature"),
        binding(5, 2, "gas-transmitter", "gas"),
        binding(6, 1, "xy-md02", ""),  # two points: the name is required
    ]
    with pytest.raises(ConfigError) as info:
        bind_points(bad, PROFILES, "drivers.bus")
    messages = [(i.key, i.message.split(":")[0]) for i in info.value.issues]
    assert messages == [
        ("devices.d0", "address"),
        ("devices.d1", "address"),
        ("devices.d2", "profile"),
        ("devices.d3", "point"),
        ("devices.d5", "profile"),
        ("devices.d6", "point"),
    ]
    assert all(i.file == "drivers.bus" for i in info.value.issues)


@pytest.mark.parametrize(
    ("events", "quarantined", "backoff", "due_at"),
    [
        ("f", False, 0.0, 0.0),
        ("ff", False, 0.0, 0.0),
        ("fff", True, 5.0, 105.0),  # the third failed cycle: quarantine, first probe in 5 s
        ("ffff", True, 10.0, 110.0),  # each failed probe doubles the wait
        ("fffffff", True, 60.0, 160.0),  # up to the cap
        ("fffs", False, 0.0, 0.0),  # one answer ends it
        ("ffsff", False, 0.0, 0.0),  # failures must be consecutive
    ],
)
def test_quarantine_schedule(events: str, quarantined: bool, backoff: float, due_at: float) -> None:
    health = SlaveHealth(threshold=3, base_s=5.0, max_s=60.0)
    for e in events:
        if e == "f":
            health.failed(now=100.0)
        else:
            health.succeeded()
    assert (health.quarantined, health.backoff_s) == (quarantined, backoff)
    assert health.due(due_at)
    assert health.due(due_at - 0.001) is not quarantined


def test_quarantine_reports_its_edges_once() -> None:
    health = SlaveHealth(threshold=2, base_s=1.0, max_s=8.0)
    edges = [health.failed(0.0), health.failed(0.0), health.failed(0.0), health.succeeded()]
    assert edges == [False, True, False, True]
    assert health.succeeded() is False
