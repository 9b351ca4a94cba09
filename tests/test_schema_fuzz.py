"""Schemathesis against the app's own OpenAPI schema: whatever it sends, no response is a 5xx."""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from service.app import create_app


def test_no_server_errors_on_any_operation(searcher):
    app = create_app(searcher)
    with TestClient(app):  # runs the lifespan (micro-batcher, warm-up)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/search", "/cite", "/documents/{doc_id}", "/admin/reload"}
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case) -> None:
                case.call_and_validate(checks=[not_a_server_error])

            check()
        # the fuzzer really talked to the app: count what it sent
        sent = sum(float(line.rsplit(" ", 1)[1]) for line in TestClient(app).get("/metrics").text.splitlines()
                   if line.startswith("kb_http_requests_total{"))
        assert sent > 100
