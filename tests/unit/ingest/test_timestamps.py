"""RFC 3339 and Unix timestamps as senders write them."""

from datetime import UTC, datetime

import pytest

from pipeline.ingest.timestamps import GO_ZERO_TIME, from_unix_number, parse_rfc3339, unset_if_zero

UTC = UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01T06:30:00-05:30", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01T12:00:00.5Z", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        # RFC 3339 Nano: nanoseconds are cut to the microsecond, never rounded up.
        ("2024-05-01T12:00:00.123456789Z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00.999999999Z", datetime(2024, 5, 1, 12, 0, 0, 999999, tzinfo=UTC)),
        ("2024-05-01T12:00:00+00:00", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        # Go's zero time is "not set", in any spelling of that instant.
        ("0001-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00.000Z", None),
        ("0001-01-01T00:00:00+00:00", None),
        ("0001-01-01T01:00:00Z", datetime(1, 1, 1, 1, 0, tzinfo=UTC)),
    ],
)
def test_rfc3339_parses_to_utc(text, expected):
    parsed = parse_rfc3339(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not an RFC 3339 timestamp"),
        ("yesterday", "not an RFC 3339 timestamp"),
        ("2024-05-01 12:00:00Z", "not an RFC 3339 timestamp"),
        ("2024-05-01T12:00:00", "not an RFC 3339 timestamp"),  # no offset: ambiguous
        ("2024-05-01t12:00:00z", "not an RFC 3339 timestamp"),
        ("2024-05-01", "not an RFC 3339 timestamp"),
        ("2024-05-01T12:00:00.Z", "not an RFC 3339 timestamp"),
        ("2024-05-01T12:00:00.1234567891Z", "not an RFC 3339 timestamp"),
        ("2024-05-01T12:00:00Z\n", "not an RFC 3339 timestamp"),
        ("٢٠٢٤-05-01T12:00:00Z", "not an RFC 3339 timestamp"),  # non-ASCII digits
        ("2024-02-30T12:00:00Z", "out of range"),
        ("2024-05-01T24:00:00Z", "out of range"),
        ("2024-05-01T12:00:60Z", "out of range"),
        ("2024-05-01T12:00:00+24:00", "UTC offset out of range"),
        ("0001-01-01T00:00:00+01:00", "out of range"),  # before year 1 in UTC
        ("9999-12-31T23:00:00-01:00", "out of range"),  # after year 9999 in UTC
    ],
)
def test_rfc3339_rejects(text, message):
    with pytest.raises(ValueError, match="^" + message):
        parse_rfc3339(text)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1714564800, datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),  # seconds
        (1714564800.25, datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        (1714564800000, datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),  # milliseconds
        (1714564800123456, datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),  # microseconds
        (1714564800123456789, datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),  # nanoseconds
        (99_999_999_999, datetime(5138, 11, 16, 9, 46, 39, tzinfo=UTC)),  # largest seconds
        (100_000_000_000, datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)),  # smallest millis
        (0, None),
        (0.0, None),
    ],
)
def test_unix_numbers_pick_their_unit_by_size(number, expected):
    assert from_unix_number(number) == expected


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -1e300, 1e300, 10**400])
def test_unix_numbers_out_of_range_raise_value_error(number):
    with pytest.raises(ValueError):
        from_unix_number(number)


def test_unset_if_zero_treats_go_zero_time_from_the_topic_as_missing():
    assert unset_if_zero(GO_ZERO_TIME) is None
    assert unset_if_zero(None) is None
    moment = datetime(2024, 5, 1, tzinfo=UTC)
    assert unset_if_zero(moment) is moment
