"""Receipt data, money and tax, and the one layout both renderers walk."""

from __future__ import annotations

from decimal import Decimal

import pytest

from posd.proof.claimcode import ClaimPayload, claim_key
from posd.receipt.escpos import width_for_profile
from posd.receipt.layout import (
    Cut,
    Qr,
    Receipt,
    ReceiptLine,
    Rule,
    Tender,
    Text,
    format_dsg,
    format_money,
    layout,
    tax_breakdown,
)

TILL = "0x" + "22" * 20
BASE_URL = "https://claim.example/c"


def make_payload(seq: int = 7, amount: int = 1234, currency: str = "EUR") -> ClaimPayload:
    key = claim_key(b"\x01" * 32, TILL, seq)
    return ClaimPayload(31337, "0x" + "11" * 20, TILL, seq, amount, currency, 1700000000, key)


def make_receipt(width: int = 42, currency: str = "EUR", **changes: object) -> Receipt:
    """A receipt with accents, a weighed item, two tax rates, two tenders and change."""
    payload = make_payload(currency=currency)
    receipt = Receipt(
        store_name="Café Zürich Bäckerei",
        store_address="Hauptstraße 1\n8001 Zürich",
        tax_id="DE123456789",
        currency=currency,
        till_name="Till 1",
        till_address=TILL,
        seq=7,
        time=1700000000,
        lines=[
            ReceiptLine("Crème brûlée", 2, 350, 700, "19"),
            ReceiptLine("Äpfel lose", Decimal("0.532"), 299, 159, Decimal("7")),
            ReceiptLine("Brötchen", 1, 375, 375, 7),
        ],
        tenders=[Tender("cash", 2000), Tender("card", 100, "412345******1234")],
        total=1234,
        change=866,
        reward_estimate=12_345_678_900_000_000_000,
        claim_url=payload.url(BASE_URL),
        width=width,
        footer="Thank you for shopping with us!",
    )
    for key, value in changes.items():
        setattr(receipt, key, value)
    return receipt


def texts(blocks: list) -> list[str]:
    return [b.text for b in blocks if isinstance(b, Text)]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (1234, "EUR", "€12.34"),
        (5, "GBP", "£0.05"),
        (-250, "USD", "-$2.50"),
        (100000, "CHF", "CHF 1000.00"),
        (1234, "JPY", "¥1234"),
        (1234, "SEK", "SEK 12.34"),
        (0, "eur", "€0.00"),
    ],
)
def test_format_money(amount: int, currency: str, expected: str) -> None:
    assert format_money(amount, currency) == expected


def test_format_dsg_rounds_down() -> None:
    assert format_dsg(12_345_678_900_000_000_000) == "12.34 DSG"
    assert format_dsg(0) == "0.00 DSG"
    assert format_dsg(10**16 - 1) == "0.00 DSG"


def test_tax_breakdown_is_inclusive_and_half_up_per_group() -> None:
    groups = tax_breakdown(make_receipt().lines)
    assert [(g.letter, str(g.rate), g.gross, g.tax, g.net) for g in groups] == [
        ("A", "19", 700, 112, 588),  # 700 × 19/119 = 111.76
        ("B", "7", 534, 35, 499),  # (159 + 375) × 7/107 = 34.93: rounded per group, not per line
    ]
    # exactly half a minor unit rounds up
    half = tax_breakdown([ReceiptLine("x", 1, 3, 3, "100")])
    assert half[0].tax == 2
    zero = tax_breakdown([ReceiptLine("x", 1, 3, 3, "0"), ReceiptLine("y", 1, 5, 5, "0.0")])
    assert len(zero) == 1 and zero[0].tax == 0 and zero[0].gross == 8


@pytest.mark.parametrize("width", [32, 42, 48])
def test_layout_never_overflows(width: int) -> None:
    long_name = "Extra long product name with many words and a " + "Verylongunbrokenword" * 4
    receipt = make_receipt(
        width,
        currency="JPY",
        store_name="A store name that is far too long for one line of double-width text",
        store_address="Very long street name " * 5,
        lines=[
            ReceiptLine(long_name, 3, 10**11, 3 * 10**11, "10"),
            ReceiptLine("\x1b@evil\x1d(k name", 1, 1, 1, "8"),
        ],
        tenders=[Tender("gift_card", 10**12, "REF" * 30)],
        total=3 * 10**11 + 1,
        change=10**12,
        footer="Footer " * 30,
    )
    blocks = layout(receipt)
    for block in blocks:
        if isinstance(block, Text):
            assert len(block.text) * (2 if block.double else 1) <= width, block
            assert all(ord(c) >= 0x20 for c in block.text), "control characters must not pass"
    body = "\n".join(texts(blocks))
    assert "¥300000000000" in body and "Gift Card" in body
    assert isinstance(blocks[-1], Cut)


def test_layout_order_and_content() -> None:
    receipt = make_receipt()
    blocks = layout(receipt)
    body = texts(blocks)
    joined = "\n".join(body)
    assert "COPY" not in joined and "REFUNDED" not in joined
    assert body[0] == "Café Zürich Bäckerei" and blocks[0].double and blocks[0].bold
    assert "Tax ID: DE123456789" in body
    assert any(t.startswith("Crème brûlée") and t.endswith("€7.00 A") for t in body)
    assert "  2 x €3.50" in body and "  0.532 x €2.99" in body
    assert not any(t.startswith("  1 x") for t in body)  # quantity 1 needs no second line
    from_db = make_receipt(lines=[ReceiptLine("Brötchen", Decimal("1"), 375, 375, Decimal("7"))])
    assert not any(t.startswith("  1 x") for t in texts(layout(from_db)))
    two = make_receipt(lines=[ReceiptLine("Brötchen", Decimal("2.000"), 375, 750, "7")])
    assert "  2 x €3.75" in texts(layout(two))
    total = next(b for b in blocks if isinstance(b, Text) and b.text.startswith("TOTAL"))
    assert total.double and total.text.endswith("€12.34")
    assert any(t.startswith("Change") and t.endswith("€8.66") for t in body)
    assert any(
        t.startswith("A 19%") and t.split()[-3:] == ["€5.88", "€1.12", "€7.00"] for t in body
    )
    assert TILL in joined and "No. 7" in joined
    assert any(t.endswith("12.34 DSG") for t in body)
    qrs = [b for b in blocks if isinstance(b, Qr)]
    assert [q.data for q in qrs] == [receipt.claim_url]
    after_qr = body[body.index("Scan to claim your DSG") - 1]
    assert after_qr.endswith("12.34 DSG")
    assert any(isinstance(b, Rule) for b in blocks)
    assert ClaimPayload.from_url(qrs[0].data) == make_payload()


def test_copy_is_marked_prominently() -> None:
    blocks = layout(make_receipt(copy=True))
    banners = [b for b in blocks if isinstance(b, Text) and "COPY" in b.text]
    assert len(banners) == 2 and banners[0] is blocks[0]
    assert all(b.double and b.bold and b.align == "center" for b in banners)
    assert any(isinstance(b, Qr) for b in blocks)  # a reprint derives the claim key again


def test_refunded_receipt_has_no_claim_code() -> None:
    blocks = layout(make_receipt(refunded=True, copy=True))
    assert not any(isinstance(b, Qr) for b in blocks)
    joined = "\n".join(texts(blocks))
    assert "REFUNDED" in joined and "no DSG to claim" in joined


def test_reward_estimate_as_text_and_no_url() -> None:
    blocks = layout(make_receipt(reward_estimate="about 3 DSG", claim_url=""))
    assert not any(isinstance(b, Qr) for b in blocks)
    assert any(t.endswith("about 3 DSG") for t in texts(blocks))


def test_claim_url_stays_out_of_repr() -> None:
    receipt = make_receipt()
    fragment = receipt.claim_url.split("#")[1]
    assert fragment not in repr(receipt)
    assert fragment not in repr(layout(receipt))


def test_bad_width_is_refused() -> None:
    with pytest.raises(ValueError):
        layout(make_receipt(width=10))


def test_width_for_profile() -> None:
    assert width_for_profile("POS-5890") == 32
    assert width_for_profile("TM-T88III") == 42
    assert width_for_profile("TM-T20II") == 48
    assert width_for_profile(None) == 42
    assert width_for_profile("no such printer") == 42
