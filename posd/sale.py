"""The sale: a cart state machine in memory, and the one transaction that completes it.

Scans, voids and tenders touch only memory (a scan must take well under a millisecond);
``Register.complete()`` writes the sale, its lines, its payments, its proof and its print job in
ONE SQLite transaction — a power cut leaves either all of it or none of it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from posd import barcode
from posd.catalog import Catalog, Product
from posd.claimcode import claim_address
from posd.events import EventBus
from posd.keys import TillKeys
from posd.salewriter import SaleRecord, SaleWriter
from posd.store import Store

MAX_QTY = 9999
TENDERS = ("cash", "card", "voucher", "dsg")  # only cash gives change


class SaleError(Exception):
    """A cashier action that cannot be done now; ``code`` is the API's stable error code."""

    status = 409

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BadInput(SaleError):
    status = 400


class NotFound(SaleError):
    status = 404


@dataclass
class Line:
    barcode: str
    name: str
    qty: Decimal
    unit_price: int
    total: int
    tax_rate: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "barcode": self.barcode,
            "name": self.name,
            "qty": _num(self.qty),
            "unit_price": self.unit_price,
            "total": self.total,
            "tax_rate": _num(self.tax_rate),
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

    def add(self, product: Product, qty: Decimal, embedded: int | None, mode: str) -> Line:
        if self.payments:
            raise SaleError("payment_started", "payment has started: finish or cancel the sale")
        unit, total_qty = product.price_minor, qty
        if embedded is not None and mode == "price":
            unit = embedded
        elif embedded is not None:  # weight in grams; catalog price is per kg
            total_qty = qty * Decimal(embedded) / 1000
        total = int((unit * total_qty).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        line = Line(product.barcode, product.name, total_qty, unit, total, product.tax_rate)
        self.lines.append(line)
        return line

    def void(self, index: int) -> Line:
        if self.payments:
            raise SaleError("payment_started", "payment has started: cancel the sale instead")
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
        if not self.lines or self.total <= 0:
            raise SaleError("empty_sale", "nothing to pay: scan an item first")
        if amount <= 0:
            raise BadInput("bad_amount", "amount must be a positive number of minor units")
        if tender != "cash" and amount > self.due:
            raise BadInput(
                "overpaid", f"a {tender} payment cannot exceed the amount due ({self.due})"
            )
        self.payments.append(Payment(tender, amount, reference))

    def to_json(self) -> dict[str, Any]:
        return {
            "state": "paying" if self.payments else ("open" if self.lines else "idle"),
            "lines": [line.to_json() for line in self.lines],
            "total": self.total,
            "paid": self.paid,
            "due": self.due,
            "payments": [asdict(p) for p in self.payments],
        }


@dataclass(frozen=True)
class Completed:
    seq: int
    total: int
    paid: int
    change: int
    time: int
    claim_address: str


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
    ) -> None:
        self.store = store
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
        self.writer = SaleWriter(store.path, self._writer_failed)

    # -- cashier actions ------------------------------------------------------------------------
    def scan(
        self, code: str, qty: int | Decimal = 1, symbology: str = "", device: str = "api"
    ) -> Line:
        try:
            qty = Decimal(qty)
        except (ArithmeticError, TypeError, ValueError):
            raise BadInput("bad_qty", f"qty must be a whole number 1..{MAX_QTY}") from None
        if qty != qty.to_integral_value() or not 1 <= qty <= MAX_QTY:
            raise BadInput("bad_qty", f"qty must be a whole number 1..{MAX_QTY}, got {qty}")
        try:
            parsed = barcode.parse(code, symbology, self.embedded)
        except barcode.BadBarcode as exc:
            self.bus.publish("bad_barcode", {"code": code, "message": str(exc), "device": device})
            raise BadInput("bad_barcode", str(exc)) from None
        product = next(filter(None, map(self.catalog.get, parsed.lookup)), None)
        if product is None:
            self.bus.publish("unknown_product", {"code": parsed.code, "device": device})
            raise NotFound("unknown_product", f"unknown product {parsed.code}")
        with self.lock:
            line = self.sale.add(product, qty, parsed.embedded, self.embedded)
            self.bus.publish("line_added", {"line": line.to_json(), "sale": self.sale.to_json()})
        return line

    def void_line(self, index: int) -> None:
        with self.lock:
            line = self.sale.void(index)
            self.bus.publish("line_voided", {"line": line.to_json(), "sale": self.sale.to_json()})

    def cancel(self) -> None:
        with self.lock:
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
        else:
            self.bus.publish("sale_failed", {"message": str(future.exception())})

    # -- completion -----------------------------------------------------------------------------
    def complete(self, sale: Sale) -> Completed:
        """Write sale, lines, payments, proof and print job atomically, under the next seq."""
        return self.submit(sale).result()

    def submit(self, sale: Sale) -> Future:
        """Give ``sale`` the next seq and its claim address; the writer makes it durable."""
        with self.lock:
            if self._next_seq is None:
                self._load_sequence()
            seq, now = self._next_seq, max(int(time.time()), self._last_time)
            claim = claim_address(self.keys.claim_seed, self.till, seq)
            done = Completed(seq, sale.total, sale.paid, sale.change, now, claim)
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
                events=[("lines_voided", {"lines": [v.to_json() for v in sale.voided]})]
                if sale.voided
                else [],
            )
            written = self.writer.submit(record)
            self._next_seq, self._last_time = seq + 1, now
        result: Future = Future()
        written.add_done_callback(
            lambda f: (
                result.set_exception(f.exception()) if f.exception() else result.set_result(done)
            )
        )
        return result

    def _load_sequence(self) -> None:
        """Where seqs continue: only from a database bound to this till (DESIGN §2)."""
        meta = dict(
            self.store.query(
                "SELECT key, value FROM meta WHERE key IN ('next_seq', 'last_time', 'till_address')"
            )
        )
        if meta.get("till_address") != self.till or "next_seq" not in meta:
            raise SaleError(
                "till_not_synced",
                "this till has not read its next sequence number from the chain yet; "
                "connect it and run `posd chain status`, or create a new till key",
            )
        self._next_seq = int(meta["next_seq"])
        self._last_time = int(meta.get("last_time", 0))

    def _writer_failed(self) -> None:
        with self.lock:
            self._next_seq = None  # read again from the database before the next sale

    def close(self) -> None:
        self.writer.close()


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
