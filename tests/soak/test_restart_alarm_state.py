"""A restart while an alarm stands: the alarm's state is not restored from the ledger.

Found by the fault-injection soak (test_faults.py, the gateway SIGKILLed and restarted): the
restarted engine starts every alarm at `normal`, so a gas head still over level 1 is recorded
again on its open entry, as an `occurrence` and a `normal -> unacknowledged` transition that never
happened (the alarm never returned to normal). The ledger is the evidence of what happened.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.test_clock_jumps import Site


def transitions(site: Site) -> list[tuple[str, str]]:
    return [
        (str(e.payload["from"]), str(e.payload["to"]))
        for e in site.ledger.events()
        if e.type == "alarm_transition" and "kitchen-gas-1" in str(e.payload)
    ]


@pytest.mark.xfail(
    strict=True,
    reason="BUG: alarm states are not restored on restart; a standing alarm is re-recorded as "
    "normal -> unacknowledged on its open ledger entry",
)
def test_a_restart_does_not_record_a_standing_alarm_again(tmp_path: Path) -> None:
    before = Site(tmp_path)
    before.run(range(10))  # the kitchen gas head over level 1 from the start
    assert transitions(before) == [("normal", "unacknowledged")]
    before.ledger.close_db()
    after = Site(tmp_path)  # the restarted daemon, the head still over level 1
    after.run(range(20, 30))
    assert transitions(after) == [("normal", "unacknowledged")]
