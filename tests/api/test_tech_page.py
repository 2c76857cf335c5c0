"""The technician page's tools in headless Chromium (DESIGN §12), against a real daemon whose
receipt printer is a network printer on a 127.0.0.1 TCP listener (with a cash drawer on pin 2)
and whose scanner and card reader are the simulated drivers (reads go down the real path).

Test print, scanner test, masked card test, drawer test, the day report; and the two fixes:
the outbox's link renders as text (never ``[object Object]``) and the events list shows the
log's last events on load, before anything new happens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import launch, open_page
from helpers.daemon_util import Client, make_daemon, pair_link
from helpers.escpos_parse import FakePrinter, extract_qr_data, extract_text
from helpers.wait import wait_for

from posd.app.daemon import Daemon

PAN = "4111111111111111"

pytestmark = pytest.mark.browser


@pytest.fixture
def till(tmp_path: Path) -> Iterator[tuple[Daemon, str, FakePrinter]]:
    printer = FakePrinter()
    daemon = make_daemon(
        tmp_path / "state",
        [
            {**printer.entry, "kind": "printer", "drawer": "pin2"},
            {"kind": "scanner", "driver": "simulated", "id": "scanner:simulated"},
            {"kind": "card_reader", "driver": "simulated", "id": "card_reader:simulated"},
        ],
    )
    port = daemon.start()
    try:
        yield daemon, f"http://127.0.0.1:{port}", printer
    finally:
        daemon.stop()
        printer.close()


@pytest.fixture
def page(till) -> Iterator[Any]:
    with launch() as browser:
        pg = open_page(browser, (1024, 900), 10_000)
        yield pg
        assert not pg.js_errors, f"JavaScript errors on the page: {pg.js_errors}"


def test_tech_page_tools(till, page) -> None:
    from playwright.sync_api import expect

    daemon, base, printer = till
    client = Client(base, daemon.api_token)
    # history before the page opens: a sale, its refund, a cancelled cart
    assert client.post("/api/scan", {"code": "4006381333931"})[0] == 200
    status, done = client.post("/api/sale/pay", {"tender": "card", "amount": 129})
    assert status == 200 and done["complete"]
    assert client.post(f"/api/sales/{done['seq']}/refund", {})[0] == 200
    assert client.post("/api/scan", {"code": "5000112637922"})[0] == 200
    assert client.post("/api/sale/cancel", {})[0] == 200
    wait_for(lambda: any(b"\x1dV" in j for j in printer.jobs))  # the receipt printed

    page.goto(pair_link(daemon, "tech"))
    assert page.url == base + "/tech"
    events = page.locator("#events")
    # the last events from the log and the bus are there at once, before anything new happens
    expect(events).to_contain_text("sale_refunded")
    expect(events).to_contain_text("sale_completed")
    expect(events).to_contain_text("till_bound")
    assert events.locator("tr", has_text="sale_cancelled").count() == 1  # logged and live: once
    # the link renders as its state, not as an object
    expect(page.locator("#queue-link")).to_have_text(re.compile(r"^[a-z_]+"))
    assert "[object Object]" not in page.locator("#outbox").inner_text()
    expect(page.locator("#stream-state")).to_have_text("live")

    # the day report
    expect(page.locator("#report-sales")).to_have_text("1")
    expect(page.locator("#report-refunds")).to_contain_text("1 ·")
    expect(page.locator("#report-voids")).to_contain_text("1 sales cancelled")

    # test print: arrives at the printer with a QR of the till's address
    jobs = len(printer.jobs)
    page.click("#test-print")
    expect(page.locator("#test-print-result")).to_contain_text(f"printer:127.0.0.1:{printer.port}")
    wait_for(lambda: any(b"TEST PRINT" in j for j in printer.jobs[jobs:]))
    printed = b"".join(printer.jobs[jobs:])
    assert "TEST PRINT" in extract_text(printed) and daemon.keys.address in extract_text(printed)
    assert extract_qr_data(printed) == [daemon.keys.address]

    # scanner test: a scan shows as it arrives, with the device that read it
    daemon.devices.simulated("scanner").inject("4001686301265")
    expect(page.locator("#scanner-test")).to_contain_text("4001686301265")
    row = page.locator("#scanner-test tr", has_text="4001686301265").first
    expect(row.locator("td").nth(1)).to_have_text("scanner:simulated")
    daemon.devices.simulated("scanner").inject("9999999999994")
    expect(page.locator("#scanner-test")).to_contain_text("unknown product")

    # card test: masked PAN only, never the full number
    daemon.devices.simulated("card_reader").swipe(f"%B{PAN}^DOE/JOHN^2512101000000000000?")
    expect(page.locator("#card-test")).to_contain_text("411111******1111")
    assert PAN not in page.content()
    status, recent = client.get("/api/events/recent?limit=50")
    assert status == 200 and PAN not in str(recent) and "411111******1111" in str(recent)

    # drawer test: the kick (ESC p, pin 2) reaches the printer the drawer hangs on
    jobs = len(printer.jobs)
    page.click("#drawer-test")
    expect(page.locator("#drawer-result")).to_contain_text("opened")
    wait_for(lambda: any(b"\x1bp\x00" in j for j in printer.jobs[jobs:]))


def test_tech_routes_need_the_tech_scope_and_check_input(till) -> None:
    daemon, base, _ = till
    anon = Client(base, None)
    for method, path in (
        ("GET", "/api/report"),
        ("POST", "/api/tech/test-print"),
        ("GET", "/api/events/recent"),
    ):
        assert anon.call(method, path, {} if method == "POST" else None)[0] == 401
    client = Client(base, daemon.api_token)
    status, body = client.get("/api/report?day=yesterday")
    assert status == 400 and body["error"]["code"] == "bad_day"
    status, body = client.get("/api/events/recent?limit=0")
    assert status == 400 and body["error"]["code"] == "bad_limit"
    status, body = client.get("/api/events/recent?limit=1e3")
    assert status == 400 and body["error"]["code"] == "bad_limit"
    status, body = client.get("/api/report?day=2020-01-01")
    assert status == 200 and body["sales"]["count"] == 0 and body["day"] == "2020-01-01"


def _streams(pg: Any) -> list[str]:
    """Every /api/events request the page makes, counted from its first request on."""
    seen: list[str] = []
    pg.on(
        "request",
        lambda r: seen.append(r.url) if r.url.split("?")[0].endswith("/api/events") else None,
    )
    return seen


def test_each_page_opens_one_event_stream_for_all_its_blocks(till, page) -> None:
    """The technician page (events list, DSG refunds, scanner/card tests) and the cashier page
    (cart, DSG payment) each share ONE EventSource: one of the daemon's subscriber places and one
    of the browser's six connections, and every block still gets its events."""
    from playwright.sync_api import expect

    daemon, base, _ = till
    streams = _streams(page)
    page.goto(pair_link(daemon, "tech"))
    expect(page.locator("#stream-state")).to_have_text("live")
    daemon.devices.simulated("scanner").inject("4001686301265")
    expect(page.locator("#scanner-test")).to_contain_text("4001686301265")  # tech-tools block
    expect(page.locator("#events")).to_contain_text("line_added")  # the events list
    page.wait_for_timeout(1500)  # the 5 s DSG refresh and the status polls run meanwhile
    assert len(streams) == 1, streams

    cashier = page.context.new_page()
    streams = _streams(cashier)
    cashier.goto(pair_link(daemon, "cashier"))
    expect(cashier.locator("#link")).to_have_text("live")
    daemon.devices.simulated("scanner").inject("5000112637922")
    expect(cashier.locator("#lines tr")).to_have_count(2)  # both scans: the cart block is live
    cashier.wait_for_timeout(1000)
    assert len(streams) == 1, streams

    display = page.context.new_page()  # the customer display shares the same /events.js stream
    streams = _streams(display)
    scripts: list[str] = []
    display.on("request", lambda r: scripts.append(r.url) if r.url.endswith(".js") else None)
    display.goto(pair_link(daemon, "display"))
    expect(display.locator("#lines tr")).to_have_count(2)
    daemon.devices.simulated("scanner").inject("4001686301265")
    expect(display.locator("#lines tr")).to_have_count(3)  # the cart it shows follows the stream
    display.wait_for_timeout(1000)
    assert len(streams) == 1, streams
    assert any(url.endswith("/events.js") for url in scripts), scripts
