"""`hazgw outbox`: what the telemetry outbox holds and has lost, and an operator's purge.

Both commands work while the daemon runs: SQLite serialises the writers, and the daemon notices
the purge (PRAGMA data_version) and re-reads its totals. Purging drops telemetry only; alarm and
ledger events are never dropped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway.cli.common import fail, state_dir_of
from gateway.clock import NS_PER_S
from gateway.outbox import DropReason, Outbox, OutboxError, OutboxStats

app = typer.Typer(help="The telemetry outbox (outbox.sqlite).", no_args_is_help=True)
out = Console()

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="the gateway's state directory")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="read state_dir from this config")
]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """'7d', '12h', '30m', '45s', '2w' -> seconds; ValueError naming the accepted forms."""
    match = _DURATION.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration: use a positive number and s, m, h, d or w")
    return float(match.group(1)) * _UNITS[match.group(2)]


@contextmanager
def _outbox(state_dir: Path | None, config: Path | None) -> Iterator[Outbox]:
    path = state_dir_of(state_dir, config) / "outbox.sqlite"
    if not path.exists():
        fail(f"no outbox at {path}", "run the gateway first, or fix --state-dir / --config")
    try:
        outbox = Outbox(path, max_telemetry_bytes=None)  # keep the bound the daemon set
    except OutboxError as exc:
        fail(str(exc), "the daemon moves a damaged outbox aside at its next start")
    try:
        yield outbox
    finally:
        outbox.close()


def _when(ts_ns: int | None) -> str:
    if ts_ns is None:
        return "-"
    return datetime.fromtimestamp(ts_ns / NS_PER_S, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _render(st: OutboxStats, now_ns: int) -> Table:
    table = Table(title="Outbox", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("events waiting (never dropped)", str(st.events)),
        ("telemetry waiting", str(st.telemetry)),
        ("telemetry size / bound", f"{_mib(st.telemetry_bytes)} / {_mib(st.max_telemetry_bytes)}"),
        ("file size (with WAL)", _mib(st.file_bytes)),
        ("oldest event", _when(st.oldest_event_ns)),
        ("oldest telemetry", _when(st.oldest_telemetry_ns)),
        ("backlog age", f"{st.oldest_age_s(now_ns):.0f} s"),
        *((f"dropped: {r.value}", str(getattr(st, f"dropped_{r.value}"))) for r in DropReason),
        ("rejected by the server", str(st.rejected)),
    ]
    for row in rows:
        table.add_row(*row)
    return table


@app.command("stats")
def stats(state_dir: StateDir = None, config: ConfigOpt = None, as_json: AsJson = False) -> None:
    """What waits for InfluxDB, how old it is, and what was dropped or refused, by reason."""
    with _outbox(state_dir, config) as outbox:
        st = outbox.stats()
    now = time.time_ns()
    if as_json:
        print(json.dumps(st.to_json(now), indent=2))
        return
    out.print(_render(st, now))


@app.command("purge")
def purge(
    older_than: Annotated[
        str, typer.Option("--older-than", help="age of telemetry to drop: 7d, 12h, 30m, 45s")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    state_dir: StateDir = None,
    config: ConfigOpt = None,
) -> None:
    """Drop telemetry acquired more than DURATION ago (counted as purged); events are kept."""
    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        fail(str(exc))
    cutoff = time.time_ns() - int(seconds * NS_PER_S)
    with _outbox(state_dir, config) as outbox:
        count, size = outbox.older_than(cutoff)
        if count == 0:
            out.print(f"nothing to purge: no telemetry acquired before {_when(cutoff)}")
            return
        question = f"drop {count} telemetry lines ({_mib(size)}) acquired before {_when(cutoff)}?"
        if not yes and not typer.confirm(question, default=False):
            fail("nothing purged", code=1)
        dropped = 0
        while chunk := outbox.purge_older_than(cutoff, reason=DropReason.PURGED):
            dropped += chunk
    out.print(f"[green]purged[/] {dropped} telemetry lines; events are kept", highlight=False)
