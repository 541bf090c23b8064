"""Alertmanager time intervals (timeinterval/timeinterval.go, v0.25.0).

A *time interval* is one entry of a named ``time_intervals`` (or deprecated
``mute_time_intervals``) block::

    time_intervals:
      - name: business-hours
        time_intervals:
          - weekdays: ['monday:friday']
            times: [{start_time: '09:00', end_time: '17:00'}]
            location: Europe/Berlin

A named interval holds a list of them; it contains an instant when any of its
entries does.  An entry contains an instant when every field it sets does
(fields left out do not constrain).  Rules taken over from Alertmanager, quirks
included, because the pipeline must mute exactly when Alertmanager would:

- ``times``: ``HH:MM`` with two-digit hours, end exclusive, ``24:00`` allowed
  as an end.  ``start_time`` must be before ``end_time``.
- ``weekdays``: names only (no numbers), case-insensitive, ranges
  ``monday:friday``; a range may not wrap (``saturday:sunday`` is an error).
- ``days_of_month``: 1..31 or -31..-1 (counted from the month end, -1 = last
  day), ranges; out-of-month days are clamped.  "Days in month" is computed as
  Go does, as whole 24h periods between the first of this month and the first
  of the next *in the interval's location*: in a month where that zone springs
  forward (23h day) Alertmanager counts one day less, so ``-1`` is then the
  second-to-last day.  Reproduced on purpose.
- ``months``: names (case-insensitive) or numbers, ranges; numbers are not
  range-checked (``13`` is accepted and never matches), as in Alertmanager.
- ``years``: numbers, ranges.
- ``location``: IANA zone name (zoneinfo); the instant is converted to it before
  any comparison.  Default UTC.
- A field given as an empty list (``weekdays: []``) matches nothing: Go's
  decoder makes it an empty, non-nil slice, and the check then finds no match.
  A field that is absent or null does not constrain.

Values are parsed from the plain dict/list shape a YAML loader produces.
Scalars may be strings or integers (yaml.v2 turns an integer scalar into its
decimal text when the target is a string).  Beware YAML 1.1 loaders such as
PyYAML's ``safe_load``: they read an unquoted ``10:30`` or ``1:5`` as a base-60
integer (630, 65), which Alertmanager's YAML 1.1-but-no-sexagesimal decoder
does not.  Times given as integers are therefore rejected with a message saying
so; quote them or load without the sexagesimal resolver.

Pure: no I/O beyond the zoneinfo database, time always passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DAYS_OF_WEEK",
    "MONTHS",
    "InclusiveRange",
    "TimeInterval",
    "TimeIntervalError",
    "TimeIntervals",
    "TimeRange",
    "parse_time_interval",
    "parse_time_intervals",
]


class TimeIntervalError(ValueError):
    """A time interval definition is invalid.  The message is Alertmanager's where it has one."""


# Go's time.Weekday numbering: Sunday is 0.
DAYS_OF_WEEK: Mapping[str, int] = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}
_DAYS_OF_WEEK_INV = {v: k for k, v in DAYS_OF_WEEK.items()}
MONTHS: Mapping[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_MONTHS_INV = {v: k for k, v in MONTHS.items()}

_FIELDS = ("times", "weekdays", "days_of_month", "months", "years", "location")
# Go's regexp: `^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)`.  fullmatch, because
# Python's `$` would also match before a trailing newline and Go's does not.
_VALID_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UTC = timezone.utc


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes since local midnight, ``start_minute`` inclusive, ``end_minute`` exclusive."""

    start_minute: int
    end_minute: int

    def to_yaml(self) -> dict[str, str]:
        return {
            "start_time": f"{self.start_minute // 60:02d}:{self.start_minute % 60:02d}",
            "end_time": f"{self.end_minute // 60:02d}:{self.end_minute % 60:02d}",
        }


@dataclass(frozen=True, slots=True)
class InclusiveRange:
    begin: int
    end: int

    def to_yaml(self) -> str:
        return str(self.begin) if self.begin == self.end else f"{self.begin}:{self.end}"


def _weekday_text(r: InclusiveRange) -> str:
    begin = _DAYS_OF_WEEK_INV[r.begin]
    return begin if r.begin == r.end else f"{begin}:{_DAYS_OF_WEEK_INV[r.end]}"


@lru_cache(maxsize=256)
def _zone(name: str) -> timezone | ZoneInfo:
    # Go's time.LoadLocation: "" and "UTC" are UTC.  "Local" (the host's zone) is refused:
    # the pipeline runs on many hosts and must not mute by whichever zone one of them has.
    if name in ("", "UTC"):
        return _UTC
    if name == "Local":
        raise TimeIntervalError(
            "location 'Local' (the host's time zone) is not supported; name an IANA zone"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimeIntervalError(f"unknown time zone {name}") from None


def _days_in_month(local: datetime) -> int:
    """Go's daysInMonth: whole 24h periods from the 1st of the month to the 1st of the next.

    Measured in absolute time, so a month with a spring-forward transition in the
    location counts one day less (743h // 24 = 30 for a 31-day month) -- as in Alertmanager.
    """
    tz = local.tzinfo
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    end = datetime(year, month, 1, tzinfo=tz)
    # Aware subtraction with the same tzinfo would be wall-clock; convert to UTC first.
    diff = end.astimezone(_UTC) - start.astimezone(_UTC)
    return int(diff / timedelta(hours=1) / 24)


def _clamp(n: int, lo: int, hi: int) -> int:
    if n <= lo:
        return lo
    if n >= hi:
        return hi
    return n


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """One entry of a named time interval.  ``None`` = field not set (no constraint)."""

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[InclusiveRange, ...] | None = None
    days_of_month: tuple[InclusiveRange, ...] | None = None
    months: tuple[InclusiveRange, ...] | None = None
    years: tuple[InclusiveRange, ...] | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        if self.location is not None:
            _zone(self.location)  # validate early

    @classmethod
    def from_yaml(cls, data: Mapping[str, Any]) -> TimeInterval:
        return parse_time_interval(data)

    def to_yaml(self) -> dict[str, Any]:
        """The YAML/JSON shape Alertmanager marshals (and ``from_yaml`` reads back)."""
        out: dict[str, Any] = {}
        if self.times is not None:
            out["times"] = [r.to_yaml() for r in self.times]
        if self.weekdays is not None:
            out["weekdays"] = [_weekday_text(r) for r in self.weekdays]
        if self.days_of_month is not None:
            out["days_of_month"] = [r.to_yaml() for r in self.days_of_month]
        if self.months is not None:
            out["months"] = [r.to_yaml() for r in self.months]
        if self.years is not None:
            out["years"] = [r.to_yaml() for r in self.years]
        if self.location is not None:
            out["location"] = self.location or "UTC"
        return out

    def contains(self, t: datetime) -> bool:
        """Alertmanager's ContainsTime.  ``t`` must be timezone-aware."""
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError("TimeInterval.contains needs a timezone-aware datetime")
        t = t.astimezone(_UTC)
        if self.location is not None:
            t = t.astimezone(_zone(self.location))
        if self.times is not None:
            minute = t.hour * 60 + t.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.days_of_month is not None:
            days = _days_in_month(t)
            for r in self.days_of_month:
                begin = days + r.begin + 1 if r.begin < 0 else r.begin
                end = days + r.end + 1 if r.end < 0 else r.end
                # Skip clamping if the beginning date is after the end of the month.
                if begin > days:
                    continue
                begin = _clamp(begin, -days, days)
                end = _clamp(end, -days, days)
                if begin <= t.day <= end:
                    break
            else:
                return False
        if self.months is not None:
            if not any(r.begin <= t.month <= r.end for r in self.months):
                return False
        if self.weekdays is not None:
            weekday = (t.weekday() + 1) % 7  # Python: Monday=0; Go: Sunday=0
            if not any(r.begin <= weekday <= r.end for r in self.weekdays):
                return False
        if self.years is not None:
            if not any(r.begin <= t.year <= r.end for r in self.years):
                return False
        return True


# --- parsing ---------------------------------------------------------------------------------


def _scalar(value: Any, what: str) -> str:
    """A YAML scalar as yaml.v2 gives it to a Go string: strings as is, integers as decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TimeIntervalError(f"{what} must be a string, got {type(value).__name__} {value!r}")


def _go_atoi(text: str) -> int:
    """strconv.Atoi, with its error text."""
    if not _GO_INT.fullmatch(text):
        raise TimeIntervalError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise TimeIntervalError(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def _weekday_member(text: str) -> int:
    try:
        return DAYS_OF_WEEK[text]
    except KeyError:
        raise TimeIntervalError(f"{text} is not a valid weekday") from None


def _month_member(text: str) -> int:
    if text in MONTHS:
        return MONTHS[text]
    try:
        return _go_atoi(text)
    except TimeIntervalError:
        raise TimeIntervalError(f"{text} is not a valid month") from None


def _range_from_string(text: str, member: Any) -> InclusiveRange:
    """Go's stringableRangeFromString: lower-cased, ``a`` or ``a:b``."""
    text = text.lower()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 2:
            raise TimeIntervalError(f"couldn't parse range {text}, invalid format")
        return InclusiveRange(member(parts[0]), member(parts[1]))
    value = member(text)
    return InclusiveRange(value, value)


def _parse_weekday_range(text: str) -> InclusiveRange:
    r = _range_from_string(text, _weekday_member)
    if r.begin > r.end:
        # Alertmanager's wording, although it means "start day cannot be after end day".
        raise TimeIntervalError("start day cannot be before end day")
    return r


def _parse_day_of_month_range(text: str) -> InclusiveRange:
    r = _range_from_string(text, _go_atoi)
    if r.begin == 0 or r.begin < -31 or r.begin > 31:
        raise TimeIntervalError(f"{r.begin} is not a valid day of the month: out of range")
    if r.end == 0 or r.end < -31 or r.end > 31:
        raise TimeIntervalError(f"{r.end} is not a valid day of the month: out of range")
    if r.begin < 0 and r.end > 0:
        raise TimeIntervalError("end day must be negative if start day is negative")
    # Alertmanager checks begin <= end assuming a 28-day month for negative indices.
    check_begin = 28 + r.begin if r.begin < 0 else r.begin
    check_end = 28 + r.end if r.end < 0 else r.end
    if check_begin > check_end:
        raise TimeIntervalError(f"end day {r.end} is always before start day {r.begin}")
    return r


def _parse_month_range(text: str) -> InclusiveRange:
    r = _range_from_string(text, _month_member)
    if r.begin > r.end:
        begin = _MONTHS_INV.get(r.begin, "")
        end = _MONTHS_INV.get(r.end, "")
        raise TimeIntervalError(f"end month {end} is before start month {begin}")
    return r


def _parse_year_range(text: str) -> InclusiveRange:
    r = _range_from_string(text, _go_atoi)
    if r.begin > r.end:
        raise TimeIntervalError(f"end year {r.end} is before start year {r.begin}")
    return r


_RANGE_PARSERS = {
    "weekdays": _parse_weekday_range,
    "days_of_month": _parse_day_of_month_range,
    "months": _parse_month_range,
    "years": _parse_year_range,
}


def _parse_time(text: str) -> int:
    if not _VALID_TIME.fullmatch(text):
        raise TimeIntervalError(f"couldn't parse timestamp {text}, invalid format")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _time_field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        raise TimeIntervalError(
            f"{key} must be a quoted 'HH:MM' string, got the integer {value} (a YAML 1.1 "
            f"loader reads an unquoted 10:30 as the base-60 number 630: quote the time)"
        )
    return _scalar(value, key)


def _parse_time_range(data: Any) -> TimeRange:
    if not isinstance(data, Mapping):
        raise TimeIntervalError(
            f"times entries must be mappings with start_time and end_time, got {data!r}"
        )
    unknown = sorted(str(k) for k in data if k not in ("start_time", "end_time"))
    if unknown:
        raise TimeIntervalError(f"field {unknown[0]} not found in times entry")
    start_text = _time_field(data, "start_time")
    end_text = _time_field(data, "end_time")
    if start_text == "" or end_text == "":
        raise TimeIntervalError("both start and end times must be provided")
    start = _parse_time(start_text)
    end = _parse_time(end_text)
    if start >= end:
        raise TimeIntervalError("start time cannot be equal or greater than end time")
    return TimeRange(start, end)


def _list(data: Mapping[str, Any], key: str) -> list[Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TimeIntervalError(f"{key} must be a list, got {value!r}")
    return list(value)


def parse_time_interval(data: Mapping[str, Any]) -> TimeInterval:
    """One time interval entry from its YAML dict shape; raises TimeIntervalError."""
    if not isinstance(data, Mapping):
        raise TimeIntervalError(f"a time interval must be a mapping, got {data!r}")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise TimeIntervalError(f"field {unknown[0]} not found in time interval")

    # Fields are decoded in document order, so the first error reported is the one
    # Alertmanager (yaml.v2) reports.
    fields: dict[str, Any] = {}
    for key in data:
        if key == "times":
            items = _list(data, key)
            fields[key] = None if items is None else tuple(_parse_time_range(t) for t in items)
        elif key == "location":
            location = data[key]
            if location is not None:
                location = _scalar(location, key)
                _zone(location)
            fields[key] = location
        else:
            items = _list(data, key)
            parse = _RANGE_PARSERS[key]
            fields[key] = None if items is None else tuple(parse(_scalar(i, key)) for i in items)
    return TimeInterval(**fields)


def parse_time_intervals(entries: Iterable[Mapping[str, Any]]) -> tuple[TimeInterval, ...]:
    """The ``time_intervals`` list of one named interval."""
    if entries is None:
        return ()
    if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Iterable):
        raise TimeIntervalError(f"time_intervals must be a list, got {entries!r}")
    return tuple(parse_time_interval(entry) for entry in entries)


class TimeIntervals(Mapping[str, tuple[TimeInterval, ...]]):
    """Named time intervals: a name stands for a list of entries (their union)."""

    __slots__ = ("_named",)

    def __init__(self, named: Mapping[str, Iterable[TimeInterval]] | None = None) -> None:
        self._named: dict[str, tuple[TimeInterval, ...]] = {
            name: tuple(intervals) for name, intervals in (named or {}).items()
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TimeIntervals:
        """Read ``mute_time_intervals`` (deprecated) and ``time_intervals`` of an Alertmanager
        configuration.  Names must be non-empty and unique across both lists (Alertmanager)."""
        named: dict[str, tuple[TimeInterval, ...]] = {}
        for key, kind in (
            ("mute_time_intervals", "mute time interval"),
            ("time_intervals", "time interval"),
        ):
            blocks = config.get(key)
            if blocks is None:
                continue
            if isinstance(blocks, (str, bytes, Mapping)) or not isinstance(blocks, Sequence):
                raise TimeIntervalError(f"{key} must be a list, got {blocks!r}")
            for block in blocks:
                if not isinstance(block, Mapping):
                    raise TimeIntervalError(f"{key} entries must be mappings, got {block!r}")
                unknown = sorted(str(k) for k in block if k not in ("name", "time_intervals"))
                if unknown:
                    raise TimeIntervalError(f"field {unknown[0]} not found in {kind}")
                name = block.get("name")
                name = "" if name is None else _scalar(name, "name")
                if name == "":
                    raise TimeIntervalError(f"missing name in {kind}")
                try:
                    intervals = parse_time_intervals(block.get("time_intervals"))
                except TimeIntervalError as exc:
                    raise TimeIntervalError(f"{kind} {name!r}: {exc}") from None
                if name in named:
                    raise TimeIntervalError(f"{kind} {name!r} is not unique")
                named[name] = intervals
        return cls(named)

    def __getitem__(self, name: str) -> tuple[TimeInterval, ...]:
        return self._named[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._named)

    def __len__(self) -> int:
        return len(self._named)

    def __repr__(self) -> str:
        return f"TimeIntervals({self._named!r})"

    def check_names(self, names: Iterable[str]) -> None:
        """Raise TimeIntervalError naming the first unknown name (config check)."""
        for name in names:
            if name not in self._named:
                raise TimeIntervalError(f"undefined time interval {name!r} used in route")

    def any_contains(self, names: Iterable[str], t: datetime) -> bool:
        """Notify's inTimeIntervals: True when ``t`` is in any entry of any named interval.

        An unknown name raises TimeIntervalError, as Alertmanager fails the stage ("time
        interval X doesn't exist in config") -- but only when it gets to that name.
        """
        for name in names:
            intervals = self._named.get(name)
            if intervals is None:
                raise TimeIntervalError(f"time interval {name} doesn't exist in config")
            for interval in intervals:
                if interval.contains(t):
                    return True
        return False
