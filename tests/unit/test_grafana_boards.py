"""The Grafana boards: they name only what docs/schema.md lists, the committed files are what the
code generates, and each board carries its variables, annotations, units and set points."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from alerting.presets import PRESETS
from gateway.grafana import boards, export, files
from gateway.grafana.inspect import BoardQuery, queries
from gateway.grafana.model import GRID_WIDTH, Json
from gateway.model import SensorClass
from tests.schema_doc import Measurement, load_schema

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "deploy" / "grafana"
BOARDS = boards()
ALL_QUERIES = [q for b in BOARDS.values() for q in queries(b)]

KEYWORDS = {
    "select", "from", "where", "and", "or", "group", "by", "fill", "none", "previous", "null",
    "as", "time", "order", "desc", "asc", "limit", "show", "tag", "values", "with", "key",
}  # fmt: skip
FUNCTIONS = {
    "max", "min", "mean", "count", "last", "sum", "derivative", "non_negative_derivative",
    "non_negative_difference",
}  # fmt: skip
MACROS = {"$timeFilter", "$__interval", "$site", "$zone", "$device"}


@dataclass
class Names:
    """The names one InfluxQL query uses, sorted by role."""

    measurements: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)
    grouped: set[str] = field(default_factory=set)  # GROUP BY and WITH KEY: must be tags
    other: set[str] = field(default_factory=set)  # tags or fields
    bare: set[str] = field(default_factory=set)  # unquoted words that are no keyword


_TOKEN = re.compile(
    r"""(?P<string>'(?:\\.|[^'])*')"""
    r"""|(?P<regex>(?<=[=!]~ )/(?:\\.|[^/])*/)"""
    r"""|(?P<ident>"(?:\\.|[^"])*")"""
    r"""|(?P<macro>\$\w+)"""
    r"""|(?P<duration>\d+[smhdw]\b)"""
    r"""|(?P<number>-?\d+(?:\.\d+)?)"""
    r"""|(?P<word>[A-Za-z_]\w*)"""
    r"""|(?P<punct>[(),*=!<>~+\-/]+)"""
    r"""|(?P<space>\s+)"""
)


def tokens(text: str) -> Iterator[tuple[str, str]]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m is not None, f"cannot read {text[pos:]!r} in {text!r}"
        kind = m.lastgroup or ""
        if kind != "space":
            yield kind, m.group()
        pos = m.end()


def names(text: str) -> Names:
    out, prev, mode = Names(), "", ""
    for kind, tok in tokens(text):
        low = tok.lower()
        if kind == "word" and low in ("from", "by", "key"):
            mode = low
        elif kind == "word" and low in ("where", "select", "fill", "order", "limit"):
            mode = ""
        elif kind == "ident":
            name = tok[1:-1]
            if prev == "as":
                out.aliases.add(name)
            elif mode == "from":
                out.measurements.add(name)
            elif mode in ("by", "key"):
                out.grouped.add(name)
            else:
                out.other.add(name)
        elif kind == "word" and low not in KEYWORDS | FUNCTIONS:
            out.bare.add(tok)
        elif kind == "macro":
            assert tok in MACROS, f"unknown macro {tok} in {text!r}"
        prev = low
    return out


def schema_problems(q: BoardQuery, schema: dict[str, Measurement]) -> list[str]:
    n = names(q.text)
    where = f"{q.board}: {q.origin} {q.name}"
    problems = [f"{where}: unquoted name {b!r}" for b in sorted(n.bare)]
    problems += [f"{where}: measurement {m!r} not in schema" for m in n.measurements - set(schema)]
    used = [schema[m] for m in n.measurements if m in schema] or list(schema.values())
    tags = {t for m in used for t in m.tags}
    fields = {f for m in used for f in m.fields}
    problems += [f"{where}: {g!r} is grouped by but is no tag" for g in n.grouped - tags]
    problems += [
        f"{where}: {o!r} is no tag or field of {sorted(n.measurements)}"
        for o in n.other - tags - fields - n.aliases
    ]
    return problems


def test_every_measurement_tag_and_field_a_query_names_is_in_the_schema_document() -> None:
    schema = load_schema()
    problems = [p for q in ALL_QUERIES for p in schema_problems(q, schema)]
    assert problems == []


def test_the_name_check_can_fail() -> None:
    schema = load_schema()
    bad = BoardQuery(
        "x", "panel", "p", 'SELECT max("ppm") FROM "gas" WHERE zone = \'a\' GROUP BY "value"', "t"
    )
    problems = " ".join(schema_problems(bad, schema))
    assert "'gas' not in schema" in problems
    assert "'ppm' is no tag or field" in problems
    assert "'zone'" in problems  # unquoted
    assert "'value' is grouped by but is no tag" in problems


def test_annotation_columns_and_series_aliases_name_tags_or_fields() -> None:
    schema = load_schema()
    alarm = schema["alarm_event"]
    for board in BOARDS.values():
        for ann in board["annotations"]["list"][1:]:
            target = ann["target"]
            for col in [*target["tagsColumn"].split(","), target["textColumn"]]:
                assert col in alarm.tags or col in alarm.fields, (board["uid"], col)
        for panel in board["panels"]:
            for t in panel["targets"]:
                for tag in re.findall(r"\$tag_(\w+)", t.get("alias", "")):
                    assert any(tag in m.tags for m in schema.values()), (panel["title"], tag)


def test_the_committed_boards_and_provisioning_are_what_the_code_generates(
    tmp_path: Path,
) -> None:
    written = export(tmp_path)
    stale = []
    for path in written:
        rel = path.relative_to(tmp_path)
        committed = COMMITTED / rel
        if not committed.exists() or committed.read_text(encoding="utf-8") != path.read_text(
            encoding="utf-8"
        ):
            stale.append(str(rel))
    extra = {
        str(p.relative_to(COMMITTED))
        for sub in ("dashboards", "provisioning")
        for p in (COMMITTED / sub).rglob("*")
        if p.is_file()
    } - set(files())
    assert stale == [], "regenerate: hazgw grafana export deploy/grafana"
    assert extra == set(), "files no code generates"


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_panels_sit_on_the_grid_without_overlapping(stem: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    panels = BOARDS[stem]["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= GRID_WIDTH, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


def test_every_board_has_the_site_zone_and_device_variables_and_alarm_annotations() -> None:
    assert len({b["uid"] for b in BOARDS.values()}) == len(BOARDS)
    for board in BOARDS.values():
        variables = [v["name"] for v in board["templating"]["list"]]
        assert variables == ["site", "zone", "device"], board["uid"]
        sources = [a["target"].get("query", "") for a in board["annotations"]["list"]]
        assert any('FROM "alarm_event"' in s for s in sources), board["uid"]


def _panel(board: Json, title: str) -> Json:
    matches = [p for p in board["panels"] if p["title"] == title]
    assert len(matches) == 1, f"{title!r} in {board['uid']}"
    found: Json = matches[0]
    return found


def _steps(panel: Json) -> list[tuple[float | None, str]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in steps]


@pytest.mark.parametrize(
    ("title", "sensor_class", "unit"),
    [
        ("Combustible gas (combustible_gas)", SensorClass.COMBUSTIBLE_GAS, "suffix: %LEL"),
        ("Carbon monoxide (co)", SensorClass.CO, "ppm"),
    ],
)
def test_gas_trends_draw_the_level_1_and_level_2_set_points_in_their_unit(
    title: str, sensor_class: SensorClass, unit: str
) -> None:
    panel = _panel(BOARDS["gas"], title)
    preset = PRESETS[sensor_class]
    assert panel["fieldConfig"]["defaults"]["unit"] == unit
    assert _steps(panel) == [(None, "green"), (preset.level1, "yellow"), (preset.level2, "red")]
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"


def test_fire_board_draws_the_heat_and_rate_of_rise_responses() -> None:
    heat = PRESETS[SensorClass.TEMPERATURE]
    temperature = _panel(BOARDS["fire"], "Temperature")
    rate = _panel(BOARDS["fire"], "Rate of rise")
    assert temperature["fieldConfig"]["defaults"]["unit"] == "celsius"
    assert _steps(temperature)[-1] == (heat.level1, "red")
    assert rate["fieldConfig"]["defaults"]["unit"] == "suffix: °C/min"
    assert _steps(rate)[-1] == (heat.rate_of_rise_per_min, "red")


def test_zones_are_coloured_green_yellow_red_by_severity() -> None:
    zones = _panel(BOARDS["overview"], "Zones")
    mapping = zones["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {v: (m["text"], m["color"]) for v, m in mapping.items()} == {
        "0": ("normal", "green"),
        "1": ("fault", "yellow"),
        "2": ("alarm", "red"),
    }
    assert zones["options"]["colorMode"] == "background"


def _queries(panel: Json) -> str:
    return " ".join(t["query"] for t in panel["targets"])


def _mapped(panel: Json) -> dict[str, tuple[str, str]]:
    options = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    return {v: (m["text"], m["color"]) for v, m in options.items()}


def test_alarm_health_draws_the_rate_against_the_guidance_and_marks_floods() -> None:
    board = BOARDS["alarm-health"]
    per_10m = _panel(board, "Alarms per 10 minutes")
    assert 'last("alarms_per_window") FROM "alarm_kpi"' in _queries(per_10m)
    # Dashed lines at ~1 acceptable, 2 manageable, and red from 11: more than 10 is a flood.
    assert _steps(per_10m) == [(None, "green"), (1, "green"), (2, "yellow"), (11, "red")]
    assert per_10m["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    assert per_10m["fieldConfig"]["defaults"]["custom"]["lineInterpolation"] == "stepAfter"
    assert _steps(_panel(board, "Worst 10 minutes"))[-1] == (11, "red")
    flood = _panel(board, "Alarm flood")
    assert 'last("flood")' in _queries(flood)
    assert _mapped(flood)["true"] == ("flood", "red")
    assert "floods" in _queries(_panel(board, "Flood episodes"))


def test_alarm_health_counts_chattering_stale_and_alarms_that_cannot_annunciate() -> None:
    board = BOARDS["alarm-health"]
    burden = _queries(_panel(board, "Unacknowledged, chattering and stale alarms"))
    assert all(f'last("{f}")' in burden for f in ("unacknowledged", "chattering", "stale"))
    for title in ("Shelved, suppressed, out of service, in test", "Cannot annunciate now"):
        text = _queries(_panel(board, title))
        assert 'FROM "alarm_kpi"' in text
        for f in ("shelved", "suppressed", "out_of_service", "in_test"):
            assert f'last("{f}")' in text, (title, f)
    chatter = _panel(board, "Chattering")  # which points chatter, from the transitions
    assert _steps(chatter)[-1] == (3, "red")
    assert "GROUP BY time(1m)" in chatter["targets"][0]["query"]


def test_device_health_shows_each_drivers_bus_failing_devices_and_errors() -> None:
    board = BOARDS["device-health"]
    state = _panel(board, "Bus and connection state")
    assert 'last("connected") FROM "driver_health"' in _queries(state)
    assert '"driver"' in _queries(state).split("GROUP BY")[1]
    assert _mapped(state) == {"true": ("connected", "green"), "false": ("down", "red")}
    assert 'max("failing")' in _queries(_panel(board, "Devices not answering"))
    assert 'last("errors")' in _queries(_panel(board, "Driver errors since start"))
    rate = _queries(_panel(board, "Driver errors per minute"))
    assert 'non_negative_derivative(last("errors"), 1m)' in rate
    drivers = _panel(board, "Drivers and their last error")
    assert drivers["type"] == "table"
    assert all(f'"{f}"' in _queries(drivers) for f in ("last_error", "error_counts", "connected"))


def test_overview_counts_detectors_out_of_service_and_suppressed() -> None:
    board = BOARDS["overview"]
    for title, field_name in (("Out of service", "out_of_service"), ("Suppressed", "suppressed")):
        text = _queries(_panel(board, title))
        assert f'last("{field_name}")' in text
        assert 'FROM "alarm_kpi"' in text
        assert "$timeFilter" not in text  # written on change: the latest may predate the range
    faults = _panel(board, "Detectors in fault or out of service")
    colours = _mapped(faults)
    assert colours["out_of_service"] == ("out of service", "yellow")
    assert colours["suppressed"][1] == "yellow"
    assert {colours[s][1] for s in ("shelved", "test", "test_active")} == {"blue"}


def test_time_series_and_stats_carry_a_unit() -> None:
    for board in BOARDS.values():
        for panel in board["panels"]:
            if panel["type"] in ("timeseries", "bargauge"):
                assert panel["fieldConfig"]["defaults"]["unit"] != "none", panel["title"]
