"""The cashier page shows the member, the tier and the discount (DESIGN §11) in headless Chromium:
a pass typed (as a keyboard-wedge scanner types it) into the code field goes to the member path;
a refused pass shows a clear banner. The node is a loopback JSON-RPC server answering tierOf."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_util import make_daemon
from helpers.http_stub import serve_post

from posd.api.app import pair_url
from posd.db.sessions import Sessions
from posd.proof.memberpass import MemberPass

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
STAKING = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
CHAIN_ID = 31337


def _node(body: bytes) -> tuple[int, bytes]:
    req = json.loads(body)
    if req["method"] == "eth_call":
        out: dict[str, Any] = {"result": "0x" + (3).to_bytes(32, "big").hex()}
    elif req["method"] == "eth_chainId":
        out = {"result": hex(CHAIN_ID)}
    else:
        out = {"error": {"code": -32601, "message": "not this node"}}
    return 200, json.dumps({"jsonrpc": "2.0", "id": req.get("id"), **out}).encode()


@pytest.fixture
def cashier(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with serve_post(_node) as url:
        daemon = make_daemon(
            tmp_path,
            [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}],
            rpc_url=url,
            staking_address=STAKING,
            chain_id=CHAIN_ID,
        )
        port = daemon.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    page = browser.new_page(viewport={"width": 800, "height": 480})
                    page.set_default_timeout(10_000)
                    errors: list[str] = []
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    page.goto(pair_url(port, Sessions(daemon.store).new_code("cashier").code))
                    yield page
                    assert not errors, f"JavaScript errors on the page: {errors}"
                finally:
                    browser.close()
        finally:
            daemon.stop()


def test_cashier_page_shows_member_tier_and_discount(cashier: Any) -> None:
    from playwright.sync_api import expect

    page = cashier
    expect(page.locator("#link")).to_have_text("live")
    expect(page.get_by_test_id("member")).to_be_hidden()
    code = page.get_by_label("Barcode")
    code.fill("96385074")  # espresso beans, €6.49
    code.press("Enter")
    expect(page.locator("#total")).to_have_text("€6.49")
    member_pass = MemberPass.sign(b"\x22" * 32, CHAIN_ID, STAKING, int(time.time()) + 300)
    code.fill(member_pass.text())
    code.press("Enter")
    box = page.get_by_test_id("member")
    expect(box).to_be_visible()
    expect(page.get_by_test_id("member-tier")).to_have_text("3")  # [0, 2, 5, 10]: 10 % off
    expect(page.get_by_test_id("member-discount")).to_have_text("−€0.65")  # 64.9 → 65
    expect(page.locator("#total")).to_have_text("€5.84")
    expect(page.get_by_test_id("member-address")).to_have_text(
        member_pass.member[:6] + "…" + member_pass.member[-4:]
    )
    expect(page.locator("#banner")).to_be_hidden()
    # the same pass again on a new sale: refused, in words
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel the whole sale?"
    page.get_by_role("button", name="Cancel sale").click()
    expect(box).to_be_hidden()
    code.fill("96385074")
    code.press("Enter")
    code.fill(member_pass.text())
    code.press("Enter")
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner")).to_contain_text(re.compile("used before", re.I))
    expect(box).to_be_hidden()
