"""Paying with DSG at the till (DESIGN §10) on a real anvil, through real daemons and the API,
from a shopper whose DSG came from claiming receipts."""

from __future__ import annotations

import time

import pytest
from helpers.dsg_kit import (
    PAYOUT,
    RATE,
    client,
    make_dsg_daemon,
    pay,
    start,
    token_of,
    wait_state,
)
from helpers.wait import wait_for

from posd.receipt.builder import ReceiptBuilder
from posd.receipt.layout import Text, layout
from posd.till.dsg.amount import UNIT
from posd.till.dsg.service import format_wei

pytestmark = pytest.mark.anvil
ITEM = "4006381333931"


@pytest.fixture
def till(chain, tmp_path):
    daemon = make_dsg_daemon(tmp_path / "till", chain)
    port = daemon.start()
    yield daemon, client(daemon, port)
    daemon.stop()


def test_exact_payment_completes_the_sale(chain, shopper, till) -> None:
    daemon, c = till
    p = start(c, ITEM)
    total = c.get("/api/sale")[1]["total"]
    assert p["state"] == "awaiting" and p["discount"] == 0
    amount = int(p["amount_wei"])
    assert amount // UNIT * UNIT == total * RATE // UNIT * UNIT
    assert (amount % UNIT) // 10**6 == 1  # the till's slot
    token = chain.mining.functions.token().call()
    assert p["uri"] == (f"ethereum:{token}@31337/transfer?address={PAYOUT}&uint256={amount}")
    assert c.get("/api/sale")[1]["payment"]["id"] == p["id"]
    # the cart is locked while the payment is open
    status, body = c.post("/api/scan", {"code": ITEM})
    assert body["error"]["code"] == "payment_pending"
    assert c.post("/api/sale/void-line", {"line": 0})[1]["error"]["code"] == "payment_pending"
    assert c.post("/api/sale/pay", {"tender": "cash", "amount": 500})[0] == 409

    tx = pay(chain, shopper, amount)
    seen = wait_state(c, p["id"], "confirming", "paid")
    assert seen["state"] == "confirming"  # one block deep of two
    chain.mine(1)
    done = wait_state(c, p["id"], "paid")
    assert done["seq"] >= 1 and "overpaid_wei" not in done
    assert "#" in done["claim_url"]  # the caller that started it gets the claim URL
    sale = c.get("/api/sale")[1]
    assert sale["payment"] is None and sale["lines"] == []
    rows = daemon.store.query(
        "SELECT tender, amount, reference FROM payments WHERE seq = ?", (done["seq"],)
    )
    assert [(r[0], r[1]) for r in rows] == [("dsg", total)]
    assert tx[:12] in rows[0][2]
    proof = daemon.store.one("SELECT amount FROM proofs WHERE seq = ?", (done["seq"],))
    assert proof[0] == total
    receipt = ReceiptBuilder(daemon.config, daemon.store, daemon.register.keys, 31337)
    printed = "\n".join(b.text for b in layout(receipt.build(done["seq"])) if isinstance(b, Text))
    assert f"tx {tx[:12]}" in printed and format_wei(amount) in printed
    listed = c.get("/api/payments?state=paid")[1]["payments"]
    assert any(x["id"] == p["id"] and x["tx_hashes"] == [tx] for x in listed)


def test_dsg_tender_is_not_marked_paid_by_hand(till) -> None:
    _, c = till
    assert c.post("/api/scan", {"code": ITEM})[0] == 200
    status, body = c.post("/api/sale/pay", {"tender": "dsg", "amount": 1})
    assert status == 409 and body["error"]["code"] == "dsg_by_hand"


def test_discount_underpaid_then_the_rest_then_overpaid(chain, shopper, tmp_path) -> None:
    daemon = make_dsg_daemon(tmp_path / "t", chain, slot=2, discount_percent=10)
    c = client(daemon, daemon.start())
    try:
        p = start(c, ITEM)
        total = c.get("/api/sale")[1]["total"]
        assert p["discount"] == round(total * 0.1)
        first = int(p["amount_wei"])
        half = first // UNIT // 2 * UNIT + first % UNIT  # half, under its reference
        pay(chain, shopper, half)
        chain.mine(1)
        under = wait_state(c, p["id"], "underpaid")
        rest = int(under["amount_wei"])
        assert under["uri"].endswith(f"uint256={rest}") and rest != first
        assert rest % UNIT != first % UNIT  # a new reference, same slot
        assert (rest % UNIT) // 10**6 == 2
        assert first - half <= rest < first - half + 2 * UNIT
        dust = pay(chain, shopper, 5 * UNIT + rest % UNIT)  # under 1 % of the request
        pay(chain, shopper, rest + 10**15)  # the rest and a bit more
        chain.mine(2)
        done = wait_state(c, p["id"], "paid")
        assert int(done["overpaid_wei"]) == 10**15
        proof = daemon.store.one("SELECT amount FROM proofs WHERE seq = ?", (done["seq"],))
        assert proof[0] == total - p["discount"]
        ref = daemon.store.one("SELECT reference FROM payments WHERE seq = ?", (done["seq"],))[0]
        assert "overpaid 0.001 DSG" in ref
        kinds = {t.tx_hash: t.kind for t in daemon.dsg.db.transfers()}
        assert kinds[dust] == "dust"
    finally:
        daemon.stop()


def test_cancelled_then_paid_late_and_a_stray(chain, shopper, till) -> None:
    daemon, c = till
    p = start(c, ITEM)
    status, body = c.post(f"/api/payments/{p['id']}/cancel", {})
    assert status == 200 and body["state"] == "cancelled"
    sale = c.get("/api/sale")[1]
    assert sale["payment"] is None and len(sale["lines"]) == 1  # the cart is unlocked again
    late = pay(chain, shopper, p["amount_wei"])
    stray = pay(chain, shopper, 12 * UNIT + 1_000_007)  # slot 1, a reference nobody asked
    chain.mine(2)

    def both_listed() -> dict | None:
        listed = c.get("/api/payments?state=late,unmatched")[1]["transfers"]
        kinds = {t["tx_hash"]: t["kind"] for t in listed}
        return kinds if late in kinds and stray in kinds else None

    kinds = wait_for(both_listed, timeout=10, every=0.1, what="the late and the stray transfer")
    assert kinds[late] == "late" and kinds[stray] == "unmatched"
    assert c.get(f"/api/payments/{p['id']}")[1]["state"] == "cancelled"
    assert c.post(f"/api/payments/{p['id']}/cancel", {})[0] == 200


def test_two_tills_one_payout_never_cross_match(chain, shopper, tmp_path) -> None:
    a = make_dsg_daemon(tmp_path / "a", chain, slot=3)
    b = make_dsg_daemon(tmp_path / "b", chain, slot=4)
    ca, cb = client(a, a.start()), client(b, b.start())
    try:
        pa, pb = start(ca, ITEM), start(cb, ITEM)
        assert pa["amount_wei"] != pb["amount_wei"]
        pay(chain, shopper, pb["amount_wei"])
        chain.mine(2)
        assert wait_state(cb, pb["id"], "paid")["seq"] >= 1
        time.sleep(0.5)
        assert wait_state(ca, pa["id"], "awaiting")["state"] == "awaiting"
        assert a.store.one("SELECT count(*) FROM dsg_transfers")[0] == 0
        pay(chain, shopper, pa["amount_wei"])
        chain.mine(2)
        assert wait_state(ca, pa["id"], "paid")["seq"] >= 1
    finally:
        a.stop()
        b.stop()


def test_reorg_between_seen_and_confirmed(chain, shopper, till) -> None:
    daemon, c = till
    p = start(c, ITEM)
    snap = chain.rpc("evm_snapshot")
    pay(chain, shopper, p["amount_wei"])
    wait_state(c, p["id"], "confirming")
    chain.rpc("evm_revert", snap)
    chain.mine(3)  # the new branch is longer and holds no transfer
    back = wait_state(c, p["id"], "awaiting")
    assert back["received_wei"] == "0"
    pay(chain, shopper, p["amount_wei"])
    chain.mine(1)
    assert wait_state(c, p["id"], "paid")["seq"] >= 1


def test_restart_while_awaiting_completes_the_same_cart(chain, shopper, tmp_path) -> None:
    state = tmp_path / "till"
    daemon = make_dsg_daemon(state, chain)
    c = client(daemon, daemon.start())
    assert c.post("/api/scan", {"code": ITEM})[0] == 200
    p = start(c, "4006381333931")
    lines = c.get("/api/sale")[1]["lines"]
    daemon.stop()
    chain.mine(1)  # the chain moves on while the till is down
    again = make_dsg_daemon(state, chain, keys=True)
    c = client(again, again.start())
    try:
        sale = c.get("/api/sale")[1]  # the SAME payment is open, on the same cart
        assert sale["lines"] == lines and sale["payment"] is not None
        same = sale["payment"]
        assert (same["id"], same["amount_wei"], same["uri"], same["state"]) == (
            p["id"], p["amount_wei"], p["uri"], "awaiting"
        )  # fmt: skip
        assert c.get(f"/api/payments/{p['id']}")[1]["uri"] == p["uri"]
        assert c.post("/api/scan", {"code": ITEM})[1]["error"]["code"] == "payment_pending"
        pay(chain, shopper, p["amount_wei"])
        chain.mine(2)
        done = wait_state(c, p["id"], "paid")
        rows = again.store.query(
            "SELECT name, qty FROM sale_lines WHERE seq = ? ORDER BY line_no", (done["seq"],)
        )
        assert [(r[0], float(r[1])) for r in rows] == [(x["name"], x["qty"]) for x in lines]
    finally:
        again.stop()


def test_node_down_during_the_payment(chain, shopper, till) -> None:
    daemon, c = till
    p = start(c, ITEM)
    watcher = daemon.dsg.watcher
    good = watcher.rpc.url
    watcher.rpc.url = "http://127.0.0.1:9"  # nothing listens: the link is down
    pay(chain, shopper, p["amount_wei"])
    chain.mine(2)
    wait_for(lambda: watcher.online is False, timeout=10, what="the watcher to go offline")
    assert watcher.online is False
    assert c.get(f"/api/payments/{p['id']}")[1]["state"] == "awaiting"
    # no new payment while the link is down (the open one is kept)
    status, body = c.post("/api/sale/pay", {"tender": "dsg"})
    assert status == 409 and body["error"]["code"] == "dsg_unavailable", body
    assert "no chain link" in body["error"]["message"]
    assert c.get("/api/sale")[1]["payment"]["id"] == p["id"]
    watcher.rpc.url = good
    done = wait_state(c, p["id"], "paid", timeout=20)
    assert done["seq"] >= 1 and c.get("/api/sale")[1]["lines"] == []
    # and with the link back, a new payment can start
    assert start(c, ITEM)["state"] == "awaiting"


def test_expires_by_block_time_unlocks_and_a_later_transfer_is_late(chain, shopper, tmp_path):
    daemon = make_dsg_daemon(tmp_path / "t", chain, payment_timeout_s=30)
    c = client(daemon, daemon.start())
    try:
        p = start(c, ITEM)
        chain.mine(1)
        time.sleep(0.3)
        assert c.get(f"/api/payments/{p['id']}")[1]["state"] == "awaiting"  # not by the clock
        head = chain.w3.eth.get_block("latest")["timestamp"]
        chain.rpc("evm_increaseTime", p["expires_at"] - head + 5)
        chain.mine(1)  # a block past expires_at: the chain's time says it expired
        gone = wait_state(c, p["id"], "expired")
        assert "refund_wei" not in gone  # nothing came: nothing to refund
        sale = c.get("/api/sale")[1]
        assert sale["payment"] is None and len(sale["lines"]) == 1  # the cart is unlocked
        assert c.post("/api/scan", {"code": ITEM})[0] == 200
        late = pay(chain, shopper, p["amount_wei"])
        chain.mine(2)

        def late_listed() -> dict | None:
            listed = c.get("/api/payments")[1]["transfers"]  # the default listing
            kinds = {t["tx_hash"]: t for t in listed}
            return kinds if late in kinds else None

        kinds = wait_for(late_listed, timeout=10, every=0.1, what="the late transfer listed")
        assert kinds[late]["kind"] == "late" and kinds[late]["payment_id"] == p["id"]
        assert c.get(f"/api/payments/{p['id']}")[1]["state"] == "expired"
    finally:
        daemon.stop()


def test_cancelled_while_confirming_is_tracked_and_listed_for_refund(chain, shopper, till):
    daemon, c = till
    p = start(c, ITEM)
    tx = pay(chain, shopper, p["amount_wei"])
    assert wait_state(c, p["id"], "confirming")["state"] == "confirming"
    assert c.post(f"/api/payments/{p['id']}/cancel", {})[1]["state"] == "cancelled"
    chain.mine(2)  # the transfer gets deep enough after the cancel

    def owed_listed() -> dict:
        listed = c.get("/api/payments?state=late,overpaid,unmatched,refund")[1]["payments"]
        return next((x for x in listed if x["id"] == p["id"]), {})

    owed = wait_for(owed_listed, timeout=10, every=0.1, what="the payment listed for refund")
    assert owed["state"] == "cancelled" and owed["refund_wei"] == p["amount_wei"], owed
    assert owed["tx_hashes"] == [tx]


def test_dsg_unavailable(chain, tmp_path) -> None:
    daemon = make_dsg_daemon(tmp_path / "t", chain, payout_address="")
    c = client(daemon, daemon.start())
    try:
        assert c.post("/api/scan", {"code": ITEM})[0] == 200
        status, body = c.post("/api/sale/pay", {"tender": "dsg"})
        assert status == 409 and body["error"]["code"] == "dsg_unavailable"
        assert "payout" in body["error"]["message"]
    finally:
        daemon.stop()
    daemon = make_dsg_daemon(tmp_path / "u", chain, rate=0)
    c = client(daemon, daemon.start())
    try:
        assert c.post("/api/scan", {"code": ITEM})[0] == 200
        status, body = c.post("/api/sale/pay", {"tender": "dsg"})
        assert status == 409 and body["error"]["code"] == "dsg_unavailable"
        assert "price" in body["error"]["message"]
        assert token_of(chain)  # the chain is fine: only the price is missing
    finally:
        daemon.stop()
