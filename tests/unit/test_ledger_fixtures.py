"""Helpers the ledger test modules share: entries driven to each stage through the real API.
(No tests here.)"""

from __future__ import annotations

from alerting.ledger import Ledger
from alerting.vocabulary import Grade, Kind, Source, Status
from gateway.model import Identity

S = 1_000_000_000
MINUTE = 60 * S
DAY = 86_400 * S
T0 = 1_772_352_000 * S  # 2026-03-01T08:00:00Z, a Sunday
GW1 = Identity("demo", "gw01")
OWNER = "wang"  # the zone owner: the default responsible person
VERIFIER = "zhao"  # a safety officer who is neither responsible nor requester

# The order the happy path walks; REJECTED hangs off REVIEW_REQUESTED.
PATH = (
    Status.REGISTERED,
    Status.ACKNOWLEDGED,
    Status.PLANNED,
    Status.RECTIFYING,
    Status.REVIEW_REQUESTED,
    Status.VERIFIED,
    Status.CLOSED,
)


def gas_alarm(
    ledger: Ledger,
    *,
    device: str = "kitchen-gas-1",
    level: int = 1,
    ts_ns: int = T0,
    grade: Grade = Grade.GENERAL,
    responsible: str | None = OWNER,
) -> str:
    hazard, _ = ledger.raise_alarm_hazard(
        dedup_key=f"dev:{device}:gas", kind=Kind.GAS, title="Gas leak in the kitchen",
        grade=grade, level=level, device=device, zone="kitchen", location="Kitchen",
        value=25.0 * level + 5, condition=f"level{level}", actor=f"gateway:gw01/rule:level{level}",
        ts_ns=ts_ns, start_level=level - 1, responsible=responsible,
    )  # fmt: skip
    return hazard.number


def finding(
    ledger: Ledger,
    *,
    grade: Grade = Grade.GENERAL,
    ts_ns: int = T0,
    found_by: str = "zhang",
    source: Source = Source.SELF_INSPECTION,
    responsible: str | None = OWNER,
) -> str:
    return ledger.register_finding(
        title="Blocked fire exit", kind=Kind.FIRE, grade=grade, source=source,
        location="Store room, east exit", zone="store", found_by=found_by, ts_ns=ts_ns,
        responsible=responsible,
    ).number  # fmt: skip


def fill_plan(ledger: Ledger, number: str, ts_ns: int, *, deadline_ns: int | None = None) -> None:
    ledger.plan(
        number, by=OWNER, ts_ns=ts_ns, measures="Clear the exit, mark the floor",
        responsible=OWNER, responsible_unit="Logistics", funds="CNY 800 from maintenance",
        deadline_ns=deadline_ns or ts_ns + 7 * DAY, contingency="Second exit signposted",
    )  # fmt: skip


def fill_remediation(ledger: Ledger, number: str, ts_ns: int) -> None:
    ledger.set_remediation_plan(
        number, by=OWNER, ts_ns=ts_ns, goal_and_tasks="Exit free at all times",
        methods="Move storage to bay 4", funds_and_materials="CNY 800, floor paint",
        organisation_and_people="Logistics team B", time_limit="7 days",
        safety_measures="Fire watch while the exit is obstructed",
    )  # fmt: skip


def drive(ledger: Ledger, number: str, target: Status, ts_ns: int = T0 + MINUTE) -> int:
    """Walk `number` along the loop to `target` through the real actions; the time after."""
    t = ts_ns
    want = PATH.index(Status.REVIEW_REQUESTED) if target is Status.REJECTED else PATH.index(target)
    for stage in PATH[1 : want + 1]:
        t += MINUTE
        _enter(ledger, number, stage, t)
    if target is Status.REJECTED:
        t += MINUTE
        ledger.reject(number, by=VERIFIER, ts_ns=t, opinion="Pallets still in the corridor")
    assert ledger.hazard(number).status is target
    return t


def _enter(ledger: Ledger, number: str, stage: Status, t: int) -> None:
    if stage is Status.ACKNOWLEDGED:
        ledger.acknowledge(number, by=OWNER, ts_ns=t)
    elif stage is Status.PLANNED:
        fill_plan(ledger, number, t)
        if ledger.hazard(number).grade is Grade.MAJOR:
            fill_remediation(ledger, number, t)
    elif stage is Status.RECTIFYING:
        ledger.rectify(number, by=OWNER, ts_ns=t)
    elif stage is Status.REVIEW_REQUESTED:
        ledger.request_review(number, by=OWNER, ts_ns=t, reason="Exit cleared and marked")
    elif stage is Status.VERIFIED:
        ledger.verify_rectification(number, by=VERIFIER, ts_ns=t, opinion="Exit free, marked")
    elif stage is Status.CLOSED:
        ledger.close(number, by=VERIFIER, ts_ns=t, reason="Rectified and verified")
