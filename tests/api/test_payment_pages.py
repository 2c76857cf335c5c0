"""Paying with DSG on the till's pages (DESIGN §10), in headless Chromium against a real
`posd run --simulate` daemon (its own anvil), end to end with a real shopper.

The shopper gets DSG the real way — a receipt claimed with `posd claim` — then pays from its own
account what the QR says. The cashier page starts the payment; the QR shown on the cashier page
and on the customer display (`/display`) is screenshotted and DECODED (zxing-cpp) back to the
payment's EIP-681 URI; the display shows "paid" once the transfer confirms and the sale completes
by itself. A cancelled payment shows "cancelled" and a transfer for it afterwards is listed on the
technician page as late, with its transaction and payer. Needs /usr/bin/chromium (Debian) and
the playwright and zxing-cpp PyPI packages (no downloaded browser).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import CHROMIUM, launch
from helpers.browser import open_page as new_page
from helpers.daemon_util import Client, posd_cli, start_simulate, stop

TIMEOUT_MS = 20_000
PAYOUT_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"  # dev #5
SHOPPER_KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"  # dev #8
PEN = "4006381333931"  # €1.29 in the demo catalog

pytestmark = [
    pytest.mark.browser,
    pytest.mark.anvil,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing"),
]


class Till:
    """The simulated daemon: its API (bearer token), its chain and the shopper's account."""

    def __init__(self, state: Path, lines: dict[str, str]) -> None:
        from eth_account import Account
        from web3 import Web3

        self.state, self.base, self.rpc = state, lines["api"], lines["rpc"]
        self.api = Client(self.base, lines["token"])
        self.w3 = Web3(Web3.HTTPProvider(self.rpc))
        self.token = lines.get("token_address") or _simulated(state)["token_address"]
        self.payout = Account.from_key(PAYOUT_KEY).address
        self.shopper = Account.from_key(SHOPPER_KEY)

    def pair_url(self, scope: str) -> str:
        r = posd_cli("--state-dir", str(self.state), "pair", "--scope", scope, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["url"]

    def sell(self, code: str, qty: int) -> dict[str, Any]:
        assert self.api.post("/api/scan", {"code": code, "qty": qty})[0] == 200
        status, done = self.api.post("/api/sale/pay", {"tender": "cash", "amount": 10**6})
        assert status == 200 and done["complete"], done
        return done

    def dsg_balance(self, address: str) -> int:
        from posd.chain.contracts import erc20_contract

        return erc20_contract(self.w3, self.token).functions.balanceOf(address).call()

    def pay(self, amount_wei: int) -> str:
        """The shopper's wallet: a DSG transfer to the payout address, as the QR asks (a reverted
        transfer raises)."""
        from posd.chain.contracts import erc20_contract, send

        call = erc20_contract(self.w3, self.token).functions.transfer(self.payout, amount_wei)
        return send(self.w3, self.shopper, call, timeout=30)["transactionHash"].to_0x_hex()

    def payment(self, pid: str) -> dict[str, Any]:
        status, body = self.api.get(f"/api/payments/{pid}")
        assert status == 200, body
        return body.get("payment", body)


def _simulated(state: Path) -> dict[str, Any]:
    return json.loads((state / "simulate.json").read_text())


@pytest.fixture(scope="module")
def till(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Till]:
    from eth_account import Account

    state = tmp_path_factory.mktemp("dsg-pages")
    config = state / "posd.toml"
    config.write_text(
        "[dsg]\n"
        f'payout_address = "{Account.from_key(PAYOUT_KEY).address}"\n'
        "rate = 10000000000000000\n"  # 0.01 DSG per cent: €1.29 = 1.29 DSG
        "discount_percent = 5\n"
        "till_slot = 7\n"
        "payment_timeout_s = 900\n"
        "poll_interval_s = 0.5\n"
    )
    proc, lines = start_simulate(state, "--config", str(config))
    try:
        t = Till(state, lines)
        _shopper_claims_dsg(t)
        yield t
    finally:
        stop(proc)


def _shopper_claims_dsg(t: Till) -> None:
    """A €25.80 cash sale, flushed, its receipt claimed by the shopper: 25.8 DSG."""
    done = t.sell(PEN, 20)
    r = posd_cli("--state-dir", str(t.state), "flush", timeout=120)
    assert r.returncode == 0, r.stderr
    r = posd_cli(
        "claim", done["claim_url"], "--recipient", t.shopper.address, "--rpc", t.rpc,
        "--private-key", SHOPPER_KEY, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert t.dsg_balance(t.shopper.address) >= 10 * 10**18


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as b:
        yield b


def open_page(browser: Any, url: str, size: tuple[int, int]) -> Any:
    page = new_page(browser, size, TIMEOUT_MS)
    page.goto(url)
    return page


def decode_qr(element: Any) -> list[str]:
    """Screenshot the QR as the screen shows it and decode it (zxing-cpp)."""
    import zxingcpp
    from PIL import Image

    element.evaluate("img => img.decode()")  # drawn, not just in the DOM
    shot = Image.open(io.BytesIO(element.screenshot()))
    return [r.text for r in zxingcpp.read_barcodes(shot)]


def no_secrets(page: Any, t: Till) -> None:
    html = page.content()
    assert "claim_url" not in html and "#A" not in html
    assert t.api.token not in html


def test_cashier_and_display_show_the_qr_then_paid(till: Till, browser: Any) -> None:
    from playwright.sync_api import expect

    cashier = open_page(browser, till.pair_url("cashier"), (800, 480))
    display = open_page(browser, till.pair_url("display"), (1024, 600))
    expect(cashier.locator("#link")).to_have_text("live")

    code = cashier.get_by_label("Barcode")
    code.fill(PEN)
    code.press("Enter")
    expect(cashier.locator("#lines tr")).to_have_count(1)
    expect(display.locator("#lines tr")).to_have_count(1)
    cashier.get_by_role("button", name="Pay with DSG").click()

    panel = cashier.locator("#dsg-panel")
    expect(panel).to_be_visible()
    expect(cashier.locator("#dsg-state")).to_have_text("Awaiting payment")
    _, sale = till.api.get("/api/sale")
    payment = sale["payment"]
    assert payment and payment["state"] == "awaiting"
    uri, wei = payment["uri"], int(payment["amount_wei"])
    assert uri.startswith("ethereum:") and f"uint256={wei}" in uri
    assert decode_qr(cashier.locator("#dsg-qr")) == [uri]
    whole, frac = divmod(wei, 10**18)
    expect(cashier.locator("#dsg-exact")).to_have_text(
        f"exactly {whole}.{f'{frac:018d}'.rstrip('0')} DSG"
    )
    expect(cashier.locator("#dsg-discount")).to_have_text(re.compile(r"DSG discount −€0\.06"))
    expect(cashier.locator("#dsg-countdown")).to_have_text(re.compile(r"Expires in 1[45]:\d\d"))
    expect(cashier.get_by_role("button", name="Pay with DSG")).to_be_disabled()
    # the header says what the till waits for
    expect(cashier.locator("#state")).to_have_text("awaiting DSG")

    # the shopper's screen: the same QR, big, with the amount and the countdown
    expect(display.locator("#pay")).to_be_visible()
    assert decode_qr(display.locator("#pay-qr")) == [uri]
    expect(display.locator("#pay-status")).to_have_text(re.compile("Waiting for your payment"))
    expect(display.locator("#pay-countdown")).to_have_text(re.compile(r"Valid for 1[45]:\d\d"))
    no_secrets(display, till)

    tx = till.pay(wei)
    expect(display.locator("#pay-status")).to_have_text("Paid — thank you!", timeout=30_000)
    expect(cashier.locator("#done")).to_be_visible(timeout=30_000)  # completed like any tender
    expect(cashier.locator("#lines tr")).to_have_count(0)
    done = till.payment(payment["id"])
    assert done["state"] == "paid" and isinstance(done.get("seq"), int)
    expect(cashier.locator("#done-seq")).to_have_text(f"#{done['seq']}")
    assert tx  # the transaction is on the receipt (backend's test checks the text)
    for page in (cashier, display):
        no_secrets(page, till)
        assert page.js_errors == []
        page.context.close()


def test_cancel_then_a_late_transfer_is_listed_for_refund(till: Till, browser: Any) -> None:
    from playwright.sync_api import expect

    cashier = open_page(browser, till.pair_url("cashier"), (800, 480))
    expect(cashier.locator("#link")).to_have_text("live")
    code = cashier.get_by_label("Barcode")
    code.fill(PEN)
    code.press("Enter")
    expect(cashier.locator("#lines tr")).to_have_count(1)
    cashier.get_by_role("button", name="Pay with DSG").click()
    expect(cashier.locator("#dsg-state")).to_have_text("Awaiting payment")
    payment = till.api.get("/api/sale")[1]["payment"]

    cashier.get_by_role("button", name="Cancel DSG payment").click()
    expect(cashier.locator("#dsg-state")).to_have_text("Cancelled")
    expect(cashier.locator("#state")).to_have_text("open")  # the sale is the cashier's again
    assert till.payment(payment["id"])["state"] == "cancelled"
    cashier.get_by_role("button", name="Close").click()
    expect(cashier.locator("#dsg-panel")).to_be_hidden()

    tech = open_page(browser, till.pair_url("tech"), (1024, 700))
    expect(tech.locator("#dsg-refunds-empty")).to_be_visible()
    tx = till.pay(int(payment["amount_wei"]))  # the shopper paid anyway: late
    row = tech.locator("#dsg-refund-rows tr").filter(has_text=tx)
    expect(row).to_have_count(1, timeout=30_000)
    expect(row).to_contain_text("late")
    expect(row).to_contain_text(till.shopper.address)
    expect(row).to_contain_text(payment["id"])
    for page in (cashier, tech):
        no_secrets(page, till)
        assert page.js_errors == []
        page.context.close()
