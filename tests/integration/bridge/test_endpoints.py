"""Every endpoint and sender format, through the real bridge process into the real alerts.raw."""


import httpx
import pytest

from pipeline.fingerprint import alert_fingerprint
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import settings_with_topology, wait_for_records


@pytest.fixture(scope="module")
def bridge(kafka_bootstrap, tmp_path_factory):
    settings = settings_with_topology(kafka_bootstrap, "endpoints")
    with running_bridge(settings, OPEN_SOURCES, tmp_path_factory.mktemp("bridge")) as running:
        yield running


def raw_records_of(bridge, run: str, count: int):
    return wait_for_records(
        bridge.settings, "alerts.raw",
        lambda rs: len([r for r in rs if r.value.labels.get("run") == run]) >= count,
        alive=bridge.component.alive, describe=bridge.log)


def only(records, run):
    return [r for r in records if r.value.labels.get("run") == run]


def test_alertmanager_v2_batch_with_invalid_alerts(bridge):
    body = [
        {"labels": {"alertname": "Up", "run": "v2", "instance": "a"}, "annotations": {"summary": "s"},
         "generatorURL": "http://prom/graph"},
        {"labels": {"alertname": "Up", "run": "v2", "instance": "b", "empty": ""},
         "endsAt": "2020-01-01T00:00:00Z"},
        {"labels": {"0bad": "x"}},
        {"labels": {"alertname": "Up"}, "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2029-01-01T00:00:00Z"},
    ]
    response = httpx.post(f"{bridge.url}/api/v2/alerts", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "invalid_alerts" and answer["accepted"] == 2
    assert answer["detail"] == 'invalid label set: invalid name "0bad"; start time must be before end time'
    assert [p["index"] for p in answer["invalid"]] == [2, 3]

    records = only(raw_records_of(bridge, "v2", 2), "v2")
    by_instance = {r.value.labels["instance"]: r for r in records}
    a, b = by_instance["a"], by_instance["b"]
    assert a.key == alert_fingerprint(a.value.labels) == a.value.fingerprint
    assert a.value.source == "prometheus" and a.value.source_format == "alertmanager-v2"
    assert a.value.annotations == {"summary": "s"} and a.value.generator_url == "http://prom/graph"
    assert "empty" not in b.value.labels, "empty label values are dropped"
    assert b.value.ends_at.year == 2020
    # startsAt missing with endsAt set → startsAt = endsAt (Alertmanager's rule)
    assert b.value.starts_at == b.value.ends_at


def test_alertmanager_webhook_v4(bridge):
    payload = {
        "version": "4", "groupKey": "{}:{alertname=\"Disk\"}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "pipeline", "groupLabels": {"alertname": "Disk"}, "commonLabels": {"alertname": "Disk"},
        "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "Disk", "run": "am", "instance": "x"},
             "annotations": {"summary": "full"}, "startsAt": "2026-01-01T00:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom", "fingerprint": "ignored"},
            {"status": "resolved", "labels": {"alertname": "Disk", "run": "am", "instance": "y"},
             "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2026-01-01T01:00:00Z",
             "generatorURL": "", "fingerprint": "ignored"},
        ],
    }
    response = httpx.post(f"{bridge.url}/api/v1/webhooks/alertmanager", json=payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "accepted": 2}
    records = {r.value.labels["instance"]: r.value for r in only(raw_records_of(bridge, "am", 2), "am")}
    assert records["x"].status == "firing" and records["x"].ends_at is None, "firing webhook alerts stay open"
    assert records["y"].status == "resolved"
    assert records["x"].source_format == "alertmanager-webhook-v4"
    assert records["x"].fingerprint == alert_fingerprint(records["x"].labels)


def test_alertmanager_webhook_rejects_other_versions(bridge):
    response = httpx.post(f"{bridge.url}/api/v1/webhooks/alertmanager", json={"version": "3", "alerts": []})
    assert response.status_code == 400
    assert "3" in response.json()["detail"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_grafana_unified(bridge, method):
    run = f"grafana-{method}"
    payload = {
        "receiver": "pipeline", "status": "firing", "orgId": 1, "version": "1", "state": "alerting",
        "title": "[FIRING:1] HighCPU", "message": "cpu", "groupKey": "k", "truncatedAlerts": 0,
        "externalURL": "http://grafana:3000/", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "alerts": [{
            "status": "firing", "labels": {"alertname": "HighCPU", "run": run},
            "annotations": {"summary": "cpu high"}, "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://grafana/alerting/1/edit",
            "fingerprint": "abc", "silenceURL": "http://grafana/silence", "dashboardURL": "http://grafana/d/1",
            "panelURL": "http://grafana/d/1?viewPanel=2", "values": {"B": 97.5, "C": 1},
            "valueString": "[ var='B' value=97.5 ]", "imageURL": "",
        }],
    }
    response = httpx.request(method, f"{bridge.url}/api/v1/webhooks/grafana", json=payload)
    assert response.status_code == 200, response.text
    [record] = only(raw_records_of(bridge, run, 1), run)
    annotations = record.value.annotations
    assert annotations["grafana_dashboard_url"] == "http://grafana/d/1"
    assert annotations["grafana_silence_url"] == "http://grafana/silence"
    assert annotations["grafana_panel_url"] == "http://grafana/d/1?viewPanel=2"
    assert "97.5" in annotations["grafana_values"]
    assert annotations["grafana_org_id"] == "1"
    assert "grafana_image_url" not in annotations, "empty extras are skipped"
    assert record.value.source_format == "grafana"


def test_legacy_grafana_gets_a_clear_400(bridge):
    legacy = {"evalMatches": [{"value": 100, "metric": "High value"}], "ruleId": 1, "ruleName": "Panel",
              "state": "alerting", "title": "[Alerting] Panel"}
    response = httpx.post(f"{bridge.url}/api/v1/webhooks/grafana", json=legacy)
    assert response.status_code == 400
    assert "legacy" in response.json()["detail"].lower()


def test_generic_mapping(bridge):
    payload = {"items": [
        {"title": "QueueBacklog", "service": "billing", "message": "backlog 10k", "state": "open", "run": "x"},
        {"title": "QueueBacklog", "service": "search", "message": "ok now", "state": "closed"},
        {"title": "QueueBacklog", "service": "mail", "state": "weird"},
    ]}
    response = httpx.post(f"{bridge.url}/api/v1/webhooks/generic/items", json=payload)
    assert response.status_code == 400, response.text
    assert response.json()["accepted"] == 2 and response.json()["invalid"][0]["index"] == 2
    records = wait_for_records(bridge.settings, "alerts.raw", lambda rs: len(
        [r for r in rs if r.value.source == "items"]) >= 2)
    by_service = {r.value.labels["service"]: r.value for r in records if r.value.source == "items"}
    assert by_service["billing"].status == "firing" and by_service["billing"].annotations["summary"] == "backlog 10k"
    assert by_service["search"].status == "resolved"


def test_alert_whose_encoded_record_is_too_large_is_invalid_not_a_503(bridge):
    """JSON spells a control character in six bytes: text under the ingest caps can still make a
    record larger than Kafka takes. Found by the fuzz test; it used to answer 503 forever."""
    body = [{"labels": {"alertname": "Small", "run": "size"}},
            {"labels": {"alertname": "Big", "run": "size"}, "annotations": {k: "\x01" * 56000 for k in "abc"}}]
    response = httpx.post(f"{bridge.url}/api/v2/alerts", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["accepted"] == 1
    [problem] = answer["invalid"]
    assert problem["index"] == 1 and problem["reason"].startswith("alert too large: its record is")
    records = only(raw_records_of(bridge, "size", 1), "size")
    assert [r.value.labels["alertname"] for r in records] == ["Small"]


def test_unknown_generic_source_and_wrong_methods(bridge):
    assert httpx.post(f"{bridge.url}/api/v1/webhooks/generic/nope", json={}).status_code == 404
    response = httpx.delete(f"{bridge.url}/api/v2/alerts")  # GET is the Alertmanager API's (pipeline.api)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_malformed_bodies(bridge):
    cases = [(b"{not json", 400, "not valid JSON"), (b'{"labels": {}}', 400, "array"), (b"", 400, "JSON")]
    for body, status, words in cases:
        response = httpx.post(f"{bridge.url}/api/v2/alerts", content=body,
                              headers={"content-type": "application/json"})
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["detail"], (body, response.text)
    response = httpx.post(f"{bridge.url}/api/v2/alerts", content=b"[]", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_health_readiness_metrics_and_openapi(bridge):
    assert httpx.get(f"{bridge.url}/healthz").json() == {"status": "alive"}
    assert httpx.get(f"{bridge.url}/readyz").status_code == 200
    metrics = httpx.get(f"{bridge.url}/metrics").text
    assert "bridge_requests_total" in metrics and "pipeline_source_alerts_received_total" in metrics
    document = httpx.get(f"{bridge.url}/openapi.json").json()
    assert {"/api/v2/alerts", "/api/v1/webhooks/alertmanager", "/api/v1/webhooks/grafana",
            "/api/v1/webhooks/generic/{source}", "/healthz", "/readyz", "/metrics"} <= set(document["paths"])
    assert httpx.get(f"{bridge.url}/openapi.yaml").text.startswith("openapi: 3")
