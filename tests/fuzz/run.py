"""Run the atheris targets, each in its own process, and fail on a crash, a hang or a memory
blow-up. CI runs a short version (tests/fuzz/test_atheris.py); a longer run, by hand:

    .venv/bin/python tests/fuzz/run.py --runs 1000000 --minutes 10  # per target: first reached
    .venv/bin/python tests/fuzz/run.py --minutes 10 --only config --corpus /tmp/hazgw-fuzz

A crash (an exception that escaped the contract), a hang (-timeout) and an RSS beyond
-rss_limit_mb (memory that grows with the inputs seen: atheris has no leak checker, so a leak
shows up as this) all end the target with the input written as an artifact; replay one with
`python -m tests.fuzz.fuzz_config ARTIFACT`. Needs atheris (the dev extra, x86_64 Linux only).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    name: str
    command: tuple[str, ...]  # after the interpreter: ("-m", module) or (script,)
    max_len: int  # largest input libFuzzer makes, bytes


TARGETS = (
    Target("mqtt", ("-m", "tests.fuzz.fuzz_mqtt"), 4096),
    Target("modbus_rtu", ("-m", "tests.fuzz.fuzz_modbus_rtu"), 1024),  # a 125-register reply: 255
    Target("uart", ("-m", "tests.fuzz.fuzz_uart"), 1024),
    Target("config", ("-m", "tests.fuzz.fuzz_config"), 4096),
)


@dataclass(frozen=True)
class Limits:
    runs: int = -1  # inputs per target; -1: until max_seconds
    max_seconds: int = 0  # 0: no time limit
    rss_limit_mb: int = 256
    timeout_s: int = 10  # one input running longer is a hang


@dataclass(frozen=True)
class Outcome:
    target: str
    returncode: int
    log: Path
    stats: dict[str, str]  # stat::name -> value, and cov/ft/corp from the last status line
    seconds: float  # wall time, start-up included
    failure: str  # libFuzzer's SUMMARY (crash, timeout, out-of-memory), "" when none
    artifact: str  # the input that failed, when one was written

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failure

    def line(self) -> str:
        s = self.stats
        runs = s.get("number_of_executed_units", "?")
        rate = s.get("average_exec_per_sec", "?")
        if rate == "0" and runs.isdigit():  # libFuzzer divides by whole seconds
            rate = f"~{int(runs) / self.seconds:.0f}"
        verdict = "ok" if self.ok else f"FAILED: {self.failure or f'exit {self.returncode}'}"
        return (
            f"{self.target:<11} runs {runs:>8}  exec/s {rate:>6}  wall {self.seconds:5.1f} s  "
            f"cov {s.get('cov', '?'):>5}  "
            f"ft {s.get('ft', '?'):>5}  corpus {s.get('corp', '?'):>5}  "
            f"peak rss {s.get('peak_rss_mb', '?'):>4} MB  {verdict}"
        )

    def report(self) -> str:
        """The summary line, and for a failure the artifact and the output's tail (the trace)."""
        if self.ok:
            return self.line()
        tail = self.log.read_text(errors="replace").splitlines()[-40:]
        return "\n".join([self.line(), f"artifact: {self.artifact}", f"log: {self.log}", *tail])


def run_target(target: Target, limits: Limits, workdir: Path) -> Outcome:
    """One target in a subprocess; its corpus, artifacts and log under `workdir/<name>`."""
    base = workdir / target.name
    (base / "artifacts").mkdir(parents=True, exist_ok=True)
    log = base / "fuzz.log"
    flags = [
        f"-runs={limits.runs}",
        f"-max_total_time={limits.max_seconds}",
        f"-rss_limit_mb={limits.rss_limit_mb}",
        f"-timeout={limits.timeout_s}",
        f"-max_len={target.max_len}",
        "-print_final_stats=1",
        f"-artifact_prefix={base / 'artifacts'}/",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, *target.command, *flags, str(base / "corpus")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    return parse_log(target.name, done.returncode, log, time.monotonic() - started)


def parse_log(name: str, returncode: int, log: Path, seconds: float) -> Outcome:
    text = log.read_text(errors="replace")
    stats = dict(re.findall(r"^stat::(\w+):\s+(\S+)", text, re.MULTILINE))
    status = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)", text)
    if status:
        stats.update(zip(("cov", "ft", "corp"), status[-1], strict=True))
    failure = re.findall(r"^SUMMARY: libFuzzer: (.+)$", text, re.MULTILINE)
    artifact = re.findall(r"Test unit written to (\S+)", text)
    return Outcome(name, returncode, log, stats, seconds, failure[-1] if failure else "",
                   artifact[-1] if artifact else "")  # fmt: skip


def run_all(targets: list[Target], limits: Limits, workdir: Path, jobs: int) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda t: run_target(t, limits, workdir), targets))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=-1, help="inputs per target (default: no limit)")
    p.add_argument("--minutes", type=float, default=0.0, help="time limit per target")
    p.add_argument("--only", action="append", choices=[t.name for t in TARGETS], default=[])
    p.add_argument("--corpus", type=Path, help="keep corpora and artifacts here (default: tmp)")
    p.add_argument("--rss-limit-mb", type=int, default=Limits.rss_limit_mb)
    p.add_argument("--timeout", type=int, default=Limits.timeout_s, help="seconds per input")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    if args.runs < 0 and not args.minutes:
        p.error("give --runs or --minutes: libFuzzer would otherwise run forever")
    limits = Limits(args.runs, round(args.minutes * 60), args.rss_limit_mb, args.timeout)
    targets = [t for t in TARGETS if not args.only or t.name in args.only]
    workdir = args.corpus or Path(tempfile.mkdtemp(prefix="hazgw-fuzz-"))
    outcomes = run_all(targets, limits, workdir, args.jobs)
    print("\n".join(o.report() for o in outcomes))
    print(f"corpora, artifacts and logs: {workdir}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
