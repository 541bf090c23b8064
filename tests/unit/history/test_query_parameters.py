"""Query parameters and the matcher-to-SQL split, without a database (tests/integration/history runs them)."""

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.history import queries
from pipeline.history.queries import QueryError
from pipeline.settings import HistorySettings

NOW = datetime(2026, 12, 2, 12, tzinfo=timezone.utc)
HISTORY = HistorySettings()


def test_times_are_rfc3339_with_an_offset_or_durations_before_now():
    assert queries.time_range("2h", None, NOW) == (NOW - timedelta(hours=2), NOW)
    assert queries.time_range(None, "1h", NOW) == (NOW - timedelta(hours=25), NOW - timedelta(hours=1))
    start, _ = queries.time_range("2026-12-02T13:00:00+02:00", None, NOW)
    assert start == datetime(2026, 12, 2, 11, tzinfo=timezone.utc)
    with pytest.raises(QueryError, match="no UTC offset"):
        queries.time_range("2026-12-02T10:00:00", None, NOW)
    with pytest.raises(QueryError, match="must be before until"):
        queries.time_range("1h", "2h", NOW)
    with pytest.raises(QueryError, match="since: too long"):
        queries.time_range("1" * 100, None, NOW)


def test_limits_are_capped():
    assert queries.parse_limit(None, HISTORY) == 100
    assert queries.parse_limit("1000", HISTORY) == 1000
    for bad in ("0", "1001", "x", "-1"):
        with pytest.raises(QueryError, match="limit"):
            queries.parse_limit(bad, HISTORY)


def test_matchers_split_into_sql_and_python():
    params = {}
    clauses, rest = queries.matcher_sql(queries.parse_filters(
        ['team="db"', 'env=""', 'zone!=""', 'instance!="db1"', 'alertname=~"Disk.*"', 'job=~".*"']), "labels", params)
    assert clauses[0] == "labels @> %(m_contains)s::jsonb" and params["m_contains"] == '{"team":"db"}'
    assert "NOT labels ? %(m1_name)s" in clauses and params["m1_name"] == "env"
    assert "labels ? %(m2_name)s" in clauses
    assert "NOT labels @> %(m3_value)s::jsonb" in clauses and params["m3_value"] == '{"instance":"db1"}'
    assert "labels ? %(m4_name)s" in clauses  # Disk.* needs the label; .* matches the empty string
    assert "m5_name" not in params
    assert [str(m) for m in rest] == ['alertname=~"Disk.*"', 'job=~".*"']


def test_contradicting_equalities_match_nothing():
    clauses, _ = queries.matcher_sql(queries.parse_filters(['a="1"', 'a="2"']), "labels", {})
    assert "false" in clauses


def test_regex_is_refused_where_sql_must_evaluate_everything():
    with pytest.raises(QueryError, match="regex matchers are not supported"):
        queries.matcher_sql(queries.parse_filters(['a=~"x"']), "labels", {}, allow_regex=False)


def test_filters_are_bounded_and_parsed_as_the_api_does():
    with pytest.raises(QueryError, match="at most 32 matchers"):
        queries.parse_filters(['a="1"'] * 33)
    with pytest.raises(QueryError, match="longer than 1024"):
        queries.parse_filters(['a="' + "x" * 2000 + '"'])
    with pytest.raises(QueryError, match="filter: bad matcher format"):
        queries.parse_filters(["nonsense"])


def test_cursors_round_trip_and_foreign_ones_are_refused():
    cursor = queries.encode_cursor(NOW, 42)
    assert queries.decode_cursor(cursor) == (NOW, 42)
    for bad in ("x", "eyJhIjoxfQ", queries.encode_cursor(NOW, 1)[:-3] + "!!!"):
        with pytest.raises(QueryError, match="cursor"):
            queries.decode_cursor(bad)


def test_flapping_parameters_are_bounded_by_what_the_summaries_keep():
    assert queries.parse_threshold(None, 2) == 2
    with pytest.raises(QueryError, match="between 1 and 63"):
        queries.parse_threshold("64", 2)
    assert queries.parse_window("30m", 1800) == timedelta(minutes=30)
    with pytest.raises(QueryError, match="window"):
        queries.parse_window("30d", 1800)
