"""The coverage-guided targets, a short run each, and proof that the runner fails when it must.

CI's run is small (about 20 s for all of it on 2 cores; `pytest -m fuzz` runs only these);
the real search is by hand, with the same contracts and limits:

    .venv/bin/python tests/fuzz/run.py --runs 1000000 --minutes 10
"""

from __future__ import annotations

import textwrap
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.fuzz.run import TARGETS, Limits, Outcome, Target, run_target

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.skipif(
        find_spec("atheris") is None,
        reason="atheris is not installed: it has wheels only for CPython 3.11-3.14 on x86_64 "
        "Linux (the dev extra installs it there)",
    ),
]
CI_RUNS = {"mqtt": 50_000, "modbus_rtu": 20_000, "uart": 15_000, "config": -1}
CI_SECONDS = 5  # the config target (about 100 inputs/s) stops on time, the others on runs


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_the_target_keeps_its_contract(target: Target, tmp_path: Path) -> None:
    limits = Limits(runs=CI_RUNS[target.name], max_seconds=CI_SECONDS)
    outcome = run_target(target, limits, tmp_path)
    assert outcome.ok, outcome.report()
    assert int(outcome.stats["number_of_executed_units"]) > 0, outcome.report()


PLANTED = """\
import os, time
from tests.fuzz.harness import fuzz

MODE = os.environ["PLANTED"]
HOARD = []

def one_input(data: bytes) -> None:
    if MODE == "raise" and data.startswith(b"go"):
        raise KeyError("planted")
    if MODE == "hang" and data.startswith(b"go"):
        time.sleep(60)
    if MODE == "hoard":  # a leak: 256 KB kept per input, at most 256 MB/s
        HOARD.append(b"x" * 2**18)
        time.sleep(0.001)

fuzz(one_input, [b"go"])
"""


@pytest.mark.parametrize(
    ("mode", "summary"),
    [("raise", "fuzz target exited"), ("hang", "timeout"), ("hoard", "out-of-memory")],
)
def test_the_runner_fails_on_an_escape_a_hang_and_a_leak(
    mode: str, summary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "planted.py"
    script.write_text(textwrap.dedent(PLANTED))
    monkeypatch.setenv("PLANTED", mode)
    limits = Limits(runs=100_000, max_seconds=30, rss_limit_mb=256, timeout_s=1)
    outcome: Outcome = run_target(Target("planted", (str(script),), 64), limits, tmp_path)
    assert not outcome.ok
    assert outcome.failure == summary, outcome.report()
    assert Path(outcome.artifact).is_file(), outcome.report()  # the input, to replay
