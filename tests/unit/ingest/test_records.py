"""The bridge's plain-dict fast path (pipeline.ingest.records) against the model path it replaces.

For any request body, ``parse_records`` must give exactly what the bridge made before from ``parse``:
the same invalid alerts with the same reasons, and for the valid ones the same record keys and the same
record bytes as ``wire.encode(fill_gaps(raw, normalize(raw, t)))``, byte for byte.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline import wire
from pipeline.ingest import timestamps, validation
from pipeline.ingest.errors import PayloadError
from pipeline.ingest.formats import SourceStamp, alertmanager_v2, alertmanager_webhook
from pipeline.models import RawAlert
from pipeline.sources.base import encode_alerts
from tests.unit.ingest.support import NOW, RESOLVE_TIMEOUT, fixture

FORMATS = {"alertmanager-v2": alertmanager_v2, "alertmanager-webhook": alertmanager_webhook}

# Text that exercises escaping and validation: control characters, quotes, non-ASCII, lone surrogates.
TEXT = st.text(alphabet=st.sampled_from(list("ab_Z09 -.:/") + ["\x00", "\x1f", "\x7f", '"', "\\", "é",
                                                                  "\u2028", "😀", "\ud800", "\udcff"]),
               max_size=8)
NAMES = st.one_of(st.sampled_from(["alertname", "severity", "instance", "job", "_x", "a1"]),
                  st.sampled_from(["", "1a", "a-b", "é", "a\n"]), TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.one_of(TEXT, TEXT, TEXT, SCALARS, st.just(""), st.lists(st.integers(), max_size=1))
STRING_MAPS = st.one_of(st.dictionaries(NAMES, VALUES, max_size=5), st.dictionaries(NAMES, TEXT, max_size=5),
                        st.none(), SCALARS, st.lists(TEXT, max_size=2))


def _rfc3339(moment: datetime, digits: int, offset_minutes: int) -> str:
    zone = timezone(timedelta(minutes=offset_minutes))
    text = moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}{moment.microsecond % 1000:03d}"[:digits]
    return text + ("Z" if offset_minutes == 0 else moment.astimezone(zone).strftime("%z")[:3] + ":"
                   + moment.astimezone(zone).strftime("%z")[3:])


TIMESTAMPS = st.one_of(
    st.builds(_rfc3339, st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                                     timezones=st.just(UTC)),
              st.integers(0, 9), st.sampled_from([0, 0, 60, -330])),
    st.builds(lambda minutes: _rfc3339(NOW + timedelta(minutes=minutes), 3, 0), st.integers(-10, 10)),
    st.sampled_from(["0001-01-01T00:00:00Z", "2024-13-01T00:00:00Z", "2024-05-01 12:00:00Z", "9999-12-31T23:59:59-01:00",
                     "0001-01-01T00:00:00+01:00", "", "now"]),
    st.none(), SCALARS,
)
# Mostly well-formed alerts (so most examples reach normalize and the encoder), some of anything.
GOOD_TEXT = st.text(alphabet=st.sampled_from(list("ab_Z09 -.:/") + ["\x00", "\x1f", "\x7f", '"', "\\", "é",
                                                                       "\u2028", "😀"]), max_size=8)
GOOD_NAMES = st.sampled_from(["alertname", "severity", "instance", "job", "_x", "a1", "summary"])
GOOD_MAPS = st.dictionaries(GOOD_NAMES, st.one_of(GOOD_TEXT, GOOD_TEXT, st.just("")), max_size=5)
GOOD_TIMES = st.one_of(
    st.none(),
    st.builds(lambda minutes, digits: _rfc3339(NOW + timedelta(minutes=minutes), digits, 0),
              st.integers(-10, 10), st.sampled_from([0, 3, 6, 9])),
)


def _maybe(good, anything):
    """``good`` four times in five, else ``anything``."""
    return st.integers(0, 4).flatmap(lambda pick: good if pick else anything)


ALERTS = st.fixed_dictionaries(
    {"labels": _maybe(GOOD_MAPS.filter(bool), STRING_MAPS)},
    optional={
        "annotations": _maybe(GOOD_MAPS, STRING_MAPS),
        "startsAt": _maybe(GOOD_TIMES, TIMESTAMPS),
        "endsAt": _maybe(GOOD_TIMES, TIMESTAMPS),
        "generatorURL": _maybe(GOOD_TEXT, st.one_of(TEXT, st.none(), SCALARS)),
        "status": _maybe(st.sampled_from(["firing", "resolved"]),
                         st.one_of(st.sampled_from(["pending", ""]), st.none(), SCALARS)),
        "fingerprint": st.text(string.hexdigits, max_size=16),
    },
)
ITEMS = st.lists(_maybe(ALERTS, st.one_of(SCALARS, st.lists(st.none(), max_size=1))), max_size=6)
RECEIVED = st.one_of(st.just(NOW), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                                                  timezones=st.just(UTC)))


def model_path(fmt: str, payload, received_at: datetime, max_record_bytes: int, stamp: SourceStamp | None = None):
    """What the bridge did before the fast path: parse → models → wire.encode, size-checked (as every
    poll and stream source still does: pipeline.sources.base.encode_alerts)."""
    batch = FORMATS[fmt].parse(payload, source="src", received_at=received_at, resolve_timeout=RESOLVE_TIMEOUT,
                               stamp=stamp)
    return encode_alerts(batch, max_record_bytes)


def fast_path(fmt: str, payload, received_at: datetime, max_record_bytes: int, stamp: SourceStamp | None = None):
    batch = FORMATS[fmt].parse_records(payload, source="src", received_at=received_at,
                                       resolve_timeout=RESOLVE_TIMEOUT, max_record_bytes=max_record_bytes,
                                       stamp=stamp)
    return batch.keys, batch.values, batch.problems


# What a source may add: labels (the sender's own value wins) and, for poll sources, an end.
STAMPS = st.sampled_from([None, SourceStamp(labels={"cluster": "eu1", "alertname": "FromSource", "é": "x"}),
                          SourceStamp(labels={"region": "r1"}, valid_until=NOW + timedelta(minutes=2)),
                          SourceStamp(valid_until=NOW - timedelta(minutes=1))])


def body(fmt: str, items: list) -> object:
    return items if fmt == "alertmanager-v2" else {"version": "4", "alerts": items}


def assert_same(fmt: str, payload, received_at: datetime = NOW, max_record_bytes: int = 262144,
                stamp: SourceStamp | None = None) -> None:
    expected = model_path(fmt, payload, received_at, max_record_bytes, stamp)
    assert fast_path(fmt, payload, received_at, max_record_bytes, stamp) == expected


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(sorted(FORMATS)), items=ITEMS, received_at=RECEIVED,
       max_record_bytes=st.sampled_from([262144, 262144, 400, 330]), stamp=STAMPS)
@example(fmt="alertmanager-v2", items=[{"labels": {"a": "b"}}], received_at=NOW.replace(microsecond=5),
         max_record_bytes=262144, stamp=None)
def test_fast_path_gives_the_model_path_bytes_and_problems(fmt, items, received_at, max_record_bytes, stamp):
    # Through a JSON round trip too, as the bridge sees bodies (orjson gives exact dicts and strs).
    assert_same(fmt, body(fmt, items), received_at, max_record_bytes, stamp)
    try:
        decoded = orjson.loads(orjson.dumps(body(fmt, items)))
    except (TypeError, orjson.JSONEncodeError):  # lone surrogates have no JSON text
        return
    assert_same(fmt, decoded, received_at, max_record_bytes, stamp)


@pytest.mark.parametrize(("fmt", "name"), [("alertmanager-v2", "prometheus_v2.json"),
                                           ("alertmanager-webhook", "alertmanager_webhook_v4.json")])
def test_fixtures_give_the_same_records(fmt, name):
    keys, values, problems = fast_path(fmt, fixture(name), NOW, 262144)
    assert values and not problems
    assert (keys, values, problems) == model_path(fmt, fixture(name), NOW, 262144)
    for key, value in zip(keys, values):
        decoded = wire.decode(RawAlert, value)  # a valid RawAlert record, keyed by its fingerprint
        assert decoded.fingerprint.encode() == key


@pytest.mark.parametrize("payload", [{"alerts": []}, "x", None, {"version": "4"}])
def test_whole_body_errors_are_the_same(payload):
    for fmt in FORMATS:
        with pytest.raises(PayloadError) as model:
            model_path(fmt, payload, NOW, 262144)
        with pytest.raises(PayloadError) as fast:
            fast_path(fmt, payload, NOW, 262144)
        assert (fast.value.message, fast.value.status) == (model.value.message, model.value.status)


@given(pairs=st.dictionaries(NAMES, TEXT, max_size=5))
def test_label_set_error_cache_changes_no_verdict(pairs):
    cold = _uncached_label_set_error(pairs)
    assert validation.label_set_error(pairs) == cold
    assert validation.label_set_error(pairs) == cold  # again, with the names now known


def _uncached_label_set_error(pairs):
    for name in sorted(pairs):
        if not validation.LABEL_NAME.fullmatch(name):
            return f"invalid name {validation.go_quote(name)}"
        if not validation.is_valid_utf8(pairs[name]):
            return f"invalid value {validation.go_quote(pairs[name])}"
    return None


@given(text=TIMESTAMPS.filter(lambda t: isinstance(t, str)))
def test_timestamp_cache_changes_no_result(text):
    try:
        expected = timestamps._parse_rfc3339(text)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).replace("(", r"\(").replace(")", r"\)")):
            timestamps.parse_rfc3339(text)
        return
    assert timestamps.parse_rfc3339(text) == expected
    assert timestamps.parse_rfc3339(text) == expected
