"""normalize: Alertmanager's gap filling, explicit statuses, fingerprint, idempotence."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.errors import InvalidAlert
from pipeline.ingest.normalize import fill_gaps, normalize
from pipeline.ingest.timestamps import GO_ZERO_TIME

from .support import LABELS, NOW, RESOLVE_TIMEOUT, at, raw_alert

OPEN = None  # ends_at of an open-ended alert

# (sender status, starts_at, ends_at) → (starts_at, ends_at, status, timeout)
TIMING_CASES = {
    # Alertmanager API v2 (no status): postAlertsHandler's rules.
    "v2 nothing set": ((None, None, None), (NOW, at(5), "firing", True)),
    "v2 start only": ((None, at(-10), None), (at(-10), at(5), "firing", True)),
    "v2 end in the past only": ((None, None, at(-1)), (at(-1), at(-1), "resolved", False)),
    "v2 end in the future only": ((None, None, at(10)), (at(10), at(10), "firing", False)),
    "v2 ended": ((None, at(-10), at(-1)), (at(-10), at(-1), "resolved", False)),
    "v2 ends exactly now": ((None, at(-10), NOW), (at(-10), NOW, "resolved", False)),
    "v2 ends later": ((None, at(-10), at(1)), (at(-10), at(1), "firing", False)),
    "v2 go zero times": ((None, GO_ZERO_TIME, GO_ZERO_TIME), (NOW, at(5), "firing", True)),
    # Explicit resolved: ends at the given end, else now.
    "resolved nothing set": (("resolved", None, None), (NOW, NOW, "resolved", False)),
    "resolved with times": (("resolved", at(-10), at(-1)), (at(-10), at(-1), "resolved", False)),
    "resolved without end": (("resolved", at(-10), None), (at(-10), NOW, "resolved", False)),
    "resolved with go zero end": (
        ("resolved", at(-10), GO_ZERO_TIME),
        (at(-10), NOW, "resolved", False),
    ),
    "resolved with future end": (("resolved", at(-10), at(5)), (at(-10), at(5), "resolved", False)),
    # Explicit firing: open-ended, never a resolve timeout.
    "firing without end": (("firing", at(-10), None), (at(-10), OPEN, "firing", False)),
    "firing with go zero end": (
        ("firing", at(-10), GO_ZERO_TIME),
        (at(-10), OPEN, "firing", False),
    ),
    "firing nothing set": (("firing", None, None), (NOW, OPEN, "firing", False)),
    "firing with future end": (("firing", at(-10), at(5)), (at(-10), at(5), "firing", False)),
    "firing with past end": (("firing", at(-10), at(-1)), (at(-10), at(-1), "resolved", False)),
}


@pytest.mark.parametrize(
    ("given_fields", "expected"), TIMING_CASES.values(), ids=TIMING_CASES.keys()
)
def test_timing(given_fields, expected):
    status, starts_at, ends_at = given_fields
    alert = normalize(
        raw_alert(status=status, starts_at=starts_at, ends_at=ends_at), RESOLVE_TIMEOUT
    )
    assert (alert.starts_at, alert.ends_at, alert.status, alert.timeout) == expected
    assert alert.updated_at == NOW
    # The status always agrees with the end as Alertmanager reads it, except
    # for a sender's explicit "resolved" with an end still ahead.
    if status != "resolved":
        assert (alert.status == "resolved") == alert.is_resolved_at(NOW)


@pytest.mark.parametrize(
    ("given_fields", "expected"), TIMING_CASES.values(), ids=TIMING_CASES.keys()
)
def test_normalize_is_idempotent_over_fill_gaps(given_fields, expected):
    status, starts_at, ends_at = given_fields
    raw = raw_alert(
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        labels={**LABELS, "empty": ""},
        fingerprint="ffffffffffffffff",
    )
    alert = normalize(raw, RESOLVE_TIMEOUT)
    filled = fill_gaps(raw, alert)
    assert normalize(filled, RESOLVE_TIMEOUT) == alert
    assert fill_gaps(filled, alert) == filled
    # What goes to Kafka is explicit: the start is set, the labels final, the fingerprint ours.
    assert filled.starts_at == alert.starts_at
    assert filled.labels == alert.labels == LABELS
    assert filled.fingerprint == alert.fingerprint
    assert filled.generator_url == ""
    assert filled.status == status  # a sender's silence about status stays silence
    # A made-up timeout end is not written: the topic has no timeout flag to go with it.
    assert filled.ends_at == (None if alert.timeout else alert.ends_at)


def test_resolve_timeout_is_the_one_passed():
    alert = normalize(raw_alert(), timedelta(hours=1))
    assert alert.ends_at == at(60) and alert.timeout


def test_zero_resolve_timeout_resolves_at_once_like_alertmanager():
    alert = normalize(raw_alert(), timedelta(0))
    assert (alert.ends_at, alert.status, alert.timeout) == (NOW, "resolved", True)


def test_now_is_received_at_not_the_wall_clock():
    raw = raw_alert(received_at=datetime(2020, 1, 1, tzinfo=UTC))
    alert = normalize(raw, RESOLVE_TIMEOUT)
    assert alert.starts_at == datetime(2020, 1, 1, tzinfo=UTC)
    assert alert.updated_at == datetime(2020, 1, 1, tzinfo=UTC)


def test_fingerprint_is_recomputed_from_final_labels_ignoring_the_senders():
    raw = raw_alert(labels={**LABELS, "drop": ""}, fingerprint="0123456789abcdef")
    alert = normalize(raw, RESOLVE_TIMEOUT)
    assert alert.fingerprint == alert_fingerprint(LABELS)
    assert "0123456789abcdef" not in alert.model_dump_json()


def test_fields_are_carried_over():
    raw = raw_alert(annotations={"summary": "disk full"}, generator_url="http://prom/graph")
    alert = normalize(raw, RESOLVE_TIMEOUT)
    assert alert.annotations == {"summary": "disk full"}
    assert alert.generator_url == "http://prom/graph"
    assert alert.labels == LABELS


def test_end_past_year_9999_is_invalid_not_a_crash():
    raw = raw_alert(received_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    with pytest.raises(InvalidAlert, match="past the year 9999"):
        normalize(raw, RESOLVE_TIMEOUT)


moments = st.one_of(
    st.none(),
    st.just(GO_ZERO_TIME),
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ),
)


@given(
    status=st.sampled_from([None, "firing", "resolved"]),
    starts_at=moments,
    ends_at=moments,
    received_at=moments.filter(lambda moment: moment not in (None, GO_ZERO_TIME)),
    resolve_timeout=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=7)),
)
def test_normalize_is_idempotent_for_any_timing(
    status, starts_at, ends_at, received_at, resolve_timeout
):
    raw = raw_alert(status=status, starts_at=starts_at, ends_at=ends_at, received_at=received_at)
    try:
        alert = normalize(raw, resolve_timeout)
    except InvalidAlert as exc:
        assert str(exc) == "start time must be before end time"
        return
    assert normalize(fill_gaps(raw, alert), resolve_timeout) == alert
    if alert.ends_at is not None:
        assert alert.starts_at <= alert.ends_at
