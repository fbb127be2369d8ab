"""A gateway restarted in the middle of an escalation resumes it at the right step and time,
and never repeats a step already sent: escalation state lives in the ledger, not in memory."""

from __future__ import annotations

from pathlib import Path

from alerting.ledger import Ledger
from alerting.records import DeliveryAttempt
from gateway.demo import demo_config
from gateway.engine import Engine
from gateway.model import Identity, ReadingBatch
from gateway.registry import Registry

S = 1_000_000_000
T0 = 1_795_000_000 * S


def gateway(state: Path, start_ns: int) -> tuple[Engine, Ledger, Registry]:
    cfg = demo_config(state)
    registry = Registry.from_config(cfg)
    ledger = Ledger(state / "ledger.sqlite", Identity(cfg.site.id, cfg.gateway.id))
    return Engine(cfg, registry, ledger, start_ns=start_ns), ledger, registry


def all_sensors_reading(registry: Registry, gas: float, ts: int) -> ReadingBatch:
    """Every demo sensor reports a normal value, the kitchen gas head reports `gas`."""
    normal = {"smoke": 0.0, "combustible_gas": 0.5, "co": 2.0, "temperature": 21.0}
    values = [
        gas if s.device == "kitchen-gas-1" else normal[s.sensor_class.value] + 0.1 * (ts // S % 3)
        for s in registry.sensors
    ]
    return ReadingBatch.of(list(range(len(values))), values, [ts] * len(values))


def run(engine: Engine, registry: Registry, seconds: range, gas: float) -> list[str]:
    """Step once per second with fresh readings; the names of the escalation levels notified."""
    told = []
    for t in seconds:
        ts = T0 + t * S
        result = engine.step([all_sensors_reading(registry, gas, ts)], ts)
        told += [n.step_name for n in result.notifications]
    return told


def delivered(ledger: Ledger) -> None:
    """What the notify pipeline records once a channel has carried each step told so far (a
    step no channel ever tried is sent again after a restart: test_restart_alarm_state.py)."""
    for hazard in ledger.hazards():
        for step in hazard.escalation.steps:
            ledger.record_delivery(DeliveryAttempt(
                hazard.number, channel="log", recipients=step.recipients, step=step.level,
                round=step.round, repeat=step.repeat, attempt=1, ok=True, retryable=False,
                detail="", actor="gateway:gw01/notify", ts_ns=step.ts_ns,
            ))  # fmt: skip


def test_a_restart_mid_escalation_resumes_at_the_next_level_without_repeats(
    tmp_path: Path,
) -> None:
    engine, ledger, registry = gateway(tmp_path, T0)
    before = run(engine, registry, range(200), gas=30.0)  # level 1 at t=0
    assert before == ["duty officer", "safety officer"]  # at 0 s and 120 s
    delivered(ledger)
    ledger.close_db()

    engine, ledger, registry = gateway(tmp_path, T0 + 200 * S)  # back after a restart
    after = run(engine, registry, range(200, 330), gas=30.0)
    assert after == ["principal responsible person"]  # due at 120 + 180 = 300 s, once
    (hazard,) = ledger.hazards()
    times = [(s.ts_ns - T0) // S for s in hazard.escalation.steps]
    assert times == [0, 120, 300]
    ledger.close_db()


def test_a_restart_after_a_long_outage_notifies_every_missed_level_at_once(
    tmp_path: Path,
) -> None:
    engine, ledger, registry = gateway(tmp_path, T0)
    run(engine, registry, range(10), gas=30.0)
    delivered(ledger)
    ledger.close_db()
    engine, ledger, registry = gateway(tmp_path, T0 + 3600 * S)  # an hour later
    told = run(engine, registry, range(3600, 3601), gas=30.0)
    assert told[:3] == ["safety officer", "principal responsible person", "supervising office"]
    ledger.close_db()
