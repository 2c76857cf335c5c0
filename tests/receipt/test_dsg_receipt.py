"""The receipt of a DSG-paid sale names the exact DSG amount and the transaction (DESIGN §10),
even when the amount's 18 decimals happen to pass the Luhn check of a card number; a card
number typed as another tender's reference is still masked."""

from __future__ import annotations

from decimal import Decimal

from drivers.masking import luhn_ok
from posd.config.settings import Config
from posd.receipt.builder import ReceiptBuilder
from posd.receipt.layout import Text, layout
from posd.till.dsg.service import format_wei, short_hash
from posd.till.sale import Payment, Sale

TX = "0x4abb15d149" + "ab" * 23 + "12345678"


def _printed(register, till_keys, seq: int) -> str:
    receipt = ReceiptBuilder(Config(), register.store, till_keys).build(seq)
    return "\n".join(b.text for b in layout(receipt) if isinstance(b, Text))


def test_dsg_amount_that_looks_like_a_card_number_is_printed_whole(register, till_keys) -> None:
    wei = 12_900_000_001_652_375
    while not luhn_ok(f"{wei % 10**18:018d}"):  # the decimals pass Luhn 1 time in 10
        wei += 10**6
    reference = f"{format_wei(wei)}; tx {short_hash(TX)}"
    sale = Sale()
    sale.add(register.catalog.get("4006381333931"), Decimal(1), None, "price")
    sale.payments.append(Payment("dsg", sale.total, reference))  # as a paid request settles
    seq = register.complete(sale).seq
    printed = _printed(register, till_keys, seq)
    assert format_wei(wei) in printed and f"tx {TX[:12]}" in printed

    sale = Sale()
    sale.add(register.catalog.get("4006381333931"), Decimal(1), None, "price")
    sale.pay("card", sale.total)
    sale.payments[-1].reference = "4111 1111 1111 1111"  # as an old database may hold it
    printed = _printed(register, till_keys, register.complete(sale).seq)
    assert "4111 1111 1111 1111" not in printed and "1111" in printed
