from datetime import timedelta

import pytest

from pipeline.durations import format_duration, parse_duration


@pytest.mark.parametrize("text, expected", [
    ("0", timedelta(0)),
    ("30s", timedelta(seconds=30)),
    ("5m", timedelta(minutes=5)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("500ms", timedelta(milliseconds=500)),
    ("7d", timedelta(days=7)),
    ("2w", timedelta(weeks=2)),
    ("1y", timedelta(days=365)),
    ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
])
def test_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "1m1h", "-5s", "1.5h", "5 m", "1s1s", " 30s", "30s\n"])
def test_rejects(text):
    with pytest.raises(ValueError, match="not a valid duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["30s", "5m", "1h30m", "500ms", "7d", "30d", "1d2h3m4s5ms"])
def test_format_round_trips(text):
    assert format_duration(parse_duration(text)) == text
    assert format_duration(timedelta(0)) == "0s"
