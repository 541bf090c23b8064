"""grafana: Grafana unified alerting webhook contact point (version "1")."""

from datetime import UTC, datetime

import pytest

from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.errors import PayloadError
from pipeline.ingest.formats import grafana
from pipeline.ingest.normalize import normalize

from .support import LABELS, RESOLVE_TIMEOUT, fixture, parse_kwargs

UTC = UTC


def parse(payload):
    return grafana.parse(payload, **parse_kwargs())


def grafana_payload(*alerts, **fields):
    return {"version": "1", "orgId": 3, "status": "firing", "alerts": list(alerts), **fields}


def test_grafana_unified_payload():
    batch = parse(fixture("grafana_unified.json"))
    assert batch.problems == []
    firing, resolved = batch.alerts
    assert {raw.source_format for raw in batch.alerts} == {"grafana"}

    assert firing.labels["alertname"] == "High CPU usage"
    assert firing.fingerprint == alert_fingerprint(firing.labels)
    assert firing.annotations == {
        "__dashboardUid__": "e5c2a1b7",
        "__panelId__": "4",
        "summary": "CPU usage on web-1 is 93.4%",
        "grafana_silence_url": (
            "https://grafana.example.com/alerting/silence/new?alertmanager=grafana"
            "&matcher=alertname%3DHigh+CPU+usage&matcher=grafana_folder%3DInfrastructure"
            "&matcher=instance%3Dweb-1&matcher=team%3Dplatform&orgId=1"
        ),
        "grafana_dashboard_url": "https://grafana.example.com/d/e5c2a1b7?orgId=1",
        "grafana_panel_url": "https://grafana.example.com/d/e5c2a1b7?orgId=1&viewPanel=4",
        "grafana_values": '{"B":93.4,"C":1}',
        "grafana_value_string": (
            "[ var='B' labels={instance=web-1} value=93.4 ], "
            "[ var='C' labels={instance=web-1} value=1 ]"
        ),
        "grafana_org_id": "1",
    }
    alert = normalize(firing, RESOLVE_TIMEOUT)
    assert (alert.status, alert.ends_at, alert.timeout) == ("firing", None, False)

    # Empty extras skipped; the sender's own grafana_dashboard_url wins.
    assert resolved.annotations == {
        "grafana_dashboard_url": "https://grafana.example.com/d/overridden",
        "summary": "CPU usage on web-2 is 41.0%",
        "grafana_silence_url": (
            "https://grafana.example.com/alerting/silence/new?alertmanager=grafana"
            "&matcher=instance%3Dweb-2&orgId=1"
        ),
        "grafana_image_url": "https://grafana.example.com/public/img/attachments/ZQ7x.png",
        "grafana_org_id": "1",
    }
    alert = normalize(resolved, RESOLVE_TIMEOUT)
    assert (alert.status, alert.ends_at) == (
        "resolved",
        datetime(2024, 5, 1, 11, 58, 10, tzinfo=UTC),
    )


def test_legacy_grafana_payload_is_refused_with_advice():
    with pytest.raises(PayloadError) as info:
        parse(fixture("grafana_legacy.json"))
    assert info.value.status == 400
    assert "legacy Grafana alerting payload is not supported" in info.value.message
    assert "unified alerting contact point of type webhook" in info.value.message


@pytest.mark.parametrize(
    "payload",
    [
        {"ruleId": 1, "state": "alerting"},
        {"evalMatches": [], "alerts": None},
        {"evalMatches": [], "alerts": "x", "version": "1"},
    ],
)
def test_legacy_detection(payload):
    with pytest.raises(PayloadError, match="legacy Grafana"):
        parse(payload)


def test_a_unified_payload_with_a_rule_id_key_is_not_legacy():
    batch = parse(grafana_payload({"labels": LABELS, "status": "firing"}, ruleId=7))
    assert len(batch.alerts) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"alerts": []}, 'unsupported Grafana webhook payload version: found none, expected "1"'),
        (
            {"version": "4", "alerts": []},
            'unsupported Grafana webhook payload version: found "4", expected "1"',
        ),
        ({"version": "1"}, 'Grafana webhook payload: "alerts" must be a list, got null'),
        ([{"labels": LABELS}], "expected a JSON object (Grafana webhook payload), got array"),
    ],
)
def test_unusable_payloads(payload, message):
    with pytest.raises(PayloadError) as info:
        parse(payload)
    assert (info.value.status, info.value.message) == (400, message)


EXTRAS_CASES = {
    "no extras but the org": ({}, {"grafana_org_id": "3"}),
    "empty strings skipped": (
        {"silenceURL": "", "panelURL": "", "valueString": "", "values": {}},
        {"grafana_org_id": "3"},
    ),
    "null and non-scalar extras skipped": (
        {"silenceURL": None, "dashboardURL": {"u": 1}, "values": [1, 2], "imageURL": ["x"]},
        {"grafana_org_id": "3"},
    ),
    "values sorted and compact": (
        {"values": {"B": 1.5, "A": 2, "C": None}},
        {"grafana_org_id": "3", "grafana_values": '{"A":2,"B":1.5,"C":null}'},
    ),
    "values with NaN have no JSON text": ({"values": {"A": float("nan")}}, {"grafana_org_id": "3"}),
    "sender annotation wins": (
        {"annotations": {"grafana_panel_url": "mine"}, "panelURL": "theirs"},
        {"grafana_panel_url": "mine", "grafana_org_id": "3"},
    ),
}


@pytest.mark.parametrize(("fields", "annotations"), EXTRAS_CASES.values(), ids=EXTRAS_CASES.keys())
def test_grafana_extras(fields, annotations):
    (raw,) = parse(grafana_payload({"labels": LABELS, "status": "firing", **fields})).alerts
    assert raw.annotations == annotations


def test_missing_org_id_adds_no_annotation():
    payload = grafana_payload({"labels": LABELS, "status": "firing"})
    del payload["orgId"]
    (raw,) = parse(payload).alerts
    assert raw.annotations == {}


def test_invalid_alert_among_valid_ones():
    batch = parse(
        grafana_payload(
            {"labels": {"alertname": "A"}, "status": "firing"},
            {"labels": {"alert name": "B"}, "status": "firing"},
            {"labels": {"alertname": "C"}, "status": "resolved"},
        )
    )
    assert [(p.index, p.reason) for p in batch.problems] == [
        (1, 'invalid label set: invalid name "alert name"')
    ]
    assert [raw.labels["alertname"] for raw in batch.alerts] == ["A", "C"]
