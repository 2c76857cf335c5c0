"""The till as the API sees it (:class:`posd.api.port.TillService`), over the services the
composition root built: the register, the spooler, the outbox, the event bus and the metrics.

Nothing here decides anything new: each method is the one or two calls a route used to make on
"the daemon", now with only the parts it needs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from posd.app.chainid import ChainId
from posd.app.drawer import CashDrawer
from posd.app.metrics import Metrics
from posd.chain.flush.link import link_state, link_status
from posd.config.settings import Config
from posd.db.batches import queue_status
from posd.db.outbox import Outbox
from posd.db.store import Store
from posd.errors import Unavailable
from posd.receipt.spooler import Spooler
from posd.till.dsg.price import DsgUnavailable
from posd.till.dsg.service import DsgPayments
from posd.till.events import EventBus
from posd.till.external import ExternalOrder, ExternalRegister
from posd.till.sale import Completed, Register


@dataclass
class LocalTill:
    """Implements :class:`posd.api.port.TillService` in the daemon's process."""

    config: Config
    store: Store
    till: str  # the till address
    till_state: str  # ready | unsynced (DESIGN §2)
    simulate: bool
    register: Register
    spooler: Spooler
    outbox: Outbox
    bus: EventBus
    counters: Metrics
    chain_id: ChainId
    devices: Callable[[], list[dict[str, Any]]]
    on_sale: Callable[[], None]  # e.g. the flush scheduler's backlog check
    shutdown: threading.Event
    external: ExternalRegister | None = None  # sales from the shop's own POS (§12)
    drawer: CashDrawer | None = None  # the cash drawer (§12)
    dsg: DsgPayments | None = None  # paying with DSG (§10); None: the tender is unavailable

    # -- the sale in progress -------------------------------------------------------------------
    def sale(self) -> dict[str, Any]:
        payment = self.dsg.current() if self.dsg is not None else None
        return {**self.register.sale.to_json(), "payment": payment}

    def scan(self, code: str, qty: int) -> dict[str, Any]:
        self.register.scan(code, qty, device="api")
        return self.sale()

    def member(self, pass_text: str) -> dict[str, Any]:
        self.register.member(pass_text, device="api")
        return self.sale()

    def void_line(self, index: int) -> dict[str, Any]:
        self.register.void_line(index)
        return self.sale()

    def cancel(self) -> dict[str, Any]:
        if self.dsg is not None:  # an open DSG payment ends with its sale
            self.dsg.cancel_open()
        self.register.cancel()
        return self.sale()

    def pay(self, tender: str, amount: int, reference: str) -> Completed | None:
        done = self.register.pay(tender, amount, reference)
        if done is not None:
            self._sold()
        return done

    def _sold(self, wake: bool = True) -> None:
        """What every completed sale does next: print (``wake``), count, and tell ``on_sale``."""
        if wake:
            self.spooler.wake()
        self.counters.sale_completed()
        self.on_sale()

    # -- DSG payments (DESIGN §10) ----------------------------------------------------------------
    def _dsg(self) -> DsgPayments:
        if self.dsg is None:
            raise DsgUnavailable("DSG payments are off: set [dsg] payout_address and a price")
        return self.dsg

    def start_dsg(self, owner: str) -> dict[str, Any]:
        return self._dsg().start(owner)

    def payment(self, payment_id: str, owner: str) -> dict[str, Any]:
        return self._dsg().get(payment_id, owner)

    def cancel_payment(self, payment_id: str) -> dict[str, Any]:
        return self._dsg().cancel(payment_id)

    def payments(self, states: list[str]) -> dict[str, Any]:
        if self.dsg is None:
            return {"payments": [], "transfers": []}
        return self.dsg.listing(states)

    def settled(self, done: Completed) -> None:
        """A sale a DSG payment completed: what a completed pay does next."""
        self._sold()

    def claim_url(self, seq: int) -> str:
        return self.spooler.builder().sale_claim_url(seq)

    # -- after the sale -------------------------------------------------------------------------
    def refund(self, seq: int) -> None:
        self.outbox.refund(seq)

    def external_sale(self, order: ExternalOrder) -> Completed:
        if self.external is None:
            raise Unavailable("sales from the shop's POS are not set up in this process")
        done, new = self.external.record(order)
        if new:
            self._sold(wake=order.print)
            self.bus.publish("external_sale", {"seq": done.seq, "total": done.total})
            if order.open_drawer and self.drawer is not None:
                self.drawer.kick("external_sale", {"seq": done.seq})
        return done

    def open_drawer(self, who: dict[str, str]) -> dict[str, Any]:
        if self.drawer is None:
            raise Unavailable("no cash drawer in this process")
        return self.drawer.open(who)

    def reprint(self, seq: int) -> int:
        return self.spooler.reprint(seq)

    # -- what the pages and the technician see --------------------------------------------------
    def queue(self) -> dict[str, Any]:
        status = queue_status(self.store, link_status(self.store))
        status["till_state"] = self.till_state
        return status

    def status(self) -> dict[str, Any]:
        chain = self.config.chain
        return {
            "till": self.till,
            "till_name": self.config.till.name,
            "store": self.config.store.name,
            "state": self.till_state,
            "simulate": self.simulate,
            "devices": self.devices(),
            "printer": self.spooler.status(),
            "queue": self.queue(),
            "chain": {
                "link": link_state(self.store) or "unconfigured",
                "rpc_url": chain.rpc_url,
                "mining_address": chain.mining_address,
                "chain_id": self.chain_id.value,
            },
            "sale": self.sale(),
        }

    def metrics(self) -> bytes:
        counts = queue_status(self.store, {})["counts"]
        self.counters.refresh(counts, self.spooler.queued())
        return self.counters.text()

    # -- the event stream -----------------------------------------------------------------------
    def subscribe(self) -> queue.Queue:
        return self.bus.subscribe()

    def unsubscribe(self, sub: queue.Queue) -> None:
        self.bus.unsubscribe(sub)

    def stopping(self) -> bool:
        return self.shutdown.is_set()
