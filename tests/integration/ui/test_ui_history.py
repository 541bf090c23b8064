"""The History page in Chromium against a real bridge whose history API reads a real PostgreSQL
database, fed by the history stage's own processor (HistoryProcessor): search by matchers and time
range with keyset pages, the chart of firings, an alert's timeline (also from the alerts page's
"History" link), top, flapping, receivers and a receiver's deliveries; and a bridge whose PostgreSQL
does not answer, where the page says history is not available."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest
from playwright.sync_api import expect

from pipeline.fingerprint import alert_fingerprint
from pipeline.settings import HistorySettings
from tests.integration.api.conftest import get_json, wait_for
from tests.integration.history.conftest import history_db  # noqa: F401  (the module's database)
from tests.integration.history.factories import enriched, load, notification, outcome
from tests.integration.ui.browser import PHONE
from tests.integration.ui.conftest import OPEN_SOURCES, running_bridge

NOW = datetime.now(timezone.utc).replace(microsecond=0)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
A = {"alertname": "DiskFull", "team": "db", "instance": "db1"}
B = {"alertname": "DiskFull", "team": "db", "instance": "db2"}
C = {"alertname": "HighCPU", "team": "web", "instance": "web1"}
BATCH = [{"alertname": "BatchJob", "team": "batch", "instance": f"b{i:02d}"} for i in range(60)]
FP_A, FP_C = alert_fingerprint(A), alert_fingerprint(C)
FIRINGS_24H = 3 + 1 + 2 + len(BATCH)  # A fires three times, B once, C twice, every batch job once


def dataset():
    """A flaps (six changes in the last ten minutes) and is notified (a retry, then delivered); B fires
    once; C fires, resolves and fires again, its notification dead-lettered; 60 batch jobs fire once
    each over the last 15 hours (more than a page of 50)."""
    values = [enriched(A, "new" if i % 2 == 0 else "resolved", NOW - 10 * MINUTE + i * MINUTE, receiver="team-db")
              for i in range(6)]
    values.append(enriched(B, "new", NOW - 3 * HOUR, receiver="team-db"))
    c_first = enriched(C, "new", NOW - 5 * HOUR, receiver="team-web")
    values += [c_first, enriched(C, "resolved", NOW - 4 * HOUR, receiver="team-web"),
               enriched(C, "new", NOW - HOUR, receiver="team-web", silenced_by=["s-maint"])]
    values += [enriched(labels, "new", NOW - i * 15 * MINUTE - 30 * MINUTE, receiver="team-batch")
               for i, labels in enumerate(BATCH)]
    values += [notification([values[0]], nid="na1", receiver="team-db", at=NOW - 9 * MINUTE),
               outcome("na1", "retrying", 1, NOW - 9 * MINUTE, receiver="team-db", error="HTTP 503 from the webhook"),
               outcome("na1", "delivered", 2, NOW - 8 * MINUTE, receiver="team-db"),
               notification([c_first], nid="nc1", receiver="team-web", at=NOW - 5 * HOUR),
               outcome("nc1", "dead_lettered", 1, NOW - 5 * HOUR, receiver="team-web", error="HTTP 400: bad payload")]
    return values


@pytest.fixture(scope="module")
def history(history_db):  # noqa: F811
    load(history_db, dataset(), NOW)
    with psycopg.connect(history_db.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM alert_changes").fetchone()[0] == 6 + 1 + 3 + len(BATCH)
    return history_db


@pytest.fixture(scope="module")
def bridge(ui_settings, history, tmp_path_factory):
    settings = ui_settings.model_copy(update={"history": history})
    with running_bridge(settings, OPEN_SOURCES, tmp_path_factory.mktemp("bridge")) as running:
        yield running


@pytest.fixture(scope="module")
def bridge_without_history(ui_settings, tmp_path_factory):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    nowhere = HistorySettings(dsn="postgresql://pipeline@127.0.0.1:1/pipeline", connect_timeout_s=2)
    settings = ui_settings.model_copy(update={"history": nowhere})
    with running_bridge(settings, OPEN_SOURCES, tmp_path_factory.mktemp("bridge-nohistory")) as running:
        yield running


@pytest.fixture(autouse=True, scope="module")
def patient_expect():
    """Waits of 15 s, not 5 (as the pages' actions): on a busy 2-core machine one answer of the
    bridge's PostgreSQL queries plus a render can take longer than 5 s; nothing here is timed."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


def rows(page):
    return page.locator("table.history-table tbody tr")


def test_firings_api_counts_per_hour(bridge):
    body = get_json(f"{bridge.url}/api/history/firings", since="24h")
    assert body["step"] == 3600 and len(body["buckets"]) in (24, 25)
    assert body["total"] == sum(b["firings"] for b in body["buckets"]) == FIRINGS_24H
    only_db = get_json(f"{bridge.url}/api/history/firings", since="24h", filter='team="db"')
    assert only_db["total"] == 4
    refused = httpx.get(f"{bridge.url}/api/history/firings", params={"filter": 'team=~"d.*"'}, timeout=10)
    assert refused.status_code == 400 and "regex" in refused.json()["detail"]


def test_search_pages_chart_and_timeline(bridge, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/alerts")
    expect(page.get_by_test_id("alert-count")).to_be_visible()
    page.keyboard.press("h")  # the shortcut of the navigation
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()
    expect(page.get_by_test_id("firings-total")).to_have_text(str(FIRINGS_24H))
    chart = page.get_by_test_id("firings-chart")
    assert chart.locator("rect.chart-bar").count() in (24, 25)
    assert re.search(rf"{FIRINGS_24H} firings in 2[45] hours", chart.get_by_role("img").get_attribute("aria-label"))
    expect(rows(page)).to_have_count(50)  # the first page of 70 changes, newest first
    expect(rows(page).first).to_have_attribute("data-fingerprint", FP_A)
    ui.shot("history-search")
    # search by matchers: the API's filter, one matcher per value
    page.keyboard.press("/")
    expect(page.locator("#filter")).to_be_focused()
    page.keyboard.type('alertname="BatchJob"')
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("firings-total")).to_have_text("60")
    expect(page.get_by_test_id("history-page")).to_have_text("page 1")
    page.locator("#filter").focus()
    page.keyboard.type(", more")
    page.keyboard.press("Escape")  # reverts what was typed
    expect(page.locator("#filter")).to_have_value('alertname="BatchJob"')
    expect(rows(page)).to_have_count(50)
    page.get_by_role("button", name="Older →").click()
    expect(page.get_by_test_id("history-page")).to_have_text("page 2")
    expect(rows(page)).to_have_count(10)
    expect(page.get_by_role("button", name="Older →")).to_be_disabled()
    ui.shot("history-search-page-2")
    page.get_by_role("button", name="← Newer").click()
    expect(rows(page)).to_have_count(50)
    assert "alertname%3D%22BatchJob%22" in page.url
    # a label chip narrows the filter
    rows(page).first.get_by_role("button", name=re.compile("^instance=")).click()
    expect(rows(page)).to_have_count(1)
    # a regex matcher: the list applies it, the chart says it cannot
    page.locator("#filter").fill('alertname=~"Disk.*"')
    page.locator("#filter").press("Enter")
    expect(rows(page)).to_have_count(7)
    expect(page.locator(".chart-note")).to_contain_text("equality matchers only")
    expect(page.get_by_test_id("firings-chart")).to_have_count(0)
    # only firings, over a custom time range that leaves A's recent changes out
    page.locator("#history-change").select_option("new")
    expect(rows(page)).to_have_count(4)
    page.locator("#history-range").select_option("custom")
    local = NOW.astimezone()
    page.locator("#history-from").fill((local - 6 * HOUR).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#history-to").fill((local - HOUR).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#filter").press("Enter")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-fingerprint", alert_fingerprint(B))
    # what the API's parser refuses is shown with its message
    ui.log.expect(r"status of 400")
    page.locator("#filter").fill("nope")
    page.locator("#filter").press("Enter")
    expect(page.get_by_role("alert").first).to_contain_text("bad matcher format: nope")
    expect(rows(page)).to_have_count(0)
    # an alert's timeline from its row
    page.locator("#filter").fill('alertname="HighCPU"')
    page.locator("#history-range").select_option("24h")
    page.locator("#history-change").select_option("")
    page.locator("#filter").press("Enter")
    expect(rows(page)).to_have_count(3)
    rows(page).first.get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", name="Alert timeline")).to_be_visible()
    assert page.url.endswith(f"/ui/history/alerts/{FP_C}")
    changes = page.locator("li.timeline-item[data-change]")
    expect(changes).to_have_count(3)
    assert [changes.nth(i).get_attribute("data-change") for i in range(3)] == ["new", "resolved", "new"]
    expect(changes.nth(2)).to_contain_text("silenced by s-maint")
    note = page.locator('li.timeline-item[data-notification-id="nc1"]')
    expect(note).to_contain_text("team-web")
    expect(note).to_contain_text("dead lettered")
    expect(note).to_contain_text("HTTP 400: bad payload")
    expect(page.get_by_test_id("timeline-strip").locator("rect.strip-firing")).to_have_count(2)
    ui.shot("history-timeline")


def test_the_alerts_page_links_to_the_timeline(bridge, writer, make_ui):
    sent = writer.send(A, annotations={"summary": "Disk 97% full on db1"}, ends_at=datetime.now(timezone.utc) + HOUR)
    assert sent.alert.fingerprint == FP_A  # the API view's fingerprint is the history's
    wait_for(lambda: get_json(f"{bridge.url}/api/v2/alerts"), lambda alerts: any(a["fingerprint"] == FP_A for a in alerts),
             what="alert A in the API view")
    ui = make_ui(bridge.url)
    page = ui.open("/alerts")
    link = page.locator(f'article.alert-row[data-fingerprint="{FP_A}"]').get_by_role("link", name="History")
    expect(link).to_have_attribute("href", f"/ui/history/alerts/{FP_A}")
    link.click()
    expect(page.get_by_role("heading", name="Alert timeline")).to_be_visible()
    changes = page.locator("li.timeline-item[data-change]")
    expect(changes).to_have_count(6)
    note = page.locator('li.timeline-item[data-notification-id="na1"]')
    expect(note).to_contain_text("retrying")
    expect(note).to_contain_text("HTTP 503 from the webhook")
    expect(note).to_contain_text("delivered")
    expect(page.get_by_test_id("timeline-strip").locator("rect.strip-firing")).to_have_count(3)
    expect(page.get_by_test_id("timeline-strip").locator("rect.strip-mark")).to_have_count(1)
    # an alert the history does not know
    page = ui.open("/history/alerts/0123456789abcdef")
    ui.log.expect(r"status of 404")
    expect(page.locator("p.empty[role=status]")).to_contain_text("No history of alert 0123456789abcdef")


def test_top_flapping_and_receivers(bridge, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/history")
    page.get_by_role("tab", name="Top alerts").click()
    table = page.get_by_test_id("top-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    assert [re.sub(r"\s+", " ", t) for t in table.locator("tbody tr").all_inner_texts()][0].startswith("BatchJob 60 60")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("DiskFull")
    ui.shot("history-top")
    page.locator("#top-by").fill("team")
    page.locator("#top-by").press("Enter")
    expect(page.get_by_role("heading", name="Most firings by team")).to_be_visible()
    expect(table.locator("tbody tr").nth(1)).to_contain_text("db")
    # per alert: a label left empty
    page.locator("#top-by").fill("")
    page.locator("#filter").fill('team="web"')
    page.locator("#filter").press("Enter")
    expect(page.get_by_role("heading", name="Alerts that fired most")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.get_by_role("link", name="HighCPU")).to_have_attribute("href", f"/ui/history/alerts/{FP_C}")
    # a value links to its firings in the search
    page.locator("#top-by").fill("team")
    page.locator("#filter").fill("")
    page.locator("#filter").press("Enter")
    table.get_by_role("link", name="batch").click()
    expect(page.locator("#filter")).to_have_value('team="batch"')
    expect(page.get_by_test_id("firings-total")).to_have_text("60")

    page = ui.open("/history?view=flapping")
    flapping = page.get_by_test_id("flapping-table")
    expect(flapping.locator("tbody tr")).to_have_count(1)
    expect(flapping.locator("tbody tr").first).to_have_attribute("data-fingerprint", FP_A)
    expect(page.get_by_role("heading", name=re.compile("more than 2 transitions in 30m"))).to_be_visible()
    ui.shot("history-flapping")
    page.locator("#flap-threshold").fill("6")
    page.locator("#filter").press("Enter")
    expect(page.get_by_text("No alert is flapping.")).to_be_visible()

    page = ui.open("/history?view=receivers")
    receivers = page.get_by_test_id("receivers-table")
    expect(receivers.locator("tbody tr")).to_have_count(2)
    db = receivers.locator('tr[data-receiver="team-db"]')
    assert re.sub(r"\s+", " ", db.inner_text()).strip() == "team-db 1 1 1 0 0"
    web = receivers.locator('tr[data-receiver="team-web"]')
    expect(web.locator("td.outcome-bad")).to_have_text("1")
    ui.shot("history-receivers")
    web.get_by_role("link", name="team-web").click()
    expect(page.get_by_role("heading", name="Receiver team-web")).to_be_visible()
    card = page.locator('[data-notification-id="nc1"]')
    expect(card).to_contain_text("dead lettered")
    expect(card).to_contain_text("HTTP 400: bad payload")
    ui.shot("history-receiver")
    page.locator("#receiver-outcome").select_option("delivered")
    expect(page.get_by_text("No notifications whose latest outcome is delivered in this range.")).to_be_visible()


def test_a_read_only_user_reads_history_and_the_phone_layout_fits(bridge, make_ui):
    ui = make_ui(bridge.url, color_scheme="dark")
    ui.page.route("**/ui/api/me", lambda route: route.fulfill(json={"roles": ["read"]}))
    page = ui.open("/history")
    expect(page.get_by_test_id("firings-total")).to_have_text(str(FIRINGS_24H))
    expect(page.locator(".badge-readonly")).to_have_text("read-only")
    expect(page.get_by_role("link", name="New silence")).to_have_count(0)
    ui.shot("history-dark")
    page.set_viewport_size(PHONE)
    for path in ("/history", f"/history/alerts/{FP_A}", "/history?view=top", "/history/receivers/team-db"):
        page = ui.open(path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px screen"
        ui.shot("phone-" + re.sub(r"[^a-z0-9]+", "-", path.strip("/")))


def test_without_postgresql_the_page_says_history_is_not_available(bridge_without_history, make_ui):
    answer = httpx.get(f"{bridge_without_history.url}/api/history/alerts", timeout=20)
    assert answer.status_code == 503 and answer.json()["error"] == "unavailable"
    ui = make_ui(bridge_without_history.url)
    ui.log.expect(r"status of 503")
    page = ui.open("/history")
    notice = page.get_by_test_id("history-unavailable")
    expect(notice).to_contain_text("History is not available")
    expect(notice).to_contain_text(answer.json()["detail"])
    expect(notice).to_contain_text("pipeline db migrate")
    expect(page.get_by_test_id("history-unavailable")).to_have_count(1)  # once, not once per query
    ui.shot("history-unavailable")
    page = ui.open(f"/history/alerts/{FP_A}")
    expect(page.get_by_test_id("history-unavailable")).to_contain_text("History is not available")
    # the rest of the UI works
    page.get_by_role("navigation").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
