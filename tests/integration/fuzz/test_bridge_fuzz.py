"""Fuzzing the real bridge process against the real broker: no 5xx, no crash, no accepted alert lost.

Two generators drive one running bridge (OPEN_SOURCES, fresh topic prefix):

* schemathesis, from the OpenAPI document the bridge serves, over every operation, with positive
  and (where the operation takes input) negative data; its own conformance checks run on every
  answer (status code documented, content type, response schema, response headers);
* hostile Alertmanager v2 batches of our own (tests/integration/fuzz/hostile.py), each with the
  exact answer the bridge must give, valid alerts tagged with a unique ``fuzz_id`` label.

On every answer: no 5xx at all (the broker stays up, so not even 503), the process alive, and for
any status >= 400 a JSON object with ``error`` and ``detail``. At the end ``alerts.raw`` must hold
exactly as many records as the answers counted in ``accepted`` (not fewer: loss; not more: a
duplicate, or an alert written while the answer said otherwise), and every tagged alert exactly once
with its labels intact.

Failures are collected, not raised at once (no shrinking: the time budget is CI's), and reported
together with a curl reproducer for each kind.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipeline.runtime.reader import read_topic
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.fuzz.hostile import FUZZ_LABEL, HostileRequest, generic_bodies, hostile_requests
from tests.integration.helpers import wait_for_records

MIN_REQUESTS = 1200  # the plan below asks for ~1,450 examples
REQUEST_TIMEOUT_S = 30.0
# Checks that only look at the answer: checks that send requests of their own (ignored_auth,
# unsupported_method, ...) would write alerts whose answers this test never sees.
SCHEMA_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                 response_schema_conformance, response_headers_conformance]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
ITEMS = {"source": "items"}  # the only generic source of OPEN_SOURCES; any other name is a 404
# (operationId, generation mode, max_examples, fixed path parameters, body strategy replacing the
# generated body). Operations without input (healthz, readyz, metrics) have one distinct example.
PLAN: list[tuple[str, GenerationMode, int, dict[str, str] | None, Any]] = [
    ("postAlerts", POSITIVE, 180, None, None),
    ("postAlerts", NEGATIVE, 120, None, None),
    ("postAlertmanagerWebhook", POSITIVE, 150, None, None),
    ("postAlertmanagerWebhook", NEGATIVE, 90, None, None),
    ("postGrafanaWebhook", POSITIVE, 120, None, None),
    ("postGrafanaWebhook", NEGATIVE, 70, None, None),
    ("putGrafanaWebhook", POSITIVE, 70, None, None),
    ("putGrafanaWebhook", NEGATIVE, 50, None, None),
    # The schema of a generic body is {} (any JSON), which seldom has the mapping's "items" list.
    ("postGenericWebhook", POSITIVE, 50, ITEMS, None),
    ("postGenericWebhook", POSITIVE, 130, ITEMS, generic_bodies()),
    ("postGenericWebhook", POSITIVE, 40, None, None),
    ("postGenericWebhook", NEGATIVE, 50, None, None),
    ("healthz", POSITIVE, 10, None, None),
    ("readyz", POSITIVE, 10, None, None),
    ("metrics", POSITIVE, 10, None, None),
]
HOSTILE_EXAMPLES = 300
MAX_REPRODUCERS_PER_KIND = 3


def fuzz_settings(max_examples: int):
    return hypothesis_settings(
        max_examples=max_examples, deadline=None, database=None, derandomize=False,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected with a reproducer
        suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
    )


@dataclass
class Ledger:
    """Everything sent and answered, and what must be on alerts.raw because of it."""

    bridge: Any
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_operation: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    accepted_total: int = 0
    tagged: dict[str, dict[str, str]] = field(default_factory=dict)  # fuzz_id -> labels it must have
    # fuzz_id -> the answer, for alerts of requests answered otherwise than due: not booked as accepted,
    # reported if they show up on the topic anyway
    doubtful: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failure_count: int = 0
    reproducer_dir: Path | None = None

    def fail(self, kind: str, detail: str | Callable[[], str]) -> None:
        self.failure_count += 1
        examples = self.failures[kind]
        if len(examples) < MAX_REPRODUCERS_PER_KIND:
            text = detail() if callable(detail) else detail
            if not any(text[:400] == seen[:400] for seen in examples):  # hypothesis may repeat an example
                examples.append(text)

    def save(self, body: bytes) -> Path:
        assert self.reproducer_dir is not None
        self.reproducer_dir.mkdir(parents=True, exist_ok=True)
        path = self.reproducer_dir / f"request-{self.requests:05d}.body"
        path.write_bytes(body)
        return path

    def answered(self, operation: str, status: int, content: bytes, content_type: str,
                 reproduce: Callable[[], str]) -> dict | None:
        """Book one answer and run the checks every answer gets; the decoded JSON body, if any."""
        self.requests += 1
        self.statuses[status] += 1
        self.by_operation[operation][status] += 1
        if not self.bridge.component.alive():
            raise AssertionError(f"the bridge died after:\n{reproduce()}\n{self.bridge.log()}")
        answer = abbreviate(content, 600)
        if status >= 500:
            self.fail(f"{operation}: {status}", lambda: f"answer: {answer}\n{reproduce()}")
        body = None
        if content_type.split(";")[0].strip().lower() == "application/json":
            try:
                body = json.loads(content)
            except ValueError:
                self.fail(f"{operation}: undecodable JSON answer", lambda: f"{status} {answer}\n{reproduce()}")
        if status >= 400 and not (isinstance(body, dict) and isinstance(body.get("error"), str)
                                  and isinstance(body.get("detail"), str)):
            self.fail(f"{operation}: {status} without a JSON {{error, detail}}",
                      lambda: f"{content_type} {answer}\n{reproduce()}")
        if isinstance(body, dict) and "accepted" in body:
            accepted = body["accepted"]
            if not (isinstance(accepted, int) and accepted >= 0) or status not in (200, 400):
                self.fail(f"{operation}: bad accepted field", lambda: f"{status} {answer}\n{reproduce()}")
            else:
                self.accepted_total += accepted
        return body


def abbreviate(data: bytes | str, limit: int = 1500) -> str:
    """Text for a report: runs of one character or escape shown as ``x×N``, line breaks as spaces, then
    cut at ``limit``."""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    text = RUNS.sub(lambda m: f"{m.group(1)}×{len(m.group(0)) // len(m.group(1))}", text)
    text = re.sub(r"\s*\n\s*", " ", text)  # pretty-printed bodies on one line (the saved file is exact)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


RUNS = re.compile(r"(\\\\u[0-9a-fA-F]{4}|\\u[0-9a-fA-F]{4}|.)\1{15,}", re.DOTALL)


# --- schemathesis ---------------------------------------------------------------------------------

def alerts_of(operation_id: str, body: Any) -> list | None:
    """The alert list a request body carries, when its shape says so (for accepted + invalid = all)."""
    if operation_id == "postAlerts":
        return body if isinstance(body, list) else None
    if operation_id == "postGenericWebhook":
        return body.get("items") if isinstance(body, dict) and isinstance(body.get("items"), list) else None
    return body.get("alerts") if isinstance(body, dict) and isinstance(body.get("alerts"), list) else None


def run_schemathesis(schema, ledger: Ledger, session: requests.Session, base_url: str) -> list[str]:
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if {"alertmanager-api", "history"} & set(operation.definition.raw.get("tags") or []):
            continue  # Alertmanager's read/silence API (tests/integration/api), the history (tests/integration/history)
        operations[operation.definition.raw["operationId"]] = operation
    assert set(operations) == {op for op, *_ in PLAN}, f"operations in the document: {sorted(operations)}"
    notes = []
    for operation_id, mode, max_examples, path_parameters, bodies in PLAN:
        operation = operations[operation_id]
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
        label = (f"{operation_id}[{mode.value}{'/' + ','.join(path_parameters.values()) if path_parameters else ''}"
                 f"{'/own bodies' if bodies is not None else ''}]")
        before, began = ledger.requests, time.monotonic()

        @fuzz_settings(max_examples)
        @given(case=strategy, body=bodies if bodies is not None else st.none())
        def fuzz(case, body) -> None:
            if bodies is not None:
                case.body = body
            try:
                response = case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT_S)
            except requests.RequestException as exc:
                ledger.requests += 1
                ledger.statuses["no answer"] += 1
                error = f"{type(exc).__name__}: {exc}"  # `exc` is unbound once the except block ends
                ledger.fail(f"{operation_id}: no answer ({type(exc).__name__})",
                            lambda: f"{error}\n{abbreviate(case.as_curl_command(base_url=base_url))}")
                if not ledger.bridge.component.alive():
                    raise AssertionError(f"the bridge died:\n{ledger.bridge.log()}") from exc
                return
            content_type = (response.headers.get("content-type") or [""])[0]

            def reproduce() -> str:
                return abbreviate(case.as_curl_command(base_url=base_url))

            answer = ledger.answered(operation_id, response.status_code, response.content or b"",
                                     content_type, reproduce)
            try:
                case.validate_response(response, checks=SCHEMA_CHECKS,
                                       transport_kwargs={"base_url": base_url, "session": session})
            except AssertionError as exc:  # schemathesis' FailureGroup is an AssertionError
                title = str(exc).strip().splitlines()[0]
                ledger.fail(f"{operation_id}: {title}", abbreviate(str(exc), 2500))
            alerts = alerts_of(operation_id, case.body)
            if alerts is not None and isinstance(answer, dict) and isinstance(answer.get("accepted"), int):
                invalid = answer.get("invalid") or []
                if answer["accepted"] + len(invalid) != len(alerts):
                    ledger.fail(f"{operation_id}: accepted + invalid != alerts sent",
                                lambda: f"{len(alerts)} sent, answer {abbreviate(str(answer), 500)}\n{reproduce()}")

        try:
            fuzz()
        except Unsatisfiable:
            notes.append(f"{label}: schemathesis cannot generate this mode here")
        notes.append(f"{label}: {ledger.requests - before} requests in {time.monotonic() - began:.1f} s")
    return notes


# --- hostile Alertmanager v2 batches --------------------------------------------------------------

def run_hostile(ledger: Ledger, session: requests.Session, base_url: str, run: str) -> None:
    url = f"{base_url}/api/v2/alerts"

    @fuzz_settings(HOSTILE_EXAMPLES)
    @given(request=hostile_requests(run))
    def fuzz(request: HostileRequest) -> None:
        headers = {"Content-Type": request.content_type} if request.content_type else {}
        body = request.body
        data = (body[i:i + 65536] for i in range(0, len(body), 65536)) if request.chunked else body
        saved: list[str] = []

        def reproduce() -> str:
            if not saved:
                path = ledger.save(body)
                media_type = f" {request.content_type}" if request.content_type else ""
                saved.append(
                    f"twist={request.twist} chunked={request.chunked}\n"
                    f"body ({len(body)} bytes): {abbreviate(body)}\n"
                    f"replay: curl -sS {url} -H 'Content-Type:{media_type}'"
                    f"{' -H Transfer-Encoding:chunked' if request.chunked else ''} --data-binary @{path}")
            return saved[0]

        try:
            response = session.post(url, data=data, headers=headers, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as exc:
            ledger.requests += 1
            ledger.statuses["no answer"] += 1
            ledger.doubtful.update((i.fuzz_id, "no answer") for i in request.items if i.fuzz_id)
            if not ledger.bridge.component.alive():
                raise AssertionError(f"the bridge died:\n{reproduce()}\n{ledger.bridge.log()}") from exc
            error = f"{type(exc).__name__}: {exc}"  # `exc` is unbound once the except block ends
            ledger.fail(f"postAlerts/hostile: no answer ({type(exc).__name__})", lambda: f"{error}\n{reproduce()}")
            return
        status = response.status_code
        answer = ledger.answered("postAlerts/hostile", status, response.content,
                                 response.headers.get("content-type", ""), reproduce)
        answer = answer if isinstance(answer, dict) else {}
        accepted = answer.get("accepted", 0)
        problems = []
        if status != request.expected_status:
            problems.append((f"{status} where {request.expected_status} was due", ""))
        elif accepted != len(request.stored):
            problems.append(("accepted count", f"accepted {accepted}, due {len(request.stored)}"))
        elif request.expect_invalid and [p.get("index") for p in answer.get("invalid", [])] != request.expect_invalid:
            problems.append(("invalid indices", f"due {request.expect_invalid}"))
        for title, detail in problems:
            ledger.fail(f"postAlerts/hostile: {title}",
                        lambda: f"{detail + chr(10) if detail else ''}answer: {abbreviate(response.content, 800)}\n"
                                f"{reproduce()}")
        if problems:
            ledger.doubtful.update((i.fuzz_id, f"answer {status}") for i in request.items if i.fuzz_id)
        else:
            ledger.tagged.update((i.fuzz_id, i.labels) for i in request.stored)

    fuzz()


# --- the test ---------------------------------------------------------------------------------------

def test_bridge_survives_fuzzing_and_loses_no_accepted_alert(settings, applied_topology, tmp_path):
    started = time.monotonic()
    run = f"fz{uuid.uuid4().hex[:8]}"
    with running_bridge(settings, OPEN_SOURCES, tmp_path) as bridge:
        ledger = Ledger(bridge, reproducer_dir=tmp_path / "reproducers")
        schema = schemathesis.openapi.from_url(f"{bridge.url}/openapi.json", config=schemathesis.Config())
        with requests.Session() as session:
            notes = run_schemathesis(schema, ledger, session, bridge.url)
            schemathesis_requests = ledger.requests
            began = time.monotonic()
            run_hostile(ledger, session, bridge.url, run)
            notes.append(f"postAlerts[hostile v2]: {ledger.requests - schemathesis_requests} requests "
                         f"in {time.monotonic() - began:.1f} s")
        fuzzing_done = time.monotonic()
        assert bridge.component.alive(), f"the bridge died:\n{bridge.log()}"

        # Every answer is in, so every accepted alert is acknowledged: the topic must hold exactly what
        # the answers counted. Wait (bounded) for at least that many, then give any write that no
        # answer counted a moment to show up, and read it all once more.
        expected = ledger.accepted_total
        try:
            wait_for_records(settings, "alerts.raw", lambda rs: len(rs) >= expected, timeout=60,
                             alive=bridge.component.alive, describe=bridge.log)
        except AssertionError as exc:
            ledger.fail("alerts.raw: fewer records than accepted alerts", abbreviate(str(exc)))
        time.sleep(1.0)
        records = list(read_topic(settings, "alerts.raw"))

    undecodable = [r for r in records if r.error is not None]
    for record in undecodable[:MAX_REPRODUCERS_PER_KIND]:
        ledger.fail("alerts.raw: undecodable record", f"{record.error}: {record.as_json()}")
    if len(records) != expected:
        ledger.fail("alerts.raw: record count", f"{len(records)} records, answers accepted {expected}")
    seen: Counter = Counter()
    for record in records:
        if record.error is None and str(record.value.labels.get(FUZZ_LABEL, "")).startswith(run + "-"):
            fuzz_id = record.value.labels[FUZZ_LABEL]
            seen[fuzz_id] += 1
            if fuzz_id in ledger.doubtful:
                ledger.fail("alerts.raw: written though the request was answered otherwise than due",
                            f"{fuzz_id} ({ledger.doubtful[fuzz_id]}) is on alerts.raw")
            elif fuzz_id not in ledger.tagged:
                ledger.fail("alerts.raw: an alert the answer refused was written", abbreviate(str(record.as_json())))
            elif dict(record.value.labels) != ledger.tagged[fuzz_id]:
                ledger.fail("alerts.raw: labels changed on the way",
                            f"sent {ledger.tagged[fuzz_id]!r}\nstored {dict(record.value.labels)!r}")
    for fuzz_id, count in seen.items():
        if count > 1:
            ledger.fail("alerts.raw: duplicate", f"{fuzz_id} written {count} times")
    missing = set(ledger.tagged) - set(seen)
    if missing:
        ledger.fail("alerts.raw: accepted tagged alerts missing",
                    f"{len(missing)} of {len(ledger.tagged)}, e.g. {sorted(missing)[:5]}")

    elapsed = time.monotonic() - started
    print(f"\nbridge fuzz: {ledger.requests} requests ({schemathesis_requests} schemathesis, "
          f"{ledger.requests - schemathesis_requests} hostile v2) in {fuzzing_done - started:.1f} s, "
          f"{elapsed:.1f} s in all")
    print("status codes:", dict(sorted(ledger.statuses.items(), key=lambda kv: str(kv[0]))))
    for operation, statuses in sorted(ledger.by_operation.items()):
        print(f"  {operation}: {dict(sorted(statuses.items()))}")
    print("\n".join(f"  {note}" for note in notes))
    print(f"accepted {ledger.accepted_total} alerts ({len(ledger.tagged)} tagged); alerts.raw holds {len(records)}")

    if ledger.failures:
        report = "\n\n".join(f"== {kind} ==\n" + "\n--\n".join(examples) for kind, examples in ledger.failures.items())
        pytest.fail(f"{ledger.failure_count} failures ({MAX_REPRODUCERS_PER_KIND} examples a kind at most):\n{report}",
                    pytrace=False)
    assert ledger.requests >= MIN_REQUESTS, f"only {ledger.requests} requests sent"
