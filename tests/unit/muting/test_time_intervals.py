"""Mirrors Alertmanager v0.25.0 timeinterval/timeinterval_test.go, plus vectors produced by that
package itself (data/timeinterval_go_vectors.jsonl, see data/README.md)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from pipeline.muting.time_intervals import (
    InclusiveRange as R,
)
from pipeline.muting.time_intervals import (
    TimeInterval,
    TimeIntervalError,
    TimeIntervals,
    TimeRange,
    parse_time_interval,
)

DATA = Path(__file__).parent / "data"


def rfc822z(text: str) -> datetime:
    """Go's time.RFC822Z layout, "02 Jan 06 15:04 -0700"."""
    return datetime.strptime(text, "%d %b %y %H:%M %z")


# --- TestContainsTime (timeIntervalTestCases) -------------------------------------------------

CONTAINS_CASES = [
    (
        TimeInterval(),
        ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000", "04 Jan 06 09:04 +0000"],
        [],
    ),
    (  # 9am to 5pm, monday to friday
        TimeInterval(times=(TimeRange(540, 1020),), weekdays=(R(1, 5),)),
        ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
        ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"],
    ),
    (  # Easter 2020
        TimeInterval(days_of_month=(R(4, 6),), months=(R(4, 4),), years=(R(2020, 2020),)),
        ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
        [
            "03 May 18 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
        ],
    ),
    (  # negative days of month: last 3 days of each month
        TimeInterval(days_of_month=(R(-3, -1),)),
        [
            "31 Jan 20 15:04 +0000",
            "30 Jan 20 15:04 +0000",
            "29 Jan 20 15:04 +0000",
            "30 Jun 20 00:00 +0000",
            "29 Feb 20 23:05 +0000",
        ],
        [
            "03 May 18 15:04 +0000",
            "27 Jan 20 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
            "01 Mar 20 00:00 +0000",
        ],
    ),
    (  # out of bound days are clamped to month boundaries
        TimeInterval(months=(R(6, 6),), days_of_month=(R(-31, 31),)),
        ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        ["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"],
    ),
    (  # AEST 9AM to 5PM, Monday to Friday
        TimeInterval(
            times=(TimeRange(540, 1020),), weekdays=(R(1, 5),), location="Australia/Sydney"
        ),
        ["06 Apr 21 13:00 +1000"],
        ["06 Apr 21 13:00 +0000"],
    ),
    (  # alternative timezone during daylight saving time
        TimeInterval(
            times=(TimeRange(540, 1020),),
            weekdays=(R(1, 5),),
            months=(R(11, 11),),
            location="Australia/Sydney",
        ),
        ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        ["31 Oct 21 21:00 +0000"],
    ),
]


@pytest.mark.parametrize(("interval", "inside", "outside"), CONTAINS_CASES)
def test_contains_time(interval: TimeInterval, inside: list[str], outside: list[str]) -> None:
    for text in inside:
        assert interval.contains(rfc822z(text)), text
    for text in outside:
        assert not interval.contains(rfc822z(text)), text


# --- TestParseTimeString (timeStringTestCases) ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'start_time': '00:00', 'end_time': '24:00'}", TimeRange(0, 1440)),
        ("{'start_time': '01:35', 'end_time': '17:39'}", TimeRange(95, 1059)),
        ("{'start_time': '09:35', 'end_time': '09:39'}", TimeRange(575, 579)),
        ("{'start_time': '17:31', 'end_time': '17:31'}", None),  # same
        ("{'start_time': '12:30', 'end_time': '24:01'}", None),  # end out of range
        ("{'start_time': '09:30', 'end_time': '07:41'}", None),  # start after end
        ("{'start_time': '24:00', 'end_time': '17:41'}", None),  # start out of range, after end
        ("{'start_time': '14:03'}", None),  # no end
    ],
)
def test_parse_time_range(text: str, expected: TimeRange | None) -> None:
    data = {"times": [yaml.safe_load(text)]}
    if expected is None:
        with pytest.raises(TimeIntervalError):
            parse_time_interval(data)
    else:
        assert parse_time_interval(data).times == (expected,)


# --- TestYamlUnmarshal (yamlUnmarshalTestCases) -----------------------------------------------

YAML_CASES = [
    (  # simple business hours
        """
- weekdays: ['monday:friday']
  times:
    - start_time: '09:00'
      end_time: '17:00'
""",
        [TimeInterval(weekdays=(R(1, 5),), times=(TimeRange(540, 1020),))],
        ["08 Jul 20 09:00 +0000", "08 Jul 20 16:59 +0000"],
        ["08 Jul 20 05:00 +0000", "08 Jul 20 08:59 +0000"],
        None,
    ),
    (  # negative indices and ranges
        """
- weekdays: ['monday:friday', 'sunday']
  months: ['january:march']
  days_of_month: ['-7:-1']
  years: ['2020:2025', '2030:2035']
  times:
    - start_time: '09:00'
      end_time: '17:00'
""",
        [
            TimeInterval(
                weekdays=(R(1, 5), R(0, 0)),
                times=(TimeRange(540, 1020),),
                months=(R(1, 3),),
                days_of_month=(R(-7, -1),),
                years=(R(2020, 2025), R(2030, 2035)),
            )
        ],
        [
            "27 Jan 21 09:00 +0000",
            "28 Jan 21 16:59 +0000",
            "29 Jan 21 13:00 +0000",
            "31 Mar 25 13:00 +0000",
            "31 Jan 35 13:00 +0000",
        ],
        [
            "30 Jan 21 13:00 +0000",  # Saturday
            "01 Apr 21 13:00 +0000",  # 4th month
            "30 Jan 26 13:00 +0000",  # 2026
            "31 Jan 35 17:01 +0000",  # after 5pm
        ],
        None,
    ),
    (
        """
- weekdays: ['monday:friday']
  times:
    - start_time: '09:00'
      end_time: '17:00'""",
        [TimeInterval(weekdays=(R(1, 5),), times=(TimeRange(540, 1020),))],
        ["01 Apr 21 13:00 +0000"],
        [],
        None,
    ),
    (
        "- times: [{start_time: '01:99', end_time: '23:59'}]",
        None,
        [],
        [],
        "couldn't parse timestamp 01:99, invalid format",
    ),
    (
        "- times: [{start_time: '00:00', end_time: '99:99'}]",
        None,
        [],
        [],
        "couldn't parse timestamp 99:99, invalid format",
    ),
    ("- weekdays: ['friday:monday']", None, [], [], "start day cannot be before end day"),
    ("- weekdays: ['blurgsday:flurgsday']", None, [], [], "blurgsday is not a valid weekday"),
    ("- weekdays: ['1:3']", None, [], [], "1 is not a valid weekday"),
    ("- weekdays: ['-2:-1']", None, [], [], "-2 is not a valid weekday"),
    ("- days_of_month: ['0']", None, [], [], "0 is not a valid day of the month: out of range"),
    (
        "- days_of_month: ['-50:-20']",
        None,
        [],
        [],
        "-50 is not a valid day of the month: out of range",
    ),
    ("- days_of_month: ['1:50']", None, [], [], "50 is not a valid day of the month: out of range"),
    ("- days_of_month: ['1:-1']", [TimeInterval(days_of_month=(R(1, -1),))], [], [], None),
    (
        "- days_of_month: ['-15:5']",
        None,
        [],
        [],
        "end day must be negative if start day is negative",
    ),
    ("- days_of_month: ['10:-25']", None, [], [], "end day -25 is always before start day 10"),
    ("- months: ['January:december']", [TimeInterval(months=(R(1, 12),))], [], [], None),
    (
        "- years: ['2020:2022']\n  location: 'Australia/Sydney'",
        [TimeInterval(years=(R(2020, 2022),), location="Australia/Sydney")],
        [],
        [],
        None,
    ),
    ("- months: ['martius:june']", None, [], [], "martius is not a valid month"),
    ("- months: ['march:junius']", None, [], [], "junius is not a valid month"),
    (
        "- months: ['december:january']",
        None,
        [],
        [],
        "end month january is before start month december",
    ),
    ("- years: ['2022:2020']", None, [], [], "end year 2020 is before start year 2022"),
]


@pytest.mark.parametrize(("text", "intervals", "inside", "outside", "error"), YAML_CASES)
def test_yaml_unmarshal(
    text: str,
    intervals: list[TimeInterval] | None,
    inside: list[str],
    outside: list[str],
    error: str | None,
) -> None:
    data = yaml.safe_load(text)
    if error is not None:
        with pytest.raises(TimeIntervalError) as info:
            [parse_time_interval(d) for d in data]
        assert str(info.value) == error
        return
    parsed = [parse_time_interval(d) for d in data]
    assert parsed == intervals
    for t in inside:
        assert any(i.contains(rfc822z(t)) for i in parsed), t
    for t in outside:
        assert not any(i.contains(rfc822z(t)) for i in parsed), t


@pytest.mark.parametrize(
    "text", [c[0] for c in YAML_CASES if c[4] is None] + ["- {}", "- {weekdays: [], times: []}"]
)
def test_yaml_and_json_round_trip(text: str) -> None:
    parsed = [parse_time_interval(d) for d in yaml.safe_load(text)]
    dumped = [i.to_yaml() for i in parsed]
    assert [parse_time_interval(d) for d in json.loads(json.dumps(dumped))] == parsed
    assert [parse_time_interval(d) for d in yaml.safe_load(yaml.safe_dump(dumped))] == parsed


# --- TestTimeIntervalComplete (completeTestCases) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (
            """
weekdays: ['monday:wednesday', 'saturday', 'sunday']
times:
  - start_time: '13:00'
    end_time: '15:00'
days_of_month: ['1', '10', '20:-1']
years: ['2020:2023']
months: ['january:march']
""",
            ["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
            ["09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"],
        ),
        (  # broken clamping: a begin day after the month's end is skipped, not clamped
            "days_of_month: ['30:31']\nyears: ['2020:2023']\nmonths: ['february']",
            [],
            ["28 Feb 21 13:00 +0000"],
        ),
    ],
)
def test_time_interval_complete(text: str, inside: list[str], outside: list[str]) -> None:
    interval = parse_time_interval(yaml.safe_load(text))
    for t in inside:
        assert interval.contains(rfc822z(t)), t
    for t in outside:
        assert not interval.contains(rfc822z(t)), t


# --- vectors from Alertmanager's own code -----------------------------------------------------


def _go_vectors() -> list[dict]:
    with (DATA / "timeinterval_go_vectors.jsonl").open() as f:
        return [json.loads(line) for line in f]


def test_matches_alertmanager_vectors() -> None:
    """Each case's parse error (exact text) or containment answers equal Alertmanager 0.25.0's."""
    cases = _go_vectors()
    assert len(cases) > 300
    mismatches = []
    for case in cases:
        try:
            interval = parse_time_interval(case["interval"])
        except TimeIntervalError as exc:
            if str(exc) != case.get("error"):
                mismatches.append((case["interval"], str(exc), case.get("error")))
            continue
        if "error" in case:
            mismatches.append((case["interval"], None, case["error"]))
            continue
        got = [interval.contains(datetime.fromisoformat(t)) for t in case["times"]]
        if got != case["contains"]:
            mismatches.append((case["interval"], got, case["contains"]))
    assert mismatches == []


# --- quirks and details -----------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_spring_forward_month_is_a_day_short_like_alertmanager() -> None:
    # Go's daysInMonth counts whole 24h periods: March in Berlin has 743h, so 30 "days",
    # and -1 is March 30th.  Alertmanager 0.25 behaves so (see the Go vectors).
    last_day = parse_time_interval({"days_of_month": ["-1"], "location": "Europe/Berlin"})
    assert last_day.contains(utc(2021, 3, 30, 12))
    assert not last_day.contains(utc(2021, 3, 31, 12))
    in_utc = parse_time_interval({"days_of_month": ["-1"]})
    assert in_utc.contains(utc(2021, 3, 31, 12))


def test_end_time_is_exclusive_and_24_00_allowed() -> None:
    interval = parse_time_interval({"times": [{"start_time": "22:00", "end_time": "24:00"}]})
    assert interval.contains(utc(2021, 1, 1, 23, 59, 59))
    assert not interval.contains(utc(2021, 1, 2, 0, 0))
    assert not interval.contains(utc(2021, 1, 1, 21, 59, 59))


def test_empty_list_matches_nothing_but_absent_field_matches_all() -> None:
    assert not parse_time_interval({"weekdays": []}).contains(utc(2021, 1, 1))
    assert not parse_time_interval({"times": []}).contains(utc(2021, 1, 1))
    assert parse_time_interval({"weekdays": None}).contains(utc(2021, 1, 1))
    assert parse_time_interval({}).contains(utc(2021, 1, 1))


def test_weekdays_are_go_numbered() -> None:
    sunday = parse_time_interval({"weekdays": ["Sunday"]})
    assert sunday.contains(utc(2021, 1, 3))  # a Sunday
    assert not sunday.contains(utc(2021, 1, 4))
    assert parse_time_interval({"weekdays": ["sunday:saturday"]}).weekdays == (R(0, 6),)


def test_unchecked_month_numbers_are_accepted_like_alertmanager() -> None:
    assert parse_time_interval({"months": ["13"]}).months == (R(13, 13),)
    assert not parse_time_interval({"months": ["13"]}).contains(utc(2021, 12, 1))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"days_of_month": ["x"]}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"days_of_month": ["1:2:3"]}, "couldn't parse range 1:2:3, invalid format"),
        ({"days_of_month": [" 1"]}, 'strconv.Atoi: parsing " 1": invalid syntax'),
        (
            {"times": [{"start_time": "9:00", "end_time": "17:00"}]},
            "couldn't parse timestamp 9:00, invalid format",
        ),
        (
            {"times": [{"start_time": "09:00\n", "end_time": "17:00"}]},
            "couldn't parse timestamp 09:00\n, invalid format",
        ),
        (
            {"times": [{"start_time": "", "end_time": "17:00"}]},
            "both start and end times must be provided",
        ),
        ({"location": "Mars/Olympus"}, "unknown time zone Mars/Olympus"),
        ({"location": "../etc/passwd"}, "unknown time zone ../etc/passwd"),
        ({"weekday": ["monday"]}, "field weekday not found in time interval"),
    ],
)
def test_invalid(data: dict, error: str) -> None:
    with pytest.raises(TimeIntervalError) as info:
        parse_time_interval(data)
    assert str(info.value) == error


def test_first_error_in_document_order() -> None:
    data = {"years": ["2022:2020"], "weekdays": ["funday"]}
    with pytest.raises(TimeIntervalError, match="end year"):
        parse_time_interval(data)
    with pytest.raises(TimeIntervalError, match="funday"):
        parse_time_interval(dict(reversed(data.items())))


def test_integer_scalars_are_read_as_text() -> None:
    # yaml.v2 hands an integer scalar to a Go string as its decimal text.
    parsed = parse_time_interval(yaml.safe_load("days_of_month: [1, '5:10']\nyears: [2021]"))
    assert parsed.days_of_month == (R(1, 1), R(5, 10))
    assert parsed.years == (R(2021, 2021),)


def test_sexagesimal_time_from_yaml_1_1_loader_is_rejected_clearly() -> None:
    data = yaml.safe_load("times: [{start_time: 10:30, end_time: '17:00'}]")
    assert data["times"][0]["start_time"] == 630  # PyYAML's YAML 1.1 base-60 integer
    with pytest.raises(TimeIntervalError, match="quote the time"):
        parse_time_interval(data)


def test_utc_locations() -> None:
    for name in ("UTC", ""):
        assert parse_time_interval(
            {"location": name, "times": [{"start_time": "10:00", "end_time": "11:00"}]}
        ).contains(utc(2021, 1, 1, 10, 30))
    with pytest.raises(TimeIntervalError, match="Local"):
        parse_time_interval({"location": "Local"})


def test_contains_needs_aware_datetime() -> None:
    with pytest.raises(ValueError):
        TimeInterval().contains(datetime(2021, 1, 1))


# --- named intervals --------------------------------------------------------------------------

CONFIG = """
mute_time_intervals:
  - name: weekends
    time_intervals:
      - weekdays: ['saturday', 'sunday']
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
      - weekdays: ['saturday']
        times: [{start_time: '10:00', end_time: '12:00'}]
  - name: never
    time_intervals: []
"""


def test_named_intervals_from_config() -> None:
    named = TimeIntervals.from_config(yaml.safe_load(CONFIG))
    assert sorted(named) == ["business-hours", "never", "weekends"]
    saturday_11 = utc(2021, 1, 2, 11)
    monday_8 = utc(2021, 1, 4, 8)
    assert named.any_contains(["business-hours"], saturday_11)
    assert not named.any_contains(["business-hours"], monday_8)
    assert named.any_contains(["never", "weekends"], saturday_11)
    assert not named.any_contains(["never"], saturday_11)
    assert not named.any_contains([], saturday_11)
    with pytest.raises(TimeIntervalError, match="time interval nope doesn't exist in config"):
        named.any_contains(["nope"], saturday_11)
    # Alertmanager stops at the first interval that contains the time.
    assert named.any_contains(["weekends", "nope"], saturday_11)
    named.check_names(["weekends"])
    with pytest.raises(TimeIntervalError, match="undefined time interval"):
        named.check_names(["weekends", "nope"])


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"time_intervals": [{"time_intervals": []}]}, "missing name in time interval"),
        ({"mute_time_intervals": [{"name": ""}]}, "missing name in mute time interval"),
        (
            {"mute_time_intervals": [{"name": "a"}], "time_intervals": [{"name": "a"}]},
            "time interval 'a' is not unique",
        ),
        (
            {"time_intervals": [{"name": "a", "time_intervals": [{"weekdays": ["x"]}]}]},
            "time interval 'a': x is not a valid weekday",
        ),
    ],
)
def test_named_intervals_invalid(config: dict, error: str) -> None:
    with pytest.raises(TimeIntervalError) as info:
        TimeIntervals.from_config(config)
    assert str(info.value) == error
