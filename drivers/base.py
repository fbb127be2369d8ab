"""What every driver offers the daemon.

A driver is an async context manager (it owns its bus or connection) whose `batches()` yields
columnar reading batches until it is cancelled. Bus trouble is raised as gateway.errors.DriverError;
the supervisor in the daemon restarts the driver with backoff.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self

from gateway.model import ReadingBatch


class Driver(Protocol):
    name: str
    produced: int  # readings yielded since start, for health and tests

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def batches(self) -> AsyncIterator[ReadingBatch]: ...
