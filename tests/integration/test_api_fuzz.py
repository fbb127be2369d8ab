"""A schema-driven fuzz run (schemathesis, from /openapi.json) against the running server: no
request, however malformed, gets a 5xx, and every response matches the description."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.api.ledger_api import ACTIONS
from tests.integration.test_api_support import PEOPLE, Running, api_config, running_gateway


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_gateway(tmp_path_factory.mktemp("fuzz"), api_config()) as running:
        yield running


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]  # fmt: skip


def test_no_request_gets_a_server_error(served: Running) -> None:
    # schemathesis' pytest plugin does not load under this pytest: drive its strategies directly
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    auth = {"Authorization": f"Bearer {PEOPLE['admin'][2]}"}
    results = list(schema.get_all_operations())
    operations = [r.ok() for r in results]  # type: ignore[union-attr]
    labels = {op.label for op in operations}
    assert {f"POST /ledger/{{number}}/{a}" for a in ACTIONS} | {"POST /ledger"} <= labels

    @given(case=st.one_of([op.as_strategy() for op in operations]))
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        # Schema-valid is not site-valid (zones and people live in the config): 4xx with a
        # reason is right there, so the checks are: no 5xx, and responses match the description.
        case.call_and_validate(base_url=served.url, headers=auth, checks=CHECKS)

    check()


def test_tmp_state_is_used(served: Running, tmp_path: Path) -> None:
    assert (served.gateway.cfg.state_dir / "ledger.sqlite").exists()
