"""`hazgw ledger` actions on one entry along the closed loop: ack, assign, plan (五到位),
grade, list-supervision (挂牌督办), remediation-plan (治理方案), note, rectify, request-review,
reject, close. (verify lives in ledger_cmd.py: without a number it checks the chain.)"""

from __future__ import annotations

from typing import Annotated

import typer

from alerting.records import Hazard
from alerting.vocabulary import Disposition, Grade
from gateway.cli.ledger_common import (
    By,
    ConfigOpt,
    StateDir,
    Yes,
    act,
    confirm,
    opened,
    parse_enum,
    parse_moment,
)
from gateway.cli.ledger_common import now_ns as _now

Number = Annotated[str, typer.Argument(help="the entry's number, e.g. YH-2026-site-gw01-0001")]
Text = Annotated[str | None, typer.Option()]


def ack(
    number: Number,
    *,
    by: By,
    reason: Annotated[str, typer.Option(help="what you are doing about it")] = "",
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Acknowledge: escalation stops (in a drill: your time is recorded).

    The running daemon sees it within a tick."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        act(
            o, number, lambda: o.ledger.acknowledge(number, by=by, ts_ns=_now(), reason=reason),
            f"[green]acknowledged[/] {number} by {by}",
        )  # fmt: skip


def assign(
    number: Number,
    *,
    to: Annotated[str, typer.Option("--to", help="the new responsible person (people id)")],
    by: By,
    unit: Annotated[str, typer.Option(help="the responsible unit (department)")] = "",
    yes: Yes = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Name the responsible person (default: the zone's owner)."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        o.check_person(to, "--to")
        confirm(yes, f"Make {to} responsible for {number}?")
        act(
            o, number,
            lambda: o.ledger.assign(number, responsible=to, by=by, ts_ns=_now(), unit=unit),
            f"[green]assigned[/] {number} to {to}",
        )  # fmt: skip


def plan(
    number: Number,
    *,
    by: By,
    measures: Text = None,
    responsible: Text = None,
    unit: Text = None,
    funds: Text = None,
    deadline: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD (end of that day) or YYYY-MM-DDTHH:MM")
    ] = None,
    contingency: Text = None,
    reason: str = "",
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Fill or amend the five in place (五到位); all five make the entry planned.

    The five: measures, responsible person (and unit), funds, deadline, contingency plan."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        if responsible is not None:
            o.check_person(responsible, "--responsible")
        due = None if deadline is None else parse_moment(deadline, o.tz, end_of_day=True)
        act(
            o, number,
            lambda: o.ledger.plan(
                number, by=by, ts_ns=_now(), measures=measures, responsible=responsible,
                responsible_unit=unit, funds=funds, deadline_ns=due, contingency=contingency,
                reason=reason,
            ),
            lambda: _plan_state(o.ledger.hazard(number)),
        )  # fmt: skip


def _plan_state(h: Hazard) -> str:
    missing = h.missing_five()
    if missing:
        return f"[yellow]plan recorded[/] for {h.number}; still missing: {', '.join(missing)}"
    return f"[green]plan recorded[/] for {h.number}: all five in place ({h.status.value})"


def grade(
    number: Number,
    new_grade: Annotated[str, typer.Argument(metavar="GRADE", help="general/major or 一般/重大")],
    *,
    basis: Annotated[str, typer.Option(help="why: a clause of a standard, a 判定标准 item")],
    by: By,
    yes: Yes = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Change the grade (一般/重大) with its basis."""
    to = parse_enum(Grade, new_grade)
    with opened(state_dir, config) as o:
        o.check_person(by)
        confirm(yes, f"Grade {number} as {to.value} ({to.label.zh})?")
        act(
            o, number,
            lambda: o.ledger.change_grade(number, grade=to, basis=basis, by=by, ts_ns=_now()),
            f"[green]graded[/] {number} {to.value} ({to.label.zh})",
        )  # fmt: skip


def list_supervision(
    number: Number,
    *,
    level: Annotated[
        str, typer.Option(help="e.g. provincial / municipal / county (省级/市级/县级)")
    ],
    document: Annotated[str, typer.Option(help="the listing document's number")],
    office: Annotated[str, typer.Option(help="the supervising office")],
    listed: Annotated[str, typer.Option(help="the listing date, YYYY-MM-DD")],
    by: By,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Record that a major hazard is listed for supervision (挂牌督办)."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        when = parse_moment(listed, o.tz)
        act(
            o, number,
            lambda: o.ledger.list_supervision(
                number, level=level, document=document, office=office, listed_ns=when, by=by,
                ts_ns=_now(),
            ),
            f"[green]listed for supervision[/] {number}: {document} by {office}",
        )  # fmt: skip


def remediation_plan(
    number: Number,
    *,
    by: By,
    goal: Annotated[str | None, typer.Option(help="goal and tasks")] = None,
    methods: Text = None,
    funds_materials: Annotated[str | None, typer.Option(help="funds and materials")] = None,
    organisation: Annotated[str | None, typer.Option(help="organisation and people")] = None,
    time_limit: Text = None,
    safety: Annotated[str | None, typer.Option(help="safety measures and emergency plan")] = None,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Fill or amend the six-part remediation plan (治理方案) a major hazard needs."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        act(
            o, number,
            lambda: o.ledger.set_remediation_plan(
                number, by=by, ts_ns=_now(), goal_and_tasks=goal, methods=methods,
                funds_and_materials=funds_materials, organisation_and_people=organisation,
                time_limit=time_limit, safety_measures=safety,
            ),
            f"[green]remediation plan recorded[/] for {number}",
        )  # fmt: skip


def note(
    number: Number,
    text: Annotated[str, typer.Argument(help="the progress note")],
    *,
    by: By,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Add a progress note (any open stage)."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        act(
            o, number, lambda: o.ledger.note(number, text=text, by=by, ts_ns=_now()),
            f"[green]noted[/] on {number}",
        )  # fmt: skip


def rectify(
    number: Number,
    *,
    by: By,
    reason: str = "",
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Start (or, after a rejected review, restart) the rectification."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        act(
            o, number, lambda: o.ledger.rectify(number, by=by, ts_ns=_now(), reason=reason),
            f"[green]rectifying[/] {number}",
        )  # fmt: skip


def request_review(
    number: Number,
    *,
    done: Annotated[str, typer.Option("--done", help="what was done")],
    by: By,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """The rectification is done: ask for the review (验收)."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        act(
            o, number, lambda: o.ledger.request_review(number, by=by, ts_ns=_now(), reason=done),
            f"[green]review requested[/] for {number}",
        )  # fmt: skip


def reject(
    number: Number,
    *,
    opinion: Annotated[str, typer.Option(help="why the rectification is not accepted")],
    by: By,
    yes: Yes = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """The review fails: the entry goes back to be rectified again."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        confirm(yes, f"Reject the rectification of {number}?")
        act(
            o, number, lambda: o.ledger.reject(number, by=by, ts_ns=_now(), opinion=opinion),
            f"[yellow]rejected[/] {number}: back to rectification",
        )  # fmt: skip


def close(
    number: Number,
    *,
    reason: Annotated[str, typer.Option(help="why it can be closed")],
    by: By,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="rectified (after verify), fixed_on_the_spot (一般 only), false_alarm, duplicate",
        ),
    ] = None,
    yes: Yes = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Close (销号) a verified entry, or one that was no hazard (false alarm, duplicate)."""
    how = None if as_ is None else parse_enum(Disposition, as_)
    with opened(state_dir, config) as o:
        o.check_person(by)
        confirm(yes, f"Close {number}?")
        act(
            o, number,
            lambda: o.ledger.close(number, by=by, ts_ns=_now(), reason=reason, disposition=how),
            f"[green]closed[/] {number}",
        )  # fmt: skip
