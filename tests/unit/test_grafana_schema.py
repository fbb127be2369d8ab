"""The boards validate against Grafana's published dashboard schema.

Grafana publishes no JSON Schema file for dashboards: the npm package @grafana/schema ships the
dashboard kind and every panel plugin's options as TypeScript types generated from Grafana's CUE
kinds. deploy/grafana/schema/generate.sh turns those published types into JSON Schema with
ts-json-schema-generator (every object closed), and the files are committed, so this test runs
without node or the network. What that covers: the whole dashboard envelope, panels, field
config, thresholds, value mappings, overrides, transformations' envelope, template variables,
links, and each panel plugin's `options` and `fieldConfig.defaults.custom`. What it does not:
query targets (typed per datasource; InfluxDB's query type is not in @grafana/schema, so
`targets` items are open objects there and are checked below by hand), transformation options
(open there too) and annotation targets of non-Grafana datasources (the schema types
AnnotationTarget after Grafana's built-in annotations; an InfluxDB annotation carries its query
there, so that one definition is widened to also accept the InfluxQL target checked here).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway.grafana import boards
from gateway.grafana.model import DATASOURCE

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "schema"
BOARDS = boards()

INFLUXQL_ANNOTATION_TARGET: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["refId", "query", "rawQuery", "resultFormat", "fromAnnotations", "textColumn"],
    "properties": {
        "refId": {"type": "string"},
        "query": {"type": "string", "minLength": 1},
        "rawQuery": {"const": True},
        "resultFormat": {"const": "table"},
        "fromAnnotations": {"const": True},
        "titleColumn": {"type": "string"},
        "textColumn": {"type": "string"},
        "tagsColumn": {"type": "string"},
    },
}
INFLUXQL_TARGET: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["refId", "datasource", "query", "rawQuery", "resultFormat"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "datasource": {"const": DATASOURCE},
        "query": {"type": "string", "minLength": 1},
        "rawQuery": {"const": True},
        "resultFormat": {"enum": ["time_series", "table"]},
        "alias": {"type": "string"},
    },
}


def dashboard_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMA_DIR / "dashboard.schema.json").read_text(encoding="utf-8"))
    defs = schema["definitions"]
    defs["AnnotationTarget"] = {"anyOf": [defs["AnnotationTarget"], INFLUXQL_ANNOTATION_TARGET]}
    return jsonschema.Draft7Validator(schema)


def errors_of(validator: jsonschema.Draft7Validator, doc: object) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]


def panel_schema(plugin: str) -> dict[str, Any]:
    path = SCHEMA_DIR / "panels" / f"{plugin}.schema.json"
    assert path.exists(), f"no published schema for panel plugin {plugin!r} ({path})"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_the_dashboard_validates_against_grafanas_dashboard_schema(stem: str) -> None:
    assert errors_of(dashboard_validator(), BOARDS[stem]) == []


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_every_panels_options_validate_against_its_plugins_schema(stem: str) -> None:
    problems = []
    for panel in BOARDS[stem]["panels"]:
        doc = panel_schema(panel["type"])
        options = jsonschema.Draft7Validator(doc["options"])
        problems += [f"{panel['title']}: options/{e}" for e in errors_of(options, panel["options"])]
        custom = panel["fieldConfig"]["defaults"].get("custom")
        if custom is not None:
            assert doc["fieldConfig"], f"{panel['type']} has no custom field config to validate"
            fc = jsonschema.Draft7Validator(doc["fieldConfig"])
            problems += [f"{panel['title']}: custom/{e}" for e in errors_of(fc, custom)]
    assert problems == []


@pytest.mark.parametrize("stem", sorted(BOARDS))
def test_every_query_target_is_a_raw_influxql_target_on_the_hazgw_datasource(stem: str) -> None:
    validator = jsonschema.Draft7Validator(INFLUXQL_TARGET)
    problems = [
        f"{panel['title']}: {e}"
        for panel in BOARDS[stem]["panels"]
        for t in panel["targets"]
        for e in errors_of(validator, t)
    ]
    assert problems == []
    assert all(p["datasource"] == DATASOURCE for p in BOARDS[stem]["panels"])


def test_the_schema_check_can_fail() -> None:
    """A misspelt key and a wrong panel option are caught (the schema is closed, not lenient)."""
    board = copy.deepcopy(BOARDS["overview"])
    board["refreh"] = "10s"
    board["panels"][0]["gridPos"]["w"] = "wide"
    errors = errors_of(dashboard_validator(), board)
    assert any("refreh" in e for e in errors)
    assert any(e.startswith("panels/0") for e in errors)
    stat = board["panels"][0]
    stat["options"]["colorMode"] = "rainbow"
    options = jsonschema.Draft7Validator(panel_schema("stat")["options"])
    assert any("rainbow" in e for e in errors_of(options, stat["options"]))


def test_the_committed_schema_says_where_it_comes_from() -> None:
    doc = json.loads((SCHEMA_DIR / "dashboard.schema.json").read_text(encoding="utf-8"))
    assert "@grafana/schema@" in doc["$comment"]
    assert doc["definitions"]["Dashboard"]["additionalProperties"] is False
