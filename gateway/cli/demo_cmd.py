"""`hazgw demo`: the embedded demo facility with a live view."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.demo import DemoRunner, configure_demo_logging


def demo(
    state_dir: Annotated[
        Path, typer.Option(help="where the ledger and the outbox are kept")
    ] = Path("hazgw-demo-state"),
    speed: Annotated[float, typer.Option(min=0.1, help="scenario seconds per real second")] = 60.0,
    duration: Annotated[
        float | None, typer.Option(min=1, help="stop after this many real seconds")
    ] = None,
    ack_after: Annotated[
        float | None,
        typer.Option(
            help="a simulated duty officer acknowledges each hazard after this many "
            "scenario seconds (default: nobody acknowledges)"
        ),
    ] = None,
) -> None:
    """Play the demo scenario: a gas leak, a fire, a silent and a frozen detector."""
    console = Console(soft_wrap=True)  # paths and commands stay whole when piped or copied
    log_path = configure_demo_logging(state_dir)
    runner = DemoRunner(state_dir, speed=speed, duration_s=duration, ack_after_s=ack_after)
    asyncio.run(runner.run(console if console.is_terminal else None))
    snap = runner.snap
    console.print(
        f"\n[bold]Demo finished[/] after {snap.scenario_s / 60:.1f} scenario minutes: "
        f"{len(snap.hazards)} hazards in the ledger, "
        f"{len(runner.recorder.sent)} notifications sent.",
        highlight=False,
    )
    for h in snap.hazards:
        console.print(f"  {h.number}  {h.title}  [{h.grade}, {h.status}, escalated to "
                      f"{h.escalated_to}]", highlight=False)  # fmt: skip
    where = state_dir.resolve()
    console.print(
        f"\nState lives in {where} (ledger.sqlite, outbox.sqlite; log in {log_path.name}).\n"
        f"Show the ledger:  hazgw ledger list --state-dir {where}\n"
        f"One entry:        hazgw ledger show NUMBER --state-dir {where}",
        highlight=False,
    )
