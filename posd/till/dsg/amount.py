"""The numbers of a DSG payment request (DESIGN §10, §7 "Discounts"): pure functions.

``amount_wei`` is the discounted due at the rate, rounded down to a multiple of 10^9 wei, plus a
reference ``r = till_slot × 10^6 + n`` in its lowest nine digits: a transfer whose value ≡ r
(mod 10^9) belongs to the request, so tills of one store can share a payout address.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from decimal import ROUND_HALF_UP, Decimal

from eth_utils import to_checksum_address

UNIT = 10**9  # the reference lives below this
SLOT_UNIT = 10**6  # r = slot × 10^6 + n, 1 ≤ n < 10^6
DUST_PER_MILLE = 10  # a transfer under 1 % of the request is dust


def reference(slot: int, n: int) -> int:
    if not 0 <= slot <= 999 or not 1 <= n < SLOT_UNIT:
        raise ValueError(f"slot {slot} must be 0..999 and n {n} 1..999999")
    return slot * SLOT_UNIT + n


def slot_of(value_wei: int) -> int:
    """The till slot a transfer's value names."""
    return (value_wei % UNIT) // SLOT_UNIT


def reference_of(value_wei: int) -> int:
    return value_wei % UNIT


def new_reference(slot: int, used: Collection[int], draw=secrets.randbelow) -> int:
    """A random reference in ``slot`` not in ``used`` (this till's open and recent requests)."""
    for _ in range(1000):
        r = reference(slot, 1 + draw(SLOT_UNIT - 1))
        if r not in used:
            return r
    raise RuntimeError(f"no free reference in slot {slot} after 1000 draws")


def wei_for(due_minor: int, rate_num: int, rate_den: int = 1) -> int:
    """``due × rate`` DSG wei rounded down to a multiple of 10^9 (rate = num / den wei per minor)."""
    return (due_minor * rate_num // rate_den) // UNIT * UNIT


def amount_wei(due_minor: int, rate_num: int, slot: int, n: int, rate_den: int = 1) -> int:
    return wei_for(due_minor, rate_num, rate_den) + reference(slot, n)


def rest_wei(missing_wei: int, ref: int) -> int:
    """What to ask for the rest of a request: the missing wei rounded UP to 10^9, plus ``ref``."""
    return -(-missing_wei // UNIT) * UNIT + ref


def is_dust(value_wei: int, request_wei: int) -> bool:
    return value_wei * 1000 < request_wei * DUST_PER_MILLE


def payment_uri(token: str, chain_id: int, payout: str, amount: int) -> str:
    """The EIP-681 URI of an ERC-20 transfer, exactly as DESIGN §10 writes it."""
    return (
        f"ethereum:{to_checksum_address(token)}@{chain_id}/transfer"
        f"?address={to_checksum_address(payout)}&uint256={amount}"
    )


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line_discounts(totals: Sequence[int], due: int, percent: float | Decimal) -> list[int]:
    """The DSG discount of each line, in minor units, on the part of the sale paid in DSG.

    Percent per line, rounded half-up (DESIGN §7): a line's share of ``due`` (the part left to
    pay when DSG is chosen; other tenders may have paid the rest) times ``percent``.
    """
    pct = Decimal(str(percent))
    total = sum(totals)
    if not pct or total <= 0 or due <= 0:
        return [0] * len(totals)
    share = Decimal(min(due, total)) / Decimal(total)
    return [_half_up(Decimal(t) * share * pct / 100) for t in totals]
