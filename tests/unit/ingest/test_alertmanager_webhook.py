"""alertmanager-webhook: Alertmanager webhook_configs payload version 4."""

from datetime import UTC, datetime

import pytest

from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.errors import AlertProblem, PayloadError
from pipeline.ingest.formats import alertmanager_webhook
from pipeline.ingest.normalize import normalize

from .support import LABELS, NOW, RESOLVE_TIMEOUT, fixture, parse_kwargs

UTC = UTC


def parse(payload):
    return alertmanager_webhook.parse(payload, **parse_kwargs())


def webhook(*alerts, **fields):
    return {"version": "4", "status": "firing", "receiver": "r", "alerts": list(alerts), **fields}


def test_alertmanager_webhook_payload():
    batch = parse(fixture("alertmanager_webhook_v4.json"))
    assert batch.problems == []
    firing, resolved = batch.alerts
    assert {raw.source_format for raw in batch.alerts} == {"alertmanager-webhook-v4"}

    # Empty "team" dropped; the sender's fingerprint replaced by ours.
    assert firing.labels == {
        "alertname": "HighErrorRate",
        "instance": "api-1:8080",
        "job": "api",
        "severity": "critical",
    }
    assert firing.fingerprint == alert_fingerprint(firing.labels) != "9d6ab1bb0bd4e8a4"
    assert firing.status == "firing"
    assert firing.starts_at == datetime(2024, 5, 1, 11, 50, 12, 345678, tzinfo=UTC)
    assert firing.ends_at is None  # Go's zero time
    alert = normalize(firing, RESOLVE_TIMEOUT)
    assert (alert.status, alert.ends_at, alert.timeout) == ("firing", None, False)

    assert resolved.status == "resolved"
    assert resolved.ends_at == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)
    alert = normalize(resolved, RESOLVE_TIMEOUT)
    assert (alert.status, alert.ends_at, alert.timeout) == ("resolved", resolved.ends_at, False)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected a JSON object (Alertmanager webhook payload), got array"),
        ("x", "expected a JSON object (Alertmanager webhook payload), got string"),
        (
            {"alerts": []},
            'unsupported Alertmanager webhook payload version: found none, expected "4"',
        ),
        (
            {"version": "3", "alerts": []},
            'unsupported Alertmanager webhook payload version: found "3", expected "4"',
        ),
        (
            {"version": 4, "alerts": []},
            'unsupported Alertmanager webhook payload version: found 4 (a number), expected "4"',
        ),
        (
            {"version": "1", "orgId": 1, "alerts": []},
            'unsupported Alertmanager webhook payload version: found "1", expected "4"',
        ),
        (
            {"version": ["4"], "alerts": []},
            'unsupported Alertmanager webhook payload version: found an array, expected "4"',
        ),
        ({"version": "4"}, 'Alertmanager webhook payload: "alerts" must be a list, got null'),
        (
            {"version": "4", "alerts": {"a": 1}},
            'Alertmanager webhook payload: "alerts" must be a list, got object',
        ),
    ],
)
def test_unusable_payloads(payload, message):
    with pytest.raises(PayloadError) as info:
        parse(payload)
    assert (info.value.status, info.value.message) == (400, message)


STATUS_CASES = {
    "firing, zero end": (
        {"status": "firing", "endsAt": "0001-01-01T00:00:00Z"},
        ("firing", None, False),
    ),
    "firing, no end key": ({"status": "firing"}, ("firing", None, False)),
    "resolved with end": (
        {"status": "resolved", "endsAt": "2024-05-01T11:59:00Z"},
        ("resolved", datetime(2024, 5, 1, 11, 59, tzinfo=UTC), False),
    ),
    "resolved, zero end": (
        {"status": "resolved", "endsAt": "0001-01-01T00:00:00Z"},
        ("resolved", NOW, False),
    ),
    # A webhook alert without status falls back to Alertmanager API v2 timing.
    "no status": ({}, ("firing", NOW + RESOLVE_TIMEOUT, True)),
    "null status": ({"status": None}, ("firing", NOW + RESOLVE_TIMEOUT, True)),
}


@pytest.mark.parametrize(("fields", "expected"), STATUS_CASES.values(), ids=STATUS_CASES.keys())
def test_per_alert_status_is_explicit(fields, expected):
    item = {"labels": LABELS, "startsAt": "2024-05-01T11:00:00Z", **fields}
    (raw,) = parse(webhook(item)).alerts
    alert = normalize(raw, RESOLVE_TIMEOUT)
    assert (alert.status, alert.ends_at, alert.timeout) == expected


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("pending", 'invalid status "pending": must be "firing", "resolved" or absent'),
        (1, "status must be a string, got number"),
    ],
)
def test_bad_status_is_a_problem(status, reason):
    batch = parse(
        webhook({"labels": LABELS, "status": status}, {"labels": LABELS, "status": "firing"})
    )
    assert batch.problems == [AlertProblem(0, reason)]
    assert len(batch.alerts) == 1


def test_group_fields_are_ignored_and_each_alert_keeps_its_own_labels():
    payload = webhook(
        {"labels": {"alertname": "A"}, "status": "firing"},
        commonLabels={"team": "x"},
        groupLabels={"alertname": "A"},
        truncatedAlerts=5,
    )
    (raw,) = parse(payload).alerts
    assert raw.labels == {"alertname": "A"}
