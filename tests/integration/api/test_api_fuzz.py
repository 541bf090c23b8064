"""Fuzzing the Alertmanager API operations of the bridge (tag ``alertmanager-api`` of its OpenAPI
document); the bridge's ingest fuzz test (tests/integration/fuzz) covers the other operations.

* schemathesis, from the OpenAPI document: no 5xx, documented status codes, answers that fit their
  schemas;
* ten thousand requests (API_FUZZ_REQUESTS; API_FUZZ_SEED reproduces a run) of our own generator
  (tests/integration/fuzz/api_requests.py) through the access layer of a bridge with basic auth: every
  answer is one its request may get, no 5xx, every refusal a JSON body, and the bridge's event loop
  never stalled meanwhile (its heartbeat histogram, bridge_event_loop_lag_seconds, has nothing over
  LOOP_LAG_BOUND_S: a bound on the lag itself, not on how long requests took)."""

from __future__ import annotations

import base64
import os
import random
import re
import threading
import time
from collections import Counter

import bcrypt
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.fuzz.api_requests import ApiRequestGenerator

EXAMPLES = 40
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


FUZZ_REQUESTS = int(os.environ.get("API_FUZZ_REQUESTS", "10000"))
LOOP_LAG_BOUND_S = 1.0  # generous: a stall is what this catches, not a slow machine
BODY_LIMIT = 65536
PASSWORD = "fuzz-password"
MAX_FAILURES_SHOWN = 12
CLIENTS = 2


@pytest.fixture(scope="module")
def authenticated_bridge(api_settings, tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz-web")
    web_config = directory / "web.yml"
    # cost 4: every wrong password the generator sends is a real bcrypt check, kept cheap here
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {
        "fuzzer": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}}))
    header = "Basic " + base64.b64encode(f"fuzzer:{PASSWORD}".encode()).decode()

    def ready_get(url):
        import httpx

        return httpx.get(url, headers={"Authorization": header}, timeout=2)

    with running_bridge(api_settings, OPEN_SOURCES, directory / "bridge", ready_get=ready_get,
                        web={"config_file": web_config, "max_body_bytes": BODY_LIMIT}) as running:
        yield running, header


def loop_lag_counts(session: requests.Session, url: str, header: str) -> tuple[float, float]:
    """(heartbeats so far, of which later than LOOP_LAG_BOUND_S) from the bridge's histogram."""
    text = session.get(f"{url}/metrics", headers={"Authorization": header}, timeout=10).text
    total = float(re.search(r"^bridge_event_loop_lag_seconds_count (\S+)$", text, re.M).group(1))
    within = float(re.search(rf'^bridge_event_loop_lag_seconds_bucket{{le="{LOOP_LAG_BOUND_S}"}} (\S+)$',
                             text, re.M).group(1))
    return total, total - within


def test_ten_thousand_requests_get_client_errors_never_server_errors_or_stalls(authenticated_bridge):
    bridge, header = authenticated_bridge
    seed = int(os.environ.get("API_FUZZ_SEED", random.randrange(1 << 30)))
    generator = ApiRequestGenerator(seed, header, wrong_password_header="Basic " + base64.b64encode(
        b"fuzzer:wrong").decode(), max_body_bytes=BODY_LIMIT, max_silence_size_bytes=32768)
    statuses: Counter = Counter()
    by_kind: dict[str, Counter] = {}
    seconds_by_kind: Counter = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    numbers = iter(range(FUZZ_REQUESTS))

    def client() -> None:
        # Several clients at once, as real ones are: a silence write waiting for its read-back does not
        # idle the run, and the handlers see concurrent requests. The request sequence is the seed's;
        # which thread sends which (and so which existing silence an id request names) may vary.
        with requests.Session() as session:
            while True:
                with lock:
                    number = next(numbers, None)
                    if number is None or not bridge.component.alive():
                        return
                    request = next(generator)
                sent = time.monotonic()
                try:
                    answer = session.request(request.method, bridge.url + request.path, params=request.params,
                                             data=request.body, headers=request.headers, timeout=30)
                except requests.RequestException as exc:
                    with lock:
                        failures.append(f"#{number} no answer ({type(exc).__name__}: {exc})\n"
                                        f"  {request.curl(bridge.url)}")
                    continue
                problem = judge(request, answer)
                with lock:
                    seconds_by_kind[request.kind] += time.monotonic() - sent
                    statuses[answer.status_code] += 1
                    by_kind.setdefault(request.kind, Counter())[answer.status_code] += 1
                    if problem:
                        failures.append(f"#{number} {request.kind}: {problem}: {answer.status_code} "
                                        f"{answer.text[:300]!r}\n  {request.curl(bridge.url)}")
                    if answer.status_code == 200 and request.method == "POST":
                        generator.silence_ids.append(answer.json()["silenceID"])

    with requests.Session() as session:
        beats_before, late_before = loop_lag_counts(session, bridge.url, header)
        bridge_cpu_before, own_cpu_before = process_cpu_seconds(bridge), time.process_time()
        started = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        bridge_cpu, own_cpu = process_cpu_seconds(bridge) - bridge_cpu_before, time.process_time() - own_cpu_before
        beats_after, late_after = loop_lag_counts(session, bridge.url, header)

    print(f"\nAPI fuzz (seed {seed}): {sum(statuses.values())} answers in {elapsed:.1f} s from {CLIENTS} clients; "
          f"statuses {dict(sorted(statuses.items()))}; {len(generator.silence_ids)} silences created; event loop "
          f"heartbeats {beats_after - beats_before:.0f}, later than {LOOP_LAG_BOUND_S} s: {late_after - late_before:.0f}; "
          f"CPU: bridge {bridge_cpu:.1f} s, this test {own_cpu:.1f} s (load average {os.getloadavg()[0]:.1f})")
    for kind, counts in sorted(by_kind.items()):
        print(f"  {kind}: {dict(sorted(counts.items()))}, {seconds_by_kind[kind]:.1f} s")
    assert bridge.component.alive(), bridge.log()
    assert not failures, (f"{len(failures)} of {FUZZ_REQUESTS} requests answered wrongly (seed {seed}; "
                          f"API_FUZZ_SEED={seed} reproduces):\n" + "\n".join(failures[:MAX_FAILURES_SHOWN]))
    assert sum(statuses.values()) == FUZZ_REQUESTS
    assert beats_after - beats_before >= elapsed / 0.2, "the heartbeat did not run"  # one per 100 ms, give or take
    assert late_after - late_before == 0, f"the bridge's event loop stalled for over {LOOP_LAG_BOUND_S} s"


def process_cpu_seconds(bridge) -> float:
    """User + system CPU seconds of the bridge process so far (/proc/<pid>/stat)."""
    pid = bridge.component.process.pid()
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def judge(request, answer) -> str | None:
    """What is wrong with this answer to this request, if anything."""
    status = answer.status_code
    if status >= 500:
        return "server error"
    if status not in request.allowed:
        return f"expected {sorted(request.allowed)}"
    if status < 400:
        return None
    empty_404 = status == 404 and "/silence/" in request.path and not answer.content  # Alertmanager's own
    if empty_404:
        return None
    if answer.headers.get("content-type", "").split(";")[0] != "application/json":
        return "a refusal without a JSON body"
    try:
        body = answer.json()
    except ValueError:
        return "undecodable JSON"
    if status in (401, 403, 413) and not (isinstance(body, dict) and {"error", "detail"} <= set(body)):
        return "access-layer refusal without {error, detail}"
    if status == 401 and "www-authenticate" not in answer.headers:
        return "401 without WWW-Authenticate"
    return None
