"""Timestamps as Alertmanager reads them.

Senders write RFC 3339 (Prometheus and Alertmanager write RFC 3339 Nano), with
any offset; we keep UTC.  Go's zero time ``0001-01-01T00:00:00Z`` is how Go
senders say "not set" (a firing alert's endsAt in webhook payloads), so it
reads as None.  Fractions finer than a microsecond are dropped: Python
datetimes and the Avro timestamp-micros on the wire stop there.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Go's time.Parse with RFC3339Nano: upper-case T and Z, 1 to 9 fraction digits.
# [0-9] rather than \d, which would also take non-ASCII digits.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})"
)

# Unix numbers carry no unit; pick it by magnitude.  Seconds below 1e11 reach
# the year 5138, milliseconds from 1e11 start in 1973, microseconds from 1e14
# and nanoseconds from 1e17 likewise, so every present-day timestamp in any of
# the four units lands in the right one.
_UNIX_UNITS_NS = ((1e17, 1), (1e14, 1_000), (1e11, 1_000_000), (0, 1_000_000_000))


# Recently parsed timestamps: a batch from Prometheus repeats the same few (one evaluation's).
_PARSED: dict[str, datetime | None] = {}
_PARSED_CAP = 4096


def parse_rfc3339(text: str) -> datetime | None:
    """The UTC instant of an RFC 3339 timestamp; None for Go's zero time.

    Raises ValueError saying what is wrong.
    """
    try:
        return _PARSED[text]
    except KeyError:
        pass
    instant = _parse_rfc3339(text)
    if len(_PARSED) >= _PARSED_CAP:
        _PARSED.clear()
    _PARSED[text] = instant
    return instant


def _parse_rfc3339(text: str) -> datetime | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset == "Z":
        zone = UTC
    else:
        offset_hours, offset_minutes = int(offset[1:3]), int(offset[4:6])
        if offset_hours > 23 or offset_minutes > 59:
            raise ValueError("UTC offset out of range")
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=offset_hours, minutes=offset_minutes))
    microsecond = int((fraction or "").ljust(6, "0")[:6])
    try:
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond, zone
        )
        instant = local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"out of range ({exc})") from None
    return None if instant == GO_ZERO_TIME else instant


def from_unix_number(value: float) -> datetime | None:
    """The UTC instant of a Unix timestamp in s, ms, µs or ns (see _UNIX_UNITS_NS); None for 0.

    0 means "not set", as the Go zero time does: senders that use numbers
    write 0 for a missing end.  Raises ValueError when out of range.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    if value == 0:
        return None
    unit_ns = next(unit_ns for floor, unit_ns in _UNIX_UNITS_NS if abs(value) >= floor)
    try:
        if isinstance(value, int):
            micros = value * unit_ns // 1000  # exact for integers of any size
        else:
            micros = round(value * unit_ns / 1000)
        return UNIX_EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ValueError("out of range") from None


def unset_if_zero(value: datetime | None) -> datetime | None:
    """None for Go's zero time, which direct producers may write to the topic for "not set"."""
    return None if value == GO_ZERO_TIME else value


def in_utc(value: datetime | None, name: str) -> datetime | None:
    """``value`` in UTC (None stays None); ValueError naming ``name`` when it has no offset or is
    not representable in UTC (9999-12-31T23:59:59-01:00).  The edges' conversion: records decoded
    from direct producers keep the offset they were written with until here."""
    if value is None or value.tzinfo is UTC:
        return value
    if value.utcoffset() is None:
        raise ValueError(f"{name} has no UTC offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{name} is out of range in UTC") from None
