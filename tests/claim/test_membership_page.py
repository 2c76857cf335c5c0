"""The membership view (DESIGN §11) on the claim page, in headless Chromium at 360x640 against
`posd run --simulate` (which deploys DSGStaking and a 6-decimal test stablecoin), with a test
wallet behind an injected EIP-1193 provider: DSG from a claimed receipt, stake (approve + stake)
up a tier, dividends streamed and claimed, request unstake, withdraw after the cool-down, and
"show my pass" (a `dsgm1:` QR the till's own pass check accepts, renewed by the page when less
than a minute is left)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from helpers.daemon_util import Client
from web3 import Web3

from posd.chain.contracts import erc20_contract, staking_contract
from posd.proof import memberpass

pytestmark = [pytest.mark.browser, pytest.mark.anvil]

DSG = 10**18
USD = 10**6
ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first dev account: the deployer


def admin_tx(w3: Web3, fn: Any) -> None:
    """An admin call from anvil's unlocked first account, mined before returning."""
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": ADMIN}), timeout=30)
    assert receipt["status"] == 1


def advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def test_membership_view(sim: Any, phone: Any, kit: Any) -> None:
    from playwright.sync_api import expect

    staking_address = sim.settings.get("staking_address")
    assert staking_address, "posd run --simulate recorded no staking_address in simulate.json"
    w3 = Web3(Web3.HTTPProvider(sim.rpc))
    staking = staking_contract(w3, staking_address)
    stable = erc20_contract(w3, sim.settings["profit_token_address"])
    assert staking.functions.profitToken().call() == stable.address
    admin_tx(w3, staking.functions.setTierThresholds([1 * DSG, 5 * DSG, 1000 * DSG]))
    status, config = Client(sim.gateway, None).get("/api/config")
    assert status == 200 and config["staking"].lower() == staking_address.lower()

    wallet = kit.TestWallet(sim.rpc)
    kit.with_wallet(phone, wallet)
    phone.page.clock.install()  # real time flows; fast_forward later to near the pass's expiry
    # a member's visit needs no receipt: the gateway's page offers the membership view
    phone.page.goto(f"{sim.gateway}/")
    phone.wait_state("invalid")
    phone.page.click("[data-testid=member-connect]")
    expect(phone.page.locator("[data-testid=member-tier]")).to_have_text("none yet")
    expect(phone.page.locator("[data-testid=member-balance]")).to_have_text("0 DSG")
    expect(phone.page.locator("[data-testid=member-next]")).to_contain_text("tier 1 needs 1 DSG")
    phone.shot("m0-no-receipt")

    # DSG for the wallet: a receipt claimed through the gateway to the connected wallet
    _, p, status = sim.claimable("4006381333931", 10)
    reward = int(status["reward"])
    assert reward >= 6 * DSG
    phone.page.goto(p.url(f"{sim.gateway}/c"))
    phone.wait_state("claimable")
    phone.page.click("[data-testid=connect]")
    member = phone.page.locator("[data-testid=member]")
    expect(member).to_be_visible()
    phone.page.click("[data-testid=claim]")
    phone.wait_state("claimed", timeout_ms=60_000)
    assert kit.balance_of(sim.rpc, sim.settings["token_address"], wallet.address) == reward
    expect(phone.page.locator("[data-testid=member-tier]")).to_have_text("none yet")

    # stake 6 DSG: approve + stake from the wallet -> tier 2, the next tier needs 994 more
    phone.page.fill("[data-testid=stake-amount]", "6")
    phone.page.click("[data-testid=stake]")
    expect(phone.page.locator("[data-testid=member-tier]")).to_have_text("tier 2", timeout=60_000)
    assert len(wallet.sent) == 2  # approve, then stake
    assert staking.functions.stakedOf(wallet.address).call() == 6 * DSG
    expect(phone.page.locator("[data-testid=member-staked]")).to_have_text("6 DSG")
    expect(phone.page.locator("[data-testid=member-next]")).to_contain_text("994 DSG more")
    expect(phone.page.locator("[data-testid=member-cooldown]")).to_contain_text("7 d")
    phone.shot("m1-staked")

    # the platform deposits 700 tUSD of profit, streamed over 7 days: one day later ~100 earned
    admin_tx(w3, stable.functions.mint(ADMIN, 700 * USD))
    admin_tx(w3, stable.functions.approve(staking.address, 700 * USD))
    admin_tx(w3, staking.functions.notifyProfit(700 * USD))
    advance(w3, 86_400)
    phone.page.fill("[data-testid=stake-amount]", "1")
    phone.page.click("[data-testid=unstake]")  # also reloads the view
    expect(phone.page.locator("[data-testid=member-cooldown]")).to_contain_text(
        "1 DSG waiting", timeout=60_000
    )
    expect(phone.page.locator("[data-testid=member-tier]")).to_have_text("tier 2")
    earned = int(phone.page.get_attribute("[data-testid=member-earned]", "data-raw"))
    assert 99 * USD <= earned <= 101 * USD, earned
    expect(phone.page.locator("[data-testid=member-earned]")).to_contain_text("tUSD")
    phone.page.click("[data-testid=claim-dividends]")
    expect(phone.page.locator("[data-testid=member-status]")).to_have_text(
        "Claim dividends: done.", timeout=60_000
    )
    assert stable.functions.balanceOf(wallet.address).call() >= earned
    phone.shot("m2-dividends")

    # withdraw after the cool-down: the waiting DSG come back to the wallet
    before = kit.balance_of(sim.rpc, sim.settings["token_address"], wallet.address)
    advance(w3, staking.functions.cooldown().call() + 1)
    phone.page.click("[data-testid=withdraw]")
    expect(phone.page.locator("[data-testid=member-status]")).to_have_text(
        "Withdraw: done.", timeout=60_000
    )
    assert kit.balance_of(sim.rpc, sim.settings["token_address"], wallet.address) == before + DSG
    expect(phone.page.locator("[data-testid=member-staked]")).to_have_text("5 DSG")
    expect(phone.page.locator("[data-testid=member-balance]")).to_have_text(
        f"{(reward - 5 * DSG) / DSG:g} DSG"
    )
    expect(phone.page.locator("[data-testid=member-cooldown]")).to_contain_text("from asking")

    # the pass: signed by the wallet (eth_signTypedData_v4), accepted by the till's own check
    phone.page.click("[data-testid=show-pass]")
    pass_text = phone.page.locator("[data-testid=pass-text]")
    expect(pass_text).to_have_text(re.compile(r"^dsgm1:[A-Za-z0-9_-]{162}$"))
    assert wallet.calls.count("eth_signTypedData_v4") == 1
    text = pass_text.text_content()
    checked = memberpass.check(text, 31337, staking_address, time.time())
    assert checked.member == wallet.address
    assert time.time() < checked.valid_until <= time.time() + 600
    expect(phone.page.locator("[data-testid=pass-qr]")).to_be_visible()
    phone.shot("m3-pass")
    pay_member_price(sim, text, wallet.address, staked_tier=2)

    # with less than a minute left the page asks the wallet once for a fresh pass
    phone.page.clock.fast_forward(int((checked.valid_until - time.time() - 50) * 1000))
    expect(pass_text).not_to_have_text(text, timeout=15_000)
    assert wallet.calls.count("eth_signTypedData_v4") == 2
    page_now = phone.page.evaluate("Date.now() / 1000")  # the page's clock, moved forward
    renewed = memberpass.check(pass_text.text_content(), 31337, staking_address, page_now)
    assert renewed.valid_until > checked.valid_until
    assert phone.foreign_requests(sim.gateway) == []


def pay_member_price(sim: Any, pass_text: str, member: str, staked_tier: int) -> None:
    """The issue's "done when", joined: the pass TEXT the page shows goes to the same
    `--simulate` till (`POST /api/sale/member`), which reads the wallet's tier from the staking
    contract and takes the store's discount for it off the sale; the completed sale's proof
    carries the discounted total."""
    import sqlite3
    from decimal import ROUND_HALF_UP, Decimal

    till = sim.client
    status, sale = till.post("/api/scan", {"code": "4006381333931", "qty": 3})
    assert status == 200, sale
    status, sale = till.post("/api/sale/member", {"pass": pass_text})
    assert status == 200, sale
    m = sale["member"]
    assert m["address"].lower() == member.lower()
    assert (m["tier"], m["source"]) == (staked_tier, "chain")
    percent = Decimal(str([0, 2, 5, 10][staked_tier]))  # [membership] discounts' default
    assert m["discount_percent"] == percent
    (line,) = sale["lines"]
    gross = line["total"] + line["member_discount"]
    discount = int((Decimal(gross) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert gross == 3 * 129 and line["member_discount"] == discount > 0
    assert sale["total"] == gross - discount and m["discount"] == discount
    status, paid = till.post("/api/sale/pay", {"tender": "cash", "amount": sale["total"]})
    assert status == 200 and paid["complete"] and paid["total"] == gross - discount, paid
    db = sqlite3.connect(f"file:{sim.state / 'posd.db'}?mode=ro", uri=True)
    try:
        (amount,) = db.execute("SELECT amount FROM proofs WHERE seq = ?", (paid["seq"],)).fetchone()
    finally:
        db.close()
    assert amount == gross - discount  # the proof: the member price, not the list price
    # the same pass again at this till: used
    till.post("/api/scan", {"code": "4006381333931"})
    status, body = till.post("/api/sale/member", {"pass": pass_text})
    assert (status, body["error"]["code"]) == (409, "pass_used"), body
    assert till.post("/api/sale/cancel", {})[0] == 200
