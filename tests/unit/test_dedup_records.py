"""The dedup stage's per-record functions (pure: records in, records out)."""

from datetime import datetime, timedelta, timezone

from pipeline import wire
from pipeline.models import Alert, AlertEvent
from pipeline.stages.dedup import COLLECT, RESOLVED_RETENTION, DedupOutcome, dedup_record, overdue_record, stored_check

NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def encoded(ends_at, status="firing", summary="s", updated_at=NOW) -> AlertEvent:
    alert = Alert.with_fingerprint(labels={"alertname": "A"}, annotations={"summary": summary},
                                   starts_at=NOW - timedelta(minutes=5), ends_at=ends_at, status=status,
                                   updated_at=updated_at, timeout=True)
    # through the wire, as the runtime hands it over
    return wire.decode(AlertEvent, wire.encode(AlertEvent(alert=alert, source="t", source_format="direct",
                                                          received_at=updated_at)))


def test_new_alert_is_stored_and_forwarded():
    outcome = dedup_record(encoded(NOW + timedelta(minutes=5)), None, NOW)
    assert isinstance(outcome, DedupOutcome)
    assert outcome.forward == outcome.stored
    assert outcome.forward.change == "new"
    assert outcome.key == outcome.stored.alert.fingerprint.encode()
    assert stored_check(outcome.stored) == NOW + timedelta(minutes=5)  # the expiry timer looks at it at endsAt


def test_the_timer_looks_at_a_resolved_alert_when_it_may_be_forgotten():
    firing = dedup_record(encoded(NOW + timedelta(minutes=5)), None, NOW)
    expired = overdue_record(firing.stored, NOW + timedelta(minutes=5))
    assert stored_check(expired) == NOW + timedelta(minutes=5) + RESOLVED_RETENTION
    assert overdue_record(expired, NOW + timedelta(minutes=5) + RESOLVED_RETENTION) is COLLECT


def test_refresh_is_stored_but_not_forwarded_and_a_change_is():
    first = dedup_record(encoded(NOW + timedelta(minutes=5)), None, NOW)
    refresh = dedup_record(encoded(NOW + timedelta(minutes=6)), first.stored, NOW + timedelta(seconds=30))
    assert refresh.forward is None
    changed = dedup_record(encoded(NOW + timedelta(minutes=6), summary="new text"), refresh.stored, NOW)
    assert changed.forward.change == "updated"


def test_a_redelivered_record_is_not_forwarded_twice_but_a_resend_is():
    firing = dedup_record(encoded(NOW + timedelta(minutes=5)), None, NOW)
    resolved_event = encoded(NOW, status="resolved", updated_at=NOW + timedelta(seconds=1))
    resolved = dedup_record(resolved_event, firing.stored, NOW + timedelta(seconds=1))
    assert resolved.forward.change == "resolved"
    replayed = dedup_record(resolved_event, resolved.stored, NOW + timedelta(seconds=2))
    assert replayed.forward is None and replayed.stored == resolved.stored
    resent = encoded(NOW, status="resolved", updated_at=NOW + timedelta(seconds=30))
    assert dedup_record(resent, resolved.stored, NOW + timedelta(seconds=30)).forward is not None


def test_overdue_alerts_expire_and_old_resolved_ones_are_collected():
    stored = dedup_record(encoded(NOW + timedelta(seconds=10)), None, NOW).stored
    assert overdue_record(stored, NOW) is None
    expired = overdue_record(stored, NOW + timedelta(seconds=11))
    assert expired.change == "expired" and expired.alert.status == "resolved"
    assert overdue_record(expired, NOW + timedelta(seconds=12)) is None
    assert overdue_record(expired, NOW + timedelta(days=2)) is COLLECT
