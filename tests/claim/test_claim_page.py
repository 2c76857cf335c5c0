"""The claim page (DESIGN §9) in headless Debian Chromium at 360x640 against `posd run --simulate`
and the gateway it runs: a real sale's QR URL, pending until the till flushes (the page re-checks
by itself), claimed through the gateway with the DSG arriving on chain, already claimed on a second
visit, invalid and wrong-network QR codes, a bad recipient, and the wallet path (an injected
EIP-1193 provider backed by a test key pays the gas). Every request the page makes goes to the
gateway's origin; the wallet's requests go through the provider, never the network. Screenshots
land in test-artifacts/claim/ (POSD_TEST_ARTIFACTS overrides the root)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from helpers.wait import wait_for

from posd.proof.claimcode import ClaimPayload

pytestmark = [pytest.mark.browser, pytest.mark.anvil]


def open_receipt(phone: Any, sim: Any, claim_url: str) -> str:
    """The receipt's URL on the simulate gateway (claim_base_url points there)."""
    base, _, frag = claim_url.partition("#")
    assert base.startswith(sim.gateway), (base, sim.gateway)
    phone.page.goto(claim_url)
    return frag


def test_simulate_runs_the_gateway_and_points_receipts_at_it(sim: Any) -> None:
    assert sim.sell().startswith(sim.gateway)


def test_claim_through_the_gateway(sim: Any, phone: Any, kit: Any) -> None:
    from playwright.sync_api import expect

    claim_url = sim.sell()
    p = ClaimPayload.from_url(claim_url)
    frag = open_receipt(phone, sim, claim_url)
    # the till's flusher waits a day in this fixture: the receipt is not on chain yet
    phone.wait_state("pending")
    text = phone.page.inner_text("[data-testid=state]")
    assert "the shop has not sent this receipt yet; it waits since" in text
    assert "come back later" in text
    assert phone.page.inner_text("#r-seq") == str(p.seq)
    assert phone.page.inner_text("#r-currency") == "EUR"
    assert re.search(r"2[.,]58", phone.page.inner_text("#r-amount")), "258 minor units of EUR"
    assert phone.page.inner_text("#r-till").lower() == p.till.lower()
    phone.shot("1-pending")
    sim.flush()
    # no reload: the page re-checks by itself (every ~10 s)
    phone.wait_state("claimable", timeout_ms=25_000)
    status = sim.receipt(p.till, p.seq)
    reward = int(status["reward"])
    assert reward > 0
    expect(phone.page.locator("[data-testid=reward]")).to_contain_text("DSG")
    phone.shot("2-claimable")
    # accessible: the input has its label, the state region is announced
    assert (
        phone.page.get_by_label("Your wallet address").get_attribute("data-testid") == "recipient"
    )
    assert phone.page.get_attribute("[data-testid=state]", "aria-live") == "polite"
    assert phone.page.get_attribute("[data-testid=state]", "role") == "status"
    recipient = Account.create().address
    token = sim.settings["token_address"]
    assert kit.balance_of(sim.rpc, token, recipient) == 0
    phone.page.fill("[data-testid=recipient]", recipient)
    phone.page.click("[data-testid=claim]")
    phone.wait_state("claimed", timeout_ms=60_000)
    state_text = phone.page.inner_text("[data-testid=state]")
    tx_hash = re.search(r"0x[0-9a-f]{64}", state_text)
    assert recipient in state_text and tx_hash
    mined = kit.rpc_result(sim.rpc, "eth_getTransactionReceipt", [tx_hash.group(0)])
    assert mined["status"] == "0x1"  # the gateway's transaction, shown to the shopper
    phone.shot("3-claimed")
    assert kit.balance_of(sim.rpc, token, recipient) == reward
    assert sim.receipt(p.till, p.seq)["recipient"].lower() == recipient.lower()
    # nothing but the gateway's origin; the fragment (claim key) never in any URL or body
    assert phone.foreign_requests(sim.gateway) == []
    assert not [u for u in phone.requests if frag in u or p.claim_key.hex() in u]
    # a second visit of the same QR: already claimed, nothing to sign
    phone.page.goto("about:blank")
    open_receipt(phone, sim, claim_url)
    phone.wait_state("claimed")
    second = phone.page.inner_text("[data-testid=state]")
    assert recipient.lower() in second.lower() and tx_hash.group(0) in second
    assert phone.page.locator("[data-testid=claim]").is_hidden()
    phone.shot("4-already-claimed")


def test_claim_post_carries_no_key(sim: Any, phone: Any, kit: Any) -> None:
    """The POST body holds till, seq, recipient and a signature: never the key or the fragment."""
    claim_url, p, _ = sim.claimable("5000112637922", 1)
    bodies: list[str] = []
    phone.page.on(
        "request", lambda r: bodies.append(r.post_data or "") if r.method == "POST" else None
    )
    frag = open_receipt(phone, sim, claim_url)
    phone.wait_state("claimable")
    phone.page.fill("[data-testid=recipient]", Account.create().address)
    phone.page.click("[data-testid=claim]")
    phone.wait_state("claimed", timeout_ms=60_000)
    assert len(bodies) == 1
    assert set(json.loads(bodies[0])) == {"till", "seq", "recipient", "signature"}
    assert frag not in bodies[0] and p.claim_key.hex() not in bodies[0].lower()


@pytest.mark.parametrize(
    ("name", "fragment", "words"),
    [
        ("no-fragment", "", "carries no receipt"),
        ("bad-character", "AQAAAAAAAHpp*MDAwMDA", "character"),
        ("wrong-length", "AQAAAAAAAHppwMDAwMDAwMDAwMDAwMDAwMDAwMAZ", "bytes"),
        ("padding", "AQAA==", "character"),
    ],
)
def test_invalid_qr(sim: Any, phone: Any, name: str, fragment: str, words: str) -> None:
    phone.page.goto(f"{sim.gateway}/c" + (f"#{fragment}" if fragment else ""))
    phone.wait_state("invalid")
    assert words in phone.page.inner_text("[data-testid=state]")
    assert phone.page.locator("[data-testid=claim]").is_hidden()
    if name == "bad-character":
        phone.shot("5-invalid")
    # an invalid QR asks the gateway nothing
    assert [u for u in phone.requests if "/api/" in u] == []


def test_wrong_version_and_wrong_network(sim: Any, phone: Any, kit: Any) -> None:
    good = ClaimPayload.from_url(sim.sell())
    v2 = good.url(f"{sim.gateway}/c").replace("#AQ", "#Ag", 1)
    phone.page.goto(v2)
    phone.wait_state("invalid")
    assert "version 2" in phone.page.inner_text("[data-testid=state]")
    other_chain = replace(good, chain_id=1)
    phone.page.goto("about:blank")
    phone.page.goto(other_chain.url(f"{sim.gateway}/c"))
    phone.wait_state("wrong-network")
    text = phone.page.inner_text("[data-testid=state]")
    assert "chain 1" in text and "31337" in text
    phone.shot("6-wrong-network")


def test_pending_receipt_rechecks_by_itself(sim: Any, phone: Any, kit: Any) -> None:
    """A seq far past the till's nextSeq stays pending; the page asks again every ~10 s."""
    p = ClaimPayload.from_url(sim.sell())
    far = replace(p, seq=p.seq + 10_000, claim_key=bytes(31) + b"\x07")
    phone.page.goto(far.url(f"{sim.gateway}/c"))
    phone.wait_state("pending")
    lookups = lambda: [u for u in phone.requests if "/api/receipts/" in u]  # noqa: E731
    assert len(lookups()) == 1
    phone.page.wait_for_timeout(11_500)
    assert len(lookups()) >= 2
    assert phone.state() == "pending"


def test_recipient_is_checked_before_anything_is_sent(sim: Any, phone: Any, kit: Any) -> None:
    _, p, _ = sim.claimable("4006381333931", 2)
    open_receipt(phone, sim, p.url(f"{sim.gateway}/c"))
    phone.wait_state("claimable")
    good = Account.create().address
    # flipping the case of one letter of a checksummed address always breaks its checksum
    i = next(i for i, c in enumerate(good) if i > 1 and c.isalpha())
    bad_checksum = good[:i] + good[i].swapcase() + good[i + 1 :]
    for value, words in [
        ("", "Enter the address"),
        ("0x1234", "not a wallet address"),
        (bad_checksum, "checksum"),
        ("0x" + "0" * 40, "zero address"),
    ]:
        phone.page.fill("[data-testid=recipient]", value)
        phone.page.click("[data-testid=claim]")
        assert words in phone.page.inner_text("#recipient-error")
        assert phone.page.get_attribute("[data-testid=recipient]", "aria-invalid") == "true"
        assert phone.state() == "claimable"
    phone.shot("7-bad-recipient")
    assert [u for u in phone.requests if u.endswith("/api/claims")] == []
    # all-lowercase is a valid address too (no checksum to check)
    phone.page.fill("[data-testid=recipient]", good.lower())
    phone.page.click("[data-testid=claim]")
    phone.wait_state("claimed", timeout_ms=60_000)


def test_wallet_pays_the_gas(sim: Any, phone: Any, kit: Any) -> None:
    wallet = kit.TestWallet(sim.rpc)
    kit.with_wallet(phone, wallet)
    _, p, status = sim.claimable("3017620422003", 1)
    claim_url = p.url(f"{sim.gateway}/c")
    phone.page.goto(claim_url)
    phone.wait_state("claimable")
    phone.page.click("[data-testid=connect]")
    from playwright.sync_api import expect

    expect(phone.page.locator("[data-testid=recipient]")).to_have_value(wallet.address)
    phone.shot("8-wallet-connected")
    phone.page.click("[data-testid=claim-self]")
    phone.wait_state("claimed", timeout_ms=60_000)
    assert len(wallet.sent) == 1
    tx = kit.rpc_result(sim.rpc, "eth_getTransactionByHash", [wallet.sent[0]])
    assert tx["from"].lower() == wallet.address.lower()  # the wallet paid the gas
    assert tx["to"].lower() == sim.settings["mining_address"].lower()
    assert wallet.sent[0] in phone.page.inner_text("[data-testid=state]")
    token = sim.settings["token_address"]
    assert kit.balance_of(sim.rpc, token, wallet.address) == int(status["reward"])
    assert [u for u in phone.requests if u.endswith("/api/claims")] == []
    assert phone.foreign_requests(sim.gateway) == []
    phone.shot("9-wallet-claimed")


def test_refunded_receipt(sim: Any, phone: Any, kit: Any) -> None:
    """A sale refunded before the flush is committed with amount 0: nothing to claim."""
    claim_url = sim.sell("5000112637922", 1)
    p = ClaimPayload.from_url(claim_url)
    status, body = sim.client.post(f"/api/sales/{p.seq}/refund", {})
    assert status == 200, body
    sim.flush()
    sim.wait_receipt(p.till, p.seq, "refunded")
    open_receipt(phone, sim, claim_url)
    phone.wait_state("refunded")
    assert "refunded" in phone.page.inner_text("[data-testid=state]")
    assert phone.page.locator("[data-testid=claim]").is_hidden()
    phone.shot("10-refunded")


def test_lost_connection_shows_error_with_retry(sim: Any, phone: Any, kit: Any) -> None:
    """The phone loses its connection as it sends the claim: `error` says what to do, and Retry
    brings the receipt back (nothing was claimed)."""
    claim_url, p, _ = sim.claimable("4001686301265", 1)
    open_receipt(phone, sim, claim_url)
    phone.wait_state("claimable")
    phone.page.route("**/api/claims", lambda route: route.abort("internetdisconnected"))
    phone.page.fill("[data-testid=recipient]", Account.create().address)
    phone.page.click("[data-testid=claim]")
    phone.wait_state("error")
    assert "connection" in phone.page.inner_text("[data-testid=state]")
    phone.shot("11-error")
    phone.page.unroute("**/api/claims")
    phone.page.get_by_role("button", name="Retry").click()
    phone.wait_state("claimable")
    assert sim.receipt(p.till, p.seq)["state"] == "claimable"


def test_a_claim_that_failed_on_chain_shows_error_then_claims(
    sim: Any, phone: Any, kit: Any
) -> None:
    """The gateway's transaction is mined but reverts (a pause lands in the same block, ahead
    of it): the page leaves `claiming` for `error` with what to do, and a new try claims."""
    from eth_utils import keccak

    from posd.chain.devchain import DEV_KEYS

    claim_url, p, _ = sim.claimable("4001686301265", 1)
    open_receipt(phone, sim, claim_url)
    phone.wait_state("claimable")
    admin = Account.from_key(DEV_KEYS[0]).address
    mining = sim.settings["mining_address"]

    def admin_call(signature: str) -> None:
        tx = {"from": admin, "to": mining, "data": "0x" + keccak(signature.encode())[:4].hex(),
              "gas": hex(200_000), "maxFeePerGas": hex(10**12), "maxPriorityFeePerGas": hex(10**11)}  # fmt: skip
        kit.rpc_result(sim.rpc, "eth_sendTransaction", [tx])

    recipient = Account.create().address
    # nothing is mined until the test says so: the simulator's anvil mines a block every second
    # (--block-time 1), which anvil_setAutomine(false) alone leaves running
    kit.rpc_result(sim.rpc, "evm_setIntervalMining", [0])
    kit.rpc_result(sim.rpc, "anvil_setAutomine", [False])
    try:
        phone.page.fill("[data-testid=recipient]", recipient)
        phone.page.click("[data-testid=claim]")
        wait_for(  # the claim is in the pool
            lambda: "relay" in sim.receipt(p.till, p.seq), 30, "the gateway to take the claim", 0.2
        )
        admin_call("pause()")
        kit.rpc_result(sim.rpc, "evm_mine")
    finally:
        kit.rpc_result(sim.rpc, "anvil_setAutomine", [True])
    try:
        phone.wait_state("error", timeout_ms=30_000)
        text = phone.page.inner_text("[data-testid=state]")
        assert "failed on the network" in text and "Try again" in text
        assert re.search(r"0x[0-9a-f]{64}", text)
        phone.shot("12-failed-on-chain")
    finally:
        admin_call("unpause()")
    assert sim.receipt(p.till, p.seq)["state"] == "claimable"
    phone.page.get_by_role("button", name="Try again").click()
    phone.wait_state("claimable")
    phone.page.fill("[data-testid=recipient]", recipient)
    phone.page.click("[data-testid=claim]")
    phone.wait_state("claimed", timeout_ms=60_000)
    assert kit.balance_of(sim.rpc, sim.settings["token_address"], recipient) > 0
