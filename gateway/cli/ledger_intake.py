"""`hazgw ledger register` (findings and reports, anonymous allowed), `hazgw ledger drill ...`
and `hazgw ledger report`."""

from __future__ import annotations

import io
import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alerting.report_render import to_csv, to_json, to_table, write_xlsx
from alerting.reports import Period, Report, build_report, last_complete, window
from alerting.vocabulary import ANONYMOUS, Grade, Kind, Source, iso_utc
from gateway.cli.common import fail
from gateway.cli.ledger_common import (
    AsJson,
    By,
    ConfigOpt,
    Opened,
    StateDir,
    Yes,
    confirm,
    opened,
    out,
    parse_enum,
    parse_moment,
    print_json,
    refused,
)
from gateway.cli.ledger_common import now_ns as _now
from gateway.errors import LedgerError

drill_app = typer.Typer(help="Emergency drills (应急演练) through the real notification chain.")


def register(
    *,
    title: Annotated[str, typer.Option(help="what the hazard is")],
    kind: Annotated[str, typer.Option(help="fire / gas / heat / fault (or 火灾, 故障, ...)")],
    source: Annotated[
        str, typer.Option(help="self_inspection / upper_inspection / report (自查/上级检查/举报)")
    ],
    location: Annotated[str, typer.Option(help="building / floor / room")],
    grade: Annotated[str, typer.Option(help="general / major (一般/重大)")] = "general",
    zone: Annotated[str | None, typer.Option(help="zone id; its owner becomes responsible")] = None,
    description: str = "",
    by: Annotated[str | None, typer.Option("--by", help="who found it (a people id)")] = None,
    anonymous: Annotated[
        bool, typer.Option("--anonymous", help="a whistleblower report that names nobody")
    ] = False,
    responsible: Annotated[str | None, typer.Option(help="default: the zone's owner")] = None,
    unit: Annotated[str, typer.Option(help="the responsible unit")] = "",
    basis: Annotated[str, typer.Option(help="why this grade: clause, 判定标准 item")] = "",
    category: str = "",
    inspection: Annotated[str, typer.Option(help="which inspection found it")] = "",
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Register a finding of an inspection or a report (举报); --anonymous records nobody."""
    if anonymous == (by is not None):
        fail("give --by PERSON, or --anonymous for a report that names nobody (not both)")
    found_by = ANONYMOUS if by is None else by
    with opened(state_dir, config) as o:
        if by is not None:
            o.check_person(by)
        who = responsible or o.zone_owner(zone)
        if who is not None:
            o.check_person(who, "--responsible")
        try:
            hazard = o.ledger.register_finding(
                title=title, kind=parse_enum(Kind, kind), grade=parse_enum(Grade, grade),
                source=parse_enum(Source, source), location=location, zone=zone,
                found_by=found_by, ts_ns=_now(), description=description, responsible=who,
                responsible_unit=unit, basis=basis, category=category, inspection=inspection,
            )  # fmt: skip
        except LedgerError as exc:
            refused(exc)
    out.print(f"[green]registered[/] {hazard.number} ({hazard.source.label.zh})", highlight=False)


@drill_app.command("start")
def drill_start(
    *,
    title: Annotated[str, typer.Option(help="what is practised, e.g. kitchen gas leak")],
    kind: Annotated[str, typer.Option(help="fire / gas / heat / fault")],
    by: By,
    level: Annotated[int, typer.Option(min=1, max=2, help="alarm level practised")] = 1,
    zone: str | None = None,
    location: str = "",
    starts_at: Annotated[
        str | None, typer.Option(help="YYYY-MM-DDTHH:MM site time (default: now)")
    ] = None,
    yes: Yes = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Start a drill: the running gateway notifies the duty chain, marked as a DRILL."""
    what = parse_enum(Kind, kind)
    with opened(state_dir, config) as o:
        o.check_person(by)
        confirm(yes, f"Start a drill ({what.value}, level {level}): real people will be notified.")
        starts = None if starts_at is None else parse_moment(starts_at, o.tz)
        try:
            drill = o.ledger.start_drill(
                title=title, kind=what, by=by, ts_ns=_now(), starts_at_ns=starts, level=level,
                zone=zone, location=location, start_level=_start_level(o, what, level),
            )  # fmt: skip
        except LedgerError as exc:
            refused(exc)
    out.print(
        f"[green]drill started[/] {drill.number} at {iso_utc(drill.escalation.started_ns)};"
        f" people acknowledge with: hazgw ledger ack {drill.number} --by PERSON",
        highlight=False,
    )


def _start_level(o: Opened, kind: Kind, level: int) -> int:
    """Where the real chain would start for this alarm (fire and level-2 gas start higher)."""
    if o.cfg is None:
        return 0
    esc = o.cfg.escalation
    key = f"gas_level{level}" if kind is Kind.GAS else kind.value
    starts = {str(k): v for k, v in esc.start_level.items()}
    return min(starts.get(key, 0), len(esc.levels) - 1)


@drill_app.command("end")
def drill_end(
    number: str,
    *,
    by: By,
    reason: str = "",
    yes: Yes = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """End a drill: its escalation stops; acknowledgements after this are refused."""
    with opened(state_dir, config) as o:
        o.check_person(by)
        confirm(yes, f"End the drill {number}?")
        try:
            o.ledger.end_drill(number, by=by, ts_ns=_now(), reason=reason)
        except LedgerError as exc:
            refused(exc, o.ledger, number)
    out.print(f"[green]drill ended[/] {number}", highlight=False)


@drill_app.command("report")
def drill_report(
    number: str, *, as_json: AsJson = False, state_dir: StateDir = None, config: ConfigOpt = None
) -> None:
    """Each person's time to acknowledge: the evidence of the drill."""
    with opened(state_dir, config) as o:
        try:
            report = o.ledger.drill_report(number)
        except LedgerError as exc:
            refused(exc)
    if as_json:
        print_json(report.to_json())
        return
    table = Table(title=f"Drill {report.number}: {report.title}")
    for col in ("person", "levels", "notified (UTC)", "acknowledged (UTC)", "seconds", "failed"):
        table.add_column(col)
    for p in report.people:
        table.add_row(
            p.person, ", ".join(p.levels) or "-", _t(p.notified_at_ns), _t(p.acknowledged_at_ns),
            "-" if p.seconds_to_ack is None else f"{p.seconds_to_ack:.0f}",
            str(p.deliveries_failed),
        )  # fmt: skip
    out.print(table)


def _t(ts_ns: int | None) -> str:
    return "-" if ts_ns is None else iso_utc(ts_ns)[:19]


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    XLSX = "xlsx"


def report(
    *,
    period: Annotated[Period, typer.Option(help="week, month, quarter or year")],
    at: Annotated[
        str | None,
        typer.Option(help="a day in the period, YYYY-MM-DD (default: the last complete period)"),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write here (xlsx needs it)")
    ] = None,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Weekly/monthly bulletins, quarterly/annual statistics (drills never counted).

    Found, closed and overdue by grade, zone, source and kind; time to acknowledge and to
    rectify (median, p90); detectors in fault or out of service."""
    if fmt is Format.XLSX and out_file is None:
        fail("xlsx needs a file", "add --out report.xlsx")
    with opened(state_dir, config) as o:
        tz = o.tz
        day = datetime.fromtimestamp(parse_moment(at, tz) // 10**9, tz).date() if at else None
        win = window(period, day, tz) if day else last_complete(period, datetime.now(tz).date(), tz)
        rep = build_report(
            o.ledger.events(), win, site=o.ledger.identity.site,
            gateway=o.ledger.identity.gateway, zone_names=_zone_names(o),
            out_of_service=_out_of_service(o),
        )  # fmt: skip
    if fmt is Format.XLSX:
        assert out_file is not None
        write_xlsx(rep, out_file, tz)
    elif fmt is Format.TABLE and out_file is None:
        out.print(to_table(rep))
    else:
        _emit(_text_of(rep, fmt), out_file)
    if out_file is not None:
        out.print(f"[green]wrote[/] {out_file}", highlight=False)


def _text_of(rep: Report, fmt: Format) -> str:
    if fmt is Format.CSV:
        return to_csv(rep)
    if fmt is Format.JSON:
        return json.dumps(to_json(rep), ensure_ascii=False, indent=2) + "\n"
    buf = io.StringIO()
    Console(file=buf, width=120).print(to_table(rep))
    return buf.getvalue()


def _emit(text: str, path: Path | None) -> None:
    if path is None:
        print(text, end="")
    else:
        path.write_text(text, encoding="utf-8")


def _zone_names(o: Opened) -> dict[str, str]:
    return {} if o.cfg is None else {z.id: z.name for z in o.cfg.zones}


def _out_of_service(o: Opened) -> list[tuple[str, str]]:
    if o.cfg is None:
        return []
    return [(d.id, "disabled in the config") for d in o.cfg.devices if not d.enabled]
