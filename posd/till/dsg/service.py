"""DSG payment requests at the till (DESIGN §10): start, follow, cancel, complete the sale.

The cashier starts a request for the whole remaining due; the cart locks. The watcher
(:mod:`posd.chain.watch.payments`) records what the chain shows and calls :meth:`on_chain`,
which classifies each new transfer, lets :func:`posd.till.dsg.state.decide` name each open
request's state and, once paid, completes the sale through the register like any other tender.
Every change is published as ``payment_updated`` with the request's public object (never a
claim URL). Requests and their carts live in SQLite (:mod:`posd.db.payments`): after a restart
the same request is open on the same cart.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils import is_address, to_checksum_address

from posd.db.payments import Payments
from posd.errors import Conflict, NotFound
from posd.receipt.layout import format_wei
from posd.till.dsg import amount as amt
from posd.till.dsg.cart import cart_json, sale_from
from posd.till.dsg.price import DsgUnavailable, PriceSource
from posd.till.dsg.state import COUNTED, OPEN, REFUND, Counted, PayState, classify, decide, move
from posd.till.sale import Completed, Payment, Register, Sale, SaleError

log = logging.getLogger("posd.till.dsg")
DAY = 86_400
SETTLE_TIMEOUT_S = 10  # then the watcher's loop tries again (a timed-out write is awaited)
RETRY_MAX_S = 30.0
ENDED = (PayState.CANCELLED.value, PayState.EXPIRED.value)  # without a sale


class NoSuchPayment(NotFound):
    code = "no_such_payment"


@dataclass
class DsgSettings:
    """What the requests need to know: the [dsg] section and where the token lives."""

    payout_address: str
    till_slot: int
    discount_percent: float
    payment_timeout_s: int
    currency: str
    till_address: str
    token_address: Callable[[], str]
    chain_id: Callable[[], int | None]


def short_hash(tx: str) -> str:
    """A transaction hash named on paper: 64 hex digits in a row would be masked as a key."""
    return f"{tx[:12]}…{tx[-8:]}"


class DsgPayments:
    """The till's DSG requests; one at a time is the register's open sale."""

    def __init__(
        self,
        payments: Payments,
        register: Register,
        settings: DsgSettings,
        price: PriceSource,
        link_problem: Callable[[], str | None],
        publish: Callable[[str, dict[str, Any]], Any],
        on_settled: Callable[[Completed], None] = lambda done: None,
        claim_url: Callable[[int], str] = lambda seq: "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.register, self.cfg, self.price = payments, register, settings, price
        self.link_problem, self.publish = link_problem, publish
        self.on_settled, self.claim_url, self.clock = on_settled, claim_url, clock
        # the watcher's refresh vs the cashier: always taken before the register's lock
        self._lock = threading.RLock()
        self._current: dict[str, Any] | None = None
        self._confirmed_upto = -1  # the watcher's last word: blocks at most this deep enough
        self._settling: dict[str, Future] = {}  # a paid request's sale being written
        self._failures: dict[str, dict[str, Any]] = {}  # why a paid request's sale is not written

    # -- the cashier ----------------------------------------------------------------------------
    def check_available(self) -> None:
        """409 ``dsg_unavailable`` naming what is missing; the price is checked by ``start``."""
        c = self.cfg
        if not c.payout_address:
            raise DsgUnavailable("no payout address: set [dsg] payout_address")
        if not is_address(c.payout_address):
            raise DsgUnavailable(f"[dsg] payout_address {c.payout_address!r} is not an address")
        if c.payout_address.lower() == c.till_address.lower():
            raise DsgUnavailable("[dsg] payout_address is the till's own address")
        if not c.token_address():
            raise DsgUnavailable("no DSG token address: set [chain] token_address")
        if not c.chain_id():
            raise DsgUnavailable("the chain id is unknown: no chain link yet")
        problem = self.link_problem()
        if problem:
            raise DsgUnavailable(f"no chain link: {problem}")

    def start(self, owner: str) -> dict[str, Any]:
        """A request for the open sale's whole remaining due (202 in the API)."""
        self.check_available()
        rate = self.price.current()
        c = self.cfg
        with self._lock, self.register.lock:
            sale = self.register.sale
            sale.check_unlocked(after="")
            sale.check_payable()
            if sale.due <= 0:
                raise SaleError("nothing_due", "the sale is paid already")
            discounts = amt.line_discounts(
                [x.total for x in sale.lines], sale.due, c.discount_percent
            )
            due = sale.due - sum(discounts)
            base = amt.wei_for(due, rate.num, rate.den)
            if base <= 0:
                raise DsgUnavailable(f"{due} minor units at rate {rate.text()} is under 1 gwei")
            now = self.clock()
            ref = amt.new_reference(c.till_slot, self.db.used_references(now - DAY))
            request = base + ref
            cart = cart_json(sale)
            cart["dsg_discounts"] = discounts
            row = {
                "id": "pay_" + secrets.token_hex(8),
                "state": PayState.AWAITING.value,
                "owner": owner,
                "expires_at": int(now) + c.payment_timeout_s,
                "token": to_checksum_address(c.token_address()),
                "chain_id": int(c.chain_id() or 0),
                "payout": to_checksum_address(c.payout_address),
                "till_slot": c.till_slot,
                "currency": c.currency,
                "due": due,
                "discount": sum(discounts),
                "rate": rate.text(),
                "request_wei": request,
                "required_wei": request,
                "amount_wei": request,
                "reference": ref,
                "cart": cart,
            }
            self.db.create(row)
            sale.pending = row["id"]
        log.info("DSG payment %s: %s minor units, %s wei", row["id"], due, request)
        return self._announce(self.db.get(row["id"]))

    def get(self, payment_id: str, owner: str = "") -> dict[str, Any]:
        """The public object; with ``claim_url`` for the caller that started it, once paid."""
        p = self._find(payment_id)
        out = self.public(p)
        if p["seq"] and owner and secrets.compare_digest(owner, p["owner"]):
            out["claim_url"] = self.claim_url(p["seq"])
        return out

    def cancel(self, payment_id: str) -> dict[str, Any]:
        with self._lock, self.register.lock:
            p = self._find(payment_id)
            state = PayState(p["state"])
            if state is PayState.PAID:
                failed = self._failures.get(p["id"])
                why = f" (its sale is not written yet: {failed['message']})" if failed else ""
                raise Conflict(f"the payment is paid: refund it instead{why}", "already_paid")
            if state.open:
                self.db.update(p["id"], state=move(state, PayState.CANCELLED).value,
                               closed_at=self.clock())  # fmt: skip
                self._unlock(p["id"])
                self._keep_for_refund(p["id"], self._confirmed_upto, announce=False)
                p = self.db.get(p["id"])
        return self._announce(p)

    def cancel_open(self) -> None:
        """Cancel the register's open request (the cashier cancels the whole sale)."""
        pending = self.register.sale.pending
        if pending:
            self.cancel(pending)

    def current(self) -> dict[str, Any] | None:
        """The open sale's request (for ``GET /api/sale``): no database read."""
        cur = self._current
        return cur if cur and cur["id"] == self.register.sale.pending else None

    def listing(self, wanted: list[str]) -> dict[str, Any]:
        return listing(self.db, wanted)

    # -- the chain ------------------------------------------------------------------------------
    def on_chain(self, head_time: int, confirmed_upto: int) -> None:
        """The watcher processed blocks: classify new transfers, move open requests on."""
        with self._lock:
            self._confirmed_upto = confirmed_upto
            for t in self.db.transfers(["new"], oldest_first=True):
                p = self.db.payment_of(t.reference)
                state = PayState(p["state"]) if p else None
                kind = classify(  # dust: against what is asked now (the request, or the rest)
                    state, t.value, p["amount_wei"] if p else 0, t.block_time,
                    p["expires_at"] if p else 0,
                )  # fmt: skip
                self.db.classify(t, kind, p["id"] if p else None)
                if kind != COUNTED:
                    log.warning("DSG transfer %s (%s wei) is %s", t.tx_hash, t.value, kind)
            for p in self.db.open_ones():
                self._evaluate(p, head_time, confirmed_upto)
            for p in self.db.closed_with_counted():
                self._keep_for_refund(p["id"], confirmed_upto)

    def _keep_for_refund(self, payment_id: str, confirmed_upto: int, announce: bool = True) -> None:
        """A request that ended without a sale keeps every wei it received: each transfer
        counted for it becomes ``refund`` once confirmed (a reorg before that takes it out) and
        the request's ``received_wei`` (its ``refund_wei``) sums them; listed by default."""
        if not self.db.mark_refund(payment_id, confirmed_upto):
            return
        kept = self.db.transfers([REFUND], payment_id)
        received = sum(t.value for t in kept)
        self.db.update(payment_id, received_wei=received)
        log.warning(
            "DSG payment %s ended without a sale: %s to refund (%s)", payment_id,
            format_wei(received), ", ".join(t.tx_hash for t in kept),
        )  # fmt: skip
        if announce:
            self._announce(self.db.get(payment_id))

    def _evaluate(self, p: dict[str, Any], head_time: int, confirmed_upto: int) -> None:
        counted = [
            Counted(t.value, t.block_number <= confirmed_upto)
            for t in self.db.transfers([COUNTED], p["id"])
        ]
        old = PayState(p["state"])
        verdict = decide(old, p["required_wei"], p["expires_at"], counted, head_time)
        if verdict.state == old and verdict.received == p["received_wei"]:
            return
        changes: dict[str, Any] = {"state": verdict.state.value, "received_wei": verdict.received}
        if verdict.state is PayState.UNDERPAID and verdict.received != p["received_wei"]:
            ref = amt.new_reference(p["till_slot"], self.db.used_references(self.clock() - DAY))
            rest = amt.rest_wei(p["required_wei"] - verdict.received, ref)
            changes.update(
                reference=ref,
                amount_wei=rest,
                required_wei=verdict.received + rest,
                expires_at=max(p["expires_at"], int(self.clock()) + self.cfg.payment_timeout_s),
            )
        if verdict.state is PayState.PAID:
            changes["overpaid_wei"] = verdict.overpaid
        if not verdict.state.open:
            changes["closed_at"] = self.clock()
        self.db.update(p["id"], **changes)
        log.info("DSG payment %s: %s -> %s", p["id"], old.value, verdict.state.value)
        if verdict.state is PayState.PAID:
            self.settle(self.db.get(p["id"]))
            return
        if verdict.state is PayState.EXPIRED:
            with self.register.lock:
                self._unlock(p["id"])
        self._announce(self.db.get(p["id"]))

    # -- completion -----------------------------------------------------------------------------
    def settle(self, p: dict[str, Any]) -> Completed | None:
        """Complete the paid request's sale through the register: one transaction with its
        proof, its receipt and a ``dsg_paid`` event naming the request. Idempotent: a sale that
        already holds that event is not written again. A failure is reported (the request's
        ``settle_error``) and :meth:`retry_settles` tries again from the watcher's loop."""
        pid = p["id"]
        with self._lock:
            future = self._settling.get(pid)
            if future is None or (future.done() and future.exception() is not None):
                seq = self.db.completed_seq(pid)
                if seq is not None:  # written before: a crash or a timeout in between
                    return self._settled(pid, seq, None)
                try:
                    future = self.register.settle(self._paid_sale(p))
                except Exception as exc:  # noqa: BLE001 - e.g. till_not_synced: try again later
                    return self._settle_failed(pid, exc)
                self._settling[pid] = future
            try:
                done = future.result(timeout=SETTLE_TIMEOUT_S)
            except TimeoutError:
                return self._settle_failed(pid, "the sale is still being written")
            except Exception as exc:  # noqa: BLE001 - the writer failed: nothing was written
                return self._settle_failed(pid, exc)
            return self._settled(pid, done.seq, done)

    def _paid_sale(self, p: dict[str, Any]) -> Sale:
        """The sale a paid request completes, built from its STORED cart each time (the DSG
        discount applied once, whatever became of the live sale or an earlier attempt)."""
        sale = sale_from(p["cart"], p["id"])
        for line, off in zip(sale.lines, p["cart"].get("dsg_discounts", []), strict=False):
            line.total -= off
        sale.payments.append(Payment("dsg", p["due"], self._receipt_text(p)))
        sale.extra_events = [("dsg_paid", {"payment": p["id"], "amount_wei": str(
            p["received_wei"])})]  # fmt: skip
        return sale

    def _settled(self, pid: str, seq: int, done: Completed | None) -> Completed | None:
        self._settling.pop(pid, None)
        if self._failures.pop(pid, None) is not None:
            log.info("DSG payment %s: its sale is written now (seq %d)", pid, seq)
        self.db.update(pid, seq=seq)
        if done is not None:
            self.on_settled(done)
        self._announce(self.db.get(pid))
        return done

    def _settle_failed(self, pid: str, exc: Exception | str) -> None:
        old = self._failures.get(pid)
        tries = old["tries"] + 1 if old else 1
        message = f"the paid sale could not be written: {str(exc)[:200]}; the till retries"
        wait = min(2.0 ** (tries - 1), RETRY_MAX_S)
        self._failures[pid] = {"message": message, "tries": tries, "next": time.monotonic() + wait}
        if old is None or old["message"] != message:
            log.error("DSG payment %s is paid but %s", pid, message)
        p = self.db.get(pid)
        if p is not None:
            self._announce(p)

    def retry_settles(self) -> None:
        """Each turn of the watcher's loop: paid requests whose sale failed to write are tried
        again (backing off to every 30 s); a no-op when none failed."""
        if not self._failures:
            return
        now = time.monotonic()
        for pid, failed in list(self._failures.items()):
            if now < failed["next"]:
                continue
            p = self.db.get(pid)
            if p is None or p["seq"] is not None:
                self._failures.pop(pid, None)
                continue
            self.settle(p)

    def _receipt_text(self, p: dict[str, Any]) -> str:
        hashes = [t.tx_hash for t in self.db.transfers([COUNTED], p["id"], oldest_first=True)]
        parts = [format_wei(p["received_wei"])] + [f"tx {short_hash(h)}" for h in hashes]
        if p["discount"]:
            parts.append(f"DSG discount {Decimal(str(self.cfg.discount_percent))}%")
        if p["overpaid_wei"]:
            parts.append(f"overpaid {format_wei(p['overpaid_wei'])} (refund)")
        return "; ".join(parts)

    def restore(self) -> None:
        """After a restart (before the scanners start): settle a request paid before it (once
        here, then from the watcher's loop), reopen the open one on its cart — unless the till
        has a cart already, which is never overwritten (the request then completes its own
        stored cart when paid)."""
        for p in self.db.unsettled():
            self.settle(p)
        open_ones = self.db.open_ones()
        if not open_ones:
            return
        p = open_ones[-1]
        with self.register.lock:
            live = self.register.sale
            if live.lines or live.voided or live.payments or live.pending:
                log.warning(
                    "DSG payment %s is still open but the till has a cart already: the cart is "
                    "kept; the payment completes its own stored cart if paid", p["id"],
                )  # fmt: skip
                return
            self.register.sale = sale_from(p["cart"], p["id"])
        self._current = self.public(p)
        log.info("DSG payment %s is still open: its cart is back on the till", p["id"])

    # -- helpers --------------------------------------------------------------------------------
    def _find(self, payment_id: str) -> dict[str, Any]:
        p = self.db.get(payment_id[:64])
        if p is None:
            raise NoSuchPayment(f"no DSG payment {payment_id[:64]!r}")
        return p

    def _unlock(self, payment_id: str) -> None:
        if self.register.sale.pending == payment_id:
            self.register.sale.pending = ""

    def _announce(self, p: dict[str, Any]) -> dict[str, Any]:
        out = self.public(p)
        if out["id"] == self.register.sale.pending:  # the open sale's (another ended meanwhile)
            self._current = out
        self.publish("payment_updated", {"payment": out})
        return out

    def public(self, p: dict[str, Any], detail: bool = False) -> dict[str, Any]:
        out = public(self.db, p, detail)
        failed = self._failures.get(p["id"])
        if failed is not None and p["seq"] is None:  # why the till waits (cashier page, events)
            out["settle_error"] = failed["message"]
        return out


def listing(db: Payments, wanted: list[str]) -> dict[str, Any]:
    """Requests and stray transfers by state (``posd payments``, ``GET /api/payments``):
    payment states, ``open``, ``overpaid``, and transfer kinds ``late``, ``unmatched``, ``dust``."""
    wanted = wanted or ["open", "paid", "underpaid", "overpaid", "refund", "late", "unmatched"]
    states = {s.value for s in PayState} & set(wanted)
    if "open" in wanted:
        states |= {s.value for s in OPEN}
    owing = set()  # states listed only when the store owes DSG back
    if "overpaid" in wanted:
        owing.add("paid")
    if "refund" in wanted:
        owing |= set(ENDED)
    asked = states | owing
    rows = db.listing(sorted(asked)) if asked else []
    rows = [p for p in rows if p["state"] in states or refund_wei(p) > 0]
    kinds = [k for k in ("late", "unmatched", "dust") if k in wanted]
    return {
        "payments": [public(db, p, detail=True) for p in rows],
        "transfers": [t.to_json() for t in db.transfers(kinds)] if kinds else [],
    }


def refund_wei(p: dict[str, Any]) -> int:
    """What the store owes back: the excess of a paid request, all of one that ended unpaid."""
    if p["state"] == PayState.PAID.value:
        return p["overpaid_wei"]
    return p["received_wei"] if p["state"] in ENDED else 0


def public(db: Payments, p: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    """The §10 object (never a claim URL); ``detail`` adds the request and its transactions."""
    out: dict[str, Any] = {
        "id": p["id"],
        "state": p["state"],
        "uri": amt.payment_uri(p["token"], p["chain_id"], p["payout"], p["amount_wei"]),
        "amount_wei": str(p["amount_wei"]),
        "discount": p["discount"],
        "expires_at": p["expires_at"],
        "due": p["due"],
        "currency": p["currency"],
        "received_wei": str(p["received_wei"]),
        "created_at": int(p["created_at"]),
    }
    if p["seq"] is not None:
        out["seq"] = p["seq"]
    if p["overpaid_wei"]:
        out["overpaid_wei"] = str(p["overpaid_wei"])
    if refund_wei(p):
        out["refund_wei"] = str(refund_wei(p))
    if detail:
        mine = db.transfers([COUNTED, REFUND], p["id"], oldest_first=True)
        out["request_wei"] = str(p["request_wei"])
        out["dsg"] = format_wei(p["received_wei"])
        out["tx_hashes"] = [t.tx_hash for t in mine]
        out["payers"] = sorted({t.sender for t in mine})
    return out
