"""Schemathesis against the served OpenAPI document, on a real Redis: generated requests for every
operation, valid and invalid; no 500, every status declared, every body as described, requests
that break the schema refused.

The check that invalid requests are refused counts 408 and 413 as refusals too. One default
check is left out: ``positive_data_acceptance`` (a schema-valid request must not get
a 4xx). The schema describes the wire types; the handlers refuse more than it can say, with a 400
naming the path: a Zabbix field left as an unresolved ``{MACRO}``, a blank CI, ``4.0`` where an
int is wanted (msgspec is strict), ``to`` before ``from``."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from hypothesis import HealthCheck, given, settings

from alertgate.gateway.app import create_app
from alertgate.gateway.openapi import DOCUMENT_PATH, openapi_document
from alertgate.runtime.connections import connect_state
from alertgate.settings import load_settings
from tests.conftest import ADMIN_SECRET, BOOTSTRAP, ROOT

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {ADMIN_SECRET}"}
CHECKS_LEFT_OUT = [schemathesis.checks.positive_data_acceptance]
# A request that breaks the schema may also be refused as too large (413: a generated body past
# body_limit) or too slow to arrive (408), besides schemathesis's own list.
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
    "400", "401", "403", "404", "405", "406", "408", "409", "413", "415", "422", "428", "429", "5XX"]}}})
OPERATIONS = [pytest.param(f"{method.upper()} {path}", mode, id=f"{method.upper()} {path} {mode.value}")
              for path, item in openapi_document()["paths"].items() for method, operation in item.items()
              for mode in schemathesis.GenerationMode
              # without parameters or a body there is nothing to make invalid
              if mode is schemathesis.GenerationMode.POSITIVE or "parameters" in operation
              or "requestBody" in operation]


@pytest.fixture(scope="module")
def api_schema(redis_server):
    config = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_server.url,
                            "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP, "ALERTGATE_REDIS_TIMEOUT": "2s"})
    app = create_app(config, connect_state(config), watch_rules=False)
    return schemathesis.openapi.from_asgi(DOCUMENT_PATH, app, headers=AUTH, config=CONFIG)


@pytest.mark.parametrize(("label", "mode"), OPERATIONS)
def test_every_operation(api_schema, label, mode):
    operation = api_schema.find_operation_by_label(label)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True)  # the same requests in every run: CI is no lottery
    def generated(case):
        case.call_and_validate(headers=AUTH, excluded_checks=CHECKS_LEFT_OUT)

    generated()
