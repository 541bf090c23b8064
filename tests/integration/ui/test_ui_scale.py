"""10,000 active alerts in the alerts page: it renders (only a screenful of rows in the DOM), a filter
applies, grouping by a label with thousands of values does not freeze the tab, and live updates keep
the scroll position and the filter. Timings are bench/ui's business; here only correctness."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.integration.api.conftest import get_json, wait_for
from tests.integration.ui.conftest import OPEN_SOURCES, running_bridge
from tests.integration.ui.seed import many_labels, write_many

COUNT = 10_000
# The first group header visible in the viewport: its text and its distance from the viewport's top.
TOP_GROUP = """() => {
    const head = [...document.querySelectorAll('.group-head')].find((e) => e.getBoundingClientRect().bottom > 0);
    return head ? [head.innerText, Math.round(head.getBoundingClientRect().top)] : null;
}"""


@pytest.fixture(scope="module")
def bridge(ui_settings, writer, tmp_path_factory):
    write_many(writer, COUNT)  # before the bridge starts: it is ready once its view has read them all
    with running_bridge(ui_settings, OPEN_SOURCES, tmp_path_factory.mktemp("bridge")) as running:
        wait_for(lambda: len(get_json(f"{running.url}/api/v2/alerts")), lambda n: n == COUNT, timeout=60,
                 what="every alert in the API's view")
        yield running


def test_ten_thousand_alerts_render_filter_group_and_keep_scroll(bridge, make_ui):
    ui = make_ui(bridge.url)
    ui.page.context.add_init_script("localStorage.setItem('ui.refresh', '5000')")
    page = ui.open("/alerts")
    expect(page.get_by_test_id("alert-count")).to_have_text("10,000 alerts", timeout=30_000)
    rendered = page.locator(".alert-row").count()
    assert 0 < rendered < 100, f"{rendered} alert rows in the DOM: the list is not virtual"
    ui.shot("alerts-10000")

    # the end of the list is reachable and rendered (rows are measured as they render, so the height
    # settles after a scroll or two)
    page.evaluate("""async () => {
        for (let i = 0; i < 10; i++) {
            const height = document.documentElement.scrollHeight;
            window.scrollTo(0, height);
            await new Promise((resolve) => setTimeout(resolve, 100));
            if (document.documentElement.scrollHeight === height) return;
        }
    }""")
    expect(page.locator(".alert-row").last).to_be_in_viewport()
    # a filter through the API's parameter
    page.locator("#filter").fill('alertname="Alert07", severity=~"critical|info"')
    page.locator("#filter").press("Enter")
    wanted = sum(1 for labels in many_labels(COUNT)
                 if labels["alertname"] == "Alert07" and labels["severity"] in ("critical", "info"))
    expect(page.get_by_test_id("alert-count")).to_have_text(f"{wanted} alerts", timeout=30_000)
    ui.shot("alerts-10000-filtered")

    # grouping by a label with 10,000 values: 10,000 groups, still a screenful of DOM
    page.locator("#filter").fill("")
    page.locator("#filter").press("Enter")
    expect(page.get_by_test_id("alert-count")).to_have_text("10,000 alerts", timeout=30_000)
    page.locator("#group-by").select_option("instance")
    expect(page.get_by_test_id("alert-count")).to_contain_text("10,000 alerts", timeout=30_000)
    expect(page.locator(".summary")).to_contain_text("in 10,000 groups", timeout=30_000)
    assert page.locator(".group-head").count() < 100

    # live updates (every 5 s here) keep what the user looks at and what they asked for: the group at
    # the top of the viewport stays there (the list may correct the offset as rows are measured)
    page.evaluate("window.scrollTo(0, 200000)")
    page.wait_for_timeout(300)
    top = page.evaluate(TOP_GROUP)
    assert top is not None
    before = page.locator(".summary .muted").inner_text()
    expect(page.locator(".summary .muted")).not_to_have_text(before, timeout=20_000)  # "updated hh:mm:ss" moved on
    after = page.evaluate(TOP_GROUP)
    assert after[0] == top[0] and abs(after[1] - top[1]) <= 2, (top, after)
    assert page.evaluate("window.scrollY") > 150_000
    expect(page.locator("#group-by")).to_have_value("instance")
    ui.shot("alerts-10000-by-instance-scrolled")
