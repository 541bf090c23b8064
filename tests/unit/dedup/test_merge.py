"""Alert merge: Alertmanager's types_test.go TestAlertMerge, one for one, and provider/mem's merge rule."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dedup import merge, merge_or_replace, overlaps, resolved_at, status_at
from pipeline.models import Alert

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
LABELS = {"alertname": "test"}


def alert(starts, ends, updated, timeout=False, **fields):
    """An alert with times in minutes from NOW (ends None: open-ended)."""
    return Alert.with_fingerprint(
        labels=fields.pop("labels", LABELS),
        starts_at=NOW + starts * MIN,
        ends_at=None if ends is None else NOW + ends * MIN,
        updated_at=NOW + updated * MIN,
        timeout=timeout,
        status=fields.pop("status", "firing"),
        **fields,
    )


# TestAlertMerge: (A, B, Res), A always older than B; checked as A.Merge(B) and B.Merge(A).
ALERT_MERGE_VECTORS = {
    "both timeout: start from A, end from B": (
        alert(-2, 2, 0, timeout=True),
        alert(-1, 3, 1, timeout=True),
        alert(-2, 3, 1, timeout=True),
    ),
    "A timeout, B not: start from A, end from B": (
        alert(-1, 3, 0, timeout=True),
        alert(0, 2, 1),
        alert(-1, 2, 1),
    ),
    "A not timeout, B timeout: start and end from A": (
        alert(-1, 3, 0),
        alert(0, 2, 1, timeout=True),
        alert(-1, 3, 1, timeout=True),
    ),
    "neither timeout nor resolved: end from A (the later explicit end)": (
        alert(-1, 3, 0),
        alert(0, 2, 1),
        alert(-1, 3, 1),
    ),
    "neither timeout nor resolved: end from B": (
        alert(-1, 3, 0),
        alert(-1, 4, 1),
        alert(-1, 4, 1),
    ),
    "A resolved, B not: end from B": (
        alert(-3, -1, 0),
        alert(-2, 1, 1),
        alert(-3, 1, 1),
    ),
    "B resolved, A not: end from B": (
        alert(-2, 3, 0),
        alert(-2, 0, 1),
        alert(-2, 0, 1),
    ),
    "both resolved: start from B, end from A (latest explicit resolve wins)": (
        alert(-3, -1, -1),
        alert(-4, -2, 1),
        alert(-4, -1, 1),
    ),
}


def _times(a: Alert):
    return (a.starts_at, a.ends_at, a.updated_at, a.timeout)


@pytest.mark.parametrize("name", list(ALERT_MERGE_VECTORS))
def test_alert_merge_vectors(name):
    a, b, res = ALERT_MERGE_VECTORS[name]
    assert _times(merge(a, b, NOW)) == _times(res)
    assert _times(merge(b, a, NOW)) == _times(res)


def test_merge_takes_everything_but_the_time_range_from_the_younger_alert():
    old = alert(-2, 5, 0, annotations={"summary": "old"}, generator_url="http://old")
    new = alert(-1, 6, 1, annotations={"summary": "new"}, generator_url="http://new")
    for merged in (merge(old, new, NOW), merge(new, old, NOW)):
        assert merged.annotations == {"summary": "new"}
        assert merged.generator_url == "http://new"
        assert merged.starts_at == NOW - 2 * MIN


def test_merge_on_equal_updated_at_prefers_the_incoming_alert():
    a = alert(-2, -1, 0, annotations={"v": "a"}, status="resolved")
    b = alert(-3, -2, 0, annotations={"v": "b"}, status="resolved")
    assert merge(a, b, NOW).annotations == {"v": "b"}
    assert merge(b, a, NOW).annotations == {"v": "a"}
    # Both resolved: the latest end wins whichever is "younger".
    assert merge(a, b, NOW).ends_at == merge(b, a, NOW).ends_at == NOW - MIN


def test_merge_recomputes_the_status_at_now():
    firing_then_resolved = merge(alert(-5, 5, 0), alert(-5, 0, 1), NOW)
    assert firing_then_resolved.status == "resolved"
    assert merge(alert(-5, -1, 0, status="resolved"), alert(-5, 5, 1), NOW).status == "firing"


def test_merge_with_open_ended_alerts_reads_no_end_as_an_unknown_one():
    # A newer open-ended update keeps an older sender-given end ...
    assert merge(alert(-5, 5, 0), alert(-4, None, 1), NOW).ends_at == NOW + 5 * MIN
    # ... but not an older timeout end.
    assert merge(alert(-5, 5, 0, timeout=True), alert(-4, None, 1), NOW).ends_at is None
    # A newer real end replaces an older unknown one.
    assert merge(alert(-5, None, 0), alert(-4, 5, 1), NOW).ends_at == NOW + 5 * MIN


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # Prometheus' periodic re-send: same start, end moved forward: no overlap, replaced.
        ((-5, 5), (-5, 6), False),
        # The new end lies strictly inside the old range.
        ((-5, 5), (-10, 4), True),
        ((-5, 5), (-10, 5), False),  # not strictly before the old end
        ((-5, 5), (-10, -5), False),  # not strictly after the old start
        # The new start lies strictly inside the old range.
        ((-5, 5), (0, 10), True),
        ((-5, 5), (-5, 10), False),
        ((-5, 5), (5, 10), False),
        # A new occurrence after the old one resolved.
        ((-5, -1), (0, 10), False),
        # Open-ended ranges are still running.
        ((-5, None), (0, 10), True),
        ((-5, None), (-5, 10), True),  # the end lies before +infinity
        ((-5, None), (-5, None), False),
        ((-5, 5), (0, None), True),
        ((-5, 5), (-6, None), False),
    ],
)
def test_overlaps_is_provider_mems_strict_asymmetric_rule(old, new, expected):
    assert overlaps(alert(*old, 0), alert(*new, 1)) is expected


def test_merge_or_replace():
    old = alert(-5, 5, 0, annotations={"v": "old"})
    # Overlap: merged, earliest start kept.
    merged = merge_or_replace(old, alert(-2, 10, 1, annotations={"v": "new"}), NOW)
    assert (merged.starts_at, merged.ends_at, merged.annotations) == (NOW - 5 * MIN, NOW + 10 * MIN, {"v": "new"})
    # No overlap: replaced, even by an alert that started later.
    replaced = merge_or_replace(old, alert(-5, 10, 1), NOW)
    assert replaced.starts_at == NOW - 5 * MIN and replaced.ends_at == NOW + 10 * MIN
    assert merge_or_replace(alert(-10, -5, 0), alert(-1, 3, 1), NOW).starts_at == NOW - MIN
    # Nothing stored: the incoming alert, its status as of now.
    assert merge_or_replace(None, alert(-5, -1, 0), NOW).status == "resolved"


def test_resolved_at_and_status_at():
    assert resolved_at(alert(-5, 0, 0), NOW)  # an end at now is resolved
    assert not resolved_at(alert(-5, 1, 0), NOW)
    assert not resolved_at(alert(-5, None, 0), NOW)
    assert status_at(alert(-5, 5, 0, status="resolved"), NOW) == "resolved"  # a sender-given status


def test_naive_now_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        merge(alert(-5, 5, 0), alert(-5, 6, 1), datetime(2024, 5, 1))


minutes = st.integers(min_value=-20, max_value=20)


@given(
    st.tuples(minutes, st.one_of(st.none(), minutes), st.booleans()),
    st.tuples(minutes, st.one_of(st.none(), minutes), st.booleans()),
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=1, max_value=5),
)
def test_merge_is_symmetric_when_the_updates_differ_in_age(a, b, a_updated, age):
    older = alert(a[0], a[1], a_updated, timeout=a[2], annotations={"v": "old"})
    younger = alert(b[0], b[1], a_updated + age, timeout=b[2], annotations={"v": "young"})
    assert merge(older, younger, NOW) == merge(younger, older, NOW)
    assert merge(older, younger, NOW).starts_at == min(older.starts_at, younger.starts_at)
