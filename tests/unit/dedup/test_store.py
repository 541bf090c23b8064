"""The dedup stage's per-alert state: what is forwarded downstream, expiry, dedup keys, state."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.dedup import (
    AlertStore,
    alert_from_state,
    alert_to_state,
    apply,
    collectable,
    dedup_key,
    expire,
    expiry_due,
    next_expiry,
)
from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.normalize import normalize
from pipeline.models import RawAlert, replace

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
RESOLVE_TIMEOUT = timedelta(minutes=5)


def at(seconds: float) -> datetime:
    return T0 + timedelta(milliseconds=round(seconds * 1000))


def received(seconds, labels=None, starts=None, ends=None, annotations=None, status=None):
    """An alert as normalize makes it of a POST received at ``seconds`` (times in seconds)."""
    raw = RawAlert(
        labels=labels or {"alertname": "test"},
        annotations=annotations or {},
        starts_at=None if starts is None else at(starts),
        ends_at=None if ends is None else at(ends),
        status=status,
        source="test",
        source_format="alertmanager-v2" if status is None else "alertmanager-webhook-v4",
        received_at=at(seconds),
    )
    return normalize(raw, RESOLVE_TIMEOUT)


def test_a_new_firing_alert_is_new_and_a_new_resolved_one_resolved():
    assert apply(None, received(1, starts=1), at(1)).change == "new"
    assert apply(None, received(1, starts=0, ends=1), at(1)).change == "resolved"


def test_prometheus_refresh_of_a_firing_alert_is_not_forwarded():
    first = apply(None, received(0, starts=0, ends=60), at(0))
    refresh = apply(first.state, received(30, starts=0, ends=90), at(30))
    assert refresh.change is None and not refresh.forward
    # ... but the state moved on: the end, the update time.
    assert refresh.state.ends_at == at(90) and refresh.state.updated_at == at(30)


def test_a_refresh_that_shortens_the_end_is_not_forwarded_either():
    # The group never reads a firing alert's end; expiry will tell it.
    first = apply(None, received(0, starts=0), at(0))  # timeout end at 300
    shorter = apply(first.state, received(3, starts=0, ends=4), at(3))
    assert shorter.change is None and shorter.state.ends_at == at(4) and not shorter.state.timeout


@pytest.mark.parametrize(
    "update",
    [
        dict(annotations={"summary": "changed"}),
        dict(starts=-10),  # an earlier start (replaces: no overlap)
    ],
)
def test_a_change_a_notification_would_show_is_forwarded_as_updated(update):
    first = apply(None, received(0, starts=0, ends=60), at(0))
    fields = dict(starts=0, ends=90) | update
    assert apply(first.state, received(30, **fields), at(30)).change == "updated"


def test_generator_url_change_is_updated():
    first = apply(None, received(0, starts=0, ends=60), at(0))
    changed = replace(received(30, starts=0, ends=90), generator_url="http://x")
    assert apply(first.state, changed, at(30)).change == "updated"


def test_resolution_by_update_and_resolved_resends_are_forwarded():
    first = apply(None, received(0, starts=0, ends=60), at(0))
    resolved = apply(first.state, received(30, starts=0, ends=30), at(30))
    assert resolved.change == "resolved" and resolved.state.status == "resolved"
    # Prometheus keeps re-sending the resolved alert for a while; Alertmanager
    # re-inserts it into its group each time, so the grouping stage must see it.
    resend = apply(resolved.state, received(60, starts=0, ends=30), at(60))
    assert resend.change == "resolved" and resend.state.updated_at == at(60)


def test_refiring_after_resolution_is_new():
    first = apply(None, received(0, starts=0, ends=10), at(0))
    gone = apply(first.state, received(20, starts=0, ends=20), at(20))
    again = apply(gone.state, received(30, starts=30, ends=90), at(30))
    assert again.change == "new" and again.state.starts_at == at(30)


def test_webhook_style_open_ended_alert_and_its_explicit_resolution():
    first = apply(None, received(0, starts=0, status="firing"), at(0))
    assert first.state.ends_at is None and first.change == "new"
    assert not expiry_due(first.state, at(10**6)) and next_expiry(first.state) is None
    resend = apply(first.state, received(60, starts=0, status="firing"), at(60))
    assert resend.change is None
    done = apply(resend.state, received(90, starts=0, status="resolved"), at(90))
    assert done.change == "resolved" and done.state.ends_at == at(90)


def test_expiry():
    state = apply(None, received(1), at(1)).state  # no end: now + resolve_timeout
    assert state.ends_at == at(301) and state.timeout
    assert next_expiry(state) == at(301)
    assert not expiry_due(state, at(300.9))
    assert expiry_due(state, at(301))
    expired = expire(state, at(301))
    assert expired.status == "resolved"
    assert expired.updated_at == state.updated_at and expired.ends_at == state.ends_at
    assert not expiry_due(expired, at(400)) and next_expiry(expired) is None
    with pytest.raises(ValueError, match="not due"):
        expire(state, at(300))


def test_an_expired_alert_updated_again_fires_again():
    state = expire(apply(None, received(1), at(1)).state, at(301))
    # A late re-send with the same start: no overlap by provider/mem's rule, so it replaces.
    again = apply(state, received(302, starts=1), at(302))
    assert again.change == "new" and again.state.status == "firing"


def test_collectable():
    state = apply(None, received(1, starts=0, ends=1), at(1)).state
    assert collectable(state, at(1))
    assert not collectable(apply(None, received(1), at(1)).state, at(2))


def test_dedup_key():
    a = received(0, labels={"alertname": "x", "instance": "a", "noise": "1"})
    b = received(0, labels={"alertname": "x", "instance": "a", "noise": "2"})
    assert dedup_key(a) == a.fingerprint == alert_fingerprint(a.labels)
    assert dedup_key(a, ("alertname", "instance")) == dedup_key(b, ("instance", "alertname"))
    assert dedup_key(a, ("alertname", "instance")) != dedup_key(a, ("alertname", "noise"))
    # A missing label is an empty one.
    c = received(0, labels={"alertname": "x"})
    assert dedup_key(c, ("alertname", "instance")) == alert_fingerprint({"alertname": "x"})
    with pytest.raises(ValueError):
        dedup_key(a, ())


def test_store_with_a_label_subset_key_keeps_the_running_occurrences_identity():
    store = AlertStore(dedup_labels=("alertname", "instance"))
    first = store.apply(received(0, labels={"alertname": "x", "instance": "a", "value": "1"}, starts=0, ends=60), at(0))
    second = store.apply(received(30, labels={"alertname": "x", "instance": "a", "value": "2"}, starts=0, ends=90), at(30))
    assert len(store) == 1
    assert second.change is None and second.state.fingerprint == first.state.fingerprint
    assert second.state.labels["value"] == "1"
    # Once resolved, a new occurrence takes the new labels.
    store.apply(received(40, labels={"alertname": "x", "instance": "a", "value": "2"}, starts=0, ends=40), at(40))
    again = store.apply(received(50, labels={"alertname": "x", "instance": "a", "value": "3"}, starts=50, ends=99), at(50))
    assert again.change == "new" and again.state.labels["value"] == "3"


def test_store_expiry_and_garbage_collection():
    store = AlertStore()
    store.apply(received(0, labels={"alertname": "a"}, ends=10), at(0))
    store.apply(received(0, labels={"alertname": "b"}, ends=20), at(0))
    assert store.next_expiry() == at(10)
    assert [a.labels["alertname"] for a in store.expire_due(at(10))] == ["a"]
    assert store.expire_due(at(10)) == []
    assert store.next_expiry() == at(20)
    assert store.collect_garbage(at(15)) == [dedup_key(received(0, labels={"alertname": "a"}))]
    assert len(store) == 1


def test_alert_state_round_trip_is_exact():
    alert = received(1.000001, annotations={"a": "b"}, starts=0.5)
    state = alert_to_state(alert)
    assert json.loads(json.dumps(state)) == state
    assert alert_from_state(json.loads(json.dumps(state))) == alert


# -- property: a JSON round trip of the store at any point changes no later decision --

labels_st = st.sampled_from([{"alertname": "a"}, {"alertname": "b"}, {"alertname": "a", "instance": "x"}])
event_st = st.tuples(
    st.integers(min_value=0, max_value=30),  # seconds since the previous event
    labels_st,
    st.one_of(st.none(), st.integers(min_value=-30, max_value=30)),  # start, relative
    st.one_of(st.none(), st.integers(min_value=-30, max_value=60)),  # end, relative
    st.sampled_from([{}, {"s": "1"}, {"s": "2"}]),
    st.booleans(),  # run expiry at this point
)


@settings(max_examples=150, deadline=None)
@given(st.lists(event_st, max_size=25), st.sampled_from([None, ("alertname",)]))
def test_store_round_trip_changes_no_decision(events, dedup_labels):
    plain, tripped = AlertStore(dedup_labels), AlertStore(dedup_labels)
    now = 0
    for gap, labels, start, end, annotations, run_expiry in events:
        now += gap
        if start is not None and end is not None and end < start:
            start, end = end, start
        alert = received(
            now,
            labels=labels,
            starts=None if start is None else now + start,
            ends=None if end is None else now + end,
            annotations=annotations,
        )
        tripped = AlertStore.from_state(json.loads(json.dumps(tripped.to_state())))
        assert plain.apply(alert, at(now)) == tripped.apply(alert, at(now))
        if run_expiry:
            assert plain.expire_due(at(now)) == tripped.expire_due(at(now))
    assert plain.to_state() == tripped.to_state()
