"""Notification log: notify_test.go TestDedupStageNeedsUpdate one for one, logging and expiry."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.grouping import (
    DEFAULT_RETENTION,
    NflogEntry,
    entry_expiry,
    expired,
    needs_update,
    nflog_key,
    notify_reason,
    record,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)  # Go's time.Time{}
MIN = timedelta(minutes=1)


def entry(firing=(), resolved=(), timestamp=ZERO_TIME):
    return NflogEntry(frozenset(firing), frozenset(resolved), timestamp, timestamp + DEFAULT_RETENTION)


def hashes(*values):
    return {str(v) for v in values}


def e(firing=(), resolved=(), timestamp=ZERO_TIME):
    return entry(hashes(*firing), hashes(*resolved), timestamp)


# (entry, firing, resolved, repeat, send_resolved, expected), in TestDedupStageNeedsUpdate's order.
NEEDS_UPDATE_VECTORS = [
    pytest.param(None, hashes(2, 3, 4), set(), timedelta(0), False, True, id="no entry should update"),
    pytest.param(None, set(), hashes(2, 3, 4), timedelta(0), False, False, id="no entry, nothing fires: no update"),
    pytest.param(e([1, 2, 3]), hashes(2, 3, 4), set(), timedelta(0), False, True, id="different firing sets update"),
    pytest.param(e([1, 2, 3]), hashes(1, 2, 3), set(), timedelta(0), False, True, id="zero timestamp always updates"),
    pytest.param(
        e([1, 2, 3], timestamp=NOW - 9 * MIN), hashes(1, 2, 3), set(), 10 * MIN, False, False,
        id="identical sets: no update before repeat_interval",
    ),
    pytest.param(
        e([1, 2, 3], timestamp=NOW - 11 * MIN), hashes(1, 2, 3), set(), 10 * MIN, False, True,
        id="identical sets: update after repeat_interval",
    ),
    pytest.param(
        e(resolved=[1, 2, 3], timestamp=NOW - 11 * MIN), set(), hashes(3, 4, 5), 10 * MIN, True, False,
        id="other resolved sets without firing alerts: no update after repeat_interval",
    ),
    pytest.param(
        e([1, 2], [3], NOW - 9 * MIN), hashes(1), hashes(2, 3), 10 * MIN, False, False,
        id="other resolved sets: no update when send_resolved is false",
    ),
    pytest.param(
        e([1, 2], [3], NOW - 9 * MIN), hashes(1), hashes(2, 3), 10 * MIN, True, True,
        id="other resolved sets: update when send_resolved is true",
    ),
    pytest.param(
        e([1, 2], [3], NOW - 9 * MIN), set(), hashes(1, 2, 3), 10 * MIN, False, True,
        id="no firing alert left: update when send_resolved is false",
    ),
    pytest.param(
        e([1, 2], [3], NOW - 9 * MIN), set(), hashes(1, 2, 3), 10 * MIN, True, True,
        id="no firing alert left: update when send_resolved is true",
    ),
]


@pytest.mark.parametrize(("entry_", "firing", "resolved", "repeat", "send_resolved", "expected"), NEEDS_UPDATE_VECTORS)
def test_dedup_stage_needs_update(entry_, firing, resolved, repeat, send_resolved, expected):
    assert needs_update(entry_, firing, resolved, repeat, send_resolved, NOW) is expected
    assert (notify_reason(entry_, firing, resolved, repeat, send_resolved, NOW) is not None) is expected


def test_repeat_needs_strictly_more_than_repeat_interval():
    last = e([1], timestamp=NOW - 10 * MIN)
    assert not needs_update(last, hashes(1), set(), 10 * MIN, True, NOW)
    assert needs_update(last, hashes(1), set(), 10 * MIN, True, NOW + timedelta(microseconds=1))


def test_fewer_firing_alerts_do_not_notify_without_send_resolved():
    # A firing subset is no news; the resolved ones only count with send_resolved.
    last = e([1, 2], timestamp=NOW - MIN)
    assert not needs_update(last, hashes(1), hashes(2), 10 * MIN, False, NOW)
    assert notify_reason(last, hashes(1), hashes(2), 10 * MIN, True, NOW) == "some alerts resolved"


def test_reasons():
    assert notify_reason(None, hashes(1), set(), MIN, True, NOW) == "first notification"
    assert notify_reason(e([1]), hashes(1, 2), set(), MIN, True, NOW) == "new alerts added"
    assert notify_reason(e([1]), set(), hashes(1), MIN, False, NOW) == "all alerts resolved"
    assert notify_reason(e([1], timestamp=NOW - 2 * MIN), hashes(1), set(), MIN, True, NOW) == "repeat interval elapsed"


def test_record():
    new = record(None, hashes(1, 2), hashes(3), NOW, timedelta(hours=4))
    assert new == NflogEntry(frozenset(hashes(1, 2)), frozenset(hashes(3)), NOW, NOW + timedelta(hours=8))
    # An entry stamped later than now is kept (clock skew across a cluster).
    later = e([9], timestamp=NOW + MIN)
    assert record(later, hashes(1), set(), NOW, timedelta(hours=4)) is later
    assert record(e([9], timestamp=NOW), hashes(1), set(), NOW, timedelta(hours=4)).firing == hashes(1)


@pytest.mark.parametrize(
    ("repeat", "expiry"),
    [
        (timedelta(hours=4), timedelta(hours=8)),
        (timedelta(milliseconds=1), timedelta(milliseconds=2)),
        (timedelta(hours=60), DEFAULT_RETENTION),
        (timedelta(hours=100), DEFAULT_RETENTION),
    ],
)
def test_entry_expiry_is_twice_the_repeat_interval_capped_at_the_retention(repeat, expiry):
    assert entry_expiry(repeat) == expiry


def test_expired_is_for_the_periodic_gc_only():
    logged = record(None, hashes(1), set(), NOW, timedelta(milliseconds=1))
    assert not expired(logged, NOW + timedelta(microseconds=1999))
    assert expired(logged, NOW + timedelta(milliseconds=2))
    # Reads still use an expired entry (Alertmanager's Query ignores ExpiresAt): the
    # resolution is notified, which it would not be without the entry.
    later = NOW + timedelta(seconds=1)
    assert needs_update(logged, set(), hashes(1), timedelta(milliseconds=1), True, later)
    assert not needs_update(None, set(), hashes(1), timedelta(milliseconds=1), True, later)


def test_nflog_key_is_alertmanagers_state_key():
    assert nflog_key('{}:{alertname="x"}', "team", "webhook", 1) == '{}:{alertname="x"}:team/webhook/1'


def test_entry_round_trip():
    logged = record(None, hashes(3, 1, 2), hashes(4), NOW + timedelta(microseconds=7), timedelta(hours=4))
    state = logged.to_state()
    assert state["firing"] == ["1", "2", "3"]
    assert NflogEntry.from_state(json.loads(json.dumps(state))) == logged
