"""Ledger reads and people's actions over HTTP: request bodies, who may do what, and the call
into the ledger on the SQLite worker thread (`Gateway.run_db`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting.ledger import Ledger
from alerting.lifecycle import possible_actions
from alerting.records import Hazard
from alerting.vocabulary import ANONYMOUS, Disposition, Grade, Kind, Source
from gateway.api.config import Role
from gateway.app import Gateway
from gateway.errors import LedgerError


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(Body):
    reason: str = Field(default="", max_length=2000)


class Assign(Body):
    responsible: str = Field(min_length=1, max_length=200)
    unit: str = Field(default="", max_length=200)


class RequestReview(Body):
    reason: str = Field(min_length=1, max_length=2000)  # what was done


class Verify(Body):
    opinion: str = Field(min_length=1, max_length=2000)


class Close(Body):
    reason: str = Field(min_length=1, max_length=2000)
    disposition: Disposition | None = None


class Register(Body):
    """A hazard found by an inspection or reported; `anonymous` only for a report (举报)."""

    title: str = Field(min_length=1, max_length=500)
    kind: Kind
    grade: Grade
    source: Literal[Source.SELF_INSPECTION, Source.UPPER_INSPECTION, Source.REPORT]
    location: str = Field(min_length=1, max_length=500)
    zone: str | None = None
    description: str = Field(default="", max_length=5000)
    responsible: str | None = None
    basis: str = Field(default="", max_length=1000)
    category: str = Field(default="", max_length=200)
    inspection: str = Field(default="", max_length=200)
    anonymous: bool = False


Do = Callable[[Ledger, str, str, int, Any], object]


@dataclass(frozen=True)
class ActionSpec:
    body: type[Body]
    role: Role
    do: Do | None  # None: acknowledgement, which goes through Gateway.acknowledge


ACTIONS: dict[str, ActionSpec] = {
    "acknowledge": ActionSpec(Reason, Role.DUTY_OFFICER, None),
    "assign": ActionSpec(
        Assign, Role.SAFETY_OFFICER,
        lambda lg, n, by, ts, b: lg.assign(
            n, responsible=b.responsible, unit=b.unit, by=by, ts_ns=ts
        ),
    ),
    "rectify": ActionSpec(
        Reason, Role.SAFETY_OFFICER,
        lambda lg, n, by, ts, b: lg.rectify(n, by=by, ts_ns=ts, reason=b.reason),
    ),
    "request-review": ActionSpec(
        RequestReview, Role.SAFETY_OFFICER,
        lambda lg, n, by, ts, b: lg.request_review(n, by=by, ts_ns=ts, reason=b.reason),
    ),
    "verify": ActionSpec(
        Verify, Role.SAFETY_OFFICER,
        lambda lg, n, by, ts, b: lg.verify_rectification(n, by=by, ts_ns=ts, opinion=b.opinion),
    ),
    "close": ActionSpec(
        Close, Role.SAFETY_OFFICER,
        lambda lg, n, by, ts, b: lg.close(
            n, by=by, ts_ns=ts, reason=b.reason, disposition=b.disposition
        ),
    ),
}  # fmt: skip


class Refused(Exception):  # noqa: N818 - a refusal, not an error
    """A request the ledger or the site's config does not allow: 404, 409 or 422 with why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def hazard_doc(h: Hazard) -> dict[str, Any]:
    return h.to_json() | {"possible_actions": [a.value for a in possible_actions(h)]}


def _ledger(gw: Gateway) -> Ledger:
    if gw.ledger is None:
        raise Refused(503, "the ledger is not open yet")
    return gw.ledger


def _known(ledger: Ledger, number: str) -> None:
    try:
        ledger.hazard(number)
    except LedgerError as exc:
        raise Refused(404, str(exc)) from None


async def act(gw: Gateway, action: str, number: str, by: str, body: Body) -> dict[str, Any]:
    """Do `action` on entry `number` as person `by`; the entry as it is afterwards."""
    ledger, spec = _ledger(gw), ACTIONS[action]
    people = {p.id for p in gw.cfg.people}
    if isinstance(body, Assign) and body.responsible not in people:
        raise Refused(422, f"responsible: {body.responsible!r} is not one of the site's people")
    await gw.run_db(lambda: _known(ledger, number))
    try:
        if spec.do is None:
            reason = body.reason if isinstance(body, Reason) else ""
            await gw.acknowledge(number, by=by, reason=reason)  # stops escalation at once
        else:
            do, now = spec.do, gw.clock.wall_ns()
            await gw.run_db(lambda: do(ledger, number, by, now, body))
    except LedgerError as exc:
        raise Refused(409, str(exc)) from None
    return await gw.run_db(lambda: hazard_doc(ledger.hazard(number)))


async def register(gw: Gateway, by: str, body: Register) -> dict[str, Any]:
    ledger = _ledger(gw)
    zones, people = {z.id for z in gw.cfg.zones}, {p.id for p in gw.cfg.people}
    if body.zone is not None and body.zone not in zones:
        raise Refused(422, f"zone: {body.zone!r} is not one of the site's zones")
    if body.responsible is not None and body.responsible not in people:
        raise Refused(422, f"responsible: {body.responsible!r} is not one of the site's people")
    if body.anonymous and body.source is not Source.REPORT:
        raise Refused(422, "anonymous: only a report (举报) can be anonymous")
    now = gw.clock.wall_ns()

    def work() -> dict[str, Any]:
        hazard = ledger.register_finding(
            title=body.title, kind=body.kind, grade=body.grade, source=body.source,
            location=body.location, zone=body.zone, found_by=ANONYMOUS if body.anonymous else by,
            ts_ns=now, description=body.description, responsible=body.responsible,
            basis=body.basis, category=body.category, inspection=body.inspection,
        )  # fmt: skip
        return hazard_doc(hazard)

    try:
        return await gw.run_db(work)
    except LedgerError as exc:
        raise Refused(422, str(exc)) from None


async def read_all(gw: Gateway) -> list[dict[str, Any]]:
    ledger = _ledger(gw)
    return await gw.run_db(lambda: [hazard_doc(h) for h in ledger.hazards()])


async def read_one(gw: Gateway, number: str) -> dict[str, Any]:
    ledger = _ledger(gw)

    def work() -> dict[str, Any]:
        _known(ledger, number)
        history = [e.to_json() for e in ledger.events(number)]
        return hazard_doc(ledger.hazard(number)) | {"history": history}

    return await gw.run_db(work)
