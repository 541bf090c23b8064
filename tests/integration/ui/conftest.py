"""Browser tests of the web UI: per test module one bridge process (with the Alertmanager API and the
UI) on a fresh topology and one Chromium; per test a fresh browser context (cookies, storage) and a
page whose console errors fail the test. Screenshots go to one folder per run, printed at the end
(``UI_SCREENSHOTS_DIR`` chooses it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.integration.api.conftest import EnrichedWriter, write_am_config
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import CREATED_PREFIXES, drop_topics_with_prefixes, settings_with_topology
from tests.integration.ui.browser import DESKTOP, ChromiumMissing, ConsoleLog, chromium

SCREENSHOTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def screenshot_dir(request) -> Path:
    # Not under pytest's basetemp: pytest deletes all but the last three of those, other sessions' too.
    given = os.environ.get("UI_SCREENSHOTS_DIR")
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="ui-screenshots-"))
    directory.mkdir(parents=True, exist_ok=True)
    request.config.stash[SCREENSHOTS] = directory
    return directory


def pytest_terminal_summary(terminalreporter, config) -> None:
    directory = config.stash.get(SCREENSHOTS, None)
    if directory is not None:
        terminalreporter.write_line(f"UI screenshots: {directory}")


@pytest.fixture(scope="module")
def ui_settings(kafka_bootstrap, tmp_path_factory):
    settings = settings_with_topology(kafka_bootstrap, "ui")
    created = (kafka_bootstrap, settings.topics.prefix)
    CREATED_PREFIXES.remove(created)  # module-scoped topics: dropped at the module's end, not per test
    config = write_am_config(tmp_path_factory.mktemp("amconfig"))
    yield settings.model_copy(update={"alertmanager_config": config})
    drop_topics_with_prefixes([created])


@pytest.fixture(scope="module")
def writer(ui_settings):
    return EnrichedWriter(ui_settings)


@pytest.fixture(scope="module")
def browser():
    try:
        with chromium() as launched:
            yield launched
    except ChromiumMissing as exc:
        pytest.fail(str(exc), pytrace=False)


class UiPage:
    """A page of the UI under test, with its console log and screenshots named after the module."""

    def __init__(self, page, log: ConsoleLog, url: str, shots: Path, stem: str) -> None:
        self.page, self.log, self.url, self.shots, self.stem = page, log, url, shots, stem

    def open(self, path: str):
        self.page.goto(f"{self.url}/ui{path}")
        return self.page

    def shot(self, name: str) -> Path:
        path = self.shots / f"{self.stem}-{name}.png"
        self.page.screenshot(path=str(path))
        return path


def open_ui(browser, url: str, shots: Path, stem: str, **context_options):
    context = browser.new_context(viewport=DESKTOP, **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log = ConsoleLog()
    log.attach(page)
    return context, UiPage(page, log, url, shots, stem)


def check_console(ui: UiPage) -> None:
    unexpected = ui.log.unexpected()
    assert not unexpected, "browser console errors:\n" + "\n".join(unexpected)


@pytest.fixture
def make_ui(browser, screenshot_dir, request):
    """``make_ui(bridge_url, **context options)`` → UiPage; every page's console is checked at the end."""
    opened = []
    stem = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")

    def make(url: str, **options) -> UiPage:
        context, ui = open_ui(browser, url, screenshot_dir, stem, **options)
        opened.append((context, ui))
        return ui

    yield make
    for context, _ui in opened:
        context.close()
    for _context, ui in opened:
        check_console(ui)


__all__ = ["OPEN_SOURCES", "UiPage", "running_bridge"]
