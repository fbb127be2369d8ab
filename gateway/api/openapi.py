"""The OpenAPI 3.1 description of the API, written by hand next to the code it describes; the
tests validate every response against it and fuzz the server from it."""

from __future__ import annotations

from typing import Any

from alerting.vocabulary import Disposition, Grade, Kind
from gateway.api.ledger_api import ACTIONS, Body, Register

Schema = dict[str, Any]
NULLABLE_STR: Schema = {"type": ["string", "null"]}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Schema]:
    why = {400: "Not JSON", 401: "No or unknown token", 403: "The token's role may not do this",
           404: "No such entry or action", 409: "The ledger refuses this move now (says why)",
           422: "Invalid body (says which field)", 429: "Too many failed attempts",
           503: "The gateway is not running yet"}  # fmt: skip
    return {str(c): _json(_ref("Error"), why[c]) for c in codes}


def _get(summary: str, schema: Schema, secured: bool = True) -> Schema:
    op: Schema = {"summary": summary, "responses": {"200": _json(schema, "OK")}}
    op["responses"] |= _errors(401, 403, 429, 503) if secured else _errors(503)
    op["security"] = [{"bearer": []}] if secured else []
    return op


NUMBER: Schema = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}


def _action(name: str) -> Schema:
    spec = ACTIONS[name]
    return {
        "summary": f"{name} the entry (needs role {spec.role.value} or higher)",
        "security": [{"bearer": []}],
        "parameters": [NUMBER],
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": _ref(spec.body.__name__)}},
        },
        "responses": {"200": _json(_ref("Hazard"), "The entry afterwards")}
        | _errors(400, 401, 403, 404, 409, 422, 429, 503),
    }


def _paths() -> Schema:
    paths: Schema = {
        "/health": {"get": _get("Liveness: the process answers", _ref("Health"), False)},
        "/ready": {"get": _get("Readiness: the engine keeps stepping", _ref("Ready"), False)
                   | {"responses": {"200": _json(_ref("Ready"), "Ready"),
                                    "503": _json(_ref("Ready"), "Not ready")}}},
        "/metrics": {"get": {
            "summary": "The gateway's own counters (Prometheus text format); no token",
            "security": [],
            "responses": {"200": {"description": "OK", "content": {"text/plain": {
                "schema": {"type": "string"}}}}} | _errors(503)}},
        "/openapi.json": {"get": {"summary": "This description", "security": [],
                                  "responses": {"200": _json({"type": "object"}, "OK")}}},
        "/status": {"get": _get("Gateway health for `hazgw status`", _ref("Status"))},
        "/alarms": {"get": _get("Alarms shown now", {"type": "array", "items": _ref("Alarm")})},
        "/sensors": {"get": _get("Latest value and state per sensor",
                                 {"type": "array", "items": _ref("Sensor")})},
        "/ledger": {
            "get": _get("Every ledger entry", {"type": "array", "items": _ref("Hazard")}),
            "post": {
                "summary": "Register a hazard found by an inspection or reported",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("Register")}}},
                "responses": {"201": _json(_ref("Hazard"), "Registered")}
                | _errors(400, 401, 403, 422, 429, 503),
            },
        },
        "/ledger/{number}": {"get": _get("One entry with its history", _ref("HazardDetail"))
                             | {"parameters": [NUMBER]}},
    }  # fmt: skip
    paths["/ledger/{number}"]["get"]["responses"] |= _errors(404)
    for name in ACTIONS:
        paths[f"/ledger/{{number}}/{name}"] = {"post": _action(name)}
    return paths


def _body_schemas() -> Schema:
    """The request bodies, from the pydantic models the server validates them with."""
    out: Schema = {}
    models: list[type[Body]] = [Register, *(spec.body for spec in ACTIONS.values())]
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out |= schema.pop("$defs", {})
        out[model.__name__] = schema
    return out


def _obj(props: Schema, required: list[str] | None = None) -> Schema:
    return {"type": "object", "properties": props, "required": required or list(props)}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM_OR_NULL: Schema = {"type": ["number", "null"]}
STRS: Schema = {"type": "array", "items": STR}


def _schemas() -> Schema:
    alarm = _obj(
        {
            "device": STR,
            "condition": STR,
            "state": STR,
            "active": {"type": "boolean"},
            "since": STR,
            "value": NUM_OR_NULL,
            "hazard": NULLABLE_STR,
        }
    )
    driver = _obj(
        {
            "id": STR,
            "type": STR,
            "connected": {"type": "boolean"},
            "failing": STRS,
            "errors": {"type": "object", "additionalProperties": INT},
            "last_error": STR,
        }
    )
    hazard = _obj(
        {
            "number": STR,
            "title": STR,
            "kind": {"enum": [k.value for k in Kind]},
            "grade": {"enum": [g.value for g in Grade]},
            "status": STR,
            "source": STR,
            "device": NULLABLE_STR,
            "zone": NULLABLE_STR,
            "location": STR,
            "found_at": STR,
            "found_by": STR,
            "level": INT,
            "occurrences": INT,
            "peak_value": NUM_OR_NULL,
            "acknowledged_at": NULLABLE_STR,
            "acknowledged_by": NULLABLE_STR,
            "closed_at": NULLABLE_STR,
            "closed_by": NULLABLE_STR,
            "responsible": NULLABLE_STR,
            "verified_by": NULLABLE_STR,
            "review_requested_by": NULLABLE_STR,
            "disposition": {"enum": [*(d.value for d in Disposition), None]},
            "escalation": {"type": "object"},
            "events": {"type": "array", "items": INT},
            "possible_actions": STRS,
        }
    )
    event = _obj(
        {
            "seq": INT,
            "at": STR,
            "actor": STR,
            "type": STR,
            "number": NULLABLE_STR,
            "payload": {"type": "object"},
            "reason": STR,
            "hash": STR,
        }
    )
    return _body_schemas() | {
        "Error": _obj({"error": STR}),
        "Health": _obj({"status": {"const": "alive"}}),
        "Ready": _obj({"ready": {"type": "boolean"}, "steps": INT, "reason": STR}, ["ready"]),
        "Alarm": alarm,
        "Sensor": _obj({
            "device": STR, "name": STR, "zone": STR, "location": STR, "class": STR,
            "driver": STR, "value": NUM_OR_NULL, "stale": {"type": "boolean"},
            "state": {"enum": ["normal", "alarm"]},
            "alarms": {"type": "array", "items": _obj({"condition": STR, "state": STR})},
        }),
        "Driver": driver,
        "Status": _obj({
            "status": {"enum": ["healthy", "degraded"]}, "problems": STRS, "at": STR,
            "drivers": {"type": "array", "items": _ref("Driver")},
            "forwarder": {"type": ["object", "null"]},
            "outbox": _obj({"events": INT, "telemetry": INT, "dropped": INT, "rejected": INT,
                            "oldest_age_s": {"type": "number"}}),
            "counters": {"type": "object"},
            "alarms": {"type": "array", "items": _ref("Alarm")},
            "duty_officer": STRS,
        }),
        "Hazard": hazard,
        "HazardDetail": {"allOf": [_ref("Hazard"), _obj(
            {"history": {"type": "array", "items": _ref("Event")}})]},
        "Event": event,
    }  # fmt: skip


def document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hazard-gateway API",
            "version": "1",
            "description": "Health, metrics, alarms, sensors and the hazard ledger of one "
            "gateway. Bearer tokens per person; every action is attributed to the token's "
            "person. Roles: viewer reads; duty_officer also acknowledges; safety_officer and "
            "admin do every ledger action.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
