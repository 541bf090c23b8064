"""Aggregation groups: dispatch_test.go TestAggrGroup with a simulated clock, the schedule, sorting, state."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.grouping import AggregationGroup, FlushSnapshot, GroupTiming, alert_less, sort_alerts
from pipeline.models import Alert, replace

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)
LSET = {"a": "v1", "b": "v2"}
TIMING = GroupTiming(group_wait=1000 * MS, group_interval=300 * MS, repeat_interval=timedelta(hours=1))


def make(labels, starts, ends, updated=T0, status="firing"):
    return Alert.with_fingerprint(labels=labels, starts_at=starts, ends_at=ends, updated_at=updated, status=status)


def new_group(now=T0, timing=TIMING, **kwargs):
    return AggregationGroup.new("{}:" + '{a="v1", b="v2"}', "{}", LSET, timing, now, **kwargs)


def remove_ends_at(alerts):
    return [replace(a, ends_at=None, status="firing") for a in alerts]


def first_due(group, start, limit=timedelta(hours=1)):
    """The first instant, in 1 ms steps from ``start``, at which the group is due."""
    t = start
    while not group.due(t):
        t += MS
        assert t - start < limit, "never due"
    return t


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def advance(self, delta):
        self.now += delta
        return self.now


def test_aggr_group():
    """TestAggrGroup, step by step, on a fake clock."""
    a1 = make({"a": "v1", "b": "v2", "c": "v3"}, T0 + timedelta(minutes=1), T0 + timedelta(hours=1))
    a2 = make({"a": "v1", "b": "v2", "c": "v4"}, T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    a3 = make({"a": "v1", "b": "v2", "c": "v5"}, T0 + timedelta(minutes=1), T0 + timedelta(minutes=5))

    # Regular situation: wait for group_wait to send out alerts.
    clock = Clock()
    ag = new_group(clock.now)
    ag.insert(a1, clock.now)
    flushed_at = first_due(ag, clock.now)
    assert flushed_at - T0 == TIMING.group_wait  # not earlier
    batch = ag.flush(flushed_at)
    assert list(batch.alerts) == remove_ends_at([a1])
    assert batch.group_labels == LSET and batch.timing.repeat_interval == timedelta(hours=1)
    last = flushed_at

    for _ in range(3):
        # A new alert comes in after group interval.
        ag.insert(a3, last + 10 * MS)
        at = first_due(ag, last + 10 * MS)
        assert at - last == TIMING.group_interval
        batch = ag.flush(at)
        assert list(batch.alerts) == remove_ends_at([a1, a3])
        ag.notified(batch, True, at)
        last = at

    # An alert that started more than group_wait in the past: immediate flush.
    # Finally, resolve all alerts: after a successful notify the group empties itself.
    now = clock.advance(timedelta(minutes=1))
    ag = new_group(now)
    ag.insert(a1, now)
    assert not ag.due(now)
    ag.insert(a2, now)
    assert ag.due(now)  # a2 lies way in the past, so group_wait is skipped
    batch = ag.flush(now)
    assert list(batch.alerts) == remove_ends_at([a1, a2])
    ag.notified(batch, True, now)
    last = now

    for _ in range(3):
        ag.insert(a3, last + 10 * MS)
        at = first_due(ag, last + 10 * MS)
        assert at - last == TIMING.group_interval
        batch = ag.flush(at)
        assert list(batch.alerts) == remove_ends_at([a1, a2, a3])
        ag.notified(batch, True, at)
        last = at

    # Resolve an alert: it is removed after the next batch was sent.
    a1r = replace(a1, ends_at=last + 10 * MS, status="resolved", updated_at=last + 10 * MS)
    ag.insert(a1r, last + 10 * MS)
    at = first_due(ag, last + 10 * MS)
    assert at - last == TIMING.group_interval
    batch = ag.flush(at)
    assert list(batch.alerts) == [a1r, *remove_ends_at([a2, a3])]
    assert ag.notified(batch, True, at) == [a1.fingerprint]
    last = at

    # Resolve all remaining alerts: they are removed after the next batch was sent.
    # a1r is not added again: it was deleted after the previous batch.
    resolved = [
        replace(a, ends_at=last + 10 * MS, status="resolved", updated_at=last + 10 * MS)
        for a in (a2, a3)
    ]
    for a in resolved:
        ag.insert(a, last + 10 * MS)
    at = first_due(ag, last + 10 * MS)
    batch = ag.flush(at)
    assert list(batch.alerts) == resolved
    ag.notified(batch, True, at)
    assert ag.empty()


def test_the_immediate_flush_only_applies_before_the_first_flush():
    ag = new_group()
    ag.insert(make({"x": "1"}, T0, None), T0)
    t = T0 + TIMING.group_wait
    ag.flush(t)
    old = make({"x": "2"}, T0 - timedelta(hours=1), None)
    ag.insert(old, t + 10 * MS)
    assert not ag.due(t + 10 * MS)
    assert ag.next_flush_at == t + TIMING.group_interval


def test_immediate_flush_needs_start_plus_group_wait_strictly_before_now():
    ag = new_group()
    ag.insert(make({"x": "1"}, T0 - TIMING.group_wait, None), T0)
    assert not ag.due(T0)
    ag.insert(make({"x": "2"}, T0 - TIMING.group_wait - MS, None), T0)
    assert ag.due(T0)


def test_ticks_follow_the_scheduled_grid_not_the_late_timer():
    ag = new_group()
    ag.insert(make({"x": "1"}, T0, None), T0)
    # The stage's timer runs 80 ms late every time.
    late = 80 * MS
    t = T0 + TIMING.group_wait + late
    for n in range(5):
        ag.flush(t)
        assert ag.next_flush_at == T0 + TIMING.group_wait + (n + 1) * TIMING.group_interval
        t = ag.next_flush_at + late


def test_a_timer_late_by_more_than_an_interval_restarts_the_grid():
    ag = new_group()
    ag.insert(make({"x": "1"}, T0, None), T0)
    ag.flush(T0 + TIMING.group_wait)
    much_later = T0 + timedelta(minutes=10)
    ag.flush(much_later)
    assert ag.next_flush_at == much_later + TIMING.group_interval


def test_empty_group_ticks_but_yields_no_snapshot():
    ag = new_group()
    seq = ag.flush_seq
    assert ag.flush(T0 + TIMING.group_wait) is None
    assert ag.has_flushed and ag.flush_seq == seq + 1
    assert ag.next_flush_at == T0 + TIMING.group_wait + TIMING.group_interval


def test_flush_when_not_due_is_an_error():
    with pytest.raises(ValueError, match="no flush due"):
        new_group().flush(T0)


def test_flush_sequence_numbers():
    ag = new_group(first_flush_seq=7)
    ag.insert(make({"x": "1"}, T0, None), T0)
    seqs = []
    t = T0 + TIMING.group_wait
    for _ in range(3):
        seqs.append(ag.flush(t).flush_seq)
        t = ag.next_flush_at
    assert seqs == [7, 8, 9]
    # By default a group's numbers start at its creation time in microseconds: a
    # group re-created under the same key never reuses a number.
    first = new_group(T0)
    again = new_group(T0 + TIMING.group_wait + TIMING.group_interval)
    assert again.flush_seq > first.flush_seq + 1
    assert first.flush_seq == int(T0.timestamp()) * 1_000_000


def test_resolution_is_read_from_the_status_not_from_a_stale_end():
    ag = new_group()
    stale = make({"x": "1"}, T0, T0 + 100 * MS)  # firing, with an end that has passed
    ag.insert(stale, T0)
    snapshot = ag.flush(T0 + TIMING.group_wait)
    assert [a.status for a in snapshot.alerts] == ["firing"]
    assert snapshot.alerts[0].ends_at is None
    # A sender-resolved alert whose end is still ahead reads as firing until then.
    ahead = make({"x": "2"}, T0, T0 + timedelta(seconds=2), status="resolved")
    ag.insert(ahead, T0)
    t = ag.next_flush_at
    assert {a.labels["x"]: a.status for a in ag.flush(t).alerts} == {"1": "firing", "2": "firing"}
    t = ag.next_flush_at
    while t < T0 + timedelta(seconds=2):
        ag.flush(t)
        t = ag.next_flush_at
    assert {a.labels["x"]: a.status for a in ag.flush(t).alerts} == {"1": "firing", "2": "resolved"}


def test_failed_notify_deletes_nothing_and_reinserted_alerts_survive_success():
    ag = new_group()
    r = make({"x": "1"}, T0, T0 + 10 * MS, updated=T0 + 10 * MS, status="resolved")
    ag.insert(r, T0 + 10 * MS)
    snapshot = ag.flush(T0 + TIMING.group_wait)
    assert ag.notified(snapshot, False, T0 + TIMING.group_wait) == []
    assert not ag.empty()
    # Re-inserted (a newer update) between the snapshot and the notify's success: kept.
    snapshot = ag.flush(ag.next_flush_at)
    again = replace(r, updated_at=T0 + 2 * TIMING.group_wait)
    ag.insert(again, T0 + 2 * TIMING.group_wait)
    assert ag.notified(snapshot, True, T0 + 2 * TIMING.group_wait) == []
    assert ag.get(r.fingerprint) == again


def test_notified_with_another_groups_snapshot_is_an_error():
    ag = new_group()
    other = FlushSnapshot("other", "{}", {}, TIMING, 0, T0)
    with pytest.raises(ValueError, match="other"):
        ag.notified(other, True, T0)


def test_snapshot_only_keeps_what_the_mute_stages_let_through():
    ag = new_group()
    for x in "123":
        ag.insert(make({"x": x}, T0, None), T0)
    snapshot = ag.flush(T0 + TIMING.group_wait)
    visible = snapshot.only(lambda a: a.labels["x"] != "2")
    assert [a.labels["x"] for a in visible.alerts] == ["1", "3"]
    assert visible.flush_seq == snapshot.flush_seq and len(snapshot.alerts) == 3
    assert visible.firing_hashes() == {a.fingerprint for a in visible.alerts}
    assert visible.resolved_hashes() == frozenset()


def test_timing_validation():
    GroupTiming(group_wait=timedelta(0), group_interval=MS, repeat_interval=MS)
    with pytest.raises(ValueError):
        GroupTiming(group_interval=timedelta(0))
    with pytest.raises(ValueError):
        GroupTiming(repeat_interval=timedelta(0))
    with pytest.raises(ValueError):
        GroupTiming(group_wait=-MS)
    assert GroupTiming() == GroupTiming(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))


def test_naive_now_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        new_group(datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        new_group().due(datetime(2024, 5, 1))


# -- types_test.go TestAlertSliceSort ------------------------------------------------


def _l(**labels):
    return make(labels, T0, None)


A1 = _l(job="j1", instance="i1", alertname="an1")
A2 = _l(job="j1", instance="i1", alertname="an2")
A3 = _l(job="j2", instance="i1", alertname="an1")
A4 = _l(alertname="an1")
A5 = _l(alertname="an2")


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ([A2, A1], [A1, A2]),
        ([A3, A2, A1], [A1, A2, A3]),
        ([A4, A2, A4], [A2, A4, A4]),
        ([A5, A4], [A4, A5]),
    ],
)
def test_alert_slice_sort(alerts, expected):
    assert sort_alerts(alerts) == expected


def test_alert_less_details():
    # Alerts with the key come first; then instance; then LabelSet.Before (fewer labels first).
    assert alert_less(_l(job="z"), _l(alertname="a"))
    assert alert_less(_l(job="j", instance="a", x="9"), _l(job="j", instance="b", a="0"))
    assert alert_less(_l(a="1"), _l(a="0", b="0"))
    # LabelSet.Before: at the first name (in sorted order) only one set has, the set
    # *lacking* it comes first - so {a, c} sorts before {a, b}.
    assert alert_less(_l(a="1", c="0"), _l(a="1", b="1"))
    assert not alert_less(_l(a="1", b="1"), _l(a="1", c="0"))
    assert not alert_less(A1, A1)


def test_group_state_round_trip_is_exact():
    ag = new_group()
    ag.insert(make({"x": "1"}, T0 + 123 * MS, T0 + timedelta(hours=1), updated=T0 + 1 * MS), T0)
    ag.flush(T0 + TIMING.group_wait)
    state = ag.to_state()
    assert json.loads(json.dumps(state)) == state
    back = AggregationGroup.from_state(json.loads(json.dumps(state)))
    assert back == ag and back.to_state() == state
    with pytest.raises(ValueError, match="version"):
        AggregationGroup.from_state({**state, "version": 99})
    snapshot = back.flush(back.next_flush_at)
    assert FlushSnapshot.from_state(json.loads(json.dumps(snapshot.to_state()))) == snapshot


def test_to_json_is_to_state_and_follows_replacements_and_removals():
    """The stored JSON reuses each alert's encoding between calls; it must never serve a stale one."""
    group = new_group()
    a = make({"alertname": "A"}, T0, None)
    b = make({"alertname": "B"}, T0, None)
    group.insert(a, T0)
    group.insert(b, T0)
    assert json.loads(group.to_json()) == group.to_state()
    changed = make({"alertname": "A"}, T0, T0 + timedelta(minutes=1), updated=T0 + timedelta(seconds=5),
                   status="resolved")
    group.insert(changed, T0 + timedelta(seconds=5))
    state = json.loads(group.to_json())
    assert state == group.to_state()
    assert [x["status"] for x in state["alerts"] if x["labels"]["alertname"] == "A"] == ["resolved"]
    snapshot = group.flush(T0 + timedelta(minutes=2))
    group.notified(snapshot, success=True, now=T0 + timedelta(minutes=2))
    state = json.loads(group.to_json())
    assert state == group.to_state()
    assert [x["labels"]["alertname"] for x in state["alerts"]] == ["B"]
