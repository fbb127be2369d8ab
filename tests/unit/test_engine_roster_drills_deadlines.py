"""The engine with a duty roster, drills, rectification deadlines and findings from the CLI."""

from __future__ import annotations

from pathlib import Path

from alerting.ledger import Ledger
from alerting.vocabulary import Grade, Kind, Source
from gateway.config import (
    DeadlineEscalationConfig,
    EscalationLevelConfig,
    RosterConfig,
    ShiftConfig,
)
from gateway.demo import demo_config
from gateway.engine import Engine
from gateway.model import Identity, ReadingBatch
from gateway.registry import Registry

S = 1_000_000_000
T0 = 1_795_000_000 * S  # 2026-11-18T11:06:40Z


def setup(state: Path, start_ns: int = T0) -> tuple[Engine, Ledger, Registry]:
    base = demo_config(state)
    esc = base.escalation.model_copy(
        update={
            "levels": [
                EscalationLevelConfig(name="duty officer", recipients=["duty_officer"]),
                *base.escalation.levels[1:],
            ],
            "deadlines": DeadlineEscalationConfig(
                levels=[
                    EscalationLevelConfig(name="owner", recipients=["responsible"]),
                    EscalationLevelConfig(name="principal", recipients=["zhang.jun"], delay_s=3600),
                ]
            ),
        }
    )
    roster = RosterConfig(
        shifts=[
            ShiftConfig(role="duty_officer", person="wang.wei", start="08:00", end="20:00"),
            ShiftConfig(role="duty_officer", person="li.na", start="20:00", end="08:00"),
        ]
    )
    cfg = base.model_copy(update={"escalation": esc, "roster": roster})
    registry = Registry.from_config(cfg)
    ledger = Ledger(state / "ledger.sqlite", Identity(cfg.site.id, cfg.gateway.id))
    return Engine(cfg, registry, ledger, start_ns=start_ns), ledger, registry


def readings(registry: Registry, gas: float, ts: int) -> ReadingBatch:
    normal = {"smoke": 0.0, "combustible_gas": 0.5, "co": 2.0, "temperature": 21.0}
    values = [
        gas if s.device == "kitchen-gas-1" else normal[s.sensor_class.value] + 0.1 * (ts // S % 3)
        for s in registry.sensors
    ]
    return ReadingBatch.of(list(range(len(values))), values, [ts] * len(values))


def test_roles_resolve_and_the_zone_owner_is_responsible(tmp_path: Path) -> None:
    engine, ledger, registry = setup(tmp_path)
    out = engine.step([readings(registry, 30.0, T0)], T0)
    (note,) = list(out.notifications)
    assert note.recipients == ("wang.wei",)  # 11:06 UTC on the demo's UTC site: day shift
    (hazard,) = ledger.hazards()
    assert hazard.responsible == "wang.wei"  # the kitchen's owner


def test_a_drill_notifies_marked_and_acks_do_not_stop_it(tmp_path: Path) -> None:
    engine, ledger, registry = setup(tmp_path)
    out = engine.start_drill(title="Gas drill", kind=Kind.GAS, level=1, by="li.na", now_ns=T0)
    assert [(n.drill, n.recipients) for n in out.notifications] == [(True, ("wang.wei",))]
    engine.acknowledge(out.notifications[0].number, by="wang.wei", now_ns=T0 + 30 * S)
    told = []
    for t in range(31, 400):
        told += engine.step([readings(registry, 0.5, T0 + t * S)], T0 + t * S).notifications
    assert [n.step_name for n in told] == ["safety officer", "principal responsible person"]
    assert all(n.drill for n in told)
    report = ledger.drill_report(out.notifications[0].number)
    assert report.people[0].seconds_to_ack == 30.0


def test_a_finding_from_the_cli_escalates_live_and_deadlines_escalate(tmp_path: Path) -> None:
    engine, ledger, registry = setup(tmp_path)
    with Ledger(tmp_path / "ledger.sqlite", Identity("demo", "gw01")) as cli:
        number = cli.register_finding(
            title="Exit blocked",
            kind=Kind.FIRE,
            grade=Grade.GENERAL,
            source=Source.SELF_INSPECTION,
            location="Store",
            zone="store",
            found_by="li.na",
            ts_ns=T0,
            responsible="li.na",
        ).number
    out = engine.step([readings(registry, 0.5, T0 + S)], T0 + S)
    assert [n.number for n in out.notifications] == [number]
    with Ledger(tmp_path / "ledger.sqlite", Identity("demo", "gw01")) as cli:
        cli.acknowledge(number, by="li.na", ts_ns=T0 + 2 * S)
        cli.plan(
            number,
            by="li.na",
            ts_ns=T0 + 3 * S,
            measures="m",
            funds="f",
            deadline_ns=T0 + 100 * S,
            contingency="c",
        )
    told = []
    for t in range(4, 3800, 50):
        told += engine.step([readings(registry, 0.5, T0 + t * S)], T0 + t * S).notifications
    assert [(n.step_name, n.recipients) for n in told] == [
        ("owner", ("li.na",)),
        ("principal", ("zhang.jun",)),
    ]
    assert "overdue" in told[0].reason
    assert ledger.hazard(number).supervised_since_ns is not None
    # a restart resumes without repeating
    engine2, _ledger2, registry2 = setup(tmp_path, T0 + 3800 * S)
    again = engine2.step([readings(registry2, 0.5, T0 + 3900 * S)], T0 + 3900 * S).notifications
    assert again == []
