"""`hazgw device discover` against a real Mosquitto holding retained messages of each family:
the proposals name the topic and point the MQTT driver reads, and --add writes them through
the daemon's loader into a config that keeps its comments."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gateway.cli.discover import Found, classify, discover, route
from gateway.config import load_config
from gateway.model import SensorClass
from tests.integration.mqtt_support import publish
from tests.integration.servers import MosquittoServer, start_mosquitto

app = typer.Typer()
app.command()(discover)
runner = CliRunner()
BRIDGE = [{"friendly_name": "hall/co_1", "definition": {"exposes": [
    {"type": "binary", "property": "carbon_monoxide"},
    {"type": "numeric", "property": "linkquality"},
]}}]  # fmt: skip
RETAINED = [
    ("zigbee2mqtt/kitchen/gas", '{"gas": false, "gas_density": 3.5, "battery": 90}'),
    ("zigbee2mqtt/store/smoke_1", '{"smoke": false, "temperature": 21.0, "test": false}'),
    ("zigbee2mqtt/bridge/devices", json.dumps(BRIDGE)),
    ("zigbee2mqtt/bridge/state", '{"state": "online"}'),
    ("tele/boiler_node/SENSOR", '{"Time": "2026-01-05T12:00:00", "DS18B20-1": '
                                '{"Temperature": 22.5}, "ANALOG": {"MQ7_0": 12}}'),
    ("tele/boiler_node/LWT", "Online"),
    ("esphome/hall-node/sensor/hall_temp/state", "21.4"),
    ("esphome/hall-node/binary_sensor/smoke/state", "OFF"),
    ("esphome/hall-node/binary_sensor/test/state", "OFF"),
    ("esphome/hall-node/status", "online"),
    ("homie/5/cellar/sensor/co", "3"),
    ("homie/5/cellar/$state", "ready"),
    ("homie/5/cellar/sensor/$name", "Sensor"),
]  # fmt: skip
EXPECTED = [
    ("esphome", "esphome/hall-node", "hall_temp", "temperature", "hall-node-temp"),
    ("esphome", "esphome/hall-node", "smoke", "smoke", "hall-node-smoke"),
    ("homie", "homie/5/cellar", "sensor/co", "co", "cellar-co"),
    ("tasmota", "tele/boiler_node", "ANALOG.MQ7_0", "co", "boiler_node-co"),
    ("tasmota", "tele/boiler_node", "DS18B20-1.Temperature", "temperature", "boiler_node-temp"),
    ("zigbee2mqtt", "zigbee2mqtt/hall/co_1", "carbon_monoxide", "co", "hall-co_1-co"),
    ("zigbee2mqtt", "zigbee2mqtt/kitchen/gas", "gas_density", "combustible_gas", "kitchen-gas"),
    ("zigbee2mqtt", "zigbee2mqtt/store/smoke_1", "smoke", "smoke", "store-smoke_1-smoke"),
    ("zigbee2mqtt", "zigbee2mqtt/store/smoke_1", "temperature", "temperature",
     "store-smoke_1-temp"),
]  # fmt: skip


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """A broker of its own: discovery listens on '#', the session broker carries other tests'."""
    running = start_mosquitto(tmp_path_factory.mktemp("discover-broker"))
    try:

        async def fill() -> None:
            for topic, payload in RETAINED:
                await publish(running.server, topic, payload, retain=True)

        asyncio.run(fill())
        yield running.server
    finally:
        running.stop()


def write_config(tmp_path: Path, broker: MosquittoServer) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
# the site's gateway
site: {{id: t}}
gateway: {{id: gw01}}
state_dir: ./state
people: [{{id: p1, name: P One}}]
zones: [{{id: hall, name: Hall, owner: p1}}]
drivers:
  - type: mqtt            # the site broker
    id: broker
    host: {broker.host}
    port: {broker.port}
    client_id: gw01-test
    subscriptions:
      - {{family: zigbee2mqtt, topic: zigbee2mqtt/#}}
      - {{family: tasmota, topic: tele/#}}
      - {{family: esphome, topic: esphome/#}}
      - {{family: homie, topic: homie/5/#}}
devices:
  - id: hall-smoke-old    # kept
    driver: broker
    zone: hall
    class: smoke
    topic: esphome/hall-node
    point: smoke
escalation:
  levels: [{{name: duty, recipients: [p1]}}]
""",
        encoding="utf-8",
    )
    return path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def address(b: MosquittoServer) -> str:
    return f"{b.host}:{b.port}"


def test_every_family_is_proposed_with_the_topic_and_point_the_driver_reads(
    broker: MosquittoServer, tmp_path: Path
) -> None:
    code, output = run("--broker", address(broker), "--seconds", "1", "--json",
                       "-c", str(tmp_path / "none.yaml"))  # fmt: skip
    assert code == 0, output
    rows = json.loads(output)
    assert [(r["family"], r["topic"], r["point"], r["class"], r["id"]) for r in rows] == EXPECTED
    flags = {r["point"] for r in rows if r["flag"]}
    assert flags == {"smoke", "carbon_monoxide"}


def test_add_writes_the_new_ones_through_the_loader_and_keeps_comments(
    broker: MosquittoServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, broker)
    code, output = run("--broker", address(broker), "--seconds", "1", "--add", "--json",
                       "--driver", "broker", "--zone", "hall", "-c", str(config))  # fmt: skip
    assert code == 0, output
    known = {r["id"]: r["known"] for r in json.loads(output)}
    assert known["hall-smoke-old"] == "hall-smoke-old"  # already there: not added twice
    cfg = load_config(config)
    ids = [d.id for d in cfg.devices]
    assert ids[0] == "hall-smoke-old"
    assert len(ids) == len(EXPECTED)  # 8 new + the one that was there
    co = next(d for d in cfg.devices if d.id == "hall-co_1-co")
    assert (co.sensor_class, co.thresholds.level1, co.thresholds.deadband) == (
        SensorClass.CO, 0.5, 0.0,
    )  # fmt: skip
    text = config.read_text(encoding="utf-8")
    assert "# the site's gateway" in text
    assert "# the site broker" in text
    assert "# kept" in text


def test_add_to_a_driver_that_is_not_there_is_refused_and_changes_nothing(
    broker: MosquittoServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, broker)
    before = config.read_bytes()
    code, output = run("--broker", address(broker), "--seconds", "1", "--add",
                       "--driver", "nope", "--zone", "hall", "-c", str(config))  # fmt: skip
    assert code == 2, output
    assert "unchanged" in output
    assert config.read_bytes() == before


def test_a_broker_that_is_not_there_says_what_to_check(tmp_path: Path) -> None:
    code, output = run("--broker", "127.0.0.1:1", "--seconds", "1", "-c", str(tmp_path / "x"))
    assert code == 1
    assert "cannot listen on 127.0.0.1:1" in output


@pytest.mark.parametrize(
    ("name", "cls"),
    [("smoke", SensorClass.SMOKE), ("gas_density", SensorClass.COMBUSTIBLE_GAS),
     ("co", SensorClass.CO), ("carbon_monoxide", SensorClass.CO),
     ("DS18B20-1.Temperature", SensorClass.TEMPERATURE), ("hall_temp", SensorClass.TEMPERATURE),
     ("battery", None), ("linkquality", None), ("contact", None), ("co2", None)],
)  # fmt: skip
def test_a_key_is_classified_by_what_its_name_says(name: str, cls: SensorClass | None) -> None:
    assert classify(name) is cls


def test_commands_and_attributes_carry_no_proposal() -> None:
    found = Found()
    route(found, "zigbee2mqtt/kitchen/gas/set", b'{"gas": true}')
    route(found, "homie/5/cellar/sensor/$datatype", b"float")
    route(found, "tele/node/STATE", b'{"Temperature": 3}')
    assert found.points == {}
