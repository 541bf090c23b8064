"""generic: any JSON body mapped to alerts by a GenericMapping."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.errors import AlertProblem, PayloadError
from pipeline.ingest.formats import generic
from pipeline.ingest.formats.generic_mapping import GenericMapping
from pipeline.ingest.normalize import normalize

from .support import NOW, RESOLVE_TIMEOUT, fixture, parse_kwargs

UTC = UTC

ISSUE_MAPPING = {
    "alerts": "items",
    "labels": {"alertname": "title", "service": "tags.service"},
    "labels_from": "tags",
    "annotations": {"summary": "message", "runbook_url": "links.runbook"},
    "static_labels": {"source_system": "sentry"},
    "status": {
        "path": "state",
        "firing": ["alerting", "triggered"],
        "resolved": ["ok", "resolved"],
    },
    "starts_at": "started_at",
    "ends_at": "ended_at",
    "generator_url": "url",
    "severity": {"path": "priority", "map": {"1": "critical", "2": "warning"}, "default": "info"},
}


def parse(payload, **mapping):
    return generic.parse(payload, **parse_kwargs(mapping=GenericMapping.model_validate(mapping)))


def only_alert(payload, **mapping):
    batch = parse(payload, **mapping)
    assert batch.problems == []
    (raw,) = batch.alerts
    return raw


def test_issue_events_payload():
    batch = parse(fixture("generic_issue_events.json"), **ISSUE_MAPPING)
    assert batch.problems == []
    error, timeout = batch.alerts
    assert {raw.source_format for raw in batch.alerts} == {"generic"}

    assert error.labels == {
        "alertname": "TypeError: cannot read properties of undefined (reading 'total')",
        "service": "checkout",
        "environment": "production",
        "release": "checkout@2024.05.01",
        "level": "error",
        "handled": "false",  # booleans as JSON writes them; the nested browser object is skipped
        "severity": "critical",  # priority 1 (a number) matched the map's "1"
        "source_system": "sentry",
    }
    assert error.annotations == {
        "summary": "Unhandled TypeError in CartSummary.render",
        "runbook_url": "https://runbooks.example.com/checkout/frontend-errors",
    }
    assert error.status == "firing"
    assert error.starts_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # Unix seconds
    assert error.ends_at is None
    assert error.generator_url == "https://sentry.example.com/organizations/shop/issues/4509/"
    assert error.fingerprint == alert_fingerprint(error.labels)
    alert = normalize(error, RESOLVE_TIMEOUT)
    assert (alert.status, alert.ends_at, alert.timeout) == ("firing", None, False)  # explicit: open

    assert timeout.labels["severity"] == "warning"
    assert "runbook_url" not in timeout.annotations  # missing path: no annotation, no error
    assert timeout.status == "resolved"
    assert timeout.starts_at == datetime(2024, 5, 1, 11, 30, tzinfo=UTC)  # Unix milliseconds
    assert timeout.ends_at == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)


def test_without_alerts_path_the_whole_body_is_one_alert():
    raw = only_alert(
        {"name": "Backup failed", "host": "nas-1"}, labels={"alertname": "name", "host": "host"}
    )
    assert raw.labels == {"alertname": "Backup failed", "host": "nas-1"}
    assert raw.status is None  # no status mapping: Alertmanager API v2 timing
    alert = normalize(raw, RESOLVE_TIMEOUT)
    assert (alert.status, alert.ends_at, alert.timeout) == ("firing", NOW + RESOLVE_TIMEOUT, True)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"items": {"a": 1}}, "alerts path 'items' must find a list of alerts, found object"),
        ({"other": []}, "alerts path 'items' must find a list of alerts, found null"),
        ([], "alerts path 'items' must find a list of alerts, found null"),
    ],
)
def test_alerts_path_must_find_a_list(payload, message):
    with pytest.raises(PayloadError) as info:
        parse(payload, alerts="items", labels={"alertname": "t"})
    assert (info.value.status, info.value.message) == (422, message)


def test_alerts_path_failing_on_the_data_is_a_payload_error():
    with pytest.raises(PayloadError, match="alerts: path 'max\\(items\\)' failed"):
        parse({"items": [1, "a"]}, alerts="max(items)", labels={"alertname": "t"})


def test_empty_alert_list_is_an_empty_batch():
    batch = parse({"items": []}, alerts="items", labels={"alertname": "t"})
    assert batch.alerts == [] and batch.problems == []


def test_partial_batch():
    batch = parse(
        {"items": [{"t": "A"}, {"x": 1}, "not an object", {"t": "B"}, {"t": ""}]},
        alerts="items",
        labels={"alertname": "t"},
    )
    assert batch.problems == [
        AlertProblem(1, "at least one label pair required"),
        AlertProblem(2, "alert must be a JSON object, got string"),
        AlertProblem(4, "at least one label pair required"),
    ]
    assert [raw.labels for raw in batch.alerts] == [{"alertname": "A"}, {"alertname": "B"}]


VALUE_CASES = {
    "string": ("x", "x"),
    "integer": (42, "42"),
    "float": (0.5, "0.5"),
    "boolean": (True, "true"),
    "object as compact JSON": ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
    "array as compact JSON": (["x", 1], '["x",1]'),
}


@pytest.mark.parametrize(("value", "text"), VALUE_CASES.values(), ids=VALUE_CASES.keys())
def test_mapped_values_become_text(value, text):
    raw = only_alert({"v": value}, labels={"alertname": "v"}, annotations={"detail": "v"})
    assert raw.labels == {"alertname": text}
    assert raw.annotations == {"detail": text}


def test_null_and_missing_values_give_no_label():
    raw = only_alert(
        {"v": None}, labels={"alertname": "v", "gone": "nowhere.at.all"}, static_labels={"s": "x"}
    )
    assert raw.labels == {"s": "x"}


def test_labels_from_merges_scalars_only():
    raw = only_alert(
        {
            "tags": {
                "env": "prod",
                "n": 3,
                "ok": False,
                "nested": {"a": "b"},
                "list": [1],
                "none": None,
            }
        },
        labels_from="tags",
    )
    assert raw.labels == {"env": "prod", "n": "3", "ok": "false"}


def test_label_precedence():
    body = {"tags": {"env": "from-tags", "team": "from-tags"}, "env": "explicit", "prio": "1"}
    raw = only_alert(
        body,
        labels_from="tags",
        labels={"env": "env"},
        severity={"path": "prio", "map": {"1": "critical"}},
        static_labels={"team": "static"},
    )
    assert raw.labels == {"env": "explicit", "team": "static", "severity": "critical"}


def test_annotations_from_then_annotations():
    raw = only_alert(
        {"name": "x", "extra": {"summary": "from extra", "note": "n"}, "msg": "explicit"},
        labels={"alertname": "name"},
        annotations_from="extra",
        annotations={"summary": "msg"},
    )
    assert raw.annotations == {"summary": "explicit", "note": "n"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"tags": "env=prod"}, "labels_from path 'tags' must find an object, found string"),
        ({"tags": {f"t{i}": "v" for i in range(300)}}, "too many labels: 300 (max 256)"),
        ({"tags": {"bad-name": "v"}}, 'invalid label set: invalid name "bad-name"'),
    ],
)
def test_labels_from_problems(body, reason):
    batch = parse(body, labels_from="tags", static_labels={"alertname": "A"})
    assert batch.problems == [AlertProblem(0, reason)]


STATUS_CASES = {
    "firing value": ("triggered", "firing"),
    "resolved value": ("ok", "resolved"),
    "number matched as text": (0, "resolved"),
    "missing": (None, None),
}


@pytest.mark.parametrize(("state", "status"), STATUS_CASES.values(), ids=STATUS_CASES.keys())
def test_status_mapping(state, status):
    mapping = dict(
        labels={"alertname": "n"},
        status={"path": "state", "firing": ["triggered"], "resolved": ["ok", "0"]},
    )
    assert only_alert({"n": "A", "state": state}, **mapping).status == status


@pytest.mark.parametrize(
    ("state", "shown"), [("paused", '"paused"'), ({"s": 1}, "an object"), ("OK", '"OK"')]
)
def test_unlisted_status_value_is_a_problem(state, shown):
    batch = parse(
        {"n": "A", "state": state},
        labels={"alertname": "n"},
        status={"path": "state", "firing": ["triggered"], "resolved": ["ok"]},
    )
    assert batch.problems == [
        AlertProblem(
            0,
            f"status value {shown} at 'state' is neither firing ['triggered'] nor resolved ['ok']",
        )
    ]


SEVERITY_CASES = {
    "mapped": ({"map": {"1": "critical"}, "default": "warning"}, 1, "critical"),
    "unmapped gets the default": ({"map": {"1": "critical"}, "default": "warning"}, 7, "warning"),
    "missing gets the default": ({"map": {"1": "critical"}, "default": "warning"}, None, "warning"),
    "unmapped without default kept": ({"map": {"1": "critical"}}, "P3", "P3"),
    "no map passes through": ({}, "high", "high"),
    "missing without default: no label": ({}, None, None),
}


@pytest.mark.parametrize(
    ("severity", "value", "label"), SEVERITY_CASES.values(), ids=SEVERITY_CASES.keys()
)
def test_severity_mapping(severity, value, label):
    raw = only_alert(
        {"n": "A", "p": value}, labels={"alertname": "n"}, severity={"path": "p", **severity}
    )
    assert raw.labels.get("severity") == label


TIME_CASES = {
    "RFC 3339 with offset": ("2024-05-01T13:00:00+01:00", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
    "seconds": (1714564800, datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
    "fractional seconds": (1714564800.5, datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    "milliseconds": (1714564800000, datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
    "zero is unset": (0, None),
    "go zero time is unset": ("0001-01-01T00:00:00Z", None),
    "null is unset": (None, None),
}


@pytest.mark.parametrize(("value", "expected"), TIME_CASES.values(), ids=TIME_CASES.keys())
def test_timestamps(value, expected):
    raw = only_alert({"n": "A", "at": value}, labels={"alertname": "n"}, starts_at="at")
    assert raw.starts_at == (expected or NOW)  # an unset start is filled with now


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", 'invalid ends_at "yesterday": not an RFC 3339 timestamp'),
        ("1714564800", 'invalid ends_at "1714564800": not an RFC 3339 timestamp'),
        (True, "invalid ends_at: expected an RFC 3339 string or Unix time number, got boolean"),
        ([1], "invalid ends_at: expected an RFC 3339 string or Unix time number, got array"),
        (1e300, "invalid ends_at 1e+300: out of range"),
    ],
)
def test_bad_timestamps_are_problems(value, reason):
    batch = parse({"n": "A", "at": value}, labels={"alertname": "n"}, ends_at="at")
    assert batch.problems == [AlertProblem(0, reason)]


def test_generator_url_must_be_a_string():
    batch = parse({"n": "A", "u": 5}, labels={"alertname": "n"}, generator_url="u")
    assert batch.problems == [AlertProblem(0, "generator_url must be a string, got number")]


def test_path_failing_on_the_data_is_that_alerts_problem():
    batch = parse({"n": "A", "xs": [1, "a"]}, labels={"alertname": "n", "top": "max(xs)"})
    (problem,) = batch.problems
    assert problem.reason.startswith("labels.top: path 'max(xs)' failed")


def test_jmespath_features_work():
    body = {"meta": {"service-name": "api"}, "links": [{"href": "http://x/1"}], "n": "A"}
    raw = only_alert(
        body,
        labels={"alertname": "n", "service": 'meta."service-name"'},
        generator_url="links[0].href",
    )
    assert raw.labels["service"] == "api" and raw.generator_url == "http://x/1"


@pytest.mark.parametrize(
    ("mapping", "complaint"),
    [
        ({"labels": {"service": "tags..service"}}, "labels.service"),
        ({"alerts": "items["}, "alerts"),
        ({"status": {"path": "a b", "firing": ["x"]}}, "status.path"),
        ({"severity": {"path": "["}}, "severity.path"),
        ({"labels": {"bad-name": "x"}}, "invalid label name 'bad-name'"),
        ({"static_labels": {"env": ""}}, "a static label needs a non-empty value"),
        (
            {"labels": {"env": "e"}, "static_labels": {"env": "prod"}},
            "labels and static_labels both set ['env']",
        ),
        ({"labels": {"severity": "s"}, "severity": {"path": "p"}}, "labels sets 'severity'"),
        ({"status": {"path": "s"}}, "status needs at least one firing or resolved value"),
        (
            {"status": {"path": "s", "firing": ["x"], "resolved": ["x"]}},
            "both firing and resolved: ['x']",
        ),
        ({"label": {"alertname": "t"}}, "label"),  # a typo of "labels" is refused, not ignored
    ],
)
def test_mapping_is_validated_at_load(mapping, complaint):
    with pytest.raises(ValueError) as info:
        GenericMapping.model_validate(mapping)
    assert isinstance(info.value, ValidationError)
    assert complaint in str(info.value)


def test_mapping_is_immutable():
    mapping = GenericMapping.model_validate({"labels": {"alertname": "t"}})
    with pytest.raises(ValidationError):
        mapping.alerts = "x"
