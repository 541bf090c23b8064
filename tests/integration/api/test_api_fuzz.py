"""Schemathesis over the Alertmanager API operations of the bridge's OpenAPI document (tag
``alertmanager-api``): no 5xx, documented status codes, answers that fit their schemas. The bridge's
ingest fuzz test (tests/integration/fuzz) covers the other operations."""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

EXAMPLES = 60
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_alertmanager_api_operations_survive_fuzzing(bridge):
    schema = schemathesis.openapi.from_url(f"{bridge.url}/openapi.json", config=schemathesis.Config())
    operations = [r.ok() for r in schema.get_all_operations()]
    ours = [op for op in operations if "alertmanager-api" in (op.definition.raw.get("tags") or [])]
    assert {op.definition.raw["operationId"] for op in ours} == {
        "getAlerts", "getAlertGroups", "getStatus", "getReceivers", "getSilences", "postSilences",
        "getSilence", "deleteSilence", "previewSilence"}
    failures: list[str] = []
    with requests.Session() as session:
        for operation in ours:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                                     phases=[Phase.explicit, Phase.generate],
                                     suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode))
                def fuzz(case) -> None:
                    response = case.call(base_url=bridge.url, session=session, timeout=30)
                    try:
                        case.validate_response(response, checks=CHECKS,
                                               transport_kwargs={"base_url": bridge.url, "session": session})
                    except AssertionError as exc:
                        if len(failures) < 10:
                            failures.append(f"{str(exc).strip()[:600]}\n{case.as_curl_command(base_url=bridge.url)[:600]}")

                try:
                    fuzz()
                except Exception as exc:  # hypothesis.errors.Unsatisfiable: no negative data for this operation
                    if type(exc).__name__ != "Unsatisfiable":
                        raise
    assert bridge.component.alive(), bridge.log()
    assert not failures, "\n\n".join(failures)
