"""`hazgw ledger`: read the hazard ledger and act on it (acknowledge, close, verify the chain)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alerting.ledger import Ledger
from gateway.cli.common import fail, state_dir_of
from gateway.errors import LedgerError

app = typer.Typer(help="The hazard ledger (隐患台账).", no_args_is_help=True)
out = Console()

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="the gateway's state directory")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="read state_dir from this config")
]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@contextmanager
def _ledger(state_dir: Path | None, config: Path | None) -> Iterator[Ledger]:
    path = state_dir_of(state_dir, config) / "ledger.sqlite"
    if not path.exists():
        fail(f"no ledger at {path}", "run the gateway or `hazgw demo` first, or fix --state-dir")
    try:
        ledger = Ledger.open_existing(path)
    except LedgerError as exc:
        fail(str(exc))
    try:
        yield ledger
    finally:
        ledger.close_db()


@app.command("list")
def list_(state_dir: StateDir = None, config: ConfigOpt = None, as_json: AsJson = False) -> None:
    """Every entry, oldest first."""
    with _ledger(state_dir, config) as ledger:
        hazards = ledger.hazards()
    if as_json:
        print(json.dumps([h.to_json() for h in hazards], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Hazard ledger: {len(hazards)} entries")
    table.add_column("number", no_wrap=True)  # people read it out on the phone: never folded
    for col in ("found at (UTC)", "kind", "grade", "status", "title", "escalated to"):
        table.add_column(col)
    for h in hazards:
        d = h.to_json()
        steps = h.escalation.steps
        table.add_row(
            h.number, str(d["found_at"])[:19], h.kind.value, h.grade.value, h.status.value,
            h.title, steps[-1].name if steps else "-",
        )  # fmt: skip
    out.print(table)


@app.command("show")
def show(
    number: str, state_dir: StateDir = None, config: ConfigOpt = None, as_json: AsJson = False
) -> None:
    """One entry with its whole history (who knew what, and when)."""
    with _ledger(state_dir, config) as ledger:
        try:
            hazard = ledger.hazard(number)
        except LedgerError as exc:
            fail(str(exc), "list the numbers with: hazgw ledger list")
        events = ledger.events(number)
    doc = hazard.to_json() | {"history": [e.to_json() for e in events]}
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    for key, value in hazard.to_json().items():
        out.print(f"[bold]{key}[/]: {value}", highlight=False)
    out.print("[bold]history[/]:")
    for e in events:
        d = e.to_json()
        out.print(f"  {d['at']}  {e.type:<18} {e.actor}  {e.reason}", highlight=False)


@app.command("ack")
def ack(
    number: str,
    by: Annotated[str, typer.Option("--by", help="the person acknowledging (people id)")],
    reason: Annotated[str, typer.Option(help="what you are doing about it")] = "",
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Acknowledge a hazard: escalation stops; the running daemon picks it up within a tick."""
    with _ledger(state_dir, config) as ledger:
        try:
            ledger.acknowledge(number, by=by, ts_ns=time.time_ns(), reason=reason)
        except LedgerError as exc:
            fail(str(exc))
    out.print(f"[green]acknowledged[/] {number} by {by}", highlight=False)


@app.command("verify")
def verify(state_dir: StateDir = None, config: ConfigOpt = None) -> None:
    """Recompute the hash chain; name the first broken event."""
    with _ledger(state_dir, config) as ledger:
        result = ledger.verify()
    if not result.ok:
        fail(
            f"ledger chain broken at event {result.first_broken_seq}: {result.reason}",
            "the file was changed outside hazgw: keep it as evidence, restore a backup",
            4,
        )
    out.print(f"[green]ok[/] {result.checked} events, chain intact", highlight=False)
