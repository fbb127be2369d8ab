"""The demo scenario with InfluxDB configured: every reading and event reaches the real
InfluxDB 1.x exactly once, with its acquisition time, while the safety path runs as before."""

from __future__ import annotations

from pathlib import Path

from gateway.config import HazgwConfig, InfluxV1Config
from tests.e2e.demo_run import run_demo
from tests.integration.servers import InfluxDB1Server

READING_MEASUREMENTS = ("smoke", "combustible_gas", "co", "temperature")
COUNT_READINGS = (
    "SELECT count(\"value\") FROM smoke, combustible_gas, co, temperature WHERE site = 'demo'"
)


def test_the_scenario_arrives_in_influxdb_exactly_once(
    tmp_path: Path, influxdb1: InfluxDB1Server
) -> None:
    influxdb1.create_database("demo_e2e")

    def with_influx(cfg: HazgwConfig) -> HazgwConfig:
        sink = InfluxV1Config(version=1, url=influxdb1.url, database="demo_e2e")
        return cfg.model_copy(update={"influxdb": sink})

    run = run_demo(tmp_path, adjust=with_influx)
    assert run.readings_in_outbox == []  # everything was delivered, nothing is left behind
    assert run.events_in_outbox == []
    result = influxdb1.query(COUNT_READINGS, db="demo_e2e")
    counts = {s["name"]: s["values"][0][1] for s in result["results"][0]["series"]}
    assert sum(counts.values()) == run.produced
    assert set(counts) == set(READING_MEASUREMENTS)


def test_a_reading_keeps_its_acquisition_time_and_tags(
    tmp_path: Path, influxdb1: InfluxDB1Server
) -> None:
    influxdb1.create_database("demo_tags")

    def with_influx(cfg: HazgwConfig) -> HazgwConfig:
        sink = InfluxV1Config(version=1, url=influxdb1.url, database="demo_tags")
        return cfg.model_copy(update={"influxdb": sink})

    run_demo(tmp_path, adjust=with_influx)
    rows = influxdb1.query(
        "SELECT value, quality FROM combustible_gas WHERE device = 'kitchen-gas-1' "
        "AND zone = 'kitchen' AND gateway = 'gw01' ORDER BY time LIMIT 2",
        db="demo_tags",
    )["results"][0]["series"][0]["values"]
    start = rows[0][0]
    assert rows[1][0] - start == 5_000_000_000  # one sample every 5 s of scenario time
    events = influxdb1.query(
        "SELECT state, hazard FROM alarm_event WHERE device = 'kitchen-gas-1' "
        "AND condition = 'level2'",
        db="demo_tags",
    )["results"][0]["series"][0]["values"]
    assert events[0][1] == "unacknowledged"
    assert events[0][2] == "YH-2026-demo-gw01-0001"
