"""What the `hazgw ledger` commands share: opening the ledger (with the config when there is one),
options, times in the site's zone, confirmation, and refusals that say what to do next."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from alerting.ledger import Ledger
from alerting.lifecycle import possible_actions
from alerting.vocabulary import LabelledEnum
from gateway.cli.common import DEFAULT_CONFIG, config_error, fail, state_dir_of
from gateway.config import HazgwConfig, load_config
from gateway.errors import ConfigError, LedgerError

out = Console()
E = TypeVar("E", bound=LabelledEnum)

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="the gateway's state directory")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="the gateway's config: state_dir, people, zone owners"),
]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]
By = Annotated[str, typer.Option("--by", help="who does this (a people id)")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]


@dataclass
class Opened:
    ledger: Ledger
    cfg: HazgwConfig | None  # known when --config is given (or no --state-dir and the default)

    @property
    def tz(self) -> tzinfo:
        return self.ledger.tz

    def check_person(self, person: str, what: str = "--by") -> None:
        """With a config, every person named must be in its people list."""
        if self.cfg is None:
            return
        known = sorted(p.id for p in self.cfg.people)
        if person not in known:
            fail(f"{what} {person!r} is not in the config's people", f"known: {', '.join(known)}")

    def zone_owner(self, zone: str | None) -> str | None:
        if self.cfg is None or zone is None:
            return None
        return next((z.owner for z in self.cfg.zones if z.id == zone), None)


@contextmanager
def opened(state_dir: Path | None, config: Path | None) -> Iterator[Opened]:
    cfg = _config(state_dir, config)
    path = (cfg.state_dir if cfg is not None else state_dir_of(state_dir, None)) / "ledger.sqlite"
    if not path.exists():
        fail(f"no ledger at {path}", "run the gateway or `hazgw demo` first, or fix --state-dir")
    try:
        ledger = Ledger.open_existing(path)
    except LedgerError as exc:
        fail(str(exc), "check the file with: hazgw ledger verify --state-dir DIR")
    try:
        yield Opened(ledger, cfg)
    finally:
        ledger.close_db()


def _config(state_dir: Path | None, config: Path | None) -> HazgwConfig | None:
    if config is None and (state_dir is not None or not DEFAULT_CONFIG.exists()):
        return None
    path = config or DEFAULT_CONFIG
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        config_error(exc)
    if state_dir is not None:
        return cfg.model_copy(update={"state_dir": state_dir})
    return cfg


def ledger_path(state_dir: Path | None, config: Path | None) -> Path:
    cfg = _config(state_dir, config)
    return (cfg.state_dir if cfg is not None else state_dir_of(state_dir, None)) / "ledger.sqlite"


def now_ns() -> int:
    """The CLI is a boundary: a person's action happens now, by the machine's clock."""
    return time.time_ns()


def refused(exc: LedgerError, ledger: Ledger | None = None, number: str | None = None) -> NoReturn:
    hint = "list the numbers with: hazgw ledger list"
    if ledger is not None and number is not None:
        try:
            hazard = ledger.hazard(number)
        except LedgerError:
            fail(str(exc), hint)
        can = ", ".join(possible_actions(hazard)) or "nothing: it is closed"
        hint = f"possible now: {can}; see what it needs: hazgw ledger show {number}"
    fail(str(exc), hint)


def act(o: Opened, number: str, do: Callable[[], object], done: str | Callable[[], str]) -> None:
    """Run one ledger action; print `done`, or the refusal and what is possible instead."""
    try:
        do()
    except LedgerError as exc:
        refused(exc, o.ledger, number)
    out.print(done if isinstance(done, str) else done(), highlight=False)


def confirm(yes: bool, question: str) -> None:
    if not yes:
        typer.confirm(f"{question} This is recorded for good.", abort=True)


def parse_enum(enum: type[E], text: str) -> E:
    try:
        return enum.parse(text)
    except LedgerError as exc:
        fail(str(exc))


def parse_moment(text: str, tz: tzinfo, *, end_of_day: bool = False) -> int:
    """A date (2026-04-30) or a date and time, in the site's zone, to unix ns. With `end_of_day`
    a bare date means the end of that day (a deadline "by 30 April")."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            moment = datetime(day.year, day.month, day.day, tzinfo=tz)
            moment += timedelta(days=1) if end_of_day else timedelta(0)
        else:
            moment = datetime.fromisoformat(text.strip())
            moment = moment if moment.tzinfo else moment.replace(tzinfo=tz)
    except ValueError:
        fail(f"bad date {text!r}", "use YYYY-MM-DD or YYYY-MM-DDTHH:MM (site time)")
    return int(moment.timestamp()) * 1_000_000_000


def print_json(doc: object) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2))
