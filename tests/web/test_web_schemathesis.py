"""Schemathesis against ``/openapi.json``, with a valid (admin) token: no server error,
and every response fits the schema, status and media type the document gives.

Examples per route are kept modest for CI time (``MAX_EXAMPLES``); the generated
requests reach the real app with a real (temporary) ledger behind it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema

from consumers.web.app import create_app
from consumers.web.roles import Role
from tests.web.conftest import bearer
from tests.web.seed import Seeded

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance]


@pytest.fixture(scope="module")
def api_schema(seeded: Seeded) -> Iterator[BaseSchema]:
    app = create_app(seeded.settings)
    yield schemathesis.openapi.from_asgi("/openapi.json", app,
                                         headers=bearer(seeded, Role.ADMIN))
    asgi.shutdown_lifespans()


def fuzz(api_schema: BaseSchema, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Every operation in turn (schemathesis's own pytest wrapper does not run on this
    pytest, so each operation gets a Hypothesis test of its own here): how many, and
    the failures by operation."""
    failures: dict[str, str] = {}
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - reported below
            failures[operation.label] = f"{type(failure).__name__}: {str(failure)[:1500]}"
    return operations, failures


def test_the_api_keeps_to_its_document(api_schema: BaseSchema, seeded: Seeded) -> None:
    operations, failures = fuzz(api_schema, bearer(seeded, Role.ADMIN))
    assert operations >= 15
    assert failures == {}


def test_the_harness_finds_a_server_error_and_a_broken_schema() -> None:
    """Positive control: an app that answers 500, or off its own schema, fails."""
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> JSONResponse:
        return JSONResponse({"detail": "x"}, status_code=500)

    @app.get("/shape")
    async def shape() -> JSONResponse:
        return JSONResponse({"count": "not a number"})

    document = app.openapi()
    document["paths"]["/shape"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] = {"type": "object", "required": ["count"],
                     "properties": {"count": {"type": "integer"}}}
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = app
    operations, failures = fuzz(loaded, {})
    assert operations == 2
    assert set(failures) == {"GET /boom", "GET /shape"}
