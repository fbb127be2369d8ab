"""Regenerate docs/demo.svg: the demo's live view at the end of a real demo run, saved by rich.

    .venv/bin/python scripts/demo_svg.py [--out docs/demo.svg] [--speed 300] [--ack-after 60]

It plays the whole 20-minute scenario through the real gateway (gateway.demo.DemoRunner) faster
than real time, then renders the same view `hazgw demo` shows into a recording console and saves
it as SVG. The run is deterministic (seeded scenario), so the picture changes only when the
gateway's behaviour or the view changes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
from pathlib import Path

from rich.console import Console

from gateway.demo import DemoRunner, configure_demo_logging, render

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 120  # columns: wide enough for the ledger table without wrapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo.svg")
    parser.add_argument("--speed", type=float, default=300.0, help="scenario seconds per second")
    parser.add_argument("--ack-after", type=float, default=None, help="as `hazgw demo`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hazgw-demo-svg-") as state:
        configure_demo_logging(Path(state))
        runner = DemoRunner(
            Path(state), speed=args.speed, duration_s=None, ack_after_s=args.ack_after
        )
        asyncio.run(runner.run(None))
    console = Console(
        record=True, width=WIDTH, file=io.StringIO(), force_terminal=True, color_system="truecolor"
    )
    console.print(render(runner.snap, runner.recorder.sent, args.speed, runner.clock.epoch_ns))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    console.save_svg(str(args.out), title="hazgw demo")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
