"""Firings over time (GET /api/history/firings, `pipeline history firings`) on real PostgreSQL: whole
UTC buckets with zeros, hours or days, equality filters, and the refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from pipeline.cli import main
from pipeline.history.api import HistoryApi
from tests.integration.history.factories import enriched, load

# A fixed clock half-way through an hour, so every bucket below is known exactly.
NOW = datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0)
HOUR = timedelta(hours=1)
DB = {"alertname": "DiskFull", "team": "db", "instance": "db1"}
WEB = {"alertname": "HighCPU", "team": "web", "instance": "web1"}


def at_hour(hours_ago: int, minute: int = 10) -> datetime:
    return NOW.replace(minute=minute) - hours_ago * HOUR


@pytest.fixture(scope="module")
def loaded(history_db):
    values = [enriched(DB, "new", at_hour(0)), enriched(DB, "resolved", at_hour(0, 20)),
              enriched(DB, "new", at_hour(0, 25)),  # two firings in the current hour
              enriched(DB, "new", at_hour(2)), enriched(WEB, "new", at_hour(2, 40)),
              enriched(WEB, "updated", at_hour(3)),  # not a firing
              enriched(WEB, "new", at_hour(50))]  # two days ago: outside 24h, inside 3d

    load(history_db, values, NOW)
    return history_db


@pytest.fixture(scope="module")
def client(loaded):
    with TestClient(HistoryApi(loaded, clock=lambda: NOW).app) as test_client:
        yield test_client


def test_hourly_buckets_are_whole_hours_with_zeros(client):
    body = client.get("/firings", params={"since": "6h"}).json()
    top = NOW.replace(minute=0)
    assert body["step"] == 3600 and body["since"] == (NOW - 6 * HOUR).isoformat().replace("+00:00", "Z")
    assert [b["at"] for b in body["buckets"]] == [(top - i * HOUR).isoformat().replace("+00:00", "Z")
                                                   for i in range(6, -1, -1)]
    assert [b["firings"] for b in body["buckets"]] == [0, 0, 0, 0, 2, 0, 2]
    assert body["total"] == 4


def test_days_equality_filters_and_the_default_step(client):
    week = client.get("/firings", params={"since": "3d", "step": "1d"}).json()
    assert week["step"] == 86400 and len(week["buckets"]) == 4 and week["total"] == 5
    assert all(b["at"].endswith("T00:00:00Z") for b in week["buckets"])
    assert client.get("/firings", params={"since": "30d"}).json()["step"] == 86400  # past 7 days: days
    only_web = client.get("/firings", params={"since": "3d", "filter": 'team="web"'}).json()
    assert only_web["step"] == 3600 and only_web["total"] == 2
    not_web = client.get("/firings", params={"since": "3d", "filter": ['team!="web"', 'alertname="DiskFull"']}).json()
    assert not_web["total"] == 3


@pytest.mark.parametrize(("params", "message"), [
    ({"filter": 'team=~"w.*"'}, "regex matchers are not supported"),
    ({"since": "60d", "step": "1h"}, "at most 1000"),
    ({"step": "5m"}, "step: '5m' is not one of 1h, 1d"),
    ({"since": "1h", "until": "2h"}, "must be before until"),
])
def test_refusals_name_the_parameter(client, params, message):
    response = client.get("/firings", params=params)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_the_cli_prints_one_line_per_bucket(loaded):
    result = CliRunner().invoke(main, ["history", "firings", "--since", "3d", "--step", "1d"],
                                env={"PIPELINE_HISTORY__DSN": loaded.dsn}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    buckets = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(buckets) == 4 and sum(b["firings"] for b in buckets) == 5
