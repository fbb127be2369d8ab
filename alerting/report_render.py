"""A Report as what people file: terminal tables, CSV (one tidy table: section, key, labels,
metric, value), JSON and XLSX (one sheet per breakdown, headers in English and Chinese)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table

from alerting.reports import Count, Durations, Report
from alerting.vocabulary import Json, iso_utc

if TYPE_CHECKING:
    from openpyxl import Workbook

SUMMARY = (  # (field, English, Chinese)
    ("found", "hazards found", "发现隐患"),
    ("major_found", "of them major", "其中重大隐患"),
    ("closed", "closed", "销号"),
    ("false_alarms", "closed as not a hazard", "误报/重复"),
    ("overdue", "overdue at the end", "逾期未整改"),
    ("open_at_end", "open at the end", "期末未销号"),
)
BREAKDOWNS = (  # (field, English, Chinese)
    ("by_grade", "by grade", "按等级"),
    ("by_zone", "by zone", "按区域"),
    ("by_source", "by source", "按来源"),
    ("by_kind", "by kind", "按类型"),
)
DURATIONS = (
    ("time_to_ack", "time to acknowledge", "确认用时"),
    ("time_to_rectify", "time to rectify", "整改用时"),
)
COUNT_COLUMNS = ("found", "closed", "overdue", "open")
COUNT_HEADERS = ("found 发现", "closed 销号", "overdue 逾期", "open 未销号")


def to_json(report: Report) -> Json:
    w = report.window
    return {
        "site": report.site, "gateway": report.gateway, "period": w.period.value,
        "label": w.label, "from": w.start.isoformat(),
        "to": (w.end - timedelta(days=1)).isoformat(), "last_seq": report.last_seq,
        "summary": {field: getattr(report, field) for field, _, _ in SUMMARY},
        **{field: [_count_json(c) for c in getattr(report, field)] for field, _, _ in BREAKDOWNS},
        **{field: _durations_json(getattr(report, field)) for field, _, _ in DURATIONS},
        "faults": [
            {"number": f.number, "title": f.title, "device": f.device, "zone": f.zone,
             "since": iso_utc(f.since_ns), "status": f.status.value}
            for f in report.faults
        ],
        "out_of_service": [{"device": d, "reason": r} for d, r in report.out_of_service],
        "drills": [
            {"number": d.number, "title": d.title, "started_at": iso_utc(d.started_ns),
             "notified": d.notified, "acknowledged": d.acknowledged}
            for d in report.drills
        ],
    }  # fmt: skip


def _count_json(c: Count) -> Json:
    return {"key": c.key, "en": c.en, "zh": c.zh} | {k: getattr(c, k) for k in COUNT_COLUMNS}


def _durations_json(d: Durations) -> Json:
    return {"count": d.count, "median_s": d.median_s, "p90_s": d.p90_s}


def _tidy_rows(report: Report) -> Iterator[list[object]]:
    """(section, key, en, zh, metric, value): one value per row, easy to pivot."""
    for field, en, zh in SUMMARY:
        yield ["summary", field, en, zh, "count", getattr(report, field)]
    for field, _, _ in BREAKDOWNS:
        for c in getattr(report, field):
            for metric in COUNT_COLUMNS:
                yield [field, c.key, c.en, c.zh, metric, getattr(c, metric)]
    for field, en, zh in DURATIONS:
        spans: Durations = getattr(report, field)
        for metric in ("count", "median_s", "p90_s"):
            yield [field, "", en, zh, metric, getattr(spans, metric)]
    for f in report.faults:
        yield ["faults", f.number, f.title, f.device or "", "since", iso_utc(f.since_ns)]
    for device, reason in report.out_of_service:
        yield ["out_of_service", device, reason, "", "count", 1]
    for d in report.drills:
        yield ["drills", d.number, d.title, "", "acknowledged", d.acknowledged]


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", "key", "en", "zh", "metric", "value"])
    writer.writerows(["" if v is None else v for v in row] for row in _tidy_rows(report))
    return buf.getvalue()


def title(report: Report) -> str:
    w = report.window
    last = (w.end - timedelta(days=1)).isoformat()
    return f"{report.site}/{report.gateway} {w.period.value} {w.label} ({w.start} .. {last})"


def to_table(report: Report) -> Group:
    summary = Table(title=f"Hazard statistics 隐患统计: {title(report)}")
    summary.add_column("item 项目")
    summary.add_column("value 数值", justify="right")
    for field, en, zh in SUMMARY:
        summary.add_row(f"{en} {zh}", str(getattr(report, field)))
    for field, en, zh in DURATIONS:
        d: Durations = getattr(report, field)
        summary.add_row(f"{en} {zh} (n={d.count})", f"median {_s(d.median_s)}, p90 {_s(d.p90_s)}")
    parts: list[Table] = [summary]
    for field, en, zh in BREAKDOWNS:
        table = Table(title=f"{en} {zh}")
        table.add_column("")
        for header in COUNT_HEADERS:
            table.add_column(header, justify="right")
        for c in getattr(report, field):
            table.add_row(f"{c.en} {c.zh}", *(str(getattr(c, k)) for k in COUNT_COLUMNS))
        parts.append(table)
    parts.append(_faults_table(report))
    return Group(*parts)


def _faults_table(report: Report) -> Table:
    table = Table(title="detectors in fault or out of service 故障/停用探测器")
    for header in ("device 设备", "zone 区域", "since 起始", "entry 台账"):
        table.add_column(header)
    for f in report.faults:
        table.add_row(f.device or "-", f.zone or "-", iso_utc(f.since_ns)[:16], f.number)
    for device, reason in report.out_of_service:
        table.add_row(device, "-", "-", f"out of service: {reason}")
    return table


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def write_xlsx(report: Report, path: Path, tz: tzinfo) -> None:
    """One sheet per part; times in the site's zone as text (Excel has no time zones)."""
    from openpyxl import Workbook  # noqa: PLC0415 (only XLSX needs it: the daemon never loads it)

    book = Workbook()
    book.remove(book.worksheets[0])
    summary = [[en, zh, getattr(report, f)] for f, en, zh in SUMMARY]
    summary += [["period", "周期", report.window.label]]
    for field, en, zh in DURATIONS:
        d: Durations = getattr(report, field)
        summary += [[f"{en} median (s)", f"{zh}中位数(秒)", d.median_s]]
        summary += [[f"{en} p90 (s)", f"{zh}P90(秒)", d.p90_s], [f"{en} n", f"{zh}样本数", d.count]]
    _sheet(book, "Summary 汇总", ["item", "项目", "value 数值"], summary)
    for field, en, zh in BREAKDOWNS:
        counts: tuple[Count, ...] = getattr(report, field)
        rows = [[c.key, c.en, c.zh, *(getattr(c, k) for k in COUNT_COLUMNS)] for c in counts]
        _sheet(book, f"{en} {zh}", ["key", "en", "中文", *COUNT_HEADERS], rows)
    faults: list[list[object]] = [
        [f.number, f.device or "", f.zone or "", _local(f.since_ns, tz), f.status.label.zh]
        for f in report.faults
    ]
    faults += [["", d, "", "", f"停用 out of service: {r}"] for d, r in report.out_of_service]
    _sheet(
        book,
        "Faults 故障",
        ["entry 台账", "device 设备", "zone 区域", "since 起始", "status 状态"],
        faults,
    )
    drills: list[list[object]] = [
        [d.number, d.title, _local(d.started_ns, tz), d.notified, d.acknowledged]
        for d in report.drills
    ]
    headers = ["drill 演练", "title 名称", "started 开始", "notified 通知", "acknowledged 确认"]
    _sheet(book, "Drills 演练", headers, drills)
    book.save(path)


def _sheet(book: Workbook, name: str, header: list[str], rows: list[list[object]]) -> None:
    from openpyxl.styles import Font  # noqa: PLC0415 (see write_xlsx)

    sheet = book.create_sheet(name)
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)


def _local(ts_ns: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz).strftime("%Y-%m-%d %H:%M")
