"""The cashier page shows the member, the tier and the discount (DESIGN §11) in headless Chromium:
a pass typed (as a keyboard-wedge scanner types it) into the code field goes to the member path;
a refused pass shows a clear banner. The node is a loopback JSON-RPC server answering tierOf."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import launch, open_page
from helpers.daemon_util import make_daemon, pair_link
from helpers.http_stub import TierNode, serve_post

from posd.proof.memberpass import MemberPass

pytestmark = pytest.mark.browser

STAKING = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
CHAIN_ID = 31337


@pytest.fixture
def cashier(tmp_path: Path) -> Iterator[Any]:
    with serve_post(TierNode(CHAIN_ID, tier=3).answer) as url:
        daemon = make_daemon(
            tmp_path,
            [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}],
            rpc_url=url,
            staking_address=STAKING,
            chain_id=CHAIN_ID,
        )
        daemon.start()
        try:
            with launch() as browser:
                page = open_page(browser, (800, 480), 10_000)
                page.goto(pair_link(daemon, "cashier"))
                yield page
                assert not page.js_errors, f"JavaScript errors on the page: {page.js_errors}"
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
