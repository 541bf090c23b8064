"""alertmanager-v2: Prometheus's POST /api/v2/alerts body."""

from datetime import UTC, datetime

import pytest

from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.errors import AlertProblem, PayloadError
from pipeline.ingest.formats import alertmanager_v2
from pipeline.ingest.normalize import normalize

from .support import LABELS, NOW, RESOLVE_TIMEOUT, at, fixture, parse_kwargs

UTC = UTC


def parse(payload):
    return alertmanager_v2.parse(payload, **parse_kwargs())


def test_prometheus_payload():
    batch = parse(fixture("prometheus_v2.json"))
    assert batch.problems == []
    crash, disk, watchdog = batch.alerts
    assert all(raw.source == "test" and raw.received_at == NOW for raw in batch.alerts)
    assert all(
        raw.source_format == "alertmanager-v2" and raw.status is None for raw in batch.alerts
    )

    assert crash.labels["pod"] == "checkout-7d9f8b6c5-x2x9q"
    assert crash.annotations["summary"] == "Pod is crash looping."
    assert crash.starts_at == datetime(2024, 5, 1, 11, 42, 7, 281000, tzinfo=UTC)
    assert crash.ends_at == datetime(2024, 5, 1, 12, 4, 7, 281000, tzinfo=UTC)
    assert crash.generator_url.startswith("http://prometheus-k8s-0:9090/graph?g0.expr=")
    assert crash.fingerprint == alert_fingerprint(crash.labels)
    assert normalize(crash, RESOLVE_TIMEOUT).status == "firing"

    # +02:00 converted to UTC; the end, a nanosecond short of 11:59:30.000001, is cut to 11:59:30.
    assert disk.starts_at == datetime(2024, 5, 1, 11, 30, 0, 500000, tzinfo=UTC)
    assert disk.ends_at == datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC)
    assert normalize(disk, RESOLVE_TIMEOUT).status == "resolved"

    # No times at all: started now, the timeout end is left to normalize.
    assert (watchdog.starts_at, watchdog.ends_at) == (NOW, None)
    alert = normalize(watchdog, RESOLVE_TIMEOUT)
    assert (alert.ends_at, alert.timeout, alert.status) == (at(5), True, "firing")


@pytest.mark.parametrize(
    ("payload", "received"),
    [
        ({"labels": LABELS}, "object"),
        ("alerts", "string"),
        (None, "null"),
        (42, "number"),
        (True, "boolean"),
    ],
)
def test_body_must_be_an_array(payload, received):
    with pytest.raises(PayloadError) as info:
        parse(payload)
    assert info.value.status == 400
    assert info.value.message == (
        f"expected a JSON array of alerts (Alertmanager API v2), got {received}"
    )


def test_empty_array_is_an_empty_batch():
    batch = parse([])
    assert batch.alerts == [] and batch.problems == []


ALERT_PROBLEMS = {
    "not an object": ("alert", "alert must be a JSON object, got string"),
    "array element": ([LABELS], "alert must be a JSON object, got array"),
    "no labels": ({"annotations": {}}, "labels missing"),
    "null labels": ({"labels": None}, "labels missing"),
    "labels not an object": ({"labels": ["a"]}, "labels must be an object of strings, got array"),
    "number label value": (
        {"labels": {"alertname": "X", "port": 8080}},
        'labels: value of "port" must be a string, got number',
    ),
    "null label value": (
        {"labels": {"alertname": None}},
        'labels: value of "alertname" must be a string, got null',
    ),
    "annotations not an object": (
        {"labels": LABELS, "annotations": "text"},
        "annotations must be an object of strings, got string",
    ),
    "nested annotation": (
        {"labels": LABELS, "annotations": {"x": {"y": "z"}}},
        'annotations: value of "x" must be a string, got object',
    ),
    "bad startsAt": (
        {"labels": LABELS, "startsAt": "2024-05-01 12:00"},
        'invalid startsAt "2024-05-01 12:00": not an RFC 3339 timestamp',
    ),
    "numeric endsAt": (
        {"labels": LABELS, "endsAt": 1714564800},
        "invalid endsAt: expected an RFC 3339 string, got number",
    ),
    "impossible date": (
        {"labels": LABELS, "startsAt": "2024-02-30T00:00:00Z"},
        'invalid startsAt "2024-02-30T00:00:00Z": out of range (day is out of range for month)',
    ),
    "generatorURL not a string": (
        {"labels": LABELS, "generatorURL": ["http://x"]},
        "generatorURL must be a string, got array",
    ),
    "invalid label name": (
        {"labels": {"foo-bar": "x"}},
        'invalid label set: invalid name "foo-bar"',
    ),
    "only empty labels": ({"labels": {"alertname": ""}}, "at least one label pair required"),
    "end before start": (
        {"labels": LABELS, "startsAt": "2024-05-01T12:00:00Z", "endsAt": "2024-05-01T11:00:00Z"},
        "start time must be before end time",
    ),
    "too many labels": (
        {"labels": {f"l{i}": "v" for i in range(300)}},
        "too many labels: 300 (max 256)",
    ),
}


@pytest.mark.parametrize(("item", "reason"), ALERT_PROBLEMS.values(), ids=ALERT_PROBLEMS.keys())
def test_invalid_alert_is_a_problem_at_its_index_and_the_others_are_accepted(item, reason):
    valid = {"labels": LABELS}
    batch = parse([valid, item, {"labels": {"alertname": "Other"}}])
    assert batch.problems == [AlertProblem(1, reason)]
    assert [raw.labels for raw in batch.alerts] == [LABELS, {"alertname": "Other"}]


def test_several_problems_keep_their_indices_in_order():
    batch = parse(
        [{"labels": {}}, {"labels": LABELS}, 3, {"labels": {"a-b": "c"}}, {"labels": LABELS}]
    )
    assert [problem.index for problem in batch.problems] == [0, 2, 3]
    assert len(batch.alerts) == 2


def test_unknown_keys_and_status_are_ignored():
    batch = parse([{"labels": LABELS, "status": "resolved", "receiver": "x", "fingerprint": "zz"}])
    (raw,) = batch.alerts
    assert raw.status is None
    assert raw.fingerprint == alert_fingerprint(LABELS)
    assert normalize(raw, RESOLVE_TIMEOUT).status == "firing"


def test_go_zero_times_are_unset():
    batch = parse(
        [{"labels": LABELS, "startsAt": "0001-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]
    )
    (raw,) = batch.alerts
    assert (raw.starts_at, raw.ends_at) == (NOW, None)


def test_empty_label_values_are_dropped_from_what_goes_to_kafka():
    (raw,) = parse([{"labels": {**LABELS, "team": ""}}]).alerts
    assert raw.labels == LABELS


def test_non_string_label_names_from_a_non_json_caller_are_a_problem():
    batch = parse([{"labels": {1: "x"}}])
    assert batch.problems == [AlertProblem(0, "labels: a name is a number, not a string")]
