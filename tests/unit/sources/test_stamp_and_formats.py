"""What a source adds to its alerts (SourceStamp) and the poll answers' formats, without Kafka or HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.dedup import apply, expire, expiry_due
from pipeline.ingest.errors import PayloadError
from pipeline.ingest.formats import POLL_FORMATS, SourceStamp, alertmanager_v2, generic, prometheus_api
from pipeline.ingest.formats.generic_mapping import GenericMapping
from pipeline.ingest.normalize import normalize
from pipeline.sources.base import encode_alerts

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=5)
UNTIL = NOW + timedelta(seconds=120)


def parse_v2(items, stamp):
    return alertmanager_v2.parse(items, source="s", received_at=NOW, resolve_timeout=TIMEOUT, stamp=stamp)


def test_labels_are_added_only_where_the_alert_has_none_and_count_in_the_fingerprint():
    stamp = SourceStamp(labels={"cluster": "eu1", "team": "sre"})
    plain = parse_v2([{"labels": {"alertname": "A", "team": "db", "cluster": ""}}], None).alerts[0]
    stamped = parse_v2([{"labels": {"alertname": "A", "team": "db", "cluster": ""}}], stamp).alerts[0]
    assert stamped.labels == {"alertname": "A", "team": "db", "cluster": "eu1"}  # empty counts as absent
    assert stamped.fingerprint != plain.fingerprint


def test_too_many_labels_with_the_added_ones_is_an_invalid_alert():
    stamp = SourceStamp(labels={f"extra{i}": "x" for i in range(5)})
    labels = {f"l{i}": "v" for i in range(251)}  # the cap is 256 labels (pipeline.ingest.limits)
    parsed = parse_v2([{"labels": {"alertname": "A", **labels}}], stamp)
    assert not parsed.alerts and "labels" in parsed.problems[0].reason


@pytest.mark.parametrize("item, end", [
    ({"labels": {"alertname": "A"}}, UNTIL),                                           # no end: the poll's
    ({"labels": {"alertname": "A"}, "endsAt": (NOW + timedelta(hours=1)).isoformat()}, UNTIL),  # capped
    ({"labels": {"alertname": "A"}, "endsAt": (NOW + timedelta(seconds=30)).isoformat()},
     NOW + timedelta(seconds=30)),                                                     # its own, earlier
    ({"labels": {"alertname": "A"}, "startsAt": (NOW + timedelta(hours=2)).isoformat(),
      "endsAt": (NOW + timedelta(hours=3)).isoformat()}, NOW + timedelta(hours=3)),    # starts later: kept
])
def test_valid_until_gives_every_open_alert_the_polls_end(item, end):
    alert = parse_v2([item], SourceStamp(valid_until=UNTIL)).alerts[0]
    assert alert.ends_at == end
    assert normalize(alert, TIMEOUT).status == "firing" and not normalize(alert, TIMEOUT).timeout


def test_a_resolved_alert_keeps_its_end():
    items = {"version": "4", "alerts": [{"labels": {"alertname": "A"}, "status": "resolved",
                                          "endsAt": (NOW - timedelta(minutes=1)).isoformat()}]}
    from pipeline.ingest.formats import alertmanager_webhook

    alert = alertmanager_webhook.parse(items, source="s", received_at=NOW, resolve_timeout=TIMEOUT,
                                       stamp=SourceStamp(valid_until=UNTIL)).alerts[0]
    assert alert.ends_at == NOW - timedelta(minutes=1)


def test_an_alert_gone_from_the_upstream_resolves_at_the_last_polls_end():
    """Dedup's own expiry (pipeline.dedup) resolves it: the poll's end is a sender-given end."""
    raw = parse_v2([{"labels": {"alertname": "Gone"}}], SourceStamp(valid_until=UNTIL)).alerts[0]
    state = apply(None, normalize(raw, TIMEOUT), NOW).state
    assert not expiry_due(state, UNTIL - timedelta(seconds=1))
    assert expiry_due(state, UNTIL) and expire(state, UNTIL).status == "resolved"


PROMETHEUS_ANSWER = {"status": "success", "data": {"alerts": [
    {"labels": {"alertname": "HighLoad", "instance": "a"}, "annotations": {"summary": "load"}, "state": "firing",
     "activeAt": "2024-05-01T11:50:00.123Z", "value": "1e+00"},
    {"labels": {"alertname": "Soon"}, "annotations": {}, "state": "pending", "activeAt": "2024-05-01T11:59:00Z",
     "value": "1e+00"},
    {"labels": {"alertname": "Bad"}, "annotations": {}, "state": "sleeping"},
    {"labels": "nope", "state": "firing"},
]}}


def test_prometheus_answer_takes_firing_alerts_only():
    parsed = prometheus_api.parse(PROMETHEUS_ANSWER, source="p", received_at=NOW, resolve_timeout=TIMEOUT,
                                  stamp=SourceStamp(labels={"cluster": "c"}, valid_until=UNTIL))
    assert [a.labels["alertname"] for a in parsed.alerts] == ["HighLoad"]
    alert = parsed.alerts[0]
    assert alert.starts_at == datetime(2024, 5, 1, 11, 50, 0, 123000, tzinfo=UTC) and alert.ends_at == UNTIL
    assert alert.labels["cluster"] == "c" and alert.source_format == "prometheus-api"
    assert [(p.index, p.reason.split(",")[0]) for p in parsed.problems] == [
        (2, "state must be one of firing"), (3, "labels must be an object of strings")]
    assert POLL_FORMATS["prometheus"] is prometheus_api


@pytest.mark.parametrize("answer, words", [
    ([], "expected a JSON object (Prometheus API answer)"),
    ({"status": "error", "error": "query timed out"}, "Prometheus answered status 'error': query timed out"),
    ({"status": "success", "data": {}}, '"data.alerts" must be a list'),
])
def test_prometheus_answers_that_are_not_alert_lists(answer, words):
    with pytest.raises(PayloadError, match=words.replace("(", r"\(").replace(")", r"\)")):
        prometheus_api.parse(answer, source="p", received_at=NOW, resolve_timeout=TIMEOUT)


def test_alertmanager_get_answers_are_read_like_its_post():
    answer = [{"labels": {"alertname": "A"}, "annotations": {}, "startsAt": "2024-05-01T11:00:00Z",
               "endsAt": "2024-05-01T12:05:00Z", "updatedAt": "2024-05-01T11:59:00Z", "fingerprint": "abc",
               "receivers": [{"name": "x"}], "status": {"state": "suppressed", "silencedBy": ["s"], "inhibitedBy": []},
               "generatorURL": "http://p/graph"}]
    parsed = POLL_FORMATS["alertmanager"].parse(answer, source="am", received_at=NOW, resolve_timeout=TIMEOUT,
                                                stamp=SourceStamp(valid_until=UNTIL))
    alert = parsed.alerts[0]
    assert alert.ends_at == UNTIL and alert.fingerprint != "abc" and alert.generator_url == "http://p/graph"


def test_generic_json_poll_answers_go_through_the_mapping():
    mapping = GenericMapping.model_validate({"alerts": "items", "labels": {"alertname": "t"}})
    parsed = generic.parse({"items": [{"t": "X"}]}, source="g", received_at=NOW, resolve_timeout=TIMEOUT,
                           mapping=mapping, stamp=SourceStamp(valid_until=UNTIL))
    keys, values, problems = encode_alerts(parsed, 262144)
    assert len(values) == 1 and keys[0] == parsed.alerts[0].fingerprint.encode() and not problems
    assert parsed.alerts[0].ends_at == UNTIL
