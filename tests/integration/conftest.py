"""Session fixtures that start real servers on free loopback ports (see servers.py).

Every test in this directory is marked `integration`. A server that cannot start fails the tests
that need it, with the Debian package to install or the tail of the server's log; it never skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.integration.servers import (
    InfluxDB1Server,
    MosquittoServer,
    Running,
    ServerStartError,
    VictoriaMetricsServer,
    start_influxdb1,
    start_mosquitto,
    start_victoriametrics,
)

HERE = Path(__file__).parent
T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, not only this directory's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _start_or_fail(start: Callable[[], Running[T]]) -> Running[T]:
    try:
        return start()
    except ServerStartError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)  # outside `except`: no chained traceback in the report


def _serve(start: Callable[[], Running[T]]) -> Iterator[T]:
    running = _start_or_fail(start)
    try:
        yield running.server
    finally:
        running.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """A persistent mosquitto broker, anonymous access, one loopback listener."""
    yield from _serve(lambda: start_mosquitto(tmp_path_factory.mktemp("mosquitto")))


@pytest.fixture(scope="session")
def influxdb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1Server]:
    """InfluxDB 1.x (Debian's 1.6.7): InfluxQL and /write, no /api/v2 endpoints."""
    yield from _serve(lambda: start_influxdb1(tmp_path_factory.mktemp("influxdb1")))


@pytest.fixture(scope="session")
def victoriametrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    """Single-node VictoriaMetrics accepting /api/v2/write; read back with force_flush + export."""
    yield from _serve(lambda: start_victoriametrics(tmp_path_factory.mktemp("victoriametrics")))
