"""The project's error tree. Library exceptions are translated at module boundaries into these.

HazgwError
├── ConfigError        invalid configuration: names the file, key path, line and reason
├── LedgerError        the ledger refused an action (unknown hazard, illegal move, broken chain)
│   └── LedgerStorageError  ... because its file cannot be written (disk full, I/O error)
├── OutboxError        the outbox database failed (gateway/outbox.py)
├── DriverError        a bus or connection failed; `retryable`: can a reconnect help
└── SinkError          a telemetry write failed; carries the retry policy:
                       retryable (network, 5xx), throttled (429, `retry_after` seconds),
                       fatal (401/403/missing bucket: stop and report instead of spinning)
"""

from __future__ import annotations

from dataclasses import dataclass


class HazgwError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one config file."""

    file: str
    key: str  # dotted path, e.g. devices[3].thresholds.level2
    line: int | None  # 1-based, when the YAML node is known
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key or '<root>'}: {self.message}"


class ConfigError(HazgwError):
    """The configuration cannot be used; every issue found is listed."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class LedgerError(HazgwError):
    """A ledger action was refused."""


class LedgerStorageError(LedgerError):
    """The ledger's file could not be read or written (disk full, I/O error, locked): the action
    itself was fine and may succeed later."""


class DriverError(HazgwError):
    """A driver lost its bus or connection."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SinkError(HazgwError):
    """A telemetry write failed; the forwarder decides by the policy carried here."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.fatal = fatal
