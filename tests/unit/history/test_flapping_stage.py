"""The flapping processor and set, without Kafka or PostgreSQL (the set is fed a refresh's rows)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.history.flapping import FlappingSet
from pipeline.models import Alert, EnrichedAlert, RouteMatch
from pipeline.settings import HistorySettings
from pipeline.stages.flapping import MARKED, FlappingProcessor
from pipeline.stages.processor import Record, Rejected

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
FP = "0123456789abcdef"


class DictState:
    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value):
        self.data[key] = value

    def delete(self, key):
        self.data.pop(key, None)

    def __len__(self):
        return len(self.data)


def alert_record(status="firing", fp=FP, labels=None):
    alert = Alert(fingerprint=fp, labels=labels or {"alertname": "DiskFull"}, annotations={"summary": "x"},
                  starts_at=NOW, status=status, updated_at=NOW)
    value = EnrichedAlert(alert=alert, source="p", source_format="alertmanager-v2", received_at=NOW,
                          change="new" if status == "firing" else "resolved",
                          routes=[RouteMatch(receiver="r", route_key="k", group_key="g")])
    return Record(key=fp.encode(), value=value)


def processor(**settings):
    history = HistorySettings(**settings)
    return FlappingProcessor(history, FlappingSet(history))


def transitions(*minutes_ago):
    return [NOW - timedelta(minutes=m) for m in sorted(minutes_ago, reverse=True)]


def emitted(answer):
    assert not isinstance(answer, Rejected) and len(answer) == 1 and answer[0].port == "alerts"
    return answer[0].value.alert


def test_the_set_follows_alertas_rule_and_expires_entries_in_memory():
    flapping = FlappingSet(HistorySettings())  # more than 2 transitions within 30 minutes
    flapping.apply([(FP, transitions(20, 10, 5), NOW), ("1" * 16, transitions(40, 10, 5), NOW),
                    ("2" * 16, transitions(10, 5), NOW)], NOW)
    assert flapping.lookup(FP, NOW).changes == 3
    assert flapping.lookup("1" * 16, NOW) is None and flapping.lookup("2" * 16, NOW) is None
    # It stops flapping when its third-latest transition leaves the window: 20 minutes ago + 30 minutes.
    assert flapping.lookup(FP, NOW + timedelta(minutes=9, seconds=59)) is not None
    assert flapping.lookup(FP, NOW + timedelta(minutes=10)) is None


def test_the_set_is_bounded_keeping_what_flaps_longest():
    flapping = FlappingSet(HistorySettings(flapping_max_alerts=2))
    rows = [(f"{i:016x}", transitions(20 - i, 3, 2), NOW) for i in range(5)]
    flapping.apply(rows, NOW)
    assert len(flapping) == 2 and flapping.lookup(f"{4:016x}", NOW) and flapping.lookup(f"{3:016x}", NOW)


def test_a_flapping_alert_is_marked_and_others_pass_unchanged():
    stage = processor(flapping_annotation="flapping_info")
    stage.flapping.apply([(FP, transitions(20, 10, 5), NOW)], NOW)
    state = {MARKED: DictState()}
    alert = emitted(stage.process(alert_record(), state, NOW))
    assert alert.labels == {"alertname": "DiskFull", "flapping": "true"}
    assert alert.annotations == {"summary": "x", "flapping_info": "changed state 3 times within 30m"}
    other = alert_record(fp="f" * 16)
    assert stage.process(other, state, NOW)[0].value is other.value  # untouched, not copied


def test_the_mark_is_sticky_for_the_occurrence_and_its_resolve():
    stage = processor()
    state = {MARKED: DictState()}
    stage.flapping.apply([(FP, transitions(20, 10, 5), NOW)], NOW)
    assert emitted(stage.process(alert_record(), state, NOW)).labels["flapping"] == "true"
    later = NOW + timedelta(hours=1)  # no longer flapping by the rule...
    assert stage.flapping.lookup(FP, later) is None
    assert emitted(stage.process(alert_record(), state, later)).labels["flapping"] == "true"  # ...still this occurrence
    assert emitted(stage.process(alert_record("resolved"), state, later)).labels["flapping"] == "true"
    assert len(state[MARKED]) == 0  # the resolve ended the occurrence
    assert "flapping" not in emitted(stage.process(alert_record(), state, later)).labels


def test_no_label_configured_and_unexpected_records():
    stage = processor(flapping_label=None)
    stage.flapping.apply([(FP, transitions(20, 10, 5), NOW)], NOW)
    record = alert_record()
    assert stage.process(record, {MARKED: DictState()}, NOW)[0].value is record.value
    rejected = stage.process(Record(key=None, value=b"raw"), {MARKED: DictState()}, NOW)
    assert isinstance(rejected, Rejected) and "EnrichedAlert" in rejected.reason
