"""History queries through the HTTP API (and the same functions the CLI runs) on real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from pipeline.fingerprint import alert_fingerprint
from pipeline.history import queries
from pipeline.history.api import HistoryApi
from pipeline.stages.history import HistoryProcessor
from tests.integration.history.factories import enriched, load, notification, outcome, record

NOW = datetime.now(timezone.utc).replace(microsecond=0)
A = {"alertname": "DiskFull", "team": "db", "instance": "db1"}
B = {"alertname": "DiskFull", "team": "db", "instance": "db2"}
C = {"alertname": "HighCPU", "team": "web", "instance": "web1"}
D = {"alertname": "HighCPU", "team": "web", "instance": "web2"}
FP = {name: alert_fingerprint(labels) for name, labels in {"A": A, "B": B, "C": C, "D": D}.items()}


def dataset():
    """A flaps six times in the last ten minutes; B fires once; C fires, resolves, fires; D is silenced."""
    values = []
    for i in range(6):
        values.append(enriched(A, "new" if i % 2 == 0 else "resolved", NOW - timedelta(minutes=10) + i * timedelta(minutes=1),
                               receiver="team-db"))
    values.append(enriched(B, "new", NOW - timedelta(hours=3), receiver="team-db"))
    values += [enriched(C, "new", NOW - timedelta(hours=5), receiver="team-web"),
               enriched(C, "resolved", NOW - timedelta(hours=4), receiver="team-web"),
               enriched(C, "new", NOW - timedelta(hours=1), receiver="team-web"),
               enriched(D, "new", NOW - timedelta(hours=2), receiver="team-web", silenced_by=["s1"])]
    first_a = values[0]
    values += [notification([first_a], nid="na1", receiver="team-db", at=NOW - timedelta(minutes=9)),
               outcome("na1", "retrying", 1, NOW - timedelta(minutes=9), receiver="team-db", error="HTTP 503"),
               outcome("na1", "delivered", 2, NOW - timedelta(minutes=8), receiver="team-db"),
               notification([values[7]], nid="nc1", receiver="team-web", at=NOW - timedelta(hours=5)),
               outcome("nc1", "dead_lettered", 1, NOW - timedelta(hours=5), receiver="team-web", error="HTTP 400")]
    return values


@pytest.fixture(scope="module")
def loaded(history_db):
    with psycopg.connect(history_db.dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE alert_changes, alert_summaries, alert_firings_hourly, alert_firings_daily, notifications, delivery_outcomes")

    load(history_db, dataset(), NOW)
    return history_db


@pytest.fixture(scope="module")
def client(loaded):
    api = HistoryApi(loaded, clock=lambda: NOW)
    with TestClient(api.app) as test_client:
        yield test_client


def get(client, path, **params):
    response = client.get(path, params=params)
    return response.status_code, response.json()


def test_timeline_is_oldest_first_with_notifications_and_outcomes(client):
    status, body = get(client, f"/alerts/{FP['A']}/timeline")
    assert status == 200
    assert [c["change"] for c in body["changes"]] == ["new", "resolved"] * 3
    assert all(c["transition"] for c in body["changes"])
    assert body["changes"][0]["labels"] == A and body["changes"][0]["receivers"] == ["team-db"]
    assert [n["id"] for n in body["notifications"]] == ["na1"]
    assert body["notifications"][0]["outcome"] == "delivered"
    assert [o["outcome"] for o in body["notifications"][0]["outcomes"]] == ["retrying", "delivered"]
    assert body["next_cursor"] is None


def test_timeline_pages_with_a_cursor(client):
    seen, cursor = [], None
    for _ in range(5):
        status, body = get(client, f"/alerts/{FP['A']}/timeline", limit=4, **({"cursor": cursor} if cursor else {}))
        assert status == 200
        seen += [c["id"] for c in body["changes"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 == len(set(seen))


def test_timeline_errors(client):
    assert get(client, "/alerts/0123456789abcdef/timeline") == (404, {"error": "not_found", "detail": "no history of alert 0123456789abcdef"})
    status, body = get(client, "/alerts/nothex/timeline")
    assert status == 400 and "fingerprint" in body["detail"]
    status, body = get(client, f"/alerts/{FP['A']}/timeline", cursor="garbage")
    assert status == 400 and body["detail"] == "cursor: not a cursor this API returned"


def fingerprints(body):
    return [item["fingerprint"] for item in body["items"]]


def test_search_by_equality_regex_and_negative_matchers(client):
    status, body = get(client, "/alerts", filter='team="db"', since="6h")
    assert status == 200 and set(fingerprints(body)) == {FP["A"], FP["B"]} and len(body["items"]) == 7
    ats = [item["at"] for item in body["items"]]
    assert ats == sorted(ats, reverse=True)  # newest first
    status, body = get(client, "/alerts", filter='alertname=~"High.*"', since="6h")
    assert set(fingerprints(body)) == {FP["C"], FP["D"]}
    status, body = get(client, "/alerts", filter=['instance=~"db.*|web1"', 'team!="web"'], since="6h")
    assert set(fingerprints(body)) == {FP["A"], FP["B"]}
    status, body = get(client, "/alerts", filter='instance!="db1"', since="6h", change="new")
    assert set(fingerprints(body)) == {FP["B"], FP["C"], FP["D"]}
    status, body = get(client, "/alerts", filter='nolabel=""', since="90m")
    assert set(fingerprints(body)) == {FP["A"], FP["C"]}
    status, body = get(client, "/alerts", filter='instance!=""', since="1m")
    assert body["items"] == []


def test_search_time_range_and_keyset_pagination(client):
    status, body = get(client, "/alerts", since="6h", until="2h")
    assert {item["fingerprint"] for item in body["items"]} == {FP["B"], FP["C"]}
    for filters in ([], ['instance=~".+"']):  # the SQL path and the path with a regex evaluated in Python
        seen, cursor = [], None
        while True:
            params = {"since": "6h", "limit": 3, "filter": filters, **({"cursor": cursor} if cursor else {})}
            status, body = get(client, "/alerts", **params)
            assert status == 200 and len(body["items"]) <= 3
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 11 == len(set(seen)), filters


def test_a_search_stops_at_its_scan_budget_and_says_where_to_go_on(loaded):
    small = loaded.model_copy(update={"query_max_scan_rows": 100})
    extra = [enriched({"alertname": "Noise", "i": str(i)}, "new", NOW - timedelta(minutes=30) + timedelta(seconds=i))
             for i in range(150)]

    async def load():
        processor = HistoryProcessor(loaded)
        for value in extra:
            await processor.process(record(value), {}, NOW)
        await processor.flush()
        await processor.aclose()
    asyncio.run(load())
    try:
        with TestClient(HistoryApi(small, clock=lambda: NOW).app) as client:
            status, first = get(client, "/alerts", filter='alertname=~"Disk.*"', since="1h", limit=10)
            assert status == 200 and first["scanned"] >= 100 and first["next_cursor"]
            found = list(first["items"])
            cursor = first["next_cursor"]
            while cursor:
                _, page = get(client, "/alerts", filter='alertname=~"Disk.*"', since="1h", limit=10, cursor=cursor)
                found += page["items"]
                cursor = page["next_cursor"]
        assert {item["fingerprint"] for item in found} == {FP["A"]} and len(found) == 6
    finally:
        with psycopg.connect(loaded.dsn, autocommit=True) as conn:
            for rollup in ("alert_firings_hourly", "alert_firings_daily"):
                conn.execute(f"DELETE FROM {rollup} WHERE fingerprint IN "
                             "(SELECT fingerprint FROM alert_summaries WHERE alertname = 'Noise')")
            conn.execute("DELETE FROM alert_changes WHERE alertname = 'Noise'")
            conn.execute("DELETE FROM alert_summaries WHERE alertname = 'Noise'")


def test_top_alerts_by_label_and_per_alert(client):
    status, body = get(client, "/top", by="alertname", since="6h")
    assert status == 200
    assert [(i["value"], i["firings"], i["alerts"]) for i in body["items"]] == [("DiskFull", 4, 2), ("HighCPU", 3, 2)]
    status, body = get(client, "/top", by="instance", since="6h", filter='team="web"')
    assert [(i["value"], i["firings"]) for i in body["items"]] == [("web1", 2), ("web2", 1)]
    status, body = get(client, "/top", since="6h", limit=1)
    assert [(i["fingerprint"], i["firings"]) for i in body["items"]] == [(FP["A"], 3)]
    status, body = get(client, "/top", by="bad-name")
    assert status == 400 and "label name" in body["detail"]
    status, body = get(client, "/top", filter='team=~"d.*"')
    assert status == 400 and "regex matchers are not supported" in body["detail"]


def test_top_over_days_adds_daily_hourly_and_raw_counts_exactly(loaded):
    """Firings every 37 minutes over five days: whatever the window, the sum is the raw count."""
    labels = {"alertname": "Span", "team": "ops"}
    values = [enriched(labels, "new" if i % 2 == 0 else "resolved", NOW - timedelta(days=5) + i * timedelta(minutes=37))
              for i in range(5 * 24 * 60 // 37)]

    async def load():
        processor = HistoryProcessor(loaded)
        for value in values:
            await processor.process(record(value), {}, NOW)
        await processor.flush()
        await processor.aclose()
    asyncio.run(load())
    try:
        with psycopg.connect(loaded.dsn) as conn:
            for since, until in (("4d", None), ("3d", "5h"), ("100m", "20m"), ("26h", "1h"), ("50h", None)):
                start, end = queries.time_range(since, until, NOW)
                expected = conn.execute("SELECT count(*) FROM alert_changes WHERE alertname = 'Span' AND change = 'new' "
                                        "AND at >= %s AND at < %s", (start, end)).fetchone()[0]
                top = queries.run_sync(conn, queries.top(loaded, "alertname", ['alertname="Span"'], since, until, None, NOW))
                assert [(i["value"], i["firings"]) for i in top["items"]] == ([("Span", expected)] if expected else []), since
    finally:
        with psycopg.connect(loaded.dsn, autocommit=True) as conn:
            for table in ("alert_firings_hourly", "alert_firings_daily"):
                conn.execute(f"DELETE FROM {table} WHERE fingerprint IN "
                             "(SELECT fingerprint FROM alert_summaries WHERE alertname = 'Span')")
            conn.execute("DELETE FROM alert_changes WHERE alertname = 'Span'")
            conn.execute("DELETE FROM alert_summaries WHERE alertname = 'Span'")


def test_flapping_follows_alertas_rule_with_configurable_threshold_and_window(client):
    status, body = get(client, "/flapping")  # defaults: more than 2 transitions in 30 minutes
    assert status == 200 and body["threshold"] == 2 and body["window"] == 1800.0
    assert [(i["fingerprint"], i["changes"]) for i in body["items"]] == [(FP["A"], 6)]
    assert get(client, "/flapping", threshold=6)[1]["items"] == []
    assert fingerprints(get(client, "/flapping", threshold=5)[1]) == [FP["A"]]
    assert fingerprints(get(client, "/flapping", threshold=2, window="6h")[1]) == [FP["A"], FP["C"]]
    assert get(client, "/flapping", window="2m")[1]["items"] == []
    assert fingerprints(get(client, "/flapping", window="6h", filter='team="web"')[1]) == [FP["C"]]
    status, body = get(client, "/flapping", threshold=64)
    assert status == 400 and "threshold" in body["detail"]


def test_notifications_and_deliveries_per_receiver(client):
    status, body = get(client, "/receivers", since="6h")
    assert status == 200
    assert body["items"] == [
        {"receiver": "team-db", "notifications": 1,
         "outcomes": {"delivered": 1, "retrying": 1, "dead_lettered": 0, "duplicate_skipped": 0}},
        {"receiver": "team-web", "notifications": 1,
         "outcomes": {"delivered": 0, "retrying": 0, "dead_lettered": 1, "duplicate_skipped": 0}}]
    status, body = get(client, "/receivers/team-web/notifications", since="6h")
    assert [(n["id"], n["outcome"], n["fingerprints"]) for n in body["items"]] == [("nc1", "dead_lettered", [FP["C"]])]
    assert body["items"][0]["outcomes"][0]["error"] == "HTTP 400"
    assert get(client, "/receivers/team-db/notifications", since="6h", outcome="dead_lettered")[1]["items"] == []
    status, body = get(client, "/receivers/team-db/notifications", outcome="lost")
    assert status == 400 and "outcome" in body["detail"]


@pytest.mark.parametrize(("params", "named"), [
    ({"limit": "0"}, "limit"), ({"limit": "100000"}, "limit"), ({"since": "yesterday"}, "since"),
    ({"until": "2024-01-01T00:00:00"}, "until"), ({"since": "1h", "until": "2h"}, "since"),
    ({"filter": "a=~\"(\""}, "filter"), ({"filter": "==="}, "filter"), ({"change": "fired"}, "change"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, params, named):
    status, body = get(client, "/alerts", **params)
    assert status == 400 and body["error"] == "bad_request" and body["detail"].startswith(named)


def test_bearer_tokens_guard_every_endpoint_when_configured(loaded):
    api = HistoryApi(loaded.model_copy(update={"api_tokens": SecretStr("old-token, new-token")}), clock=lambda: NOW)
    with TestClient(api.app) as client:
        for path in ("/alerts", f"/alerts/{FP['A']}/timeline", "/top", "/flapping", "/receivers",
                     "/receivers/team-db/notifications"):
            missing = client.get(path)
            assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
            wrong = client.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403 and "nope" not in wrong.text
            assert client.get(path, headers={"Authorization": "Bearer new-token"}).status_code == 200


def test_unreachable_or_unmigrated_database_is_503_naming_the_fix(loaded, postgres_url):
    from psycopg import sql

    from tests.integration.history.conftest import database_dsn

    closed = loaded.model_copy(update={"dsn": "postgresql://pipeline@127.0.0.1:1/pipeline", "connect_timeout_s": 1})
    with TestClient(HistoryApi(closed).app) as client:
        response = client.get("/flapping")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "127.0.0.1:1" in response.json()["detail"]

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("t_unmigrated_api")))
    try:
        empty = loaded.model_copy(update={"dsn": database_dsn(postgres_url, "t_unmigrated_api")})
        with TestClient(HistoryApi(empty).app) as client:
            response = client.get("/top")
        assert response.status_code == 503 and "run `pipeline db migrate`" in response.json()["detail"]
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE t_unmigrated_api WITH (FORCE)")


def test_the_cli_and_the_api_run_the_same_queries(loaded, client):
    with psycopg.connect(loaded.dsn) as conn:
        plan = queries.search(loaded, ['team="db"'], "6h", None, 50, None, NOW)
        page = queries.search_page_sync(conn, plan, loaded.query_max_scan_rows)
        assert page.as_json() == get(client, "/alerts", filter='team="db"', since="6h", limit=50)[1]
        top = queries.run_sync(conn, queries.top(loaded, "alertname", [], "6h", None, None, NOW))
        assert top == get(client, "/top", by="alertname", since="6h")[1]
