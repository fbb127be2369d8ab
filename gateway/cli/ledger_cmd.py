"""`hazgw ledger`: read the hazard ledger and act on it along the closed loop (闭环整改).

Read commands (list, show, overdue, drill report, report, verify) take --json; destructive actions
ask for confirmation unless --yes; every action names its person with --by. Grades, stages,
sources and kinds are accepted as stored values or as English or Chinese labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from alerting.ledger import Ledger
from alerting.lifecycle import possible_actions
from alerting.records import Hazard
from alerting.vocabulary import Grade, Kind, Status, iso_utc
from gateway.cli import ledger_actions as actions
from gateway.cli import ledger_intake as intake
from gateway.cli.common import fail
from gateway.cli.ledger_common import (
    AsJson,
    ConfigOpt,
    StateDir,
    Yes,
    act,
    confirm,
    ledger_path,
    now_ns,
    opened,
    out,
    parse_enum,
    print_json,
    refused,
)
from gateway.errors import LedgerError

app = typer.Typer(help="The hazard ledger (隐患台账).", no_args_is_help=True)
for _name, _command in (
    ("ack", actions.ack),
    ("assign", actions.assign),
    ("plan", actions.plan),
    ("grade", actions.grade),
    ("list-supervision", actions.list_supervision),
    ("remediation-plan", actions.remediation_plan),
    ("note", actions.note),
    ("rectify", actions.rectify),
    ("request-review", actions.request_review),
    ("reject", actions.reject),
    ("close", actions.close),
    ("register", intake.register),
    ("report", intake.report),
):
    app.command(_name)(_command)
app.add_typer(intake.drill_app, name="drill")

Filter = Annotated[str | None, typer.Option(help="value, English or Chinese label")]


@app.command("list")
def list_(
    *,
    status: Filter = None,
    grade: Filter = None,
    kind: Filter = None,
    open_only: Annotated[bool, typer.Option("--open", help="only entries not closed")] = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
    as_json: AsJson = False,
) -> None:
    """Every entry, oldest first (drills marked DRILL)."""
    wanted = (
        None if status is None else parse_enum(Status, status),
        None if grade is None else parse_enum(Grade, grade),
        None if kind is None else parse_enum(Kind, kind),
    )
    with opened(state_dir, config) as o:
        hazards = [h for h in o.ledger.hazards() if _matches(h, wanted, open_only)]
    if as_json:
        print_json([h.to_json() for h in hazards])
        return
    table = Table(title=f"Hazard ledger: {len(hazards)} entries")
    table.add_column("number", no_wrap=True)  # people read it out on the phone: never folded
    for col in ("found at (UTC)", "kind", "grade", "status", "title", "escalated to"):
        table.add_column(col)
    for h in hazards:
        d, steps = h.to_json(), h.escalation.steps
        table.add_row(
            h.number, str(d["found_at"])[:19], h.kind.value, f"{h.grade.value} {h.grade.label.zh}",
            f"{h.status.value} {h.status.label.zh}", ("DRILL " if h.drill else "") + h.title,
            steps[-1].name if steps else "-",
        )  # fmt: skip
    out.print(table)


def _matches(
    h: Hazard, wanted: tuple[Status | None, Grade | None, Kind | None], open_only: bool
) -> bool:
    if open_only and h.status is Status.CLOSED:
        return False
    return all(
        w is None or w is have for w, have in zip(wanted, (h.status, h.grade, h.kind), strict=True)
    )


@app.command("show")
def show(
    number: str, *, state_dir: StateDir = None, config: ConfigOpt = None, as_json: AsJson = False
) -> None:
    """One entry with its whole history (who knew what, and when) and what is possible next."""
    with opened(state_dir, config) as o:
        try:
            hazard = o.ledger.hazard(number)
        except LedgerError as exc:
            fail(str(exc), "list the numbers with: hazgw ledger list")
        events = o.ledger.events(number)
    can = [a.value for a in possible_actions(hazard)]
    doc = hazard.to_json() | {"history": [e.to_json() for e in events], "possible_actions": can}
    if as_json:
        print_json(doc)
        return
    for key, value in hazard.to_json().items():
        if value not in (None, "", [], {}):
            out.print(f"[bold]{key}[/]: {value}", highlight=False)
    out.print("[bold]history[/]:")
    for e in events:
        at = str(e.to_json()["at"])
        out.print(f"  {at}  {e.type:<18} {e.actor}  {e.reason}", highlight=False)
    out.print(f"[bold]possible now[/]: {', '.join(can) or '-'}", highlight=False)


@app.command("overdue")
def overdue(
    *, state_dir: StateDir = None, config: ConfigOpt = None, as_json: AsJson = False
) -> None:
    """Entries past their rectification deadline and not verified, with their supervision."""
    with opened(state_dir, config) as o:
        late = o.ledger.overdue(now_ns())
    if as_json:
        print_json([h.to_json() for h in late])
        return
    table = Table(title=f"Overdue rectifications (逾期): {len(late)}")
    table.add_column("number", no_wrap=True)
    for col in ("deadline", "responsible", "status", "supervised since", "listed"):
        table.add_column(col)
    for h in late:
        listed = h.supervision.document if h.supervision else "-"
        table.add_row(
            h.number, _when(h.deadline_ns), h.responsible or "-", h.status.value,
            _when(h.supervised_since_ns), listed,
        )  # fmt: skip
    out.print(table)


def _when(ts_ns: int | None) -> str:
    return "-" if ts_ns is None else iso_utc(ts_ns)[:16]


@app.command("verify")
def verify(
    number: Annotated[
        str | None, typer.Argument(help="an entry to verify (验收); leave out to check the chain")
    ] = None,
    *,
    by: Annotated[
        str | None, typer.Option("--by", help="the verifier (not the responsible)")
    ] = None,
    opinion: Annotated[str | None, typer.Option(help="the verification opinion")] = None,
    yes: Yes = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
    as_json: AsJson = False,
) -> None:
    """Check the hash chain; or, with NUMBER, verify a rectification (验收).

    Without NUMBER: recompute the chain and name the first broken event (exit 4).
    With NUMBER: --by someone other than the responsible person, with --opinion."""
    if number is None:
        _verify_chain(ledger_path(state_dir, config), as_json)
        return
    if by is None or not opinion:
        fail("verifying an entry needs --by PERSON and --opinion TEXT")
    with opened(state_dir, config) as o:
        o.check_person(by)
        confirm(yes, f"Verify the rectification of {number}?")
        act(
            o, number,
            lambda: o.ledger.verify_rectification(number, by=by, ts_ns=now_ns(), opinion=opinion),
            f"[green]verified[/] {number} by {by}; close it with: hazgw ledger close {number}",
        )  # fmt: skip


def _verify_chain(path: Path, as_json: bool) -> None:
    try:
        result = Ledger.verify_path(path)
    except LedgerError as exc:
        refused(exc)
    if as_json:
        doc = {"ok": result.ok, "checked": result.checked, "reason": result.reason}
        print_json(doc | {"first_broken_seq": result.first_broken_seq})
    if not result.ok:
        fail(
            f"ledger chain broken at event {result.first_broken_seq}: {result.reason}",
            "the file was changed outside hazgw: keep it as evidence, restore a backup",
            4,
        )
    if not as_json:
        out.print(f"[green]ok[/] {result.checked} events, chain intact", highlight=False)
