"""The hazard ledger's words: grades, stages, sources, kinds, closures and event types, each with
an English and a Chinese label, and `parse` that accepts the stored value or either label.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, Self

from gateway.errors import LedgerError

Json = dict[str, object]
GENESIS_HASH = "0" * 64
ANONYMOUS = "anonymous"  # found_by of a whistleblower report that names nobody


class Label(NamedTuple):
    en: str
    zh: str


class LabelledEnum(StrEnum):
    """A StrEnum whose members carry English and Chinese labels (in LABELS)."""

    @property
    def label(self) -> Label:
        return LABELS[self]

    @classmethod
    def parse(cls, text: str) -> Self:
        """Accept the stored value, the English label (any case) or the Chinese label."""
        stripped = text.strip()
        folded = stripped.casefold()
        for member in cls:
            if folded in (member.value, member.label.en.casefold()) or stripped == member.label.zh:
                return member
        accepted = "; ".join(f"{m.value} / {m.label.en} / {m.label.zh}" for m in cls)
        raise LedgerError(f"unknown {cls.__name__.lower()} {text!r}; accepted: {accepted}")


class Grade(LabelledEnum):
    """隐患等级 (order No. 16): a major hazard needs stoppage, time or outside help to fix."""

    GENERAL = "general"
    MAJOR = "major"


class Status(LabelledEnum):
    """Where an entry is in the closed loop (闭环整改); lifecycle.py holds the moves."""

    REGISTERED = "registered"
    ACKNOWLEDGED = "acknowledged"
    PLANNED = "planned"
    RECTIFYING = "rectifying"
    REVIEW_REQUESTED = "review_requested"
    REJECTED = "rejected"
    VERIFIED = "verified"
    CLOSED = "closed"


class Source(LabelledEnum):
    """How the hazard was found."""

    MONITORING_ALARM = "monitoring_alarm"
    SELF_INSPECTION = "self_inspection"
    UPPER_INSPECTION = "upper_inspection"
    REPORT = "report"
    DRILL = "drill"  # an emergency drill: never a real hazard, never in the statistics


class Kind(LabelledEnum):
    """What kind of danger; gas is kept apart from fire, as panels must show them apart."""

    FIRE = "fire"
    GAS = "gas"
    HEAT = "heat"
    FAULT = "fault"


class Disposition(LabelledEnum):
    """How an entry was closed (销号); only `rectified` follows a verification."""

    RECTIFIED = "rectified"
    FIXED_ON_THE_SPOT = "fixed_on_the_spot"  # 一般 only: fixed at once, no plan needed
    FALSE_ALARM = "false_alarm"  # not a hazard: the detector or the report was wrong
    DUPLICATE = "duplicate"  # not a new hazard: already registered under another number
    DRILL_ENDED = "drill_ended"


NOT_A_HAZARD = frozenset({Disposition.FALSE_ALARM, Disposition.DUPLICATE})


class Verdict(LabelledEnum):
    """The outcome of a review (验收)."""

    PASSED = "passed"
    REJECTED = "rejected"


LABELS: dict[LabelledEnum, Label] = {
    Grade.GENERAL: Label("general", "一般"),
    Grade.MAJOR: Label("major", "重大"),
    Status.REGISTERED: Label("registered", "已登记"),
    Status.ACKNOWLEDGED: Label("acknowledged", "已确认"),
    Status.PLANNED: Label("planned", "已制定措施"),
    Status.RECTIFYING: Label("rectifying", "整改中"),
    Status.REVIEW_REQUESTED: Label("review requested", "待验收"),
    Status.REJECTED: Label("rejected", "验收未通过"),
    Status.VERIFIED: Label("verified", "已验收"),
    Status.CLOSED: Label("closed", "已销号"),
    Source.MONITORING_ALARM: Label("monitoring alarm", "监测报警"),
    Source.SELF_INSPECTION: Label("self-inspection", "自查"),
    Source.UPPER_INSPECTION: Label("upper-level inspection", "上级检查"),
    Source.REPORT: Label("report", "举报"),
    Source.DRILL: Label("drill", "应急演练"),
    Kind.FIRE: Label("fire", "火灾"),
    Kind.GAS: Label("gas", "可燃/有毒气体"),
    Kind.HEAT: Label("heat", "高温"),
    Kind.FAULT: Label("fault", "故障"),
    Disposition.RECTIFIED: Label("rectified", "整改完成"),
    Disposition.FIXED_ON_THE_SPOT: Label("fixed on the spot", "立查立改"),
    Disposition.FALSE_ALARM: Label("false alarm", "误报"),
    Disposition.DUPLICATE: Label("duplicate", "重复登记"),
    Disposition.DRILL_ENDED: Label("drill ended", "演练结束"),
    Verdict.PASSED: Label("passed", "验收通过"),
    Verdict.REJECTED: Label("rejected", "验收不通过"),
}


class EventType(StrEnum):
    REGISTERED = "registered"
    OCCURRENCE = "occurrence"
    ALARM_TRANSITION = "alarm_transition"
    ESCALATION = "escalation"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"
    ASSIGNED = "assigned"
    PLANNED = "planned"
    GRADED = "graded"
    SUPERVISION_LISTED = "supervision_listed"
    REMEDIATION_PLAN = "remediation_plan"
    NOTE = "note"
    RECTIFYING = "rectifying"
    REVIEW_REQUESTED = "review_requested"
    REVIEWED = "reviewed"  # verified or rejected, by the verdict in the payload
    OVERDUE = "overdue"  # a deadline ladder step: notified and marked as supervised (督办)
    DELIVERY = "delivery"  # one attempt of one channel to carry one notification
    DRILL_STARTED = "drill_started"
    DRILL_ACKNOWLEDGED = "drill_acknowledged"
    ALARM_FLOOD = "alarm_flood"  # a zone floods: its notifications are grouped from now on
    ALARM_FLOOD_ENDED = "alarm_flood_ended"
    DEVICE_SERVICE = "device_service"  # a detector taken out of service or returned, and why
    ALARM_SHELF = "alarm_shelf"  # an alarm shelved (until when, why) or unshelved


def iso_utc(ts_ns: int) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2026-03-01T08:00:00.000000Z."""
    seconds, rest_ns = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest_ns // 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def opt_iso(ts_ns: int | None) -> str | None:
    return None if ts_ns is None else iso_utc(ts_ns)
