"""Soak and fault-injection tests. CI runs the short version (one cycle of every fault);
`--soak-minutes N` repeats the fault cycle until N minutes have passed:

    .venv/bin/python -m pytest tests/soak --soak-minutes 30
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-minutes", type=float, default=0.0,
        help="repeat the soak's fault cycle for this many minutes (0: one cycle, as in CI)",
    )  # fmt: skip


@pytest.fixture
def soak_minutes(request: pytest.FixtureRequest) -> float:
    minutes: float = request.config.getoption("--soak-minutes")
    return minutes
