"""Property tests of the admin API from its own OpenAPI document: generated requests, valid and invalid,
never get a 5xx, and every answer matches the document (status code, content type, body schema)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import make_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
# Fetching a source reaches out to the partner's host; the ingest tests cover it against local servers.
SKIP = {"POST /api/sources/{source_id}/fetch"}


def fuzz(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    ran: Counter[str],
    statuses: Counter[tuple[str, int]],
) -> Callable[[], None]:
    name = f"{operation.label} ({mode.value})"

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        ran[name] += 1
        statuses[mode.value, case.call_and_validate(headers=headers, checks=CHECKS).status_code] += 1

    return run  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_api_conforms_to_its_openapi_document(app: Flask, categories: list[str]) -> None:
    headers = {"Authorization": f"Bearer {make_token(app, 'fuzz')}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    ran: Counter[str] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in SKIP:
            continue
        for mode in EXAMPLES:
            fuzz(operation, mode, headers, ran, statuses)()
    print(f"schemathesis: {sum(ran.values())} cases; statuses {dict(sorted(statuses.items()))}")
    assert len(ran) >= 10, ran
    assert sum(ran.values()) > 100, ran
    # Valid cases carry a working token and some are accepted: they reached the views, not only auth
    # (invalid cases may drop or mangle the Authorization header, so they see 401s).
    positive = {code: n for (mode, code), n in statuses.items() if mode == GenerationMode.POSITIVE.value}
    assert 401 not in positive and sum(n for code, n in positive.items() if code < 300) > 0, statuses
