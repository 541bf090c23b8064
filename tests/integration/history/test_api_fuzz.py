"""Schemathesis over the history operations of the bridge's OpenAPI document (tag ``history``), served
by a real uvicorn over a database with history in it: no 5xx, documented status codes, answers that
fit their schemas."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone

import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from starlette.applications import Starlette
from starlette.routing import Mount

from pipeline.bridge.openapi import openapi_document
from pipeline.devenv.process import free_port
from pipeline.history.api import HistoryApi
from pipeline.stages.history import HistoryProcessor
from tests.integration.history.factories import enriched, flapping_series, notification, outcome, record

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
NOW = datetime.now(timezone.utc)


def test_history_operations_survive_fuzzing(history_db, db):
    series = flapping_series({"team": "db"}, 4, NOW - timedelta(minutes=5))

    async def load():
        processor = HistoryProcessor(history_db)
        for value in [*series, enriched({"team": "web"}, "new", NOW - timedelta(hours=1)),
                      notification(series[:1], at=NOW - timedelta(minutes=5)), outcome("n1", "delivered", 1, NOW - timedelta(minutes=5))]:
            await processor.process(record(value), {}, NOW)
        await processor.flush()
        await processor.aclose()
    asyncio.run(load())

    port = free_port()
    app = Starlette(routes=[Mount("/api/history", app=HistoryApi(history_db).app)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        schema = schemathesis.openapi.from_dict(openapi_document(), config=schemathesis.Config())
        ours = [r.ok() for r in schema.get_all_operations()]
        ours = [op for op in ours if "history" in (op.definition.raw.get("tags") or [])]
        assert {op.definition.raw["operationId"] for op in ours} == {
            "historySearch", "historyTimeline", "historyTop", "historyFlapping", "historyReceivers",
            "historyReceiverNotifications", "historyFirings"}
        failures: list[str] = []
        statuses: dict[int, int] = {}
        with requests.Session() as session:
            for operation in ours:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
                    @given(case=operation.as_strategy(generation_mode=mode))
                    def fuzz(case) -> None:
                        response = case.call(base_url=base_url, session=session, timeout=30)
                        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                        try:
                            case.validate_response(response, checks=CHECKS,
                                                   transport_kwargs={"base_url": base_url, "session": session})
                        except AssertionError as exc:
                            if len(failures) < 10:
                                failures.append(f"{str(exc).strip()[:600]}\n{case.as_curl_command(base_url=base_url)[:600]}")

                    try:
                        fuzz()
                    except Exception as exc:  # hypothesis.errors.Unsatisfiable: no negative data for this operation
                        if type(exc).__name__ != "Unsatisfiable":
                            raise
        assert not failures, "\n\n".join(failures)
        # Many generated values are not valid matchers or times (400): enough answers must still be 200s to
        # show the handlers past validation were reached.
        assert statuses.get(200, 0) > 30 and statuses.get(400, 0) > 20, statuses
    finally:
        server.should_exit = True
        thread.join(10)
