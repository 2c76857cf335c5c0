"""The sale: a cart state machine in memory, and the one transaction that completes it.

Scans, voids and tenders touch only memory (a scan must take well under a millisecond);
``Register.complete()`` writes the sale, its lines, its payments, its proof and its print job in
ONE SQLite transaction — a power cut leaves either all of it or none of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from drivers.masking import mask_secrets, shorten
from posd import errors
from posd.config.keyfile import TillKeys
from posd.db import meta
from posd.db.meta import Meta
from posd.db.store import Store
from posd.errors import Conflict
from posd.proof.claimcode import claim_address
from posd.proof.leaf import MAX_AMOUNT
from posd.till import barcode, membership
from posd.till.catalog import Catalog, Product
from posd.till.events import EventBus
from posd.till.salewriter import SaleRecord, SaleWriter

if TYPE_CHECKING:
    from posd.till.identity import SeqGuard

MAX_QTY = 9999
MAX_REFERENCE = 256
TENDERS = ("cash", "card", "voucher", "dsg")  # only cash gives change


class SaleError(Conflict):
    """A cashier action that cannot be done now (409); ``code`` is the API's stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)


class BadInput(errors.BadInput, SaleError):
    """The cashier's input is wrong (400): the error root's BadInput first, for its status."""


class NotFound(errors.NotFound, SaleError):
    """No such product or line (404)."""


@dataclass
class Line:
    barcode: str
    name: str
    qty: Decimal
    unit_price: int
    total: int
    tax_rate: Decimal
    member_discount: int = 0  # taken off ``total`` already (DESIGN §11, posd.till.membership)

    def to_json(self) -> dict[str, Any]:
        return {
            "barcode": self.barcode,
            "name": self.name,
            "qty": _num(self.qty),
            "unit_price": self.unit_price,
            "total": self.total,
            "tax_rate": _num(self.tax_rate),
            "member_discount": self.member_discount,
        }


@dataclass
class Payment:
    tender: str
    amount: int
    reference: str = ""


@dataclass
class Sale:
    """An open cart. Pure state: no I/O."""

    started_at: float = field(default_factory=time.time)
    lines: list[Line] = field(default_factory=list)
    voided: list[Line] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    member: membership.MemberState | None = None  # a membership pass was shown (§11)
    external: tuple[str, str] | None = None  # (external_id, body hash): the shop's POS (§12)
    print_receipt: bool = True
    pending: str = ""  # the open DSG payment's id: the cart is locked until it ends (§10)
    extra_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # in its commit

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def paid(self) -> int:
        return sum(p.amount for p in self.payments)

    @property
    def due(self) -> int:
        return max(self.total - self.paid, 0)

    @property
    def change(self) -> int:
        return max(self.paid - self.total, 0)

    def check_unlocked(self, started: str = "", after: str | None = None) -> None:
        """The cart lock, one check for whatever changes the cart or pays it: 409
        ``payment_pending`` while a DSG payment is open (DESIGN §10), worded ``a DSG payment
        (id) is open`` + ``after`` (default: wait for it or cancel it, and how); with
        ``started`` (what to do instead), 409 ``payment_started`` once a tender is recorded."""
        if pid := self.pending:
            if after is None:
                after = f": wait for it, or cancel it first (POST /api/payments/{pid}/cancel)"
            raise SaleError("payment_pending", f"a DSG payment ({pid}) is open{after}")
        if started and self.payments:
            raise SaleError("payment_started", f"payment has started: {started}")

    def check_payable(self) -> None:
        """409 ``empty_sale``: nothing to pay yet (a tender, or a DSG payment request)."""
        if not self.lines or self.total <= 0:
            raise SaleError("empty_sale", "nothing to pay: scan an item first")

    def add(self, product: Product, qty: Decimal, embedded: int | None, mode: str) -> Line:
        self.check_unlocked("finish or cancel the sale")
        unit, total_qty = product.price_minor, qty
        if embedded is not None and mode == "price":
            unit = embedded
        elif embedded is not None:  # weight in grams; catalog price is per kg
            total_qty = qty * Decimal(embedded) / 1000
        if not 0 <= unit <= MAX_AMOUNT:
            raise _too_large(f"the price of {product.name!r} ({unit})")
        total = int((unit * total_qty).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        if total > MAX_AMOUNT:
            raise _too_large(f"the line's total ({total})")
        if self.total + total > MAX_AMOUNT:
            raise _too_large(f"the sale's total ({self.total + total})")
        line = Line(product.barcode, product.name, total_qty, unit, total, product.tax_rate)
        if self.member is not None:
            membership.discount_line(line, self.member.discount_percent)
        self.lines.append(line)
        return line

    def void(self, index: int) -> Line:
        self.check_unlocked("cancel the sale instead")
        if not 0 <= index < len(self.lines):
            raise NotFound(
                "no_such_line", f"no line {index} (the sale has {len(self.lines)} lines)"
            )
        line = self.lines.pop(index)
        self.voided.append(line)
        return line

    def pay(self, tender: str, amount: int, reference: str = "") -> None:
        if tender not in TENDERS:
            raise BadInput(
                "bad_tender", f"tender must be one of {', '.join(TENDERS)}, got {tender!r}"
            )
        self.check_unlocked()
        if tender == "dsg":  # the shopper's wallet pays it, the chain proves it (§10)
            raise SaleError(
                "dsg_by_hand",
                'a DSG payment cannot be marked paid by hand: pay {"tender": "dsg"} without an '
                "amount shows the shopper a payment QR",
            )
        self.check_payable()
        if amount <= 0:
            raise BadInput("bad_amount", "amount must be a positive number of minor units")
        if amount > MAX_AMOUNT or self.paid + amount > MAX_AMOUNT:
            raise BadInput(
                "bad_amount",
                f"amount {shorten(str(amount), 24)} is too large: the tenders of a sale may "
                f"sum to at most {MAX_AMOUNT} minor units",
            )
        if len(reference) > MAX_REFERENCE:
            raise BadInput(
                "bad_reference",
                f"reference is {len(reference)} characters; at most {MAX_REFERENCE}",
            )
        # a card number typed or scanned as the reference is masked before it is kept (§7)
        reference = mask_secrets(reference, barcode=False)
        if tender != "cash" and amount > self.due:
            raise BadInput(
                "overpaid", f"a {tender} payment cannot exceed the amount due ({self.due})"
            )
        self.payments.append(Payment(tender, amount, reference))

    def to_json(self) -> dict[str, Any]:
        return {
            "state": "paying"
            if self.payments or self.pending
            else ("open" if self.lines else "idle"),
            "lines": [line.to_json() for line in self.lines],
            "total": self.total,
            "paid": self.paid,
            "due": self.due,
            "payments": [asdict(p) for p in self.payments],
            "member": self.member.to_json(self.lines) if self.member else None,
        }


@dataclass(frozen=True)
class Completed:
    seq: int
    total: int
    paid: int
    change: int
    time: int
    claim_address: str
    tenders: tuple[str, ...] = ()  # e.g. ("cash", "card"): a cash sale opens the drawer (§12)


class Register:
    """The till's selling session: one open sale at a time, completed into the database."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        keys: TillKeys,
        bus: EventBus | None = None,
        currency: str = "EUR",
        embedded: str = "price",
        guard: SeqGuard | None = None,
    ) -> None:
        self.store = store
        self.guard = guard  # L/H/C before a sale, and the high-water mark (DESIGN §2)
        self.members: membership.Membership | None = None  # set by the composition root (§11)
        self.catalog = catalog
        self.keys = keys
        self.till = keys.address
        self.bus = bus or EventBus()
        self.currency = currency
        self.embedded = embedded
        self.sale = Sale()
        self.lock = threading.RLock()
        self._next_seq: int | None = None
        self._last_time = 0
        self._last_written: Future | None = None
        self.on_completed: Callable[[Completed], None] | None = None  # after each durable sale
        self.writer = SaleWriter(store.path, self._writer_failed, guard.mark if guard else None)

    # -- cashier actions ------------------------------------------------------------------------
    def scan(
        self, code: str, qty: int | Decimal = 1, symbology: str = "", device: str = "api"
    ) -> Line | None:
        if membership.is_pass(code):  # a membership pass, not a product (DESIGN §11)
            return self.member(code, device)
        try:
            qty = Decimal(qty)
        except (ArithmeticError, TypeError, ValueError):
            raise BadInput("bad_qty", f"qty must be a whole number 1..{MAX_QTY}") from None
        if qty != qty.to_integral_value() or not 1 <= qty <= MAX_QTY:
            raise BadInput("bad_qty", f"qty must be a whole number 1..{MAX_QTY}, got {qty}")
        try:
            parsed = barcode.parse(code, symbology, self.embedded)
        except barcode.BadBarcode as exc:  # the code itself only masked and cut short (§7)
            shown = shorten(code)
            self.bus.publish("bad_barcode", {"code": shown, "message": str(exc), "device": device})
            raise BadInput("bad_barcode", str(exc)) from None
        product = next(filter(None, map(self.catalog.get, parsed.lookup)), None)
        if product is None:
            shown = shorten(parsed.code)
            self.bus.publish("unknown_product", {"code": shown, "device": device})
            raise NotFound("unknown_product", f"unknown product {shown}")
        with self.lock:
            line = self.sale.add(product, qty, parsed.embedded, self.embedded)
            self.bus.publish(
                "line_added",
                {"line": line.to_json(), "sale": self.sale.to_json(), "device": device},
            )
        return line

    def member(self, text: str, device: str = "api") -> None:
        """A membership pass, posted or scanned: the member discount (posd.till.membership)."""
        membership.take_pass(self, text, device)

    def void_line(self, index: int) -> None:
        with self.lock:
            line = self.sale.void(index)
            self.bus.publish("line_voided", {"line": line.to_json(), "sale": self.sale.to_json()})

    def cancel(self) -> None:
        with self.lock:
            self.sale.check_unlocked()
            old, self.sale = self.sale, Sale()
        if old.lines or old.voided:
            self.store.log_event("sale_cancelled", {"total": old.total, "lines": len(old.lines)})
        self.bus.publish("sale_cancelled", {"sale": self.sale.to_json()})

    def pay(
        self, tender: str, amount: int, reference: str = "", wait: bool = True
    ) -> Completed | Future | None:
        """Record a tender; when the sale is paid in full, complete it and start a new one.

        Returns None while money is still due, else the Completed sale once it is durable —
        or, with ``wait=False``, a future of it (the register takes the next basket meanwhile).
        """
        with self.lock:
            self.sale.pay(tender, amount, reference)
            if self.sale.paid < self.sale.total:
                self.bus.publish("payment", {"sale": self.sale.to_json()})
                return None
            try:
                future = self.submit(self.sale)
            except BaseException:
                self.sale.payments.pop()  # nothing was written: the tender can be retried
                raise
            self.sale = Sale()
        future.add_done_callback(self._announce)
        return future if not wait else future.result()

    def _announce(self, future: Future) -> None:
        if future.exception() is None:
            done = future.result()
            self.bus.publish(
                "sale_completed", {"seq": done.seq, "total": done.total, "change": done.change}
            )
            if self.on_completed is not None:  # e.g. the cash drawer (§12): never fails the sale
                self.on_completed(done)
        else:
            self.bus.publish("sale_failed", {"message": str(future.exception())})

    # -- completion -----------------------------------------------------------------------------
    def complete(self, sale: Sale) -> Completed:
        """Write sale, lines, payments, proof and print job atomically, under the next seq."""
        return self.submit(sale).result()

    def submit(self, sale: Sale) -> Future:
        """Give ``sale`` the next seq and its claim address; the writer makes it durable."""
        with self.lock:
            idle = self._last_written is None or self._last_written.done()
            if self.guard is not None and idle and self.guard.due():
                self._next_seq = None  # the chain was read since start: compare again
            if self._next_seq is None:
                self._load_sequence()
            seq, now = self._next_seq, max(int(time.time()), self._last_time)
            claim = claim_address(self.keys.claim_seed, self.till, seq)
            tenders = tuple(p.tender for p in sale.payments)
            done = Completed(seq, sale.total, sale.paid, sale.change, now, claim, tenders)
            record = SaleRecord(
                seq=seq,
                till=self.till,
                time=now,
                claim_address=claim,
                started_at=sale.started_at,
                currency=self.currency,
                total=sale.total,
                paid=sale.paid,
                change=sale.change,
                lines=[
                    (ln.barcode, ln.name, str(ln.qty), ln.unit_price, ln.total, str(ln.tax_rate))
                    for ln in sale.lines
                ],
                payments=[(p.tender, p.amount, p.reference) for p in sale.payments],
                events=(
                    [("lines_voided", {"lines": [v.to_json() for v in sale.voided]})]
                    if sale.voided
                    else []
                )
                + membership.sale_events(sale)
                + sale.extra_events,
                seed_id=self.keys.seed_id,
                external=sale.external,
                print_receipt=sale.print_receipt,
            )
            written = self._last_written = self.writer.submit(record)
            self._next_seq, self._last_time = seq + 1, now
        result: Future = Future()
        written.add_done_callback(
            lambda f: (
                result.set_exception(f.exception()) if f.exception() else result.set_result(done)
            )
        )
        return result

    def settle(self, sale: Sale) -> Future:
        """Complete ``sale``, paid outside the cashier's tenders (a DSG payment, §10): when it
        is the open sale, the register takes the next basket. A future of the Completed sale."""
        with self.lock:
            future = self.submit(sale)
            if self.sale is sale or (sale.pending and self.sale.pending == sale.pending):
                self.sale = Sale()
        future.add_done_callback(self._announce)
        return future

    def _load_sequence(self) -> None:
        """Where seqs continue: only from a database bound to this till (DESIGN §2)."""
        if self.guard is not None:
            self.keys = self.guard.before_sale(self.keys)
        marks = Meta(self.store).many(meta.TILL_ADDRESS, meta.NEXT_SEQ, meta.LAST_TIME)
        if marks[meta.TILL_ADDRESS.name] != self.till or not marks[meta.NEXT_SEQ.name]:
            raise SaleError(
                "till_not_synced",
                "this till has not read its next sequence number from the chain yet; "
                "connect it and run `posd chain status`, or create a new till key",
            )
        self._next_seq = marks[meta.NEXT_SEQ.name]
        self._last_time = marks[meta.LAST_TIME.name]

    def _writer_failed(self) -> None:
        with self.lock:
            self._next_seq = None  # read again from the database before the next sale

    def close(self) -> None:
        self.writer.close()


def _too_large(what: str) -> BadInput:
    return BadInput(
        "amount_too_large", f"{what} would pass the largest amount, {MAX_AMOUNT} minor units"
    )


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
