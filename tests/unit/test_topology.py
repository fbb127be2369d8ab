"""Parent and child: a dead bus is one fault and silences its devices' link faults; a device not
answering on a live bus is its own fault; silence counts afresh when the bus returns."""

from __future__ import annotations

import numpy as np

from alerting.topology import Link, Topology

S = 1_000_000_000


def tree() -> Topology:
    return Topology(
        ["bus1", "bus1", "bus2", "bus1"],
        ["a", "b", "c", "d"],
        ["kitchen", "store", "kitchen", "kitchen"],
        fault_after_s=30,
    )


def test_a_driver_that_says_nothing_counts_as_up() -> None:
    state = tree().update({}, 0)
    assert state.down == {"bus1": False, "bus2": False}
    assert not state.suppressed.any()
    assert not state.comm_loss.any()


def test_a_bus_down_suppresses_its_devices_at_once_and_faults_after_the_delay() -> None:
    t = tree()
    down = {"bus1": Link(False), "bus2": Link(True)}
    first = t.update(down, 0)
    assert first.suppressed.tolist() == [True, True, False, True]
    assert first.down["bus1"] is False  # a reconnect in progress is not a fault yet
    assert t.update(down, 29 * S).down["bus1"] is False
    assert t.update(down, 30 * S).down["bus1"] is True


def test_recovery_names_the_children_whose_silence_restarts() -> None:
    t = tree()
    t.update({"bus1": Link(False)}, 0)
    back = t.update({"bus1": Link(True)}, 100 * S)
    assert sorted(back.recovered.tolist()) == [0, 1, 3]
    assert back.down["bus1"] is False
    assert not back.suppressed.any()
    assert len(t.update({"bus1": Link(True)}, 101 * S).recovered) == 0  # only once


def test_failing_devices_on_a_live_bus_are_comm_loss_each() -> None:
    state = tree().update({"bus1": Link(True, frozenset({"b", "zz"}))}, 0)
    assert state.comm_loss.tolist() == [False, True, False, False]


def test_a_dead_bus_hides_its_failing_list() -> None:
    state = tree().update({"bus1": Link(False, frozenset({"b"}))}, 0)
    assert not state.comm_loss.any()


def test_zones_aggregate_their_devices() -> None:
    t = tree()
    assert t.zone_ids == ["kitchen", "store"]
    assert t.zones_with(np.array([False, True, False, False])).tolist() == [False, True]
    assert t.bus_size("bus1") == 3
