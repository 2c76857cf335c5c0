"""Headless Debian Chromium for the page tests, driven by playwright (its bundled browsers are
neither used nor downloaded): one launch and one page opener instead of a copy per test file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = "/usr/bin/chromium missing (apt-get install -y chromium)"


@contextmanager
def launch() -> Iterator[Any]:
    """A headless system Chromium; the test is skipped when the binary is missing, but a missing
    playwright (a dev dependency) is a failure."""
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(
    browser: Any, viewport: tuple[int, int] = (800, 480), timeout_ms: int = 10_000, **context: Any
) -> Any:
    """A page in a fresh context; its JavaScript errors collect in ``page.js_errors`` so that the
    caller's teardown can assert there were none."""
    size = {"width": viewport[0], "height": viewport[1]}
    page = browser.new_context(viewport=size, **context).new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return page
