"""Plain-JSON encodings shared by the state objects of the pure core.

Every state object of ``pipeline.dedup`` and ``pipeline.grouping`` round-trips
through dicts made only of str, int, bool, None, lists and dicts, so a Faust
table can keep them in a changelog topic.  The encodings are exact: a decoded
state makes the same decisions as the original, to the microsecond.

- datetimes: RFC 3339 in UTC with microseconds (``2024-05-01T12:00:00.000100+00:00``);
- durations: integer microseconds (never floats, which could round);
- alerts: the wire record's JSON form (``pipeline.models.to_builtins``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.models import Alert, from_builtins, to_builtins

__all__ = [
    "alert_from_state",
    "alert_to_state",
    "check_aware",
    "datetime_from_state",
    "datetime_to_state",
    "duration_from_state",
    "duration_to_state",
]


def check_aware(value: datetime, name: str = "now") -> datetime:
    """``value`` itself if it is timezone-aware; a naive datetime is a bug (ValueError)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got naive {value!r}")
    return value


def datetime_to_state(value: datetime) -> str:
    return check_aware(value, "datetime").astimezone(timezone.utc).isoformat(timespec="microseconds")


def datetime_from_state(value: str) -> datetime:
    return check_aware(datetime.fromisoformat(value), "datetime").astimezone(timezone.utc)


def duration_to_state(value: timedelta) -> int:
    return (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds


def duration_from_state(value: int) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a duration is stored as integer microseconds, got {value!r}")
    return timedelta(microseconds=value)


def alert_to_state(alert: Alert) -> dict[str, Any]:
    return to_builtins(alert)


def alert_from_state(value: dict[str, Any]) -> Alert:
    return from_builtins(Alert, value)
