"""normalize: Alertmanager's gap filling, explicit statuses, fingerprint, idempotence."""

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import wire
from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.errors import InvalidAlert
from pipeline.dead_letters import Rejected
from pipeline.ingest.normalize import fill_gaps, normalize, raw_in_utc
from pipeline.ingest.timestamps import GO_ZERO_TIME
from pipeline.stages.normalize import Normalized, normalize_record

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
    assert b"0123456789abcdef" not in wire.encode(alert)


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


# --- the edge's conversion to UTC (direct producers' records) ---------------------------------------

CEST = timezone(timedelta(hours=2))


def test_raw_in_utc_converts_every_timestamp_and_keeps_the_instants():
    raw = raw_alert(starts_at=datetime(2024, 5, 1, 14, tzinfo=CEST), ends_at=None,
                    received_at=datetime(2024, 5, 1, 14, 5, tzinfo=CEST))
    converted = raw_in_utc(raw)
    assert converted.starts_at == raw.starts_at and converted.starts_at.tzinfo is UTC
    assert converted.received_at == raw.received_at and converted.received_at.tzinfo is UTC
    assert converted.ends_at is None
    already = raw_alert(starts_at=NOW)
    assert raw_in_utc(already) is already  # the common case costs no copy


@pytest.mark.parametrize("field", ["starts_at", "ends_at", "received_at"])
def test_raw_in_utc_rejects_a_time_not_representable_in_utc(field):
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
    with pytest.raises(InvalidAlert, match=f"^{field} is out of range in UTC$"):
        raw_in_utc(raw_alert(**{field: late}))


def test_the_normalize_stage_writes_utc_for_a_direct_producers_offsets():
    record = {"labels": LABELS, "startsAt": "2024-05-01T14:00:00+02:00",
              "endsAt": "2024-05-01T14:30:00.5+02:00", "receivedAt": "2024-05-01T14:01:00+02:00"}
    outcome = normalize_record(orjson.dumps(record), timestamp=NOW, resolve_timeout=RESOLVE_TIMEOUT,
                               max_bytes=1 << 20)
    assert isinstance(outcome, Normalized)
    written = orjson.loads(wire.encode(outcome.event))  # as it is written where it leaves the chain
    assert written["alert"]["starts_at"] == "2024-05-01T12:00:00Z"
    assert written["alert"]["ends_at"] == "2024-05-01T12:30:00.500000Z"
    assert written["alert"]["updated_at"] == written["received_at"] == "2024-05-01T12:01:00Z"


def test_the_normalize_stage_dead_letters_a_time_outside_utc_by_name():
    record = {"labels": LABELS, "startsAt": "9999-12-31T23:59:59-01:00"}
    outcome = normalize_record(orjson.dumps(record), timestamp=NOW, resolve_timeout=RESOLVE_TIMEOUT,
                               max_bytes=1 << 20)
    assert outcome == Rejected("InvalidAlert", "starts_at is out of range in UTC")


def test_the_normalize_stage_names_every_bad_field_of_a_direct_producers_record():
    record = {"labels": {"a": 1}, "startsAt": "yesterday", "status": 3}
    outcome = normalize_record(orjson.dumps(record), timestamp=NOW, resolve_timeout=RESOLVE_TIMEOUT,
                               max_bytes=1 << 20)
    assert outcome == Rejected("WireError", "invalid RawAlert record: labels.a: expected a string, got number; "
                               "starts_at: not an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z); "
                               "status: expected a string, got number")
