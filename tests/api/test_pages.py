"""Cashier and technician pages in headless Chromium against a real in-process daemon.

Why a real browser: the pages are paired (DESIGN §7: `posd pair` → a single-use URL → an
HttpOnly SameSite=Strict session cookie), authorize the API only through that cookie, react to
the SSE stream, and must never show the claim URL — only a browser proves all of it. Each test
pairs its browser the real way: it opens the pairing URL and follows the redirect. Needs the Debian ``chromium`` package (/usr/bin/chromium) and the ``playwright`` PyPI
package (its bundled browsers are not used or downloaded).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import launch, open_page
from helpers.daemon_util import pair_link

pytestmark = pytest.mark.browser


@pytest.fixture
def page(running: Any) -> Iterator[Any]:
    """A fresh 800x480 page (the Pi touchscreen) in a headless system Chromium."""
    with launch() as browser:
        pg = open_page(browser, (800, 480), 10_000)
        yield pg
        assert not pg.js_errors, f"JavaScript errors on the page: {pg.js_errors}"


def get_text(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode(), resp.headers.get("set-cookie", "")


def test_unpaired_pages_get_no_token_and_no_cookie(running: Any) -> None:
    daemon, base = running.daemon, running.base
    for path in ("/", "/tech", "/display"):
        try:
            get_text(base + path)
            raise AssertionError(f"{path} served to an unpaired browser")
        except urllib.error.HTTPError as err:
            html = err.read().decode()
            assert err.code == 401 and "posd pair" in html and daemon.api_token not in html
            assert err.headers.get("set-cookie") is None
    status, answer = running.anon.post("/api/scan", {"code": "4006381333931", "qty": 1})
    assert status == 401
    assert answer["error"]["code"] == "unauthorized"


def test_pairing_in_the_browser_sets_a_strict_httponly_cookie(running: Any, page: Any) -> None:
    from playwright.sync_api import expect

    daemon, base = running.daemon, running.base
    page.goto(pair_link(daemon, "cashier"))
    assert page.url == base + "/"
    expect(page.locator("#link")).to_have_text("live")
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "posd_cashier" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict" and cookie["value"] != daemon.api_token
    assert page.evaluate("document.cookie") == ""
    assert daemon.api_token not in page.content()


def test_cashier_sells_and_never_shows_claim_url(running: Any, page: Any) -> None:
    from playwright.sync_api import expect

    daemon = running.daemon
    page.goto(pair_link(daemon, "cashier"))
    expect(page.locator("#link")).to_have_text("live")
    # the cookie is HttpOnly: page scripts cannot read the token
    assert daemon.api_token not in page.evaluate("document.cookie")
    assert daemon.api_token not in page.content()

    code = page.get_by_label("Barcode")
    code.fill("4006381333931")
    code.press("Enter")
    expect(page.locator("#lines tr")).to_have_count(1)
    expect(page.locator("#lines")).to_contain_text("Stabilo pen")
    expect(page.locator("#total")).to_have_text("€1.29")
    expect(page.locator("#due")).to_have_text("€1.29")
    assert page.evaluate("document.activeElement.id") == "code"  # ready for the next scan

    code.fill("4000000000006")
    code.press("Enter")
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner")).to_contain_text(re.compile("unknown product", re.I))
    expect(page.locator("#lines tr")).to_have_count(1)

    # qty multiplier, then void that line by its button
    page.get_by_label("Qty ×").fill("3")
    code.fill("5000112637922")
    code.press("Enter")
    expect(page.locator("#lines tr")).to_have_count(2)
    expect(page.locator("#total")).to_have_text("€6.96")
    expect(page.get_by_label("Qty ×")).to_have_value("1")
    page.get_by_role("button", name=re.compile("Void line 2")).click()
    expect(page.locator("#lines tr")).to_have_count(1)
    expect(page.locator("#total")).to_have_text("€1.29")

    # a good scan cleared the banner; a hardware-scanner miss arrives only as an event
    expect(page.locator("#banner")).to_be_hidden()
    daemon.bus.publish("unknown_product", {"code": "4000000000013", "device": "scanner0"})
    expect(page.locator("#banner")).to_contain_text(
        re.compile("unknown product 4000000000013", re.I)
    )
    page.get_by_role("button", name="Dismiss message").click()
    expect(page.locator("#banner")).to_be_hidden()

    amount = page.get_by_label(re.compile("Amount tendered"))
    amount.fill("5")
    expect(page.locator("#amount-preview")).to_have_text("= €5.00")
    amount.blur()
    expect(amount).to_have_value("5.00")
    page.get_by_role("button", name="Pay cash").click()
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#done-seq")).to_have_text("#1")
    expect(page.locator("#done-change")).to_have_text("€3.71")
    expect(page.locator("#lines tr")).to_have_count(0)
    expect(page.locator("#total")).to_have_text("€0.00")

    # the sale was paid with 500 minor units (integer on the wire)
    row = daemon.store.one("SELECT amount FROM payments WHERE tender = 'cash'")
    assert row is not None and row[0] == 500

    claim_url = daemon.till.claim_url(1)
    assert claim_url and "#" in claim_url
    fragment = claim_url.split("#", 1)[1]
    for text in (page.content(), page.evaluate("document.body.innerText")):
        assert "claim.despend" not in text
        assert "#A" not in text
        assert fragment not in text

    page.get_by_role("button", name="Reprint").click()
    # "Reprint … queued" shows first, and the simulated printer's event may replace it within
    # milliseconds: wait for the end of the flow, the copy printed, which proves both steps.
    expect(page.locator("#note")).to_contain_text("Receipt #1 (copy) printed", timeout=15000)
    copies = daemon.store.query("SELECT state FROM print_jobs WHERE seq = 1 AND copy = 1")
    assert [r[0] for r in copies] == ["printed"]


def test_tech_page_shows_devices_queues_and_events(running: Any, page: Any) -> None:
    from playwright.sync_api import expect

    daemon, base = running.daemon, running.base
    page.goto(pair_link(daemon, "tech"))
    assert page.url == base + "/tech"
    devices = page.locator("#devices tr")
    expect(devices.filter(has_text="printer")).to_have_count(1)
    printer = devices.filter(has_text="printer")
    expect(printer).to_contain_text("simulated")
    expect(printer.locator(".status")).to_have_class(re.compile(r"\b(ok|problem|unknown)\b"))
    expect(page.locator("#till")).to_have_text(daemon.keys.address)
    expect(page.locator("#queue-pending")).to_have_text("0")
    expect(page.locator("#stream-state")).to_have_text("live")

    token = daemon.api_token
    assert running.client.post("/api/scan", {"code": "4006381333931"})[0] == 200
    status, done = running.client.post("/api/sale/pay", {"tender": "cash", "amount": 200})
    assert status == 200 and done["seq"] == 1

    expect(page.locator("#events")).to_contain_text("sale_completed")
    expect(page.locator("#events")).to_contain_text("line_added")
    expect(page.locator("#queue-pending")).to_have_text("1")  # the next 2 s poll
    expect(page.locator("#queue-oldest")).not_to_have_text("none pending")
    assert "claim.despend" not in page.content()
    assert token not in page.content()


def test_display_shows_the_cart_read_only(running: Any, page: Any) -> None:
    from playwright.sync_api import expect

    daemon, base = running.daemon, running.base
    page.goto(pair_link(daemon, "display"))
    assert page.url == base + "/display"
    expect(page.locator("#empty")).to_be_visible()
    token = daemon.api_token
    assert running.client.post("/api/scan", {"code": "4006381333931", "qty": 2})[0] == 200
    expect(page.locator("#lines tr")).to_have_count(1)
    expect(page.locator("#total")).to_have_text("€2.58")
    # the display's session may read, never sell
    answer = page.evaluate(
        """async () => {
            const r = await fetch("/api/scan", {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json"}, body: '{"code": "4006381333931"}'});
            return r.status;
        }"""
    )
    assert answer == 403
    status, done = running.client.post("/api/sale/pay", {"tender": "cash", "amount": 300})
    assert status == 200
    expect(page.locator("#thanks")).to_be_visible()
    expect(page.locator("#thanks")).to_contain_text("€0.42")
    fragment = done["claim_url"].split("#", 1)[1]
    assert fragment not in page.content() and token not in page.content()


def test_cashier_screenshot_at_800x480(running: Any, page: Any, tmp_path: Path) -> None:
    """The cashier page after pairing, as the Pi touchscreen shows it (kept for a human look)."""
    from playwright.sync_api import expect

    daemon = running.daemon
    page.goto(pair_link(daemon, "cashier"))
    expect(page.locator("#link")).to_have_text("live")
    code = page.get_by_label("Barcode")
    for barcode in ("4006381333931", "5000112637922"):
        code.fill(barcode)
        code.press("Enter")
    expect(page.locator("#lines tr")).to_have_count(2)
    shot = tmp_path / "cashier-800x480.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 5000
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
