"""Debian's Chromium driven by Playwright, for the UI's tests and its benchmark (bench/ui).

Never a downloaded browser: Playwright is pointed at /usr/bin/chromium (deploy/local/setup.sh installs
it). Playwright gives every launch a fresh temporary profile (its own --user-data-dir), so runs never
share state. A missing Chromium is a failure that says how to install it, never a skip.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Flags that work on these machines: no sandbox (root in a container), no GPU, and nothing that
# reaches for the network on its own (the network is closed but for package registries).
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class ChromiumMissing(RuntimeError):
    pass


def chromium_path() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        raise ChromiumMissing("the UI tests drive Debian's Chromium, which is not installed: "
                              "run deploy/local/setup.sh (apt-get install chromium chromium-driver)")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ConsoleLog:
    """Every console error and uncaught exception of a page; ``expect`` allows one by pattern (a test
    that provokes a 400 sees Chromium log the failed request)."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            location = message.location.get("url", "") if message.location else ""
            self.errors.append(f"console.{message.type}: {message.text} ({location})")

    def expect(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


__all__ = ["DESKTOP", "LAUNCH_ARGS", "PHONE", "ChromiumMissing", "ConsoleLog", "Error", "chromium", "chromium_path"]
