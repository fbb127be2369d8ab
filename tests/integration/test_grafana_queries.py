"""Every query the Grafana boards send returns data from the real InfluxDB 1.x after the demo
scenario ran through the whole gateway into it, with Grafana's macros and variables filled in
the way Grafana fills them. Grafana itself cannot run here: transformations and rendering are
not exercised, the InfluxQL underneath every panel, variable and annotation is."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from alerting.ledger import Ledger
from gateway.app import Gateway
from gateway.clock import LoopClock
from gateway.config import HazgwConfig, InfluxV1Config
from gateway.grafana import boards
from gateway.grafana.inspect import BoardQuery, queries
from gateway.model import Identity
from tests.e2e.demo_run import EPOCH_NS, run_demo
from tests.integration.servers import InfluxDB1Server

DB = "grafana_boards"
GAS_HAZARD = "YH-2026-demo-gw01-0001"  # the kitchen leak, the demo's first ledger entry
MS = 1_000_000
RANGE_MS = (EPOCH_NS // MS - 60_000, EPOCH_NS // MS + 25 * 60_000)  # the demo's 20 minutes
ALL_QUERIES = [q for b in boards().values() for q in queries(b)]
ALL = ".*"  # the variables' "All" value


def grafana_interpolate(q: BoardQuery, variables: Mapping[str, str]) -> str:
    """What Grafana's InfluxQL datasource sends: $timeFilter as epoch-ms bounds, $__interval
    from the range (never below the panel's min interval), variables as regex alternatives."""
    start, end = RANGE_MS
    text = q.text.replace("$timeFilter", f"time >= {start}ms and time <= {end}ms")
    text = text.replace("$__interval", q.min_interval or "10s")
    for name, value in variables.items():
        text = text.replace(f"${name}", value)
    assert not re.search(r"\$(?!col\b|tag_)\w", text), f"a macro is left in {text}"
    return text


async def _duty_officer(gateway: Gateway, clock: LoopClock) -> None:
    """Acknowledge the gas hazard after 10 scenario minutes and close it (销号) 5 minutes later,
    as `hazgw ledger` does: through its own connection to the ledger file."""
    await clock.sleep(600)
    await gateway.acknowledge(GAS_HAZARD, by="wang.wei", reason="valve closed, on site")
    await clock.sleep(300)
    ledger = Ledger(gateway.cfg.state_dir / "ledger.sqlite", Identity("demo", "gw01"))
    try:
        ledger.close(GAS_HAZARD, by="li.na", ts_ns=clock.wall_ns(), reason="hose replaced")
    finally:
        ledger.close_db()


@pytest.fixture(scope="module")
def demo_db(
    tmp_path_factory: pytest.TempPathFactory, influxdb1: InfluxDB1Server
) -> InfluxDB1Server:
    influxdb1.create_database(DB)

    def with_influx(cfg: HazgwConfig) -> HazgwConfig:
        sink = InfluxV1Config(version=1, url=influxdb1.url, database=DB)
        return cfg.model_copy(update={"influxdb": sink})

    run = run_demo(tmp_path_factory.mktemp("demo"), _duty_officer, with_influx)
    assert run.readings_in_outbox == []  # everything was delivered
    assert run.events_in_outbox == []
    return influxdb1


def series(server: InfluxDB1Server, text: str) -> list[dict[str, Any]]:
    result = server.query(text, db=DB)["results"][0]
    found: list[dict[str, Any]] = result.get("series", [])
    return found


@pytest.mark.parametrize(
    "q", ALL_QUERIES, ids=[f"{q.board}:{q.origin}:{q.name}" for q in ALL_QUERIES]
)
def test_the_query_returns_data_after_the_demo(demo_db: InfluxDB1Server, q: BoardQuery) -> None:
    found = series(demo_db, grafana_interpolate(q, {"site": ALL, "zone": ALL, "device": ALL}))
    assert found, f"no series for {q.text}"
    assert any(s["values"] for s in found)


def _tag_values(server: InfluxDB1Server, q: BoardQuery, variables: Mapping[str, str]) -> set[str]:
    return {v[1] for s in series(server, grafana_interpolate(q, variables)) for v in s["values"]}


def test_the_variables_list_the_demo_site_zones_and_devices(demo_db: InfluxDB1Server) -> None:
    var = {q.name: q for q in ALL_QUERIES if q.origin == "variable" and q.board == "hazgw-gas"}
    everything = {"site": ALL, "zone": ALL}
    assert _tag_values(demo_db, var["site"], everything) == {"demo"}
    assert _tag_values(demo_db, var["zone"], everything) == {
        "kitchen",
        "store",
        "office",
        "corridor",
    }
    kitchen = _tag_values(demo_db, var["device"], {"site": "demo", "zone": "(kitchen)"})
    assert kitchen == {"kitchen-gas-1", "kitchen-co-1", "kitchen-temp-1", "kitchen-smoke-1"}


def test_every_panel_query_honours_the_site_variable(demo_db: InfluxDB1Server) -> None:
    """Another site's gateways share the database: a board set to it shows none of the demo."""
    leaking = [
        q.name
        for q in ALL_QUERIES
        if q.origin != "variable"
        and series(
            demo_db, grafana_interpolate(q, {"site": "elsewhere", "zone": ALL, "device": ALL})
        )
    ]
    assert leaking == []


def test_zones_are_coloured_by_their_worst_latest_state(demo_db: InfluxDB1Server) -> None:
    """At the end of the demo the kitchen's gas alarms are latched and the store is on fire
    (red, 2); the office's silent and the corridor's frozen detector are faults (yellow, 1)."""
    zones = next(q for q in ALL_QUERIES if q.name == "Zones [A]")
    found = series(
        demo_db, grafana_interpolate(zones, {"site": "demo", "zone": ALL, "device": ALL})
    )
    severity = {s["tags"]["zone"]: s["values"][0][1] for s in found}
    assert severity == {"kitchen": 2, "store": 2, "office": 1, "corridor": 1}
    only = series(demo_db, grafana_interpolate(zones, {"site": "demo", "zone": "(office|store)"}))
    assert {s["tags"]["zone"] for s in only} == {"office", "store"}


def test_the_ledger_counts_follow_the_events(demo_db: InfluxDB1Server) -> None:
    def value(name: str) -> object:
        q = next(q for q in ALL_QUERIES if q.name == name)
        return series(demo_db, grafana_interpolate(q, {"site": "demo"}))[0]["values"][0][1]

    assert value("Open hazards [A]") == 3  # four registered, the gas leak closed
    assert value("Registered by grade [B]") == 1  # the store-room fire is 重大 (major)
    assert value("Registered by grade [A]") == 3
    assert value("Acknowledged and closed [A]") == 1


def test_the_lifecycle_rows_carry_each_hazards_times(demo_db: InfluxDB1Server) -> None:
    q = next(q for q in ALL_QUERIES if q.name.startswith("Hazards: registered"))
    rows = series(demo_db, grafana_interpolate(q, {"site": "demo"}))[0]["values"]
    times = {(number, kind): t for t, number, kind in rows}
    registered = times[(GAS_HAZARD, "registered")]
    assert times[(GAS_HAZARD, "acknowledged")] > registered
    assert times[(GAS_HAZARD, "closed")] > times[(GAS_HAZARD, "acknowledged")]
    assert re.fullmatch(r"YH-2026-demo-gw01-000[1-4]", rows[0][1])


def _row(server: InfluxDB1Server, title: str, db: str = DB) -> dict[str, Any]:
    """The first row of a panel's (only) query, column -> value."""
    q = next(q for q in ALL_QUERIES if q.name == f"{title} [A]")
    text = grafana_interpolate(q, {"site": "demo", "zone": ALL, "device": ALL})
    found = server.query(text, db=db)["results"][0]["series"][0]
    row: dict[str, Any] = dict(zip(found["columns"], found["values"][0], strict=True))
    row.update(found.get("tags", {}))
    return row


def test_the_driver_table_shows_the_demo_bus_up_without_errors(demo_db: InfluxDB1Server) -> None:
    row = _row(demo_db, "Drivers and their last error")
    assert (row["driver"], row["type"], row["connected"]) == ("sim", "sim", True)
    assert (row["errors"], row["error_counts"], row["last error"], row["failing"]) == (
        0,
        "{}",
        "",
        0,
    )
    assert row["produced"] > 0


def test_nothing_is_out_of_service_suppressed_or_shelved_at_the_end_of_the_demo(
    demo_db: InfluxDB1Server,
) -> None:
    assert _row(demo_db, "Out of service")["out of service"] == 0
    assert _row(demo_db, "Suppressed")["suppressed"] == 0
    gaps = _row(demo_db, "Cannot annunciate now")
    assert [gaps[c] for c in ("shelved", "suppressed", "out of service", "in test")] == [0] * 4


def test_the_sliding_window_peak_is_no_lower_than_any_fixed_10_minute_bucket(
    demo_db: InfluxDB1Server,
) -> None:
    """alarm_kpi keeps a sliding window: its worst 10 minutes hold at least as many new alarms
    as any fixed 10-minute bucket of fire, gas and heat activations, and the demo never floods."""
    buckets = series(
        demo_db,
        """SELECT count("state") FROM "alarm_event" WHERE "event" = 'activate' """
        """AND "kind" != 'fault' GROUP BY time(10m)""",
    )
    fixed = max(v[1] for v in buckets[0]["values"])
    worst = _row(demo_db, "Worst 10 minutes")["max"]
    assert 1 <= fixed <= worst <= 10
    assert _row(demo_db, "Flood episodes")["sum"] == 0


OVERLAYS_DB = "grafana_overlays"


def _alarm(point: str, state: str, t: int) -> str:
    """`point` = "zone device kind condition"; an alarm_event line at EPOCH + t seconds."""
    zone, device, kind, condition = point.split()
    return (
        f"alarm_event,site=demo,gateway=gw01,zone={zone},device={device},sensor_class=x,"
        f'condition={condition},kind={kind} state="{state}",previous="normal",event="e",'
        f'hazard="" {EPOCH_NS + t * 1_000_000_000}'
    )


def test_a_shelved_or_out_of_service_alarm_makes_its_zone_yellow_not_red(
    influxdb1: InfluxDB1Server,
) -> None:
    """Shelved, suppressed, out of service and test are gaps in coverage (yellow), not fires;
    an annunciated alarm still wins in its zone (red). Hand-written points: the demo never
    shelves or removes a detector from service."""
    influxdb1.create_database(OVERLAYS_DB)
    influxdb1.write(
        OVERLAYS_DB,
        [
            _alarm("shelf gas-1 gas level1", "unacknowledged", 1),
            _alarm("shelf gas-1 gas level1", "shelved", 2),  # the latest state counts
            _alarm("oos smoke-2 fault service", "out_of_service", 1),
            _alarm("oos smoke-2 fire level1", "out_of_service", 1),
            _alarm("fire smoke-3 fire level1", "unacknowledged", 1),
            _alarm("fire gas-3 gas level1", "suppressed", 1),
            _alarm("calm temp-4 heat level1", "normal", 1),
        ],
    )
    zones = next(q for q in ALL_QUERIES if q.name == "Zones [A]")
    text = grafana_interpolate(zones, {"site": "demo", "zone": ALL, "device": ALL})
    found = influxdb1.query(text, db=OVERLAYS_DB)["results"][0]["series"]
    severity = {s["tags"]["zone"]: s["values"][0][1] for s in found}
    assert severity == {"shelf": 1, "oos": 1, "fire": 2, "calm": 0}
