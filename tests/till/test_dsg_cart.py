"""The cart kept with a DSG payment request (DESIGN §10): what a restart puts back on the till is
the same sale — lines, earlier tenders, voided lines and the member of a membership pass (§11)."""

from __future__ import annotations

import json
from decimal import Decimal

from posd.till import membership
from posd.till.catalog import DEMO_PRODUCTS
from posd.till.dsg.cart import cart_json, sale_from
from posd.till.membership import MemberState
from posd.till.sale import Sale

MEMBER = MemberState(
    address="0x00000000000000000000000000000000000000aA",
    tier=2,
    discount_percent=Decimal("5"),
    source="chain",
    message="",
    pass_id="ab" * 32,
    valid_until=1_900_000_000,
)


def _sale() -> Sale:
    sale = Sale()
    membership.apply(sale, MEMBER)
    sale.add(DEMO_PRODUCTS[0], Decimal(3), None, "price")  # 387, 5 % off: 19
    sale.add(DEMO_PRODUCTS[4], Decimal(1), None, "price")  # 649, 5 % off: 32
    sale.add(DEMO_PRODUCTS[1], Decimal(1), None, "price")
    sale.void(2)
    sale.pay("cash", 100)
    return sale


def test_a_restored_cart_is_the_same_sale_with_its_member() -> None:
    sale = _sale()
    stored = json.loads(json.dumps(cart_json(sale)))  # as it goes through SQLite
    back = sale_from(stored, "pay_0123456789abcdef")
    assert back.pending == "pay_0123456789abcdef"
    assert back.to_json() == sale.to_json()  # lines, totals, tenders, and the member object
    assert back.to_json()["member"] == {
        "address": MEMBER.address,
        "tier": 2,
        "discount_percent": 5,
        "discount": 19 + 32,
        "source": "chain",
        "message": "",
        "valid_until": 1_900_000_000,
    }
    assert back.member == MEMBER  # the pass id too: showing the same pass again is no reuse
    # the completed sale records the member like a sale that never waited
    assert membership.sale_events(back) == membership.sale_events(sale)
    assert [v.barcode for v in back.voided] == [DEMO_PRODUCTS[1].barcode]


def test_a_cart_without_member_and_an_older_stored_member_without_pass_id() -> None:
    sale = Sale()
    sale.add(DEMO_PRODUCTS[0], Decimal(1), None, "price")
    back = sale_from(json.loads(json.dumps(cart_json(sale))), "pay_0123456789abcdef")
    assert back.member is None and back.to_json()["member"] is None
    old = cart_json(_sale())
    del old["member"]["pass_id"]  # stored before the pass id was kept
    restored = sale_from(old, "pay_0123456789abcdef")
    assert restored.member is not None and restored.member.tier == 2
    assert restored.to_json()["member"] == _sale().to_json()["member"]
