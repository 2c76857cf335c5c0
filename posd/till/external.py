"""Sales rung up on the shop's own POS (DESIGN §12): the POS sells, posd proves and prints.

The POS sends a complete sale. It becomes a :class:`~posd.till.sale.Sale` object of its own and
goes through the register's one completion (``Register.submit``: the next seq, its proof and its
receipt job in ONE transaction, now with the POS's ``external_id`` beside them) — the cashier's
open cart is a different object and is never touched, whatever state it is in.

Idempotent by ``external_id``: the same request again finds the stored sale and answers the
same (a retry after a lost answer); a different request under the same id is 409
``external_id_conflict``. Requests are serialised here, so two copies of one request racing
each other still make one sale. Payments must sum to the total exactly: the POS has already
handled any cash change, so ``change`` is always 0.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from posd.db.external_sales import ExternalSales
from posd.db.outbox import Outbox
from posd.db.sales import Sales
from posd.db.store import Store
from posd.errors import BadInput, Conflict
from posd.proof.leaf import MAX_AMOUNT
from posd.till.sale import Completed, Line, Payment, Register, Sale

MAX_EXTERNAL_ID = 64
MAX_LINES = 500
MAX_PAYMENTS = 20
TENDERS = ("cash", "card", "voucher")  # dsg is paid at the till, never through the POS


class PaymentMismatch(BadInput):
    code = "payment_mismatch"


class ExternalIdConflict(Conflict):
    code = "external_id_conflict"


@dataclass(frozen=True)
class ExternalLine:
    name: str
    qty: Decimal
    unit_price: int
    tax_rate: Decimal


@dataclass(frozen=True)
class ExternalOrder:
    """A checked ``POST /api/sales`` body (the API checks types and bounds field by field)."""

    external_id: str
    lines: tuple[ExternalLine, ...]
    payments: tuple[tuple[str, int], ...]  # (tender, amount)
    print: bool = True
    open_drawer: bool = False

    def digest(self) -> str:
        """A hash of what the request asks for: equal requests (2 and 2.0 alike) hash equal."""
        canonical = {
            "external_id": self.external_id,
            "lines": [
                [ln.name, _canon(ln.qty), ln.unit_price, _canon(ln.tax_rate)] for ln in self.lines
            ],
            "payments": [list(p) for p in self.payments],
            "print": self.print,
            "open_drawer": self.open_drawer,
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()


def build_sale(order: ExternalOrder, digest: str) -> Sale:
    """The order as a Sale: line totals rounded half-up; payments must sum to the total."""
    sale = Sale(external=(order.external_id, digest), print_receipt=order.print)
    for i, item in enumerate(order.lines):
        total = int((item.unit_price * item.qty).quantize(Decimal(1), ROUND_HALF_UP))
        if total > MAX_AMOUNT or sale.total + total > MAX_AMOUNT:
            raise BadInput(
                f"lines[{i}]: the sale's total would pass the largest amount, {MAX_AMOUNT}",
                "amount_too_large",
            )
        sale.lines.append(Line("", item.name, item.qty, item.unit_price, total, item.tax_rate))
    if sale.total <= 0:
        raise BadInput("lines: the sale's total is 0; nothing to prove", "empty_sale")
    paid = sum(amount for _, amount in order.payments)
    if paid != sale.total:
        raise PaymentMismatch(
            f"payments sum to {paid} but the lines total {sale.total}: they must be equal "
            "(the POS gives any cash change itself)"
        )
    sale.payments = [Payment(tender, amount) for tender, amount in order.payments]
    return sale


class ExternalRegister:
    """Records POS sales through the till's register, once per ``external_id``."""

    def __init__(self, register: Register, store: Store) -> None:
        self.register = register
        self.store = store
        self.rows = ExternalSales(store)
        self._lock = threading.Lock()

    def record(self, order: ExternalOrder) -> tuple[Completed, bool]:
        """The sale for ``order`` and whether it is new: made now (durable before this
        returns), or found again for a retry (``False``)."""
        digest = order.digest()
        with self._lock:
            row = self.rows.get(order.external_id)
            if row is not None:
                if row.body_hash != digest:
                    raise ExternalIdConflict(
                        f"external_id {order.external_id!r} was used for a different sale "
                        f"(seq {row.seq}); send a new external_id for a new sale"
                    )
                return self._stored(row.seq), False
            sale = build_sale(order, digest)
            return self.register.submit(sale).result(), True

    def _stored(self, seq: int) -> Completed:
        sale, proof = Sales(self.store).get(seq), Outbox(self.store).get(seq)
        if sale is None or proof is None:  # the row's foreign key makes this impossible
            raise Conflict(f"sale {seq} of this external_id is missing", "external_id_conflict")
        return Completed(seq, sale.total, sale.total, sale.change, proof.time, proof.claim_address)


def _canon(value: Decimal) -> str:
    return format(value.normalize(), "f")  # 2, 2.0 and 2.000 alike; never "2E+1"
