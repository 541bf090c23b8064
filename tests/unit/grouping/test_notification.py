"""What the webhook would send, and the per-integration flush decision."""

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.grouping import (
    AggregationGroup,
    FlushSnapshot,
    GroupTiming,
    Integration,
    build_notification,
    common_pairs,
    decide_flush,
    decide_flushes,
    record,
    webhook_receiver_name,
)
from pipeline.models import Alert, notification_id, replace

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
S = timedelta(seconds=1)
TIMING = GroupTiming(group_wait=S, group_interval=5 * S, repeat_interval=timedelta(hours=4))
GROUP_KEY = '{}/{team="a"}:{alertname="Disk"}'


def make(instance, status="firing", annotations=None, **labels):
    return Alert.with_fingerprint(
        labels={"alertname": "Disk", "instance": instance, **labels},
        annotations=annotations or {},
        starts_at=T0,
        ends_at=T0 if status == "resolved" else None,
        status=status,
        updated_at=T0,
    )


def snapshot(*alerts, seq=41):
    return FlushSnapshot(GROUP_KEY, '{}/{team="a"}', {"alertname": "Disk"}, TIMING, seq, T0, tuple(alerts))


def test_build_notification_fields():
    snap = snapshot(
        make("a", annotations={"summary": "full", "runbook": "x"}, team="a"),
        make("b", status="resolved", annotations={"summary": "full"}, team="a"),
    )
    built = build_notification(snap, "ops", external_url="http://am", now=T0 + S)
    n = built.notification
    assert n.id == notification_id(GROUP_KEY, "ops", 41)
    assert (n.receiver, n.status, n.group_key, n.route_key) == ("ops", "firing", GROUP_KEY, '{}/{team="a"}')
    assert n.group_labels == {"alertname": "Disk"}
    assert n.common_labels == {"alertname": "Disk", "team": "a"}
    assert n.common_annotations == {"summary": "full"}
    assert (n.external_url, n.truncated_alerts, n.flush_seq, n.created_at) == ("http://am", 0, 41, T0 + S)
    assert [a.labels["instance"] for a in n.alerts] == ["a", "b"]
    assert built.firing == {snap.alerts[0].fingerprint} and built.resolved == {snap.alerts[1].fingerprint}


def test_status_is_resolved_only_when_nothing_fires():
    n = build_notification(snapshot(make("a", "resolved"), make("b", "resolved")), "ops", now=T0).notification
    assert n.status == "resolved"


def test_without_send_resolved_resolved_alerts_are_dropped_but_still_hashed():
    snap = snapshot(make("a"), make("b", "resolved", team="x"))
    built = build_notification(snap, "ops", send_resolved=False, now=T0)
    assert [a.labels["instance"] for a in built.notification.alerts] == ["a"]
    assert built.notification.common_labels == {"alertname": "Disk", "instance": "a"}
    assert len(built.resolved) == 1
    only_resolved = build_notification(snapshot(make("b", "resolved")), "ops", send_resolved=False, now=T0)
    assert only_resolved.notification is None and len(only_resolved.resolved) == 1


def test_max_alerts_truncates_before_status_and_common_labels():
    snap = snapshot(make("a", team="x"), make("b", team="x"), make("c", "resolved"))
    n = build_notification(snap, "ops", max_alerts=2, now=T0).notification
    assert [a.labels["instance"] for a in n.alerts] == ["a", "b"]
    assert n.truncated_alerts == 1
    assert n.common_labels == {"alertname": "Disk", "team": "x"}
    resolved_first = snapshot(make("a", "resolved"), make("b"))
    assert build_notification(resolved_first, "ops", max_alerts=1, now=T0).notification.status == "resolved"


def test_common_pairs_read_a_missing_key_as_empty_like_a_go_map():
    assert common_pairs([{"a": "1", "e": ""}, {"a": "1"}]) == {"a": "1", "e": ""}
    assert common_pairs([{"a": "1"}, {"a": "2"}]) == {}
    assert common_pairs([]) == {}


def test_webhook_receiver_name_is_regexp_quote_meta():
    assert webhook_receiver_name("team-a.prod (eu)") == r"team-a\.prod \(eu\)"
    assert webhook_receiver_name(r"a\b+c*d?e|f[g]h{i}^$") == r"a\\b\+c\*d\?e\|f\[g\]h\{i\}\^\$"


def test_decide_flush_first_notification_then_quiet_until_repeat():
    hook = Integration("ops")
    snap = snapshot(make("a"))
    first = decide_flush(snap, None, hook, T0)
    assert first.notify and first.reason == "first notification"
    assert first.notification.id == notification_id(GROUP_KEY, "ops/webhook/0", 41)
    assert first.nflog_entry.firing == snap.firing_hashes() and first.nflog_entry.timestamp == T0
    assert first.nflog_entry.expires_at == T0 + 2 * TIMING.repeat_interval
    quiet = decide_flush(snapshot(make("a"), seq=42), first.nflog_entry, hook, T0 + 5 * S)
    assert not quiet.notify and quiet.notification is None and quiet.nflog_entry is first.nflog_entry
    later = T0 + TIMING.repeat_interval + 5 * S
    repeat = decide_flush(snapshot(make("a"), seq=43), first.nflog_entry, hook, later)
    assert repeat.notify and repeat.reason == "repeat interval elapsed"


def test_decide_flush_logs_resolved_alerts_it_does_not_send():
    hook = Integration("ops", send_resolved=False)
    entry = record(None, {make("a").fingerprint}, set(), T0, TIMING.repeat_interval)
    decision = decide_flush(snapshot(make("a", "resolved")), entry, hook, T0 + 5 * S)
    assert decision.notify and decision.reason == "all alerts resolved"
    assert decision.notification is None
    assert decision.nflog_entry.firing == frozenset() and decision.nflog_entry.resolved == {make("a").fingerprint}


def test_decide_flush_on_an_all_muted_snapshot_does_nothing():
    decision = decide_flush(snapshot(), None, Integration("ops"), T0)
    assert not decision.notify and decision.nflog_entry is None


def test_decide_flushes_gives_each_integration_its_entry_and_its_own_id():
    hooks = [Integration("ops", index=0), Integration("ops", send_resolved=False, index=1)]
    snap = snapshot(make("a"), make("b", "resolved"))
    entries = {hooks[0].key: record(None, {make("a").fingerprint}, set(), T0 - S, TIMING.repeat_interval)}
    first, second = decide_flushes(snap, entries, hooks, T0)
    assert first.notify and first.reason == "some alerts resolved"  # it knew a, not b's resolution
    assert second.notify and second.reason == "first notification"
    assert len(first.notification.alerts) == 2 and len(second.notification.alerts) == 1
    assert first.notification.id != second.notification.id


def test_integration():
    assert Integration("ops").key == "ops/webhook/0"
    with pytest.raises(ValueError):
        Integration("ops", max_alerts=-1)


def test_a_flush_through_the_group_ends_in_a_notification():
    group = AggregationGroup.new(GROUP_KEY, "{}", {"alertname": "Disk"}, TIMING, T0)
    group.insert(replace(make("b"), ends_at=T0 + timedelta(minutes=5)), T0)
    group.insert(make("a"), T0)
    snap = group.flush(T0 + S)
    n = decide_flush(snap, None, Integration("ops"), T0 + S).notification
    assert [a.labels["instance"] for a in n.alerts] == ["a", "b"]
    assert all(a.ends_at is None and a.status == "firing" for a in n.alerts)
