"""Every auth mode and every limit of a source, through the real bridge process."""

import hashlib
import hmac
import time

import httpx
import orjson
import pytest

from pipeline.bridge.auth import sign
from pipeline.bridge.sources import load_sources
from tests.integration.bridge_harness import running_bridge
from tests.integration.helpers import settings_with_topology, wait_for_records

SECRET = "s3cret-for-tests"
SOURCES = {
    "bearer": {"type": "alertmanager-v2", "path": "/bearer/api/v2/alerts",
               "auth": {"type": "bearer", "tokens": ["token-old", "token-new"]}},
    "signed": {"type": "alertmanager-webhook", "path": "/signed/webhook",
               "auth": {"type": "hmac", "secret": SECRET, "header": "X-Signature", "prefix": "sha256=",
                        "timestamp_header": "X-Timestamp", "tolerance": "5m"}},
    "signed-body": {"type": "alertmanager-v2", "path": "/signed-body/api/v2/alerts",
                    "auth": {"type": "hmac", "secret": SECRET, "header": "X-Hub-Signature-256"}},
    "limited": {"type": "alertmanager-v2", "path": "/limited/api/v2/alerts", "auth": "none",
                "limits": {"max_body_bytes": 2048, "max_alerts": 3,
                           "rate_limit": {"requests_per_second": 0.2, "burst": 3}}},
}


@pytest.fixture(scope="module")
def bridge(kafka_bootstrap, tmp_path_factory):
    settings = settings_with_topology(kafka_bootstrap, "auth")
    with running_bridge(settings, SOURCES, tmp_path_factory.mktemp("bridge")) as running:
        running.registry = load_sources(running.settings.bridge.sources_dir)
        yield running


def v2_body(name: str) -> bytes:
    return orjson.dumps([{"labels": {"alertname": name, "case": "auth"}}])


def webhook_body(name: str) -> bytes:
    return orjson.dumps({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": name}, "startsAt": "2026-01-01T00:00:00Z"}]})


def post(bridge, path, body, headers=None):
    return httpx.post(f"{bridge.url}{path}", content=body,
                      headers={"content-type": "application/json", **(headers or {})})


def stored_names(bridge) -> set[str]:
    return {r.value.labels["alertname"] for r in wait_for_records(bridge.settings, "alerts.raw", lambda _: True)}


def test_bearer_tokens(bridge):
    path = "/bearer/api/v2/alerts"
    assert post(bridge, path, v2_body("BearerOld"), {"Authorization": "Bearer token-old"}).status_code == 200
    assert post(bridge, path, v2_body("BearerNew"), {"Authorization": "Bearer token-new"}).status_code == 200, \
        "both tokens of a rotation are accepted"
    missing = post(bridge, path, v2_body("BearerMissing"))
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    wrong = post(bridge, path, v2_body("BearerWrong"), {"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "forbidden"
    assert "nope" not in wrong.text and "token-old" not in wrong.text, "no credential is echoed"
    malformed = post(bridge, path, v2_body("BearerBasic"), {"Authorization": "Basic dXNlcjpwdw=="})
    assert malformed.status_code == 401
    names = stored_names(bridge)
    assert {"BearerOld", "BearerNew"} <= names
    assert not names & {"BearerMissing", "BearerWrong", "BearerBasic"}, "refused requests store nothing"


def test_hmac_with_timestamp_and_replay_window(bridge):
    path, auth = "/signed/webhook", bridge.registry.get("signed").auth
    now = time.time()
    good = webhook_body("SignedGood")
    assert post(bridge, path, good, sign(auth, good, now)).status_code == 200

    tampered = webhook_body("SignedTampered")
    headers = sign(auth, good, now)  # signature of another body
    assert post(bridge, path, tampered, headers).status_code == 403

    replayed = webhook_body("SignedReplayed")
    response = post(bridge, path, replayed, sign(auth, replayed, now - 3600))
    assert response.status_code == 403 and "tolerance" in response.json()["detail"]
    future = webhook_body("SignedFuture")
    assert post(bridge, path, future, sign(auth, future, now + 3600)).status_code == 403

    unsigned = webhook_body("SignedMissing")
    assert post(bridge, path, unsigned).status_code == 401
    no_timestamp = webhook_body("SignedNoTimestamp")
    headers = {k: v for k, v in sign(auth, no_timestamp, now).items() if k.lower() != "x-timestamp"}
    assert post(bridge, path, no_timestamp, headers).status_code == 401

    names = stored_names(bridge)
    assert "SignedGood" in names
    assert not names & {"SignedTampered", "SignedReplayed", "SignedFuture", "SignedMissing", "SignedNoTimestamp"}


def test_hmac_over_the_body_as_github_signs_it(bridge):
    path = "/signed-body/api/v2/alerts"
    body = v2_body("GithubStyle")
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()  # computed independently of sign()
    assert post(bridge, path, body, {"X-Hub-Signature-256": f"sha256={digest}"}).status_code == 200
    assert post(bridge, path, body, {"X-Hub-Signature-256": digest}).status_code == 403, "prefix required"
    assert post(bridge, path, body, {"X-Hub-Signature-256": "sha256=" + "0" * 64}).status_code == 403


def test_limits_body_size_alert_count_and_rate(bridge):
    path = "/limited/api/v2/alerts"
    big = orjson.dumps([{"labels": {"alertname": "Big"}, "annotations": {"text": "x" * 4000}}])
    response = post(bridge, path, big)
    assert response.status_code == 413 and "2048" in response.json()["detail"]

    many = orjson.dumps([{"labels": {"alertname": f"Many{i}"}} for i in range(4)])
    response = post(bridge, path, many)
    assert response.status_code == 413 and "at most 3" in response.json()["detail"]

    # Burst of 3, refill 0.2/s. The oversized body was refused before the limiter; the request with
    # too many alerts passed it (parsing comes after), so one token is gone.
    statuses = [post(bridge, path, v2_body(f"Rate{i}")).status_code for i in range(3)]
    assert statuses[0] == 200 and 429 in statuses
    limited = post(bridge, path, v2_body("RateLimited"))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate_limited"

    names = stored_names(bridge)
    assert "Rate0" in names and "RateLimited" not in names
    assert not any(n.startswith("Many") or n == "Big" for n in names)


def test_chunked_body_without_length_is_still_capped(bridge):
    def chunks():
        yield b'[{"labels": {"alertname": "Chunked"}, "annotations": {"t": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}}]'

    response = httpx.post(f"{bridge.url}/limited/api/v2/alerts", content=chunks(),
                          headers={"content-type": "application/json"})
    # The body is read (bounded) before auth and rate limit, so even an exhausted limiter answers 413.
    assert response.status_code == 413, response.text
    assert "2048" in response.json()["detail"]
