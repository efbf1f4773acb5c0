"""schemathesis against the app's own OpenAPI: no 5xx, and every answer fits the schema."""

from __future__ import annotations

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from engine.api import create_app
from engine.rules.rulebook import RuleBook
from tests.api.conftest import bearer, config

#: Examples per operation: bounded, so CI stays fast.
EXAMPLES = 12
#: No 5xx, and status, content type, headers and body as the schema documents. Not
#: `positive_data_acceptance`: a schema string (a customer id, an ISO time) cannot say which
#: values are unknown customers or impossible dates, and those rightly answer 404 and 422.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


def operations(app: FastAPI) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_the_api_answers_every_generated_request_within_its_schema(
    sqlite_url: str, rulebook: RuleBook
) -> None:
    """For each operation, generated requests (valid and not) with a token holding every
    scope: no 5xx, status codes and bodies as documented."""
    app = create_app(config(sqlite_url), rulebook=rulebook)
    found = operations(app)
    assert {op.path for op in found} >= {
        "/v1/health",
        "/v1/customers/{customer_id}/next-message",
        "/v1/preview",
        "/v1/events",
        "/v1/webhooks/{provider}",
    }
    for operation in found:

        @given(case=operation.as_strategy() | st.nothing())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=bearer("all"), checks=CHECKS)

        check()
