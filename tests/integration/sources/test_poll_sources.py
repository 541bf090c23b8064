"""Poll sources against the real Debian Prometheus and Alertmanager 0.25, and a JSON API served by the test.

Each test runs `pipeline sources run` as a process with a 1 s poll interval and reads alerts.raw.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from werkzeug import Request, Response

from pipeline.devenv.components import wait_until_ready
from pipeline.devenv.process import free_port
from tests.integration.helpers import wait_for_records
from tests.integration.peer_processes import running_alertmanager, running_prometheus
from tests.integration.sources.conftest import running_sources

INTERVAL_S = 1.0
ENDS_AT_INTERVALS = 4

RULES = {"groups": [{"name": "poll-test", "interval": "1s", "rules": [
    {"alert": "AlwaysFiring", "expr": "vector(1)", "labels": {"severity": "warning"},
     "annotations": {"summary": "it fires"}},
    # Pending for an hour: Prometheus sends no pending alert to an Alertmanager, nor does the source.
    {"alert": "StillPending", "expr": "vector(1)", "for": "1h"},
]}]}


def poll_source(source_type: str, urls: list[str], **poll: object) -> dict:
    return {"kind": "poll", "type": source_type, "labels": {"cluster": "eu1"},
            "poll": {"urls": urls, "interval": "1s", "timeout": "800ms", **poll},
            "breaker": {"failures": 2, "cooldown": "30s"}}


def test_prometheus_firing_alerts_are_polled_with_a_refreshed_end(settings, applied_topology, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # the other half of an "HA pair", down
    config = {"global": {"evaluation_interval": "1s", "scrape_interval": "15s"}}
    with running_prometheus(tmp_path / "prometheus", config, rule_files={"rules.yml": RULES}) as prometheus:
        spec = {"prom": poll_source("prometheus", [prometheus.url, dead])}
        with running_sources(settings, spec, tmp_path, ready=False) as runner:
            raw = wait_for_records(settings, "alerts.raw", lambda records: len(records) >= 3, describe=runner.log)
            wait_until_ready(runner.component, f"{runner.url}/readyz")  # degraded (one upstream down) is still ready
            status = runner.status()[0]
            active_at = httpx.get(f"{prometheus.url}/api/v1/alerts").json()["data"]["alerts"]

    assert {record.value.labels["alertname"] for record in raw} == {"AlwaysFiring"}
    firing = next(a for a in active_at if a["labels"]["alertname"] == "AlwaysFiring")
    for record in raw:
        alert = record.value
        assert alert.labels == {"alertname": "AlwaysFiring", "severity": "warning", "cluster": "eu1"}
        assert alert.annotations == {"summary": "it fires"}
        assert alert.source == "prom" and alert.source_format == "prometheus-api"
        assert alert.starts_at == datetime.fromisoformat(firing["activeAt"].replace("Z", "+00:00"))
        # The end every poll gives: poll time + 4 intervals, as Prometheus's own endsAt.
        assert alert.ends_at - alert.received_at == timedelta(seconds=ENDS_AT_INTERVALS * INTERVAL_S)
    ends = [record.value.ends_at for record in raw]
    assert ends == sorted(ends) and ends[-1] > ends[0], "each poll moves the end forward"
    assert status["health"] == "degraded" and "1 of 2 upstreams failing" in status["detail"]
    by_url = {u["url"]: u for u in status["upstreams"]}
    assert by_url[prometheus.url]["state"] == "ok" and by_url[prometheus.url]["alerts"] == 1
    assert by_url[dead]["state"] == "failing"


def test_alertmanager_alerts_are_polled_side_by_side_and_stop_when_resolved_there(settings, applied_topology,
                                                                                  tmp_path):
    config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
    with running_alertmanager(tmp_path / "am", config) as alertmanager:
        now = datetime.now(timezone.utc)
        in_an_hour = (now + timedelta(hours=1)).isoformat()
        alerts = [{"labels": {"alertname": "DiskFull", "team": "db", "instance": "db1"}, "startsAt": now.isoformat(),
                   "endsAt": in_an_hour, "annotations": {"summary": "95%"}, "generatorURL": "http://prom/graph"},
                  {"labels": {"alertname": "Latency", "team": "web"}, "startsAt": now.isoformat(),
                   "endsAt": in_an_hour}]
        httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts).raise_for_status()
        spec = {"old-am": poll_source("alertmanager", [alertmanager.url], filter=['team="db"'])}
        with running_sources(settings, spec, tmp_path) as runner:
            wait_for_records(settings, "alerts.raw", lambda records: len(records) >= 2, describe=runner.log)
            resolved_at = datetime.now(timezone.utc)
            httpx.post(f"{alertmanager.url}/api/v2/alerts",
                       json=[{**alerts[0], "endsAt": resolved_at.isoformat()}]).raise_for_status()
            time.sleep(4 * INTERVAL_S)  # polls after the resolve no longer see it
            raw = wait_for_records(settings, "alerts.raw", lambda records: True)
            time.sleep(2 * INTERVAL_S)
            later = wait_for_records(settings, "alerts.raw", lambda records: True)

    assert {record.value.labels["alertname"] for record in raw} == {"DiskFull"}, "the filter keeps team=db only"
    alert = raw[-1].value
    assert alert.labels == {"alertname": "DiskFull", "team": "db", "instance": "db1", "cluster": "eu1"}
    assert alert.generator_url == "http://prom/graph" and alert.annotations == {"summary": "95%"}
    # Alertmanager says an hour; the poll caps it at 4 intervals, so it resolves here soon after it is gone there.
    assert all(r.value.ends_at - r.value.received_at == timedelta(seconds=4) for r in raw)
    assert len(later) == len(raw), "polled again after Alertmanager resolved it"
    assert raw[-1].value.ends_at <= resolved_at + timedelta(seconds=ENDS_AT_INTERVALS * INTERVAL_S + 1)


@pytest.fixture
def json_api(httpserver):
    """A generic JSON API: bearer-protected, answers what the test sets in ``state``."""
    state = {"items": [{"title": "QueueStuck", "host": "mq1", "level": "crit", "msg": "no consumer"}],
             "status": 200}

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") != "Bearer poll-token":
            return Response('{"error": "unauthorized"}', status=401)
        if state["status"] != 200:
            return Response("upstream broken", status=state["status"])
        import json

        return Response(json.dumps({"data": {"items": state["items"]}}), content_type="application/json")

    httpserver.expect_request("/v1/incidents").respond_with_handler(handler)
    return httpserver.url_for("/v1/incidents"), state


JSON_MAPPING = {"alerts": "data.items", "labels": {"alertname": "title", "host": "host"},
                "annotations": {"summary": "msg"},
                "severity": {"path": "level", "map": {"crit": "critical"}}}


def test_generic_json_api_is_polled_with_its_mapping_and_the_breaker_opens_when_it_fails(
        settings, applied_topology, tmp_path, json_api, monkeypatch):
    url, state = json_api
    monkeypatch.setenv("POLL_TOKEN", "poll-token")
    spec = {"incidents": {**poll_source("json", [url], auth={"type": "bearer", "token_env": "POLL_TOKEN"}),
                          "mapping": JSON_MAPPING}}
    with running_sources(settings, spec, tmp_path) as runner:
        raw = wait_for_records(settings, "alerts.raw", lambda records: len(records) >= 1, describe=runner.log)
        state["status"] = 503
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and runner.status()[0]["upstreams"][0]["breaker"] != "open":
            time.sleep(0.2)
        status = runner.status()[0]
        ready = httpx.get(f"{runner.url}/readyz", timeout=5)
        time.sleep(2 * INTERVAL_S)
        metrics = httpx.get(f"{runner.url}/metrics", timeout=5).text

    alert = raw[0].value
    assert alert.labels == {"alertname": "QueueStuck", "host": "mq1", "severity": "critical", "cluster": "eu1"}
    assert alert.annotations == {"summary": "no consumer"} and alert.source_format == "generic"
    assert alert.ends_at - alert.received_at == timedelta(seconds=4)
    upstream = status["upstreams"][0]
    assert upstream["breaker"] == "open" and status["health"] == "failing"
    assert "HTTP 503: upstream broken" in status["detail"]
    assert ready.status_code == 503 and ready.json()["sources"] == {"incidents": "failing"}
    # While the circuit is open the upstream is not called: polls are counted as skipped.
    assert f'pipeline_source_upstream_calls_total{{outcome="skipped",source="incidents",upstream="{url}"}}' in metrics
    assert 'POLL_TOKEN' not in metrics and "poll-token" not in runner.log(200)
