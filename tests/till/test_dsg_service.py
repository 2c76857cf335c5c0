"""The DSG payment service (DESIGN §10) on a real till database and a real register, fed the
transfers the watcher records (posd.db.payments.Payments.record, as the watcher writes them):
dust against what is asked now, money of a payment that ended without a sale kept for refund,
a paid sale that fails to write retried without a second discount, a restore that never
overwrites a cart, and the newest transfers listed first. The chain itself: tests/chain."""

from __future__ import annotations

import itertools
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.flush_kit import TillKit, make_till

from posd.db import meta
from posd.db.meta import Meta
from posd.db.payments import Payments, Transfer
from posd.errors import Conflict
from posd.till.catalog import DEMO_PRODUCTS
from posd.till.dsg.amount import UNIT
from posd.till.dsg.price import PriceSource
from posd.till.dsg.service import DsgPayments, DsgSettings, listing
from posd.till.sale import Sale

RATE = 10**14  # DSG wei per cent
PAYOUT = "0x" + "5a" * 20
TOKEN = "0x" + "70" * 20
SHOPPER = "0x" + "ab" * 20
PEN = DEMO_PRODUCTS[0]
_tx = itertools.count(1)


class World:
    """A till with DSG payments; ``transfer`` records a transfer as the watcher does."""

    def __init__(self, path: Path, discount: float = 0.0) -> None:
        self.kit: TillKit = make_till(path, None)
        self.db = Payments(self.kit.store)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.block, self.now = 100, int(time.time())
        self.pay = self.service(discount)

    def service(self, discount: float = 0.0) -> DsgPayments:
        settings = DsgSettings(
            payout_address=PAYOUT,
            till_slot=5,
            discount_percent=discount,
            payment_timeout_s=900,
            currency="EUR",
            till_address=self.kit.register.till,
            token_address=lambda: TOKEN,
            chain_id=lambda: 31337,
        )
        price = PriceSource(RATE, "", 3600, 2, None)
        return DsgPayments(
            self.db, self.kit.register, settings, price, lambda: None,
            lambda kind, data: self.events.append((kind, data)),
        )  # fmt: skip

    def start(self, *products) -> dict[str, Any]:
        for product in products or (PEN,):
            self.kit.register.scan(product.barcode)
        return self.pay.start("owner")

    def transfer(self, value: int, at: int | None = None) -> str:
        """A transfer mined in the next block (block time ``at``, default now)."""
        self.block += 1
        tx = "0x" + f"{next(_tx):064x}"
        t = Transfer(
            tx, 0, self.block, "0x" + secrets.token_hex(32), at or self.now, SHOPPER, value,
            value % UNIT,
        )  # fmt: skip
        self.db.record("k", self.block + 1, [(self.block, t.block_hash)], [t])
        return tx

    def confirm(self, upto: int | None = None, head_time: int | None = None) -> None:
        """The watcher's word: blocks up to ``upto`` (default: all) are deep enough."""
        self.pay.on_chain(head_time or self.now, self.block if upto is None else upto)

    def get(self, pid: str) -> dict[str, Any]:
        return self.pay.get(pid)

    def sales(self) -> list[tuple[int, int]]:
        return [tuple(r) for r in self.kit.store.query("SELECT seq, total FROM sales")]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "till")
    yield w
    w.kit.register.close()
    w.kit.store.close()


def test_a_rest_under_one_percent_of_the_request_is_no_dust(world) -> None:
    p = world.start(*[PEN] * 20)  # a request of ~0.26 DSG
    first = int(p["amount_wei"])
    nearly = first - first // 200 // UNIT * UNIT  # 99.5 %, under the first reference
    world.transfer(nearly)
    world.confirm()
    under = world.get(p["id"])
    assert under["state"] == "underpaid"
    rest = int(under["amount_wei"])
    assert rest * 100 < first  # what is asked now is under 1 % of the original request
    assert world.db.transfers()[0].kind == "counted"
    world.transfer(rest)
    world.confirm()
    done = world.get(p["id"])
    assert done["state"] == "paid" and done["seq"] == 1, done
    assert [t.kind for t in world.db.transfers()] == ["counted", "counted"]
    # dust is still judged too: a transfer under 1 % of what is asked is ignored
    p = world.start()
    world.transfer(int(p["amount_wei"]) // 1000 // UNIT * UNIT + int(p["amount_wei"]) % UNIT)
    world.confirm()
    assert world.db.transfers()[0].kind == "dust" and world.get(p["id"])["state"] == "awaiting"


def _to_refund(world: World, wanted: list[str] | None = None) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in listing(world.db, wanted or [])["payments"] if "refund_wei" in p}


def test_cancelled_while_confirming_keeps_the_money_for_refund(world) -> None:
    p = world.start()
    tx = world.transfer(int(p["amount_wei"]))
    world.confirm(upto=world.block - 1)  # seen, not deep enough
    assert world.get(p["id"])["state"] == "confirming"
    assert world.pay.cancel(p["id"])["state"] == "cancelled"
    assert world.kit.register.sale.pending == ""  # the cart is unlocked
    assert p["id"] not in _to_refund(world)  # not confirmed yet: not owed yet
    world.transfer(12 * UNIT + 5_000_001)  # a later block (an unmatched stray)
    world.confirm()  # now the cancelled payment's transfer is deep enough
    owed = _to_refund(world)[p["id"]]
    assert owed["state"] == "cancelled" and owed["refund_wei"] == p["amount_wei"]
    assert owed["tx_hashes"] == [tx] and owed["payers"] == [SHOPPER]
    # listed by default and on the technician's list, and not as anything else
    assert p["id"] in _to_refund(world, ["late", "overpaid", "unmatched", "refund"])
    assert p["id"] not in _to_refund(world, ["late", "overpaid", "unmatched"])
    assert {t.kind for t in world.db.transfers()} == {"refund", "unmatched"}
    assert any(
        k == "payment_updated" and d["payment"].get("refund_wei") == p["amount_wei"]
        for k, d in world.events
    )


def test_cancelled_after_confirmed_underpayment_is_owed_at_once(world) -> None:
    p = world.start()
    half = int(p["amount_wei"]) // UNIT // 2 * UNIT + int(p["amount_wei"]) % UNIT
    world.transfer(half)
    world.confirm()
    assert world.get(p["id"])["state"] == "underpaid"
    out = world.pay.cancel(p["id"])
    assert out["state"] == "cancelled" and out["refund_wei"] == str(half)


def test_underpaid_then_expired_is_listed_for_refund(world) -> None:
    p = world.start()
    half = int(p["amount_wei"]) // UNIT // 2 * UNIT + int(p["amount_wei"]) % UNIT
    world.transfer(half)
    world.confirm()
    under = world.get(p["id"])
    assert under["state"] == "underpaid"
    world.confirm(head_time=under["expires_at"] + 1)  # the chain's time passed the expiry
    gone = world.get(p["id"])
    assert gone["state"] == "expired" and gone["refund_wei"] == str(half)
    assert world.kit.register.sale.pending == ""
    assert _to_refund(world)[p["id"]]["received_wei"] == str(half)
    # expired with nothing received: nothing to refund, not listed
    q = world.start()
    world.confirm(head_time=q["expires_at"] + 1)
    assert world.get(q["id"])["state"] == "expired" and q["id"] not in _to_refund(world)


def test_a_paid_sale_that_fails_to_write_is_retried_and_discounted_once(tmp_path) -> None:
    world = World(tmp_path / "till", discount=10)
    try:
        p = world.start(PEN, PEN)
        total = world.kit.register.sale.total
        assert p["discount"] == round(total * 0.1)
        marks = Meta(world.kit.store)
        marks.set(meta.NEXT_SEQ, 0)  # the till is not synced: the register refuses the sale
        world.transfer(int(p["amount_wei"]))
        world.confirm()
        failed = world.get(p["id"])
        assert failed["state"] == "paid" and "seq" not in failed
        assert "till_not_synced" in failed["settle_error"] or "sequence" in failed["settle_error"]
        # the cashier sees why the till waits: on the event stream and on the open sale
        assert world.events[-1][1]["payment"]["settle_error"] == failed["settle_error"]
        assert world.pay.current()["settle_error"] == failed["settle_error"]
        with pytest.raises(Conflict) as refused:
            world.pay.cancel_open()
        assert refused.value.code == "already_paid" and "not written" in str(refused.value)
        live = world.kit.register.sale
        assert live.pending == p["id"] and sum(x.total for x in live.lines) == total  # untouched
        assert world.sales() == []

        world.pay.retry_settles()  # too early: backing off
        assert world.sales() == []
        marks.set(meta.NEXT_SEQ, 1)  # synced again
        time.sleep(1.05)
        world.pay.retry_settles()  # what the watcher's loop calls each turn
        done = world.get(p["id"])
        assert done["seq"] == 1 and "settle_error" not in done
        assert world.sales() == [(1, total - p["discount"])]  # the DSG discount once
        proof = world.kit.store.one("SELECT amount FROM proofs WHERE seq = 1")[0]
        assert proof == total - p["discount"]
        assert world.kit.register.sale.pending == "" and world.kit.register.sale.lines == []

        # idempotent: a settle that finds the sale's dsg_paid event writes nothing again
        world.db.update(p["id"], seq=None)
        world.pay.settle(world.db.get(p["id"]))
        assert world.sales() == [(1, total - p["discount"])]
        assert world.get(p["id"])["seq"] == 1
    finally:
        world.kit.register.close()
        world.kit.store.close()


def test_a_sale_whose_write_fails_after_it_left_the_till_is_written_from_its_cart(world) -> None:
    world.kit.register.scan(PEN.barcode)
    world.kit.register.pay("cash", 500)  # sale 1: the register counts on from there ...
    p = world.start(PEN)
    total = world.kit.register.sale.total
    Meta(world.kit.store).set(meta.NEXT_SEQ, 7)  # ... the database disagrees: the write fails
    world.transfer(int(p["amount_wei"]))
    world.confirm()
    failed = world.get(p["id"])
    assert "seq" not in failed and "settle_error" in failed
    assert world.kit.register.sale.lines == []  # the register took the next basket already
    time.sleep(1.05)
    world.pay.retry_settles()
    done = world.get(p["id"])
    assert done["seq"] == 7 and (7, total) in world.sales()


def test_restore_never_overwrites_a_cart(world) -> None:
    p = world.start()
    # a restart: a new register whose first scan came before the restore
    world.kit.register.sale = Sale()
    world.kit.register.scan(DEMO_PRODUCTS[1].barcode)
    again = world.service()
    again.restore()
    sale = world.kit.register.sale
    assert [x.barcode for x in sale.lines] == [DEMO_PRODUCTS[1].barcode] and sale.pending == ""
    assert world.get(p["id"])["state"] == "awaiting"  # still open: paid, it completes its cart
    world.kit.register.sale = Sale()  # an empty till gets the open payment's cart back
    again.restore()
    sale = world.kit.register.sale
    assert sale.pending == p["id"] and [x.barcode for x in sale.lines] == [PEN.barcode]


def test_transfers_are_listed_newest_first(world) -> None:
    txs = [world.transfer(12 * UNIT + 5_000_000 + i) for i in range(1, 4)]
    world.confirm()
    assert [t.tx_hash for t in world.db.transfers(["unmatched"])] == txs[::-1]
    assert [t["tx_hash"] for t in listing(world.db, [])["transfers"]] == txs[::-1]
    assert [t.tx_hash for t in world.db.transfers(limit=1)] == txs[-1:]
