"""The alerts and silences pages in Chromium against a real bridge (API view fed from Kafka): grouping,
states and what mutes each alert, filters in the API's matcher syntax, silencing an alert from its row
and expiring the silence, the editor's checks and the API's refusals, live updates, roles, keyboard,
themes and the phone layout."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import expect

from tests.integration.api.conftest import get_json, wait_for
from tests.integration.ui.browser import PHONE
from tests.integration.ui.conftest import OPEN_SOURCES, running_bridge

DISK_CRIT = {"alertname": "DiskFull", "service": "db", "severity": "critical", "instance": "db1"}
DISK_WARN = {"alertname": "DiskFull", "service": "db", "severity": "warning", "instance": "db2"}
LATENCY_WEB = {"alertname": "HighLatency", "service": "web", "severity": "warning", "instance": "web1"}
LATENCY_API = {"alertname": "HighLatency", "service": "api", "severity": "critical", "instance": "api1"}
WATCHDOG = {"alertname": "Watchdog", "severity": "none"}
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def bridge(ui_settings, writer, tmp_path_factory):
    with running_bridge(ui_settings, OPEN_SOURCES, tmp_path_factory.mktemp("bridge")) as running:
        yield running


@pytest.fixture(scope="module")
def alerts(bridge, writer):
    ends = datetime.now(timezone.utc) + HOUR
    records = {
        "disk_crit": writer.send(DISK_CRIT, annotations={"summary": "Disk 97% full on db1",
                                                         "runbook_url": "https://runbooks.example/disk",
                                                         "bad_url": "javascript:alert(1)"},
                                 generator_url="http://prometheus.example/graph?g0.expr=disk", ends_at=ends),
        "disk_warn": writer.send(DISK_WARN, annotations={"summary": "Disk 85% full on db2"}, ends_at=ends),
        "web": writer.send(LATENCY_WEB, annotations={"summary": "p99 above 2s"}, ends_at=ends),
        "api": writer.send(LATENCY_API, annotations={"summary": "p99 above 5s"}, ends_at=ends),
        "watchdog": writer.send(WATCHDOG, ends_at=ends),
    }
    wait_for(lambda: get_json(f"{bridge.url}/api/v2/alerts"), lambda a: len(a) == 5, what="five alerts")
    return {name: record.alert.fingerprint for name, record in records.items()}


def post_silence(bridge, matchers: dict[str, str], comment: str) -> str:
    now = datetime.now(timezone.utc)
    body = {"matchers": [{"name": k, "value": v, "isRegex": False} for k, v in matchers.items()],
            "startsAt": now.isoformat(), "endsAt": (now + HOUR).isoformat(), "createdBy": "api-test",
            "comment": comment}
    answer = httpx.post(f"{bridge.url}/api/v2/silences", json=body, timeout=20)
    assert answer.status_code == 200, answer.text
    return answer.json()["silenceID"]


def expire_silence(bridge, silence_id: str) -> None:
    assert httpx.delete(f"{bridge.url}/api/v2/silence/{silence_id}", timeout=20).status_code == 200


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def row(page, fingerprint: str):
    return page.locator(f'article.alert-row[data-fingerprint="{fingerprint}"]')


def test_alerts_grouped_by_route_with_states_and_links(bridge, alerts, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/alerts")
    expect(page.get_by_test_id("alert-count")).to_have_text("5 alerts")
    heads = page.locator(".group-head")
    expect(heads).to_have_count(4)
    texts = [squash(t) for t in heads.all_inner_texts()]
    # the API's groups and order: route receiver and group_by labels
    assert any("alertname=DiskFullinstance=db1→team-db1alert" in t for t in texts), texts
    assert any("alertname=HighLatency→team-web2alerts" in t for t in texts), texts
    inhibited = row(page, alerts["disk_warn"])
    expect(inhibited.locator(".badge")).to_have_text("inhibited")
    expect(inhibited.locator(".mute-inhibit")).to_contain_text("inhibited by DiskFull")
    expect(inhibited.locator(".mute-inhibit")).to_contain_text('instance="db1"')
    crit = row(page, alerts["disk_crit"])
    expect(crit.locator(".badge")).to_have_text("active")
    expect(crit.get_by_role("link", name="runbook_url")).to_have_attribute("href", "https://runbooks.example/disk")
    expect(crit.get_by_role("link", name="source")).to_have_attribute("href", re.compile(r"^http://prometheus"))
    assert crit.locator('a[href^="javascript"]').count() == 0  # an annotation's script URL never becomes a link
    # the alert's timeline (tests/integration/ui/test_ui_history.py follows it)
    expect(crit.get_by_role("link", name="History")).to_have_attribute("href", f"/ui/history/alerts/{alerts['disk_crit']}")
    # future pages are in the navigation, disabled, saying why
    expect(page.get_by_role("navigation").get_by_role("link", name="Incidents")).to_have_attribute("aria-disabled", "true")
    ui.shot("alerts")


def test_filter_in_matcher_syntax_group_by_label_and_refused_filter(bridge, alerts, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/alerts")
    expect(page.get_by_test_id("alert-count")).to_have_text("5 alerts")
    page.locator("#filter").fill('{service=~"web|api", severity!="none"}')
    page.locator("#filter").press("Enter")
    expect(page.get_by_test_id("alert-count")).to_have_text("2 alerts")
    assert parse_qs(urlparse(page.url).query)["q"] == ['{service=~"web|api", severity!="none"}']
    # a label chip adds itself to the filter
    row(page, alerts["web"]).get_by_role("button", name="instance=web1").click()
    expect(page.get_by_test_id("alert-count")).to_have_text("1 alerts")
    expect(page.locator("#filter")).to_have_value('service=~"web|api", severity!="none", instance="web1"')
    # the URL keeps the filters across a reload
    page.reload()
    expect(page.get_by_test_id("alert-count")).to_have_text("1 alerts")
    expect(page.locator("#filter")).to_have_value('service=~"web|api", severity!="none", instance="web1"')
    # group by any label
    page.locator("#filter").fill("")
    page.locator("#filter").press("Enter")
    expect(page.get_by_test_id("alert-count")).to_have_text("5 alerts")
    page.locator("#group-by").select_option("severity")
    expect(page.locator(".group-head")).to_have_count(3)
    assert [squash(t) for t in page.locator(".group-labels").all_inner_texts()] == [
        "severity=critical", "severity=none", "severity=warning"]
    ui.shot("alerts-grouped-by-severity")
    page.locator("#group-by").select_option("")
    # hiding inhibited alerts is the API's own flag
    page.get_by_label("inhibited").uncheck()
    expect(page.get_by_test_id("alert-count")).to_have_text("4 alerts")
    page.get_by_label("inhibited").check()
    # what the API's parser refuses is shown with its message
    ui.log.expect(r"status of 400")
    page.locator("#filter").fill("nope")
    page.locator("#filter").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("bad matcher format: nope")
    expect(page.locator(".alert-row")).to_have_count(0)
    ui.shot("alerts-refused-filter")


def test_silence_an_alert_from_its_row_see_it_silenced_then_expire(bridge, alerts, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/alerts")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    row(page, alerts["web"]).get_by_role("link", name="Silence").click()
    expect(page.get_by_role("heading", name="New silence")).to_be_visible()
    names = [page.locator(".m-name").nth(i).input_value() for i in range(page.locator(".m-name").count())]
    values = [page.locator(".m-value").nth(i).input_value() for i in range(page.locator(".m-value").count())]
    assert dict(zip(names, values)) == LATENCY_WEB
    expect(page.get_by_test_id("preview-count")).to_have_text(re.compile(r"^1 alert\b"))
    # required author and comment, checked before anything is sent
    page.get_by_label("Author").fill("")
    page.get_by_role("button", name="Create silence").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Author is required.")
    expect(summary).to_contain_text("Comment is required.")
    expect(summary).to_be_focused()
    assert posts == []
    page.get_by_label("Author").fill("ui-test")
    page.get_by_label("Comment").fill("deploying web1")
    page.get_by_role("button", name="Create silence").click()
    toast = page.get_by_role("status").filter(has_text="created")
    expect(toast).to_contain_text(re.compile(r"Silence [0-9a-f-]{36} created"))
    silence_id = re.search(r"[0-9a-f-]{36}", toast.inner_text()).group(0)
    card = page.locator(f'[data-silence-id="{silence_id}"]')
    expect(card).to_contain_text("ui-test: deploying web1")
    expect(card.locator(".badge")).to_have_text("active")
    expect(card).to_contain_text("1 alert silenced")
    ui.shot("silences")
    # the alert shows the silence that mutes it
    page.get_by_role("navigation").get_by_role("link", name="Alerts").click()
    web = row(page, alerts["web"])
    expect(web.locator(".badge")).to_have_text("silenced")
    expect(web.locator(".mute-silence")).to_have_text("silenced by ui-test: deploying web1")
    ui.shot("alerts-silenced")
    # expire it from the silences page
    web.locator(".mute-silence").click()
    card = page.locator(f'[data-silence-id="{silence_id}"]')
    card.get_by_role("button", name="Expire").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Expire this silence?")
    ui.shot("silence-expire-dialog")
    dialog.get_by_role("button", name="Expire").click()
    expect(card).to_have_count(0)
    page.get_by_role("tab", name=re.compile("expired")).click()
    expect(page.locator(f'[data-silence-id="{silence_id}"] .badge')).to_have_text("expired")
    assert get_json(f"{bridge.url}/api/v2/silence/{silence_id}")["status"]["state"] == "expired"
    page.get_by_role("navigation").get_by_role("link", name="Alerts").click()
    expect(row(page, alerts["web"]).locator(".badge")).to_have_text("active")


def test_live_updates_keep_the_filter(bridge, alerts, make_ui):
    ui = make_ui(bridge.url)
    ui.page.context.add_init_script("localStorage.setItem('ui.refresh', '5000')")
    page = ui.open('/alerts?q=alertname%3D"HighLatency"')
    expect(page.get_by_test_id("alert-count")).to_have_text("2 alerts")
    expect(row(page, alerts["api"]).locator(".badge")).to_have_text("active")
    silence_id = post_silence(bridge, {"instance": "api1"}, "live update")
    try:
        # no navigation, no reload: the next poll (5 s) shows it
        expect(row(page, alerts["api"]).locator(".badge")).to_have_text("silenced", timeout=15_000)
        expect(page.locator("#filter")).to_have_value('alertname="HighLatency"')
        expect(page.get_by_test_id("alert-count")).to_have_text("2 alerts")
    finally:
        expire_silence(bridge, silence_id)


def test_editor_mirrors_the_api_checks_and_shows_its_refusal(bridge, alerts, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/silences/new")
    page.locator(".m-name").first.fill("alertname")
    page.locator(".m-op").first.select_option("=~")
    page.locator(".m-value").first.fill(".*")
    page.get_by_label("Author").fill("ui-test")
    page.get_by_label("Comment").fill("too broad")
    page.get_by_label("Ends").fill("2001-01-01T00:00")
    page.get_by_role("button", name="Create silence").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("at least one matcher must not match the empty string")
    expect(summary).to_contain_text("start time must be before end time")
    ui.shot("silence-editor-checks")
    # a pattern JavaScript accepts and RE2 refuses: only the API can tell, and its message is shown
    ui.log.expect(r"status of 400")
    page.locator(".m-value").first.fill("(?=x)DiskFull")
    page.get_by_label("Duration").fill("1h")
    expect(page.locator(".preview")).to_contain_text("The API refused these matchers")
    page.get_by_role("button", name="Create silence").click()
    expect(summary).to_contain_text("The API refused the silence")
    expect(summary).to_contain_text(re.compile(r"invalid label matcher 0: invalid regular expression"))
    ui.shot("silence-editor-refused")
    assert not [s for s in get_json(f"{bridge.url}/api/v2/silences") if s["comment"] == "too broad"]


def test_edit_keeps_the_silence_and_recreate_copies_it(bridge, alerts, make_ui):
    silence_id = post_silence(bridge, {"alertname": "Watchdog"}, "first words")
    try:
        ui = make_ui(bridge.url)
        page = ui.open(f"/silences/{silence_id}/edit")
        expect(page.get_by_label("Comment")).to_have_value("first words")
        expect(page.get_by_test_id("preview-count")).to_have_text(re.compile(r"^1 alert\b"))
        ui.shot("silence-editor")
        page.get_by_label("Comment").fill("second thoughts")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status").filter(has_text="updated")).to_contain_text(silence_id)
        stored = get_json(f"{bridge.url}/api/v2/silence/{silence_id}")
        assert stored["comment"] == "second thoughts" and stored["status"]["state"] == "active"
        expire_silence(bridge, silence_id)
        page = ui.open(f"/silences?state=expired&q={silence_id}")
        page.locator(f'[data-silence-id="{silence_id}"]').get_by_role("link", name="Recreate").click()
        expect(page.locator(".m-value").first).to_have_value("Watchdog")
        expect(page.get_by_label("Comment")).to_have_value("second thoughts")
    finally:
        expire_silence(bridge, silence_id)


def test_a_read_only_user_sees_no_write_buttons(bridge, alerts, make_ui):
    silence_id = post_silence(bridge, {"alertname": "DiskFull", "instance": "db2"}, "read-only view")
    try:
        ui = make_ui(bridge.url)
        # what /ui/api/me answers once authentication puts only the read role on the request
        ui.page.route("**/ui/api/me", lambda route: route.fulfill(json={"roles": ["read"]}))
        page = ui.open("/alerts")
        expect(page.get_by_test_id("alert-count")).to_have_text("5 alerts")
        expect(page.locator(".badge-readonly")).to_have_text("read-only")
        for name in ("Silence", "Silence group", "New silence"):
            expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
            expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
        ui.shot("alerts-read-only")
        page.keyboard.press("n")  # the shortcut does nothing either
        expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
        page = ui.open("/silences")
        card = page.locator(f'[data-silence-id="{silence_id}"]')
        expect(card).to_be_visible()
        for name in ("Edit", "Expire", "New silence"):
            expect(page.get_by_role("link", name=name)).to_have_count(0)
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        page = ui.open("/silences/new")
        expect(page.get_by_role("note")).to_contain_text("do not include silence")
        expect(page.locator("form.silence-form")).to_have_count(0)
    finally:
        expire_silence(bridge, silence_id)


def test_keyboard_shortcuts_and_focus_order(bridge, alerts, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/alerts")
    expect(page.get_by_test_id("alert-count")).to_have_text("5 alerts")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="alert-pipeline")).to_be_focused()
    page.keyboard.press("/")
    expect(page.locator("#filter")).to_be_focused()
    page.keyboard.type('severity="critical"')
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("alert-count")).to_have_text("2 alerts")
    page.keyboard.type(", more")
    page.keyboard.press("Escape")  # reverts what was typed and leaves the field
    expect(page.locator("#filter")).to_have_value('severity="critical"')
    updated = page.locator(".summary .muted").inner_text()
    page.wait_for_timeout(1100)  # the "updated hh:mm:ss" clock has moved on
    page.keyboard.press("r")  # refresh now, not at the next poll (10 s)
    expect(page.locator(".summary .muted")).not_to_have_text(updated, timeout=3000)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Keyboard shortcuts")
    ui.shot("shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.keyboard.press("s")
    expect(page.get_by_role("heading", name="Silences")).to_be_visible()
    expect(page.locator("#main")).to_be_focused()  # a navigation moves focus to the new page
    page.keyboard.press("n")
    expect(page.get_by_role("heading", name="New silence")).to_be_visible()
    page.keyboard.press("a")  # focus is on the page, not a field: the shortcut applies
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_themes_follow_the_system_and_the_phone_layout_fits(bridge, alerts, make_ui, scheme):
    ui = make_ui(bridge.url, color_scheme=scheme)
    page = ui.open("/alerts")
    expect(page.get_by_test_id("alert-count")).to_have_text("5 alerts")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(246, 247, 249)" if scheme == "light" else "rgb(17, 20, 24)")
    ui.shot(f"alerts-{scheme}")
    page.set_viewport_size(PHONE)
    for path in ("/alerts", "/silences", "/silences/new?matcher=alertname%3D%22DiskFull%22"):
        page = ui.open(path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px screen"
        ui.shot(f"phone-{scheme}-{path.strip('/').split('?')[0].replace('/', '-')}")


def test_unknown_page_says_so(bridge, make_ui):
    ui = make_ui(bridge.url)
    page = ui.open("/nope")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Go to the alerts").click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
